/*
 * logfwd.c — mxgate-logfwd, the remote syslog forwarder (mxgate-logfwd(8)
 * in docs/mxgate-logfwd.8.md): follows every service's log under log_dir
 * (s6-log directories: rotated @TAI64N.s files, then `current`) and sends
 * each new line to `syslog_server` as an RFC 5424 message (syslog5424.h)
 * over TCP — RFC 5425 TLS (`tls may`, `tls verify NAME`) or RFC 6587
 * plain (`tls none`) —, octet-counted.
 *
 * The local logs are the spool: while the server cannot be reached
 * nothing moves, and when it returns the lines go in order from where
 * each service's cursor stands. A cursor (file inode, offset, time) per
 * service is kept in STATE and written (temporary file, fsync, rename)
 * after every batch the TLS layer and the kernel took, so after a restart
 * of either side nothing is sent twice. A line is sent once the kernel
 * took it: syslog over TCP has no acknowledgement, so a line in flight
 * when the receiver dies without closing is lost to it (it stays in the
 * local log); a receiver that closes is seen before the next batch.
 *
 * Started as root, it reads the configuration and the CA, then locks
 * itself in (sandbox.c, role logfwd): the logging user mxlog, no new
 * privileges, a seccomp allow-list (files, one AF_INET/AF_INET6 socket;
 * no chroot: the logs are what it reads). One loop, blocking only in
 * poll() and its 200 ms pause. Never writes to the logs it reads.
 *
 * Usage: mxgate-logfwd [-f CONFIG]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "net.h"
#include "sandbox.h"
#include "syslog5424.h"
#include "tls.h"
#include "util.h"
#include "version.h"

#define MAX_SOURCES	32
#define MAX_FILES	4096		/* rotated files looked at per source */
#define BATCH		(64 * 1024)	/* bytes of log read per round */
#define SENDBUF		(2 * BATCH + 16 * SYSLOG5424_MAX)
#define ROUND_MS	200
#define IO_TIMEOUT_MS	30000
#define BACKOFF_MAX_S	30

struct source {
	char	name[64];
	ino_t	ino;		/* the file the cursor is in; 0: not yet */
	off_t	off;
	time_t	mtime;		/* of that file when last read */
};

static struct {
	struct config	*cf;
	const char	*state;
	struct source	 src[MAX_SOURCES];
	int		 nsrc;
	struct tls_client *tcl;
	struct tls_conn	*tls;
	int		 fd;
	char		 peer[NET_ENDPOINTLEN];
	int		 down_said;	/* "cannot reach" logged */
	volatile sig_atomic_t stop;
	char		 out[SENDBUF];
} F = { .fd = -1 };

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mxgate-logfwd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
on_term(int sig)
{
	(void)sig;
	F.stop = 1;
}

/* --- cursors ------------------------------------------------------- */

static struct source *
source_get(const char *name)
{
	int i;

	for (i = 0; i < F.nsrc; i++)
		if (strcmp(F.src[i].name, name) == 0)
			return &F.src[i];
	if (F.nsrc == MAX_SOURCES || strlen(name) >= sizeof(F.src[0].name))
		return NULL;
	memset(&F.src[F.nsrc], 0, sizeof(F.src[0]));
	str_copy(F.src[F.nsrc].name, name, sizeof(F.src[0].name));
	return &F.src[F.nsrc++];
}

static void
state_load(void)
{
	char line[256], name[64];
	unsigned long long ino, mt;
	long long off;
	FILE *f = fopen(F.state, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct source *s;
		if (sscanf(line, "%63s %llu %lld %llu", name, &ino, &off,
		    &mt) != 4 || off < 0 || (s = source_get(name)) == NULL)
			continue;
		s->ino = (ino_t)ino;
		s->off = (off_t)off;
		s->mtime = (time_t)mt;
	}
	fclose(f);
}

static int
state_save(void)
{
	char tmp[CONF_PATH_MAX + 8], text[MAX_SOURCES * 128];
	size_t len = 0;
	int i, fd, ok;

	for (i = 0; i < F.nsrc; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "%s %llu %lld %llu\n", F.src[i].name,
		    (unsigned long long)F.src[i].ino,
		    (long long)F.src[i].off,
		    (unsigned long long)F.src[i].mtime);
	snprintf(tmp, sizeof(tmp), "%s.tmp", F.state);
	/* one write, no stdio (its tty probe is outside the filter) */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		goto fail;
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || rename(tmp, F.state) != 0)
		goto fail;
	return 0;
fail:
	say("cannot write %s: %s", F.state, strerror(errno));
	return -1;
}

/* --- reading the logs ---------------------------------------------- */

struct rotated {
	char	name[64];
	ino_t	ino;
	time_t	mtime;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct rotated *)a)->name,
	    ((const struct rotated *)b)->name);
}

/* The service's rotated files, oldest first (their @TAI64N names sort
 * by time); n of them in r (allocated). */
static struct rotated *
rotated_list(const char *dir, int *n)
{
	struct rotated *r = xcalloc(MAX_FILES, sizeof(*r));
	struct dirent *e;
	struct stat sb;
	char path[CONF_PATH_MAX + 160];
	DIR *d;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return r;
	while ((e = readdir(d)) != NULL && *n < MAX_FILES) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] != '@' || l >= sizeof(r->name) || l < 3 ||
		    e->d_name[l - 2] != '.' || (e->d_name[l - 1] != 's' &&
		    e->d_name[l - 1] != 'u'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		str_copy(r[*n].name, e->d_name, sizeof(r->name));
		r[*n].ino = sb.st_ino;
		r[*n].mtime = sb.st_mtime;
		(*n)++;
	}
	closedir(d);
	qsort(r, (size_t)*n, sizeof(*r), by_name);
	return r;
}

/* Frames the complete lines of buf (n bytes) into F.out at *used;
 * returns the bytes of buf consumed (up to its last LF). */
static size_t
frame_lines(const struct source *s, const char *buf, size_t n, size_t *used)
{
	size_t pos = 0;

	while (pos < n) {
		const char *lf = memchr(buf + pos, '\n', n - pos);
		size_t len, fl;
		if (lf == NULL)
			break;
		len = (size_t)(lf - (buf + pos));
		if (SENDBUF - *used < SYSLOG5424_MAX + 32)
			break;
		if (len > 2048)		/* longer than any line we write */
			len = 2048;
		fl = syslog5424_frame(buf + pos, len, s->name,
		    F.cf->hostname, F.out + *used, SENDBUF - *used);
		*used += fl;
		pos = (size_t)(lf - buf) + 1;
	}
	return pos;
}

/* Reads what is new in source s into F.out (at *used) and moves a copy
 * of its cursor to *next; 0, or -1 when there is nothing to read now. */
static int
source_read(const struct source *s, struct source *next, size_t *used)
{
	char dir[CONF_PATH_MAX + 80], path[CONF_PATH_MAX + 160];
	static char buf[BATCH];
	struct rotated *r;
	struct stat cur;
	int n, i, at = -2, fd;
	ssize_t got;
	size_t took;

	*next = *s;
	snprintf(dir, sizeof(dir), "%s/%s", F.cf->log_dir, s->name);
	snprintf(path, sizeof(path), "%s/current", dir);
	if (stat(path, &cur) != 0)
		return -1;
	if (s->ino == 0) {
		/* newly followed: from now on */
		next->ino = cur.st_ino;
		next->off = cur.st_size;
		next->mtime = cur.st_mtime;
		return 0;
	}
	/* the usual case, the cursor in current: no directory listing */
	r = NULL;
	n = 0;
	if (s->ino == cur.st_ino)
		at = -1;
	else
		r = rotated_list(dir, &n);
	for (i = 0; at == -2 && i < n; i++)
		if (r[i].ino == s->ino)
			at = i;
	if (at == -2) {
		/* sealed or deleted before it was sent (a server down for
		 * longer than log_clear_days): the first file not older */
		for (i = 0; i < n && r[i].mtime < s->mtime; i++)
			;
		say("%s: the file at the cursor is gone (sealed or deleted); "
		    "lines from it may be missing at the server; going on "
		    "from %s", s->name, i < n ? r[i].name : "current");
		at = i < n ? i : -1;
		next->ino = at >= 0 ? r[at].ino : cur.st_ino;
		next->off = 0;
		free(r);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, at >= 0 ? r[at].name :
	    "current");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		free(r);
		return -1;
	}
	got = pread(fd, buf, sizeof(buf), s->off);
	close(fd);
	if (got < 0) {
		free(r);
		return -1;
	}
	took = frame_lines(s, buf, (size_t)got, used);
	if (took == 0 && (size_t)got == sizeof(buf)) {
		/* a line longer than BATCH: sent in pieces */
		took = sizeof(buf);
		*used += syslog5424_frame(buf, 2048, s->name, F.cf->hostname,
		    F.out + *used, SENDBUF - *used);
	}
	next->off = s->off + (off_t)took;
	if (at >= 0 && got == 0) {
		/* a rotated file read to its end: the next one (the list
		 * read above, in order) */
		next->ino = at + 1 < n ? r[at + 1].ino : cur.st_ino;
		next->mtime = at + 1 < n ? r[at + 1].mtime : cur.st_mtime;
		next->off = 0;
	}
	free(r);
	return took > 0 || next->ino != s->ino ? 0 : -1;
}

/* Every directory under log_dir but the archives is a source. */
static void
sources_scan(void)
{
	struct dirent *e;
	DIR *d;

	if ((d = opendir(F.cf->log_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[CONF_PATH_MAX + 300];
		struct stat sb;
		if (e->d_name[0] == '.' || strcmp(e->d_name, "archive") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s/current", F.cf->log_dir,
		    e->d_name);
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			(void)source_get(e->d_name);
	}
	closedir(d);
}

/* --- the connection ------------------------------------------------ */

static void
disconnect(const char *why)
{
	if (F.fd < 0)
		return;
	if (why != NULL)
		say("connection to %s lost: %s; lines wait in the local logs",
		    F.peer, why);
	tls_conn_free(F.tls);
	F.tls = NULL;
	close(F.fd);
	F.fd = -1;
}

/* Waits until fd is ready for what want (or the TLS engine) says. */
static int
wait_fd(uint32_t want, int64_t deadline)
{
	struct pollfd p = { .fd = F.fd, .events = 0 };
	int64_t left = deadline - mono_ms();

	if (want & 1)
		p.events |= POLLIN;
	if (want & 4)
		p.events |= POLLOUT;
	if (left <= 0)
		return -1;
	return poll(&p, 1, (int)left) > 0 ? 0 : -1;
}

static int
connect_server(char *why, size_t wl)
{
	const struct sockaddr_storage *ss = &F.cf->syslog_server;
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int64_t deadline = mono_ms() + (int64_t)F.cf->connect_timeout * 1000;
	int err = 0;
	socklen_t el = sizeof(err);

	F.fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (F.fd < 0) {
		snprintf(why, wl, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(F.fd, (const struct sockaddr *)ss, len) != 0 &&
	    errno != EINPROGRESS) {
		snprintf(why, wl, "%s", strerror(errno));
		goto fail;
	}
	if (wait_fd(4, deadline) != 0) {
		snprintf(why, wl, "connect timed out");
		goto fail;
	}
	if (getsockopt(F.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
		snprintf(why, wl, "%s", strerror(err ? err : errno));
		goto fail;
	}
	if (F.cf->syslog_tls == TLS_NONE)
		return 0;
	F.tls = tls_conn_client(F.tcl, F.cf->syslog_tls == TLS_VERIFY ?
	    F.cf->syslog_name : NULL, F.cf->syslog_tls == TLS_VERIFY);
	if (F.tls == NULL) {
		snprintf(why, wl, "TLS: %s", strerror(errno));
		goto fail;
	}
	for (;;) {
		if (tls_handshake(F.tls, F.fd) == 1)
			return 0;
		if (errno != EAGAIN) {
			snprintf(why, wl, "TLS handshake: %s",
			    tls_error(F.tls) ? tls_error(F.tls) :
			    strerror(errno));
			goto fail;
		}
		if (wait_fd((tls_want(F.tls) & 1 ? 1 : 0) |
		    (tls_want(F.tls) & 4 ? 4 : 0), deadline) != 0) {
			snprintf(why, wl, "TLS handshake timed out");
			goto fail;
		}
	}
fail:
	if (F.tls != NULL)
		tls_conn_free(F.tls);
	F.tls = NULL;
	close(F.fd);
	F.fd = -1;
	return -1;
}

/* 1 when the server closed or broke the connection (it never sends) */
static int
peer_gone(void)
{
	struct pollfd p = { .fd = F.fd, .events = POLLIN };
	char b[512];
	ssize_t r;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (F.tls == NULL) {
		r = recv(F.fd, b, sizeof(b), MSG_DONTWAIT);
		return r == 0 || (r < 0 && errno != EAGAIN);
	}
	r = tls_read(F.tls, F.fd, b, sizeof(b));
	return r == 0 || (r < 0 && errno != EAGAIN);
}

static int
send_all(const char *p, size_t n)
{
	int64_t deadline = mono_ms() + IO_TIMEOUT_MS;

	while (n > 0) {
		ssize_t w = F.tls ? tls_write(F.tls, F.fd, p, n) :
		    send(F.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (errno != EAGAIN || wait_fd(F.tls ? (tls_want(F.tls) &
		    5) : 4, deadline) != 0)
			return -1;
	}
	while (F.tls != NULL && tls_flush(F.tls, F.fd) != 0)
		if (errno != EAGAIN || wait_fd(tls_want(F.tls) & 5,
		    deadline) != 0)
			return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *conf = "/etc/mxgate/mxgate.conf";
	char state[CONF_PATH_MAX + 32], why[256];
	struct sandbox_ids ids;
	int64_t retry_at = 0;
	int backoff = 1, c;

	while ((c = getopt(argc, argv, "f:V")) != -1) {
		switch (c) {
		case 'f': conf = optarg; break;
		case 'V':
			printf("mxgate-logfwd %s\n", MXGATE_VERSION);
			return 0;
		default:
			fprintf(stderr, "usage: mxgate-logfwd [-f CONFIG]\n");
			return EXIT_PERM;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if ((F.cf = config_load(conf, stderr)) == NULL)
		return EXIT_PERM;
	if (F.cf->syslog_server.ss_family == 0) {
		say("no syslog_server in %s: nothing to forward", conf);
		return EXIT_OK;
	}
	snprintf(state, sizeof(state), "%s/.logfwd.state", F.cf->log_dir);
	F.state = state;
	log_init(F.cf->hostname);
	if (F.cf->syslog_tls != TLS_NONE && tls_client_new(&F.tcl,
	    F.cf->syslog_tls == TLS_VERIFY ? F.cf->tls_ca : NULL,
	    F.cf->tls_min_version, why, sizeof(why)) != 0) {
		say("%s", why);
		return EXIT_PERM;
	}
	endpoint_format(&F.cf->syslog_server, F.peer, sizeof(F.peer));
	if (sandbox_lookup(ROLE_LOGFWD, "", &ids) != 0)
		return EXIT_TEMP;
	sandbox_enter(ROLE_LOGFWD, &ids);
	state_load();
	say("forwarding %s/* to %s (tls %s%s%s)", F.cf->log_dir, F.peer,
	    tls_policy_name(F.cf->syslog_tls), F.cf->syslog_name[0] ? " " :
	    "", F.cf->syslog_name);

	while (!F.stop) {
		size_t used = 0;
		struct source next[MAX_SOURCES];
		int i, moved = 0;

		sources_scan();
		if (F.fd >= 0 && peer_gone())
			disconnect("closed by the server");
		if (F.fd < 0 && mono_ms() >= retry_at) {
			if (connect_server(why, sizeof(why)) != 0) {
				if (!F.down_said)
					say("cannot reach %s: %s; lines wait in "
					    "the local logs (retrying)", F.peer,
					    why);
				F.down_said = 1;
				retry_at = mono_ms() + backoff * 1000;
				if ((backoff *= 2) > BACKOFF_MAX_S)
					backoff = BACKOFF_MAX_S;
			} else {
				say("connected to %s%s%s%s", F.peer,
				    F.tls ? " (" : " (plain TCP)",
				    F.tls ? tls_version(F.tls) : "",
				    F.tls ? (tls_peer_verified(F.tls) ?
				    ", verified)" : ", not verified)") : "");
				F.down_said = 0;
				backoff = 1;
			}
		}
		/* new sources start at their current end even while down */
		for (i = 0; i < F.nsrc; i++) {
			next[i] = F.src[i];
			if (F.src[i].ino == 0 || F.fd >= 0)
				if (source_read(&F.src[i], &next[i], &used) == 0)
					moved = 1;
		}
		if (moved && (used == 0 || send_all(F.out, used) == 0)) {
			memcpy(F.src, next, sizeof(next[0]) * (size_t)F.nsrc);
			state_save();
			if (used > 0)
				continue;	/* more may be waiting */
		} else if (moved)
			disconnect("write failed");
		if (!F.stop)
			usleep(ROUND_MS * 1000);
	}
	if (F.tls != NULL)
		(void)tls_close(F.tls, F.fd);
	disconnect(NULL);
	return EXIT_OK;
}
