/*
 * ctl_status.c — `mxgatectl status [--json]`: how the appliance stands, in
 * one screen, and whether anything needs the admin: the version and the
 * SHA-256 of the build's software bill of materials, the configuration
 * and whether it checks (as `mxgate -n`), listeners and their TLS policy,
 * routes, the outage queue (messages, held, the oldest's age, map use),
 * the queue's filesystem, the TLS certificate, the clock (the image's
 * /run/mxgate/ntp-state), whether the relay runs (a process `mxgate
 * ... -f` this very file, found in /proc), the root slot this boot runs
 * from and an update that did not come up (the boot check's note). Exit 0 healthy; 1 degraded,
 * each reason on a line of its own ("degraded: ..."); --json prints one
 * object with the same facts and a "degraded" array.
 *
 * Read-only; audited like every operation. Never opens a socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ctl.h"
#include "gate.h"
#include "logdisk.h"
#include "tls_int.h"
#include "net.h"
#include "queue.h"
#include "util.h"
#include "version.h"

#define REASONS_MAX	8
#define NTP_STATE	"/run/mxgate/ntp-state"

#define DISK_HIGH_PCT	90
/* the boot check's note of an update that fell back (ctl_update.c) */
#define UPDATE_FAILED	"/run/mxgate/update-failed"

struct status {
	char		 reasons[REASONS_MAX][160];
	int		 nreasons;
	int		 conf_ok;
	char		 conf_err[512];
	int		 queue_state;	/* 0 none yet, 1 open, -1 unreadable */
	int		 queued, held;
	int64_t		 oldest_s;
	uint64_t	 map_used, map_size;
	int		 disk_pct;	/* -1 unknown */
	uint64_t	 disk_free;
	char		 ntp[160];
	int		 relay_up;
	int		 cert_present;
	int64_t		 cert_not_after;	/* 0: unknown */
	int		 have_gate;		/* the relay's counters */
	struct gate_stats gs;
	int		 cert_days;		/* left until then */
	char		 cert_fp[65];		/* SHA-256 of its DER, hex */
	char		 sbom_sha[65];		/* of CTL_SBOM_PATH; "" none */
	char		 slot;			/* root slot: 'a', 'b', 0 */
	char		 update_failed[128];	/* UPDATE_FAILED; "" none */
	int		 rev;		/* -1: never committed */
	char		 revinfo[320];
	struct logdisk	 logdisk;
	char		 archive_key[CONF_PATH_MAX + 32];	/* "" when
					   archives use the appliance key */
};


static void
degraded(struct status *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
degraded(struct status *st, const char *fmt, ...)
{
	va_list ap;

	if (st->nreasons == REASONS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(st->reasons[st->nreasons++], sizeof(st->reasons[0]), fmt,
	    ap);
	va_end(ap);
}

/* The relay's live counters, from its gate table. */
static void
look_at_gate(struct ctl *c, struct status *st)
{
	struct gate *g;
	void *mem;
	size_t size;

	if ((g = ctl_gate_attach(c, &mem, &size, 1)) == NULL)
		return;
	gate_stats(g, &st->gs);
	gate_free(g);
	munmap(mem, size);
	if (st->gs.today != (int64_t)time(NULL) / 86400)
		memset(st->gs.msgs_today, 0, sizeof(st->gs.msgs_today));
	st->have_gate = 1;
}

/* When the server certificate expires: degraded within CERT_WARN_DAYS
 * (senders that verify would refuse it), and once it has. */
#define CERT_WARN_DAYS	14
static void
look_at_cert(const char *path, struct status *st)
{
	struct tls_chain ch;
	int64_t nb, na;
	char err[256];

	if (tls_chain_load(&ch, path, err, sizeof(err)) != 0) {
		degraded(st, "tls certificate %s unreadable: %s", path, err);
		return;
	}
	tls_fingerprint(ch.cert[0].data, ch.cert[0].data_len, st->cert_fp);
	if (tls_cert_validity(ch.cert[0].data, ch.cert[0].data_len, &nb,
	    &na) == 0) {
		st->cert_not_after = na;
		st->cert_days = (int)((na - (int64_t)time(NULL)) / 86400);
		if (na < (int64_t)time(NULL))
			degraded(st, "tls certificate expired %d days ago",
			    -st->cert_days);
		else if (st->cert_days < CERT_WARN_DAYS)
			degraded(st, "tls certificate expires in %d days",
			    st->cert_days);
	}
	tls_chain_free(&ch);
}

/* The public key log archives are sealed to (init/service/logretention):
 * log-archive-key.pem beside the configuration file. */
static void
look_at_archive_key(const char *config_path, struct status *st)
{
	char dir[CONF_PATH_MAX];
	const char *slash = strrchr(config_path, '/');
	struct stat sb;

	if (slash == NULL)
		str_copy(dir, ".", sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - config_path),
		    config_path);
	snprintf(st->archive_key, sizeof(st->archive_key),
	    "%s/" CTL_ARCHIVE_KEY, dir);
	if (stat(st->archive_key, &sb) != 0 || sb.st_size == 0)
		st->archive_key[0] = '\0';
}

/* Whether a process runs `mxgate ... -f PATH` for this configuration
 * (the same file, compared by device and inode): read from /proc. */
static int
relay_running(const char *path)
{
	struct stat want, got;
	struct dirent *de;
	DIR *d;
	int found = 0;

	if (stat(path, &want) != 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		char fn[300], args[4096], *a, *end, *base;
		ssize_t n;
		int fd, flag = 0;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(fn, sizeof(fn), "/proc/%s/cmdline", de->d_name);
		if ((fd = open(fn, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, args, sizeof(args) - 1);
		close(fd);
		if (n <= 0)
			continue;
		args[n] = '\0';
		end = args + n;
		base = strrchr(args, '/');
		if (strcmp(base ? base + 1 : args, "mxgate") != 0)
			continue;
		for (a = args; a < end; a += strlen(a) + 1) {
			if (flag && stat(a, &got) == 0 &&
			    got.st_dev == want.st_dev && got.st_ino == want.st_ino)
				found = 1;
			flag = strcmp(a, "-f") == 0;
		}
	}
	closedir(d);
	return found;
}

static int
count_one(void *arg, const struct queue_msg *m, int status)
{
	struct status *st = arg;
	int64_t age = queue_age_us(m, wall_us()) / 1000000;

	st->queued++;
	if (m->flags & QMSG_HELD)
		st->held++;
	if (age > st->oldest_s)
		st->oldest_s = age;
	(void)status;
	return 0;
}

static void
look_at_queue(struct ctl *c, const struct config *cf, struct status *st)
{
	struct queue *q;
	struct statvfs vs;
	char err[512];
	int rc;

	rc = queue_open(&q, cf->queue_dir, c->key_path, 0, 0, err, sizeof(err));
	if (rc == QUEUE_NOTFOUND)
		st->queue_state = 0;
	else if (rc != QUEUE_OK) {
		st->queue_state = -1;
		degraded(st, "queue unreadable: %s", err);
	} else {
		st->queue_state = 1;
		queue_list(q, count_one, st);
		queue_usage(q, &st->map_used, &st->map_size);
		queue_close(q);
		if (st->map_size > 0 && st->map_used * 100 / st->map_size >=
		    DISK_HIGH_PCT)
			degraded(st, "queue map %llu%% full",
			    (unsigned long long)(st->map_used * 100 /
			    st->map_size));
	}
	st->disk_pct = -1;
	if (statvfs(cf->queue_dir, &vs) == 0 ||
	    (access(cf->queue_dir, F_OK) != 0 && statvfs("/", &vs) == 0)) {
		uint64_t total = (uint64_t)vs.f_blocks * vs.f_frsize;

		st->disk_free = (uint64_t)vs.f_bavail * vs.f_frsize;
		st->disk_pct = total ? (int)(100 - st->disk_free * 100 / total)
		    : 0;
		if (st->disk_pct >= DISK_HIGH_PCT)
			degraded(st, "the queue's filesystem is %d%% full",
			    st->disk_pct);
	}
}

/* The log disk guard's view (logdisk.h), the same measure the relay
 * takes each second. Not measurable (no log directory: not the
 * appliance, whose relay does not run without /data) is said, not
 * counted as degraded. */
static void
look_at_log_disk(const struct config *cf, struct status *st)
{
	struct logdisk *d = &st->logdisk;

	logdisk_check(cf, d);
	if (d->refuse)
		degraded(st, "the log disk (%s) is %d%% full: new mail gets "
		    "451 4.3.0 until space returns (log_disk_full %d%%)",
		    cf->log_dir, d->pct, cf->log_disk_full);
	else if (d->level == LOGDISK_FULL)
		degraded(st, "the log disk (%s) is %d%% full: the oldest logs "
		    "are being deleted (log_full_policy drop-oldest)",
		    cf->log_dir, d->pct);
	else if (d->level == LOGDISK_HIGH)
		degraded(st, "the log disk (%s) is %d%% full: above the "
		    "high-water mark (log_disk_warn %d%%)", cf->log_dir,
		    d->pct, cf->log_disk_warn);
}

static void
look_at_clock(struct status *st)
{
	FILE *f = fopen(NTP_STATE, "re");

	if (f == NULL) {
		str_copy(st->ntp, "unknown (no " NTP_STATE ": not on the "
		    "appliance)", sizeof(st->ntp));
		return;
	}
	if (fgets(st->ntp, sizeof(st->ntp), f) == NULL)
		st->ntp[0] = '\0';
	fclose(f);
	st->ntp[strcspn(st->ntp, "\n")] = '\0';
	if (strncmp(st->ntp, "synchronised", 12) != 0)
		degraded(st, "clock %s", st->ntp);
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void
ctl_sbom_sha256(char out[65])
{
	size_t len;
	char *text = ctl_read_file(CTL_SBOM_PATH, &len);

	out[0] = '\0';
	if (text != NULL)
		ctl_sha256_hex(text, len, out);
	free(text);
}

/* The root slot this boot runs from (mxgate.slot= on the kernel command
 * line, GRUB's choice) and a failed update the boot check noted. */
static void
look_at_slot(struct status *st)
{
	char buf[4096];
	size_t len;
	char *text;

	st->slot = ctl_root_slot("/proc/cmdline");
	st->update_failed[0] = '\0';
	if ((text = ctl_read_file(UPDATE_FAILED, &len)) != NULL) {
		str_copy(buf, text, sizeof(buf));
		buf[strcspn(buf, "\n")] = '\0';
		str_copy(st->update_failed, buf, sizeof(st->update_failed));
		degraded(st, "an update did not come up: slot %s; running "
		    "slot %c again (mxgatectl update status)",
		    st->update_failed, st->slot ? st->slot : '?');
	}
	free(text);
}

static void
print_text(const struct config *cf, const struct status *st,
    const char *path)
{
	char ep[NET_ENDPOINTLEN];
	int i, j;

	printf("mxgate %s\n", MXGATE_VERSION);
	if (st->slot)
		printf("root slot: %c (mxgatectl update status)\n", st->slot);
	if (st->sbom_sha[0])
		printf("software bill of materials: sha256 %s (%s)\n",
		    st->sbom_sha, CTL_SBOM_PATH);
	else
		printf("software bill of materials: none (%s)\n", CTL_SBOM_PATH);
	printf("configuration: %s: %s\n", path, st->conf_ok ? "valid" :
	    "INVALID");
	printf("configuration revision: %s\n", st->revinfo);
	if (!st->conf_ok)
		fputs(st->conf_err, stdout);
	if (cf != NULL) {
		printf("hostname: %s\n", cf->hostname);
		for (i = 0; i < cf->nlisten; i++) {
			endpoint_format(&cf->listen[i], ep, sizeof(ep));
			printf("listen: %s%s\n", ep, cf->tls_required ||
			    cf->listen_tls_required[i] ? " (TLS required)" : "");
		}
		for (i = 0; i < cf->nroutes; i++) {
			printf("route: %s%s ->", cf->routes[i].subdomains ?
			    "." : "", cf->routes[i].domain);
			for (j = 0; j < cf->routes[i].nhosts; j++) {
				endpoint_format(&cf->routes[i].host[j], ep,
				    sizeof(ep));
				printf(" %s", ep);
			}
			printf(" (tls %s)\n", tls_policy_name(cf->routes[i].tls));
		}
		printf("relay: %s\n", st->relay_up ? "running" :
		    "NOT running");
		if (st->have_gate) {
			const uint64_t *a = st->gs.msgs, *t = st->gs.msgs_today;

			printf("sessions: %u now\n", st->gs.sessions);
			printf("messages since the relay started: %llu relayed "
			    "in session, %llu queued, %llu refused\n",
			    (unsigned long long)a[GATE_MSG_RELAYED],
			    (unsigned long long)a[GATE_MSG_QUEUED],
			    (unsigned long long)a[GATE_MSG_REFUSED]);
			printf("messages today (UTC): %llu relayed in session, "
			    "%llu queued, %llu refused\n",
			    (unsigned long long)t[GATE_MSG_RELAYED],
			    (unsigned long long)t[GATE_MSG_QUEUED],
			    (unsigned long long)t[GATE_MSG_REFUSED]);
		}
		if (st->queue_state == 0)
			printf("queue: empty (none created yet)\n");
		else if (st->queue_state == 1)
			printf("queue: %d message(s), %d held, oldest %lld s; "
			    "map %llu of %llu bytes\n", st->queued, st->held,
			    (long long)st->oldest_s,
			    (unsigned long long)st->map_used,
			    (unsigned long long)st->map_size);
		else
			printf("queue: unreadable\n");
		if (st->disk_pct >= 0)
			printf("disk: %d%% used, %llu bytes free\n",
			    st->disk_pct, (unsigned long long)st->disk_free);
		if (st->logdisk.level == LOGDISK_UNKNOWN)
			printf("log disk: %s: %s (not guarded)\n", cf->log_dir,
			    strerror(st->logdisk.err));
		else
			printf("log disk: %s %d%% used (%s; warn %d%%, full "
			    "%d%%, log_full_policy %s)\n", cf->log_dir,
			    st->logdisk.pct,
			    logdisk_level_name(st->logdisk.level),
			    cf->log_disk_warn, cf->log_disk_full,
			    cf->log_drop_oldest ? "drop-oldest" : "tempfail");
		printf("tls certificate: %s (%s)", cf->tls_cert[0] ?
		    cf->tls_cert : "self-signed default",
		    st->cert_present ? "present" : "not there yet");
		if (st->cert_not_after != 0) {
			time_t t = (time_t)st->cert_not_after;
			struct tm tm;
			char day[16];

			gmtime_r(&t, &tm);
			strftime(day, sizeof(day), "%Y-%m-%d", &tm);
			printf(", expires %s (%d days)", day, st->cert_days);
		}
		if (st->cert_fp[0] != '\0')
			printf(", sha256 %s", st->cert_fp);
		putchar('\n');
	}
	printf("clock: %s\n", st->ntp);
	if (st->archive_key[0] != '\0')
		printf("log archives: sealed to your key (%s)\n",
		    st->archive_key);
	else
		printf("log archives: sealed with the appliance key: put your "
		    "X25519 public key in log-archive-key.pem beside the "
		    "configuration (mxgatectl logs keygen)\n");
	for (i = 0; i < st->nreasons; i++)
		printf("degraded: %s\n", st->reasons[i]);
	if (st->nreasons == 0)
		printf("healthy\n");
}

static void
print_json(const struct config *cf, const struct status *st,
    const char *path)
{
	int i;

	printf("{\"version\":");
	json_str(MXGATE_VERSION);
	printf(",\"root_slot\":");
	if (st->slot)
		printf("\"%c\"", st->slot);
	else
		printf("null");
	printf(",\"sbom_sha256\":");
	if (st->sbom_sha[0])
		json_str(st->sbom_sha);
	else
		printf("null");
	printf(",\"configuration\":");
	json_str(path);
	printf(",\"configuration_valid\":%s", st->conf_ok ? "true" : "false");
	if (st->rev >= 0)
		printf(",\"configuration_revision\":%d", st->rev);
	else
		printf(",\"configuration_revision\":null");
	if (cf != NULL) {
		printf(",\"hostname\":");
		json_str(cf->hostname);
		printf(",\"listeners\":%d,\"routes\":%d,\"relay_running\":%s",
		    cf->nlisten, cf->nroutes, st->relay_up ? "true" : "false");
		if (st->have_gate) {
			const uint64_t *a = st->gs.msgs, *t = st->gs.msgs_today;

			printf(",\"sessions\":%u,\"messages\":{\"relayed\":%llu,"
			    "\"queued\":%llu,\"refused\":%llu},"
			    "\"messages_today\":{\"relayed\":%llu,"
			    "\"queued\":%llu,\"refused\":%llu}",
			    st->gs.sessions,
			    (unsigned long long)a[GATE_MSG_RELAYED],
			    (unsigned long long)a[GATE_MSG_QUEUED],
			    (unsigned long long)a[GATE_MSG_REFUSED],
			    (unsigned long long)t[GATE_MSG_RELAYED],
			    (unsigned long long)t[GATE_MSG_QUEUED],
			    (unsigned long long)t[GATE_MSG_REFUSED]);
		}
		printf(",\"queue\":{\"state\":\"%s\",\"messages\":%d,"
		    "\"held\":%d,\"oldest_seconds\":%lld,\"map_used\":%llu,"
		    "\"map_size\":%llu}", st->queue_state == 1 ? "open" :
		    st->queue_state == 0 ? "none" : "unreadable", st->queued,
		    st->held, (long long)st->oldest_s,
		    (unsigned long long)st->map_used,
		    (unsigned long long)st->map_size);
		printf(",\"disk_used_percent\":%d", st->disk_pct);
		printf(",\"log_disk\":{\"dir\":");
		json_str(cf->log_dir);
		printf(",\"used_percent\":%d,\"state\":\"%s\","
		    "\"refusing_mail\":%s}", st->logdisk.pct,
		    st->logdisk.level == LOGDISK_OK ? "ok" :
		    st->logdisk.level == LOGDISK_HIGH ? "high" :
		    st->logdisk.level == LOGDISK_FULL ? "full" : "unknown",
		    st->logdisk.refuse ? "true" : "false");
	}
	printf(",\"clock\":");
	json_str(st->ntp);
	if (st->cert_not_after != 0)
		printf(",\"tls_certificate_not_after\":%lld,"
		    "\"tls_certificate_days_left\":%d",
		    (long long)st->cert_not_after, st->cert_days);
	if (st->cert_fp[0] != '\0')
		printf(",\"tls_certificate_sha256\":\"%s\"", st->cert_fp);
	printf(",\"log_archive_key\":");
	if (st->archive_key[0] != '\0')
		json_str(st->archive_key);
	else
		printf("null");
	printf(",\"healthy\":%s,\"degraded\":[", st->nreasons ? "false" :
	    "true");
	for (i = 0; i < st->nreasons; i++) {
		if (i)
			putchar(',');
		json_str(st->reasons[i]);
	}
	printf("]}\n");
}

int
ctl_status(struct ctl *c, int argc, char **argv)
{
	struct status st;
	struct config *cf;
	FILE *errs;
	char *ebuf = NULL;
	size_t elen = 0;
	char result[64];
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: mxgatectl status [--json]\n");
		return EXIT_PERM;
	}
	memset(&st, 0, sizeof(st));
	/* the same check as mxgate -n, its errors kept for the report */
	if ((errs = open_memstream(&ebuf, &elen)) == NULL)
		fatal(EXIT_TEMP, "open_memstream");
	cf = config_load(c->config_path, errs);
	fclose(errs);
	st.conf_ok = cf != NULL;
	st.rev = ctl_config_revision(c, st.revinfo, sizeof(st.revinfo));
	str_copy(st.conf_err, ebuf ? ebuf : "", sizeof(st.conf_err));
	free(ebuf);
	if (cf == NULL)
		degraded(&st, "configuration %s does not check (mxgate -n)",
		    c->config_path);
	c->cf = cf;	/* the audit log's place and host name */
	if (cf != NULL || c->audit_path != NULL)
		ctl_audit_open(c);
	if (cf != NULL) {
		look_at_queue(c, cf, &st);
		look_at_log_disk(cf, &st);
		st.relay_up = relay_running(c->config_path);
		if (st.relay_up)
			look_at_gate(c, &st);
		if (!st.relay_up)
			degraded(&st, "the relay is not running (no mxgate -f "
			    "%s)", c->config_path);
		st.cert_present = cf->tls_cert[0] != '\0' &&
		    access(cf->tls_cert, R_OK) == 0;
		if (st.cert_present)
			look_at_cert(cf->tls_cert, &st);
	}
	look_at_clock(&st);
	look_at_archive_key(c->config_path, &st);
	ctl_sbom_sha256(st.sbom_sha);
	look_at_slot(&st);
	if (json)
		print_json(cf, &st, c->config_path);
	else
		print_text(cf, &st, c->config_path);
	snprintf(result, sizeof(result), "%s reasons=%d", st.nreasons ?
	    "degraded" : "healthy", st.nreasons);
	if (c->audit_fd >= 0)
		ctl_audit(c, "status", NULL, result);
	return st.nreasons ? 1 : EXIT_OK;
}
