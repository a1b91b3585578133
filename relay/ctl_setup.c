/*
 * ctl_setup.c — `mxgatectl setup`: the first configuration, as questions
 * on the console (the console menu runs it when the appliance has no
 * configuration; it can be run again at any time).
 *
 * In order: the admin's own password (`user passwd`), host
 * name, network (DHCP or static IPv4, optional static IPv6, DNS
 * resolvers), NTP servers, the customer's domains with their servers and
 * TLS policy, the postmaster, the mailbox list (none, typed, or a
 * directory export read as `mailboxes import` reads it), the TLS
 * certificate (the generated one, a chain and key pasted on the console,
 * or files),
 * DNSBL zones (none unless chosen). Every answer is checked on the spot
 * with the relay's own parsers and asked again when it is wrong.
 *
 * Nothing is written until the last answer: then the candidate gets
 * mxgate.conf (the directives asked about replaced, every other line
 * kept; without one yet, the lines of /usr/share/mxgate/mxgate.conf.base,
 * the appliance's queue on the data partition), network.conf, ntp.conf and the mailbox list, a summary is shown,
 * and on "yes" this process becomes `mxgatectl config commit` (exec: the
 * candidate is checked with `mxgate -n`, recorded and applied). Ctrl-C or
 * the end of input before that leaves nothing written. Audited.
 *
 * Owns: the questions and their checks. Must never: write a password, or
 * write a configuration it has not checked.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "ctl.h"
#include "net.h"
#include "tls.h"
#include "tls_int.h"
#include "util.h"

#define SETUP_BASE	"/usr/share/mxgate/mxgate.conf.base"
#define MAX_ROUTES	16
#define MAX_LIST	8
#define LINE		1024

struct route_ans {
	char	domain[ADDR_DOMAIN_MAX + 1];
	char	servers[LINE];
	char	tls[16];
};

struct answers {
	char	hostname[ADDR_DOMAIN_MAX + 1];
	int	dhcp;
	char	addr4[64], gw4[64], addr6[80], gw6[80];
	char	dns[LINE], ntp[LINE];
	struct route_ans r[MAX_ROUTES];
	int	nr;
	char	tls_ca[CONF_PATH_MAX];
	char	postmaster[ADDR_PATH_MAX + 1];
	char	*mailboxes;	/* one per line; NULL: no list */
	size_t	nmailboxes;
	char	cert[CONF_PATH_MAX], key[CONF_PATH_MAX];
	char	*pem_cert, *pem_key;	/* pasted: written beside mxgate.conf */
	char	dnsbl[LINE];
};

#define PASTE_MAX	(64 * 1024)	/* a chain and its key */
#define PASTED_CERT	"tls-cert.pem"
#define PASTED_KEY	"tls-key.pem"

static void
tell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
tell(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* One answer: the line without blanks around it, or def when empty.
 * Exits 100 (nothing written) at the end of input. */
static void
ask(const char *q, const char *def, char *out, size_t size)
{
	char line[LINE], *s, *e;

	tell("%s%s%s%s: ", q, def && *def ? " [" : "", def && *def ? def : "",
	    def && *def ? "]" : "");
	if (fgets(line, sizeof(line), stdin) == NULL) {
		tell("\nsetup: input ended: nothing changed\n");
		exit(EXIT_PERM);
	}
	/* answers from a file or a script: shown, as a terminal echoes */
	if (!isatty(STDIN_FILENO))
		tell("%s%s", line, strchr(line, '\n') ? "" : "\n");
	for (s = line; *s == ' ' || *s == '\t'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == '\n' || e[-1] == '\r' ||
	    e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	str_copy(out, *s ? s : (def ? def : ""), size);
}

static void
wrong(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
wrong(const char *fmt, ...)
{
	va_list ap;

	printf("  ! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(": asked again\n");
	fflush(stdout);
}

/* Each blank-separated word of s passes ok(); at most max of them. */
static int
each_word(const char *s, int max, int (*ok)(const char *), const char *what)
{
	char buf[LINE], *w, *save = NULL;
	int n = 0;

	str_copy(buf, s, sizeof(buf));
	for (w = strtok_r(buf, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save)) {
		if (++n > max) {
			wrong("at most %d %s", max, what);
			return -1;
		}
		if (!ok(w)) {
			wrong("'%s' is not %s", w, what);
			return -1;
		}
	}
	return n;
}

static int
is_ip(const char *s)
{
	struct netaddr a;

	return net_parse_ip(s, &a) == 0;
}

static int
is_ntp(const char *s)
{
	return is_ip(s) || addr_domain_valid(s);
}

static int
is_endpoint(const char *s)
{
	struct sockaddr_storage ss;
	char why[128];

	return net_parse_endpoint(s, 25, &ss, why, sizeof(why)) == 0;
}

static int
is_zone(const char *s)
{
	return addr_domain_valid(s) && strchr(s, '.') != NULL;
}

/* an interface address with its prefix: "192.0.2.10/24", "2001:db8::10/64"
 * (host bits set, unlike a CIDR) */
static int
is_prefix(const char *s, int family)
{
	char ip[NET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct netaddr a;
	uint64_t pfx;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(ip))
		return 0;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	return net_parse_ip(ip, &a) == 0 && a.family == family &&
	    parse_uint(slash + 1, 1, family == AF_INET ? 32 : 128, &pfx) == 0;
}

static int
is_family(const char *s, int family)
{
	struct netaddr a;

	return net_parse_ip(s, &a) == 0 && a.family == family;
}

static int
routed(const struct answers *a, const char *domain)
{
	int i;

	for (i = 0; i < a->nr; i++)
		if (strcasecmp(domain, a->r[i].domain) == 0)
			return 1;
	return 0;
}

/* The password of the admin at the console (`mxgatectl user passwd`,
 * or the program $MXGATECTL_PASSWD names, for tests), until it is set
 * or kept. */
static void
ask_password(struct ctl *c)
{
	const char *prog = getenv("MXGATECTL_PASSWD");
	char yn[16];
	int st;
	pid_t pid;

	for (;;) {
		tell("\n1. Your password (%s, for the console login)\n",
		    c->person);
		ask("set it now? (yes/no; no keeps the current one)", "yes",
		    yn, sizeof(yn));
		if (strcmp(yn, "no") == 0)
			return;
		if (strcmp(yn, "yes") != 0) {
			wrong("answer yes or no");
			continue;
		}
		fflush(stdout);
		if (prog == NULL) {
			if (ctl_user_passwd(c, c->person) == EXIT_OK)
				return;
		} else if ((pid = fork()) == 0) {
			execl(prog, prog, c->person, (char *)NULL);
			_exit(127);
		} else if (pid > 0 && waitpid(pid, &st, 0) == pid &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return;
		wrong("the password was not changed");
	}
}

static void
ask_network(struct answers *a)
{
	char mode[16];
	int n;

	tell("\n3. Network (the uplink)\n");
	for (;;) {
		ask("IPv4: dhcp or static", "dhcp", mode, sizeof(mode));
		if (strcmp(mode, "dhcp") == 0 || strcmp(mode, "static") == 0)
			break;
		wrong("'%s' is not dhcp or static", mode);
	}
	a->dhcp = strcmp(mode, "dhcp") == 0;
	while (!a->dhcp) {
		ask("IPv4 address with prefix (192.0.2.10/24)", NULL, a->addr4,
		    sizeof(a->addr4));
		if (is_prefix(a->addr4, AF_INET))
			break;
		wrong("'%s' is not an IPv4 address with its prefix", a->addr4);
	}
	while (!a->dhcp) {
		ask("IPv4 gateway", NULL, a->gw4, sizeof(a->gw4));
		if (is_family(a->gw4, AF_INET))
			break;
		wrong("'%s' is not an IPv4 address", a->gw4);
	}
	for (;;) {
		ask("IPv6 address with prefix, or none", "none", a->addr6,
		    sizeof(a->addr6));
		if (strcmp(a->addr6, "none") == 0 || is_prefix(a->addr6,
		    AF_INET6))
			break;
		wrong("'%s' is not an IPv6 address with its prefix", a->addr6);
	}
	while (strcmp(a->addr6, "none") != 0) {
		ask("IPv6 gateway", NULL, a->gw6, sizeof(a->gw6));
		if (is_family(a->gw6, AF_INET6))
			break;
		wrong("'%s' is not an IPv6 address", a->gw6);
	}
	for (;;) {
		ask(a->dhcp ? "DNS resolvers (addresses; empty: from DHCP)" :
		    "DNS resolvers (addresses)", NULL, a->dns, sizeof(a->dns));
		n = each_word(a->dns, 4, is_ip, "an IP address");
		if (n > 0 || (n == 0 && a->dhcp))
			break;
		if (n == 0)
			wrong("a static network needs at least one resolver");
	}
}

static void
ask_routes(struct answers *a)
{
	char d[LINE];

	tell("\n5. The customer's domains and servers (mail for them is "
	    "relayed to those servers, and only to them)\n");
	while (a->nr < MAX_ROUTES) {
		struct route_ans *r = &a->r[a->nr];

		ask(a->nr ? "another domain (empty: done)" : "domain", NULL, d,
		    sizeof(d));
		if (d[0] == '\0' && a->nr > 0)
			break;
		if (!addr_domain_valid(d) || strchr(d, '.') == NULL) {
			wrong("'%s' is not a domain name", d);
			continue;
		}
		if (routed(a, d)) {
			wrong("%s is already there", d);
			continue;
		}
		str_copy(r->domain, d, sizeof(r->domain));
		str_lower(r->domain);
		for (;;) {
			int n;
			ask("  its servers (IP[:PORT], in order of preference)",
			    NULL, r->servers, sizeof(r->servers));
			n = each_word(r->servers, 7, is_endpoint, "an IP address "
			    "with an optional :PORT");
			if (n > 0)
				break;
			if (n == 0)
				wrong("at least one server");
		}
		for (;;) {
			ask("  TLS toward them: none, may, encrypt or verify",
			    "may", r->tls, sizeof(r->tls));
			if (strcmp(r->tls, "none") && strcmp(r->tls, "may") &&
			    strcmp(r->tls, "encrypt") && strcmp(r->tls, "verify")) {
				wrong("'%s' is not none, may, encrypt or verify",
				    r->tls);
				continue;
			}
			break;
		}
		while (strcmp(r->tls, "verify") == 0 && a->tls_ca[0] == '\0') {
			struct tls_client *cl;
			char err[256];

			ask("  the CA certificate file their certificates chain "
			    "to", NULL, a->tls_ca, sizeof(a->tls_ca));
			if (tls_client_new(&cl, a->tls_ca, 0, err,
			    sizeof(err)) == 0 && tls_client_anchors(cl) > 0) {
				tls_client_free(cl);
				break;
			}
			wrong("%s", err[0] ? err : "no CA certificate there");
			a->tls_ca[0] = '\0';
		}
		a->nr++;
	}
}

static void
ask_mailboxes(struct answers *a)
{
	char how[LINE], line[LINE], addr[ADDR_PATH_MAX + 1];
	const char *why;
	size_t cap = 0, len = 0;

	tell("\n7. The mailboxes (recipients the relay accepts; without a "
	    "list every address of the domains is accepted and the customer's "
	    "servers decide)\n");
	for (;;) {
		ask("none, type, or import FILE (a directory export: Microsoft "
		    "365, Active Directory, Google Workspace, or one address per "
		    "line)", "none", how, sizeof(how));
		if (strcmp(how, "none") == 0)
			return;
		if (strncmp(how, "import ", 7) == 0) {
			a->mailboxes = ctl_mailboxes_read_export(how + 7,
			    &a->nmailboxes);
			if (a->mailboxes != NULL) {
				tell("  %zu addresses read from %s\n",
				    a->nmailboxes, how + 7);
				return;
			}
			wrong("%s could not be imported (see above)", how + 7);
			continue;
		}
		if (strcmp(how, "type") == 0)
			break;
		wrong("'%s' is not none, type or import FILE", how);
	}
	tell("  one address (or @domain for all of a domain) per line, an "
	    "empty line ends\n");
	for (;;) {
		ask("  mailbox", NULL, line, sizeof(line));
		if (line[0] == '\0')
			break;
		if (line[0] == '@' ? !addr_domain_valid(line + 1) :
		    ctl_mailbox_normalize(line, addr, sizeof(addr), &why) ==
		    NULL) {
			wrong("'%s': %s", line, line[0] == '@' ? "not a domain" :
			    why);
			continue;
		}
		if (line[0] == '@')
			str_copy(addr, line, sizeof(addr));
		a->mailboxes = xgrow(a->mailboxes, &cap, len + strlen(addr) +
		    2, 1, 4096);
		len += (size_t)sprintf(a->mailboxes + len, "%s\n", addr);
		a->nmailboxes++;
	}
	if (a->nmailboxes == 0)
		tell("  no mailbox typed: no list\n");
}

/* dir/name into out; -1 when it does not fit */
static int
path_beside_dir(const char *dir, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A pasted chain and key: lines up to the private key's END line, split
 * there; each part checked on the spot by loading it as the relay would
 * (from a temporary file, removed at once). 0, or -1 said. */
static int
read_pasted(struct answers *a)
{
	char line[LINE], cpath[64], kpath[64], err[256];
	char *text = calloc(1, PASTE_MAX + 1), *k;
	struct tls_server *srv;
	size_t len = 0, n;
	int cfd, kfd, rc = -1;

	tell("  paste the certificate chain (the server's own certificate "
	    "first), then its\n  private key, in PEM; the key's END line "
	    "ends it\n");
	while (text != NULL && fgets(line, sizeof(line), stdin) != NULL) {
		if ((n = strlen(line)) + len > PASTE_MAX) {
			wrong("more than %d KiB pasted", PASTE_MAX / 1024);
			goto out;
		}
		memcpy(text + len, line, n + 1);
		len += n;
		if (strncmp(line, "-----END", 8) == 0 &&
		    strstr(line, "PRIVATE KEY-----") != NULL)
			break;
	}
	if (text == NULL || (k = strstr(text, "-----BEGIN")) == NULL ||
	    (k = strstr(text, "PRIVATE KEY-----")) == NULL) {
		wrong("no private key in what was pasted");
		goto out;
	}
	while (k > text && k[-1] != '\n')	/* to its BEGIN line */
		k--;
	snprintf(cpath, sizeof(cpath), "/tmp/mxgatectl-cert-XXXXXX");
	snprintf(kpath, sizeof(kpath), "/tmp/mxgatectl-key-XXXXXX");
	if ((cfd = mkstemp(cpath)) < 0)
		goto out;
	if ((kfd = mkstemp(kpath)) < 0) {
		close(cfd);
		unlink(cpath);
		goto out;
	}
	if (write(cfd, text, (size_t)(k - text)) == k - text &&
	    write(kfd, k, strlen(k)) == (ssize_t)strlen(k) &&
	    tls_server_new(&srv, cpath, kpath, 0, err, sizeof(err)) == 0) {
		tell("  SHA-256 fingerprint %s\n", tls_server_fingerprint(srv));
		tls_server_free(srv);
		a->pem_key = strdup(k);
		*k = '\0';
		a->pem_cert = strdup(text);
		rc = a->pem_cert != NULL && a->pem_key != NULL ? 0 : -1;
	} else
		wrong("the pasted certificate and key do not load: %s", err);
	close(cfd);
	close(kfd);
	unlink(cpath);
	unlink(kpath);
out:
	if (text != NULL) {
		explicit_bzero(text, PASTE_MAX);
		free(text);
	}
	return rc;
}

static void
ask_certificate(struct answers *a, const char *dir)
{
	char how[LINE];

	tell("\n8. The TLS certificate senders see (STARTTLS)\n");
	for (;;) {
		struct tls_server *srv;
		char err[256] = "", key[CONF_PATH_MAX];

		ask("keep (the generated self-signed one), paste, or files "
		    "CERT KEY", "keep", how, sizeof(how));
		if (strcmp(how, "keep") == 0) {
			tell("  the relay makes it at its first start; "
			    "`mxgatectl status` shows its SHA-256 "
			    "fingerprint\n");
			return;
		}
		if (strcmp(how, "paste") == 0) {
			if (read_pasted(a) != 0)
				continue;
			if (path_beside_dir(dir, PASTED_CERT, a->cert,
			    sizeof(a->cert)) == 0 && path_beside_dir(dir,
			    PASTED_KEY, a->key, sizeof(a->key)) == 0)
				return;
			wrong("the configuration directory's path is too "
			    "long");
			continue;
		}
		if (strncmp(how, "files ", 6) != 0 || sscanf(how + 6,
		    "%1023s %1023s", a->cert, key) != 2) {
			wrong("'%s' is not keep, paste or files CERT KEY", how);
			continue;
		}
		str_copy(a->key, key, sizeof(a->key));
		if (tls_server_new(&srv, a->cert, a->key, 0, err,
		    sizeof(err)) == 0) {
			tell("  SHA-256 fingerprint %s\n",
			    tls_server_fingerprint(srv));
			tls_server_free(srv);
			return;
		}
		wrong("%s", err);
		a->cert[0] = a->key[0] = '\0';
	}
}

/* --- writing ------------------------------------------------------------- */

struct text {
	char	*p;
	size_t	 len, cap;
};

static void
add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static void
add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		char *p;
		t->cap = (t->len + (size_t)n + 1) * 2;
		p = xcalloc(t->cap, 1);
		if (t->p)
			memcpy(p, t->p, t->len);
		free(t->p);
		t->p = p;
	}
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* a directive setup asks about (replaced, not kept) */
static int
own_directive(const char *line)
{
	static const char *own[] = { "hostname", "listen", "route", "tls_ca",
	    "postmaster", "mailboxes", "dnsbl", "resolver", "tls_cert",
	    "tls_key", NULL };
	size_t n;
	int i;

	line += strspn(line, " \t");
	n = strcspn(line, " \t");
	for (i = 0; own[i] != NULL; i++)
		if (strlen(own[i]) == n && strncmp(line, own[i], n) == 0)
			return 1;
	return 0;
}

/* the lines of the current mxgate.conf setup does not ask about; with
 * no mxgate.conf yet, those of the appliance's base (its queue on the
 * data partition), when there is one */
static void
kept_lines(const char *path, struct text *t)
{
	size_t len;
	char *old = ctl_read_file(path, &len), *line, *save = NULL;
	int base = 0;

	if (old == NULL && errno == ENOENT) {
		old = ctl_read_file(SETUP_BASE, &len);
		base = 1;
	}
	if (old == NULL)
		return;
	for (line = strtok_r(old, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (!own_directive(line) && strncmp(line,
		    "# written by mxgatectl setup", 28) != 0 &&
		    !(base && line[0] == '#'))	/* the base's own notes */
			add(t, "%s\n", line);
	free(old);
}

char *
ctl_setup_kept(const char *path)
{
	struct text t = { NULL, 0, 0 };

	kept_lines(path, &t);
	return t.p != NULL ? t.p : xstrdup("");
}

static void
build_conf(const struct answers *a, const char *oldconf, const char *dir,
    struct text *t)
{
	char w[LINE], *x, *save = NULL;
	int i;

	add(t, "# written by mxgatectl setup; every directive in "
	    "mxgate.conf(5)\n");
	add(t, "hostname %s\nlisten 0.0.0.0:25\n", a->hostname);
	if (strcmp(a->addr6, "none") != 0)
		add(t, "listen [::]:25\n");
	for (i = 0; i < a->nr; i++)
		add(t, "route %s %s tls %s\n", a->r[i].domain, a->r[i].servers,
		    a->r[i].tls);
	if (a->tls_ca[0])
		add(t, "tls_ca %s\n", a->tls_ca);
	add(t, "postmaster %s\n", a->postmaster);
	if (a->mailboxes != NULL && a->nmailboxes > 0)
		add(t, "mailboxes %s/mailboxes\n", dir);
	if (a->cert[0])
		add(t, "tls_cert %s\ntls_key %s\n", a->cert, a->key);
	str_copy(w, a->dns, sizeof(w));
	for (x = strtok_r(w, " \t,", &save); x && a->dnsbl[0];
	    x = strtok_r(NULL, " \t,", &save))
		add(t, "resolver %s\n", x);
	str_copy(w, a->dnsbl, sizeof(w));
	save = NULL;
	for (x = strtok_r(w, " \t,", &save); x != NULL;
	    x = strtok_r(NULL, " \t,", &save))
		add(t, "dnsbl %s 1\n", x);
	kept_lines(oldconf, t);
}

static void
build_network(const struct answers *a, struct text *t)
{
	add(t, "# /etc/mxgate/network.conf — written by mxgatectl setup\n");
	add(t, "MODE=%s\nIFACE=auto\n", a->dhcp ? "dhcp" : "static");
	if (!a->dhcp)
		add(t, "ADDRESS=%s\nGATEWAY=%s\n", a->addr4, a->gw4);
	if (a->dns[0])
		add(t, "DNS=\"%s\"\n", a->dns);
	if (strcmp(a->addr6, "none") != 0)
		add(t, "ADDRESS6=%s\nGATEWAY6=%s\n", a->addr6, a->gw6);
}

static void
build_ntp(const struct answers *a, struct text *t)
{
	char w[LINE], *x, *save = NULL;

	add(t, "# /etc/mxgate/ntp.conf — written by mxgatectl setup\n");
	str_copy(w, a->ntp, sizeof(w));
	for (x = strtok_r(w, " \t,", &save); x != NULL;
	    x = strtok_r(NULL, " \t,", &save))
		add(t, "server %s\n", x);
}

int
ctl_setup(struct ctl *c, int argc, char **argv)
{
	struct answers a;
	struct text conf = { NULL, 0, 0 }, net = { NULL, 0, 0 },
	    ntp = { NULL, 0, 0 };
	char cand[PATH_MAX], run[PATH_MAX], dir[CONF_PATH_MAX], path[PATH_MAX];
	char yn[16], host[ADDR_DOMAIN_MAX + 1] = "";
	const char *base;
	int n, i;

	if (argc != 1) {
		fprintf(stderr, "usage: mxgatectl setup\n");
		return EXIT_PERM;
	}
	/* Ctrl-C must end the questions even when the login left SIGINT
	 * ignored (a non-interactive menu cannot restore it) */
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	memset(&a, 0, sizeof(a));
	str_copy(dir, c->config_path, sizeof(dir));
	if (strrchr(dir, '/') != NULL)
		*strrchr(dir, '/') = '\0';
	base = strrchr(c->config_path, '/');
	base = base ? base + 1 : c->config_path;
	ctl_audit_open(c);
	ctl_audit(c, "setup", NULL, "started");
	tell("mxgate setup: a few questions, then a summary; nothing is "
	    "written before you say yes at the end (Ctrl-C leaves everything "
	    "as it is).\n");

	ask_password(c);

	tell("\n2. This appliance's name (its host name in SMTP)\n");
	gethostname(host, sizeof(host));
	for (;;) {
		ask("host name (mx.example.com)", strchr(host, '.') ? host :
		    NULL, a.hostname, sizeof(a.hostname));
		if (addr_domain_valid(a.hostname) && strchr(a.hostname, '.'))
			break;
		wrong("'%s' is not a fully qualified host name", a.hostname);
	}

	ask_network(&a);

	tell("\n4. Time (NTP)\n");
	for (;;) {
		ask("NTP servers (names or addresses), or none",
		    "pool.ntp.org", a.ntp, sizeof(a.ntp));
		if (strcmp(a.ntp, "none") == 0)
			break;
		if ((n = each_word(a.ntp, MAX_LIST, is_ntp, "a host name or "
		    "address")) > 0)
			break;
		if (n == 0)
			wrong("a server, or none");
	}

	ask_routes(&a);

	tell("\n6. The postmaster (reports about mail that could not be "
	    "delivered go there)\n");
	for (;;) {
		char def[ADDR_DOMAIN_MAX + 16], tmp[ADDR_PATH_MAX + 1];
		const char *why, *at;

		snprintf(def, sizeof(def), "postmaster@%s", a.r[0].domain);
		ask("postmaster address", def, a.postmaster,
		    sizeof(a.postmaster));
		if (ctl_mailbox_normalize(a.postmaster, tmp, sizeof(tmp),
		    &why) == NULL) {
			wrong("'%s': %s", a.postmaster, why);
			continue;
		}
		at = strrchr(tmp, '@');
		if (at == NULL || !routed(&a, at + 1)) {
			wrong("%s is not in one of the domains above",
			    a.postmaster);
			continue;
		}
		str_copy(a.postmaster, tmp, sizeof(a.postmaster));
		break;
	}

	ask_mailboxes(&a);
	ask_certificate(&a, dir);

	tell("\n9. DNSBL zones (a client listed there is refused; none is "
	    "used unless you name it)\n");
	for (;;) {
		ask("zones (zen.spamhaus.org ...), or none", "none", a.dnsbl,
		    sizeof(a.dnsbl));
		if (strcmp(a.dnsbl, "none") == 0) {
			a.dnsbl[0] = '\0';
			break;
		}
		if ((n = each_word(a.dnsbl, MAX_LIST, is_zone, "a DNS zone"))
		    <= 0)
			continue;
		if (a.dns[0] == '\0') {
			wrong("DNSBL needs resolvers by address (step 3): none "
			    "was given");
			continue;
		}
		break;
	}

	/* the files, then the summary */
	snprintf(path, sizeof(path), "%s/%s", dir, base);
	build_conf(&a, path, dir, &conf);
	build_network(&a, &net);
	if (strcmp(a.ntp, "none") == 0)
		str_copy(a.ntp, "none", sizeof(a.ntp));
	build_ntp(&a, &ntp);
	tell("\n--- summary -------------------------------------------------"
	    "--------\n%s:\n%s", base, conf.p);
	tell("network.conf:\n%s", net.p);
	tell("ntp.conf:\n%s", ntp.p);
	tell("mailboxes: %s\n", a.nmailboxes ? "" : "no list");
	if (a.nmailboxes)
		tell("  %zu entries\n", a.nmailboxes);
	tell("-------------------------------------------------------------"
	    "--------\n");
	for (;;) {
		ask("write this configuration and commit it? (yes/no)", NULL,
		    yn, sizeof(yn));
		if (strcmp(yn, "yes") == 0)
			break;
		if (strcmp(yn, "no") == 0) {
			tell("nothing changed\n");
			ctl_audit(c, "setup", NULL, "abandoned");
			return EXIT_PERM;
		}
		wrong("answer yes or no");
	}
	/* from here on a Ctrl-C would leave half a candidate */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	{
		static const char *names[] = { NULL, "network.conf",
		    "ntp.conf", "mailboxes", PASTED_CERT, PASTED_KEY };
		const struct text *texts[] = { &conf, &net, &ntp, NULL };

		names[0] = base;
		for (i = 0; i < 6; i++) {
			const char *p = i < 3 ? texts[i]->p : i == 3 ?
			    a.mailboxes : i == 4 ? a.pem_cert : a.pem_key;
			size_t len = i < 3 ? texts[i]->len : (p ? strlen(p) :
			    0);

			if ((i == 3 && a.nmailboxes == 0) || (i > 3 &&
			    p == NULL))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (ctl_config_file(c, path, 1, cand, run,
			    sizeof(cand)) != 0 || ctl_write_file(cand, p, len,
			    i == 5 ? 0600 : 0644) != 0 || (i == 5 &&
			    chmod(cand, 0600) != 0)) {
				fprintf(stderr, "mxgatectl: setup: %s: %s\n",
				    names[i], strerror(errno));
				ctl_audit(c, "setup", NULL, "failed");
				return EXIT_TEMP;
			}
		}
	}
	ctl_audit(c, "setup", NULL, "candidate written");
	tell("\ncommitting...\n");
	{
		static const char *const commit[] = { "config", "commit", "-m",
		    "mxgatectl setup" };
		char *args[16];

		ctl_self_argv(c, args, commit, 4);
		fflush(NULL);
		/* the configuration lock is ours until exec (O_CLOEXEC) */
		execv("/proc/self/exe", args);
		fprintf(stderr, "mxgatectl: setup: cannot run config commit: "
		    "%s; run `mxgatectl config commit`\n", strerror(errno));
	}
	return EXIT_TEMP;
}
