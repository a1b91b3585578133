/*
 * config.c — see config.h. The directive table, the value parsers and the
 * file readers. Defaults are set in config_new(); every bound is in the
 * table below.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stddef.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dnsbl.h"
#include "util.h"

#define MAX_WORDS	(2 + CONF_MAX_ROUTE_HOSTS + 3)
#define CONF_FILE_MAX	(64u << 20)	/* config and mailbox files */

struct ctx {
	const char	*name;
	int		 line;
	int		 errors;
	FILE		*errs;
	unsigned	 seen[64];	/* times each directive was given */
};

static void
err(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
err(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	c->errors++;
	if (c->errs == NULL)
		return;
	fprintf(c->errs, "%s:%d: ", c->name, c->line);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
}

/* --- value parsers ------------------------------------------------- */

struct unit {
	char		suffix;
	uint64_t	mult;
};

/* N with an optional one-letter suffix from units (plain N: mult 1). */
static int
parse_scaled(const char *s, const struct unit *units, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1, v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	for (; units->suffix; units++)
		if (num[n - 1] == units->suffix) {
			mult = units->mult;
			num[--n] = '\0';
			break;
		}
	if (parse_uint(num, 0, UINT64_MAX / mult, &v) != 0)
		return -1;
	*out = v * mult;
	return 0;
}

/* BYTES with an optional K, M or G suffix (powers of 1024). */
static int
parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ 'k', 1ull << 10 }, { 'K', 1ull << 10 },
		{ 'm', 1ull << 20 }, { 'M', 1ull << 20 },
		{ 'g', 1ull << 30 }, { 'G', 1ull << 30 }, { 0, 0 }
	};

	return parse_scaled(s, units, out);
}

/* DURATION: N with an optional s, m, h, d or w suffix; plain N is
 * seconds. */
static int
parse_duration(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 }, { 0, 0 }
	};

	return parse_scaled(s, units, out);
}

/* --- directive handlers ------------------------------------------- */

struct directive;
typedef void handler_fn(struct config *, struct ctx *,
    const struct directive *, int, char **);

struct directive {
	const char	*name;
	int		 minargs, maxargs;	/* words after the name */
	int		 repeatable;
	handler_fn	*fn;
	size_t		 off;		/* field for the generic handlers */
	uint64_t	 min, max;	/* bounds for numeric values */
};

#define FIELD(cf, d, type) ((type *)((char *)(cf) + (d)->off))

static void
do_hostname(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	if (!addr_domain_valid(argv[0])) {
		err(c, "hostname: '%s' is not a valid host name", argv[0]);
		return;
	}
	str_copy(cf->hostname, argv[0], sizeof(cf->hostname));
}

static void
do_listen(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char why[128];

	if (cf->nlisten >= CONF_MAX_LISTEN) {
		err(c, "listen: at most %d listeners", CONF_MAX_LISTEN);
		return;
	}
	if (net_parse_endpoint(argv[0], 0, &cf->listen[cf->nlisten], why,
	    sizeof(why)) != 0) {
		err(c, "listen: %s", why);
		return;
	}
	if (argc == 2 && strcmp(argv[1], "tls_required") != 0) {
		err(c, "listen: '%s' is not tls_required", argv[1]);
		return;
	}
	cf->listen_tls_required[cf->nlisten] = argc == 2;
	cf->nlisten++;
}

static void
do_tls_required(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	if (strcmp(argv[0], "yes") == 0)
		cf->tls_required = 1;
	else if (strcmp(argv[0], "no") == 0)
		cf->tls_required = 0;
	else
		err(c, "tls_required: '%s' is not yes or no", argv[0]);
}

static void
do_tls_exempt(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char why[128];

	if (cf->ntls_exempt >= CONF_MAX_TLS_EXEMPT) {
		err(c, "tls_exempt: at most %d entries", CONF_MAX_TLS_EXEMPT);
		return;
	}
	if (net_parse_cidr(argv[0], &cf->tls_exempt[cf->ntls_exempt], why,
	    sizeof(why)) != 0) {
		err(c, "tls_exempt: %s", why);
		return;
	}
	cf->ntls_exempt++;
}

static void
do_tls_exempt_sender(struct config *cf, struct ctx *c,
    const struct directive *d, int argc, char **argv)
{
	char *dom;
	size_t i, n = strlen(argv[0]);

	if (cf->ntls_exempt_sender >= CONF_MAX_TLS_EXEMPT) {
		err(c, "tls_exempt_sender: at most %d entries",
		    CONF_MAX_TLS_EXEMPT);
		return;
	}
	if (n == 0 || n > ADDR_DOMAIN_MAX ||
	    strspn(argv[0], "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n ||
	    argv[0][0] == '.' || argv[0][n - 1] == '.') {
		err(c, "tls_exempt_sender: '%s' is not a domain", argv[0]);
		return;
	}
	dom = cf->tls_exempt_sender[cf->ntls_exempt_sender++];
	for (i = 0; i <= n; i++)
		dom[i] = (char)tolower((unsigned char)argv[0][i]);
}

static void
do_path(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	if (argv[0][0] != '/') {
		err(c, "%s: '%s' must be an absolute path", d->name, argv[0]);
		return;
	}
	if (strlen(argv[0]) >= CONF_PATH_MAX) {
		err(c, "%s: path longer than %d bytes", d->name,
		    CONF_PATH_MAX - 1);
		return;
	}
	str_copy(FIELD(cf, d, char), argv[0], CONF_PATH_MAX);
}

static void
do_uint(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	uint64_t v;

	if (parse_uint(argv[0], d->min, d->max, &v) != 0) {
		err(c, "%s: '%s' is not a number in %llu-%llu", d->name,
		    argv[0], (unsigned long long)d->min,
		    (unsigned long long)d->max);
		return;
	}
	*FIELD(cf, d, int) = (int)v;
}

static void
do_size(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	uint64_t v;

	if (parse_size(argv[0], &v) != 0 || v < d->min || v > d->max) {
		err(c, "%s: '%s' is not a size in %llu-%llu bytes "
		    "(suffix K, M or G allowed)", d->name, argv[0],
		    (unsigned long long)d->min, (unsigned long long)d->max);
		return;
	}
	*FIELD(cf, d, uint64_t) = v;
}

static void
do_duration(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	uint64_t v;

	if (parse_duration(argv[0], &v) != 0 || v < d->min || v > d->max) {
		err(c, "%s: '%s' is not a duration in %llu-%llu seconds "
		    "(suffix s, m, h, d or w allowed)", d->name, argv[0],
		    (unsigned long long)d->min, (unsigned long long)d->max);
		return;
	}
	*FIELD(cf, d, uint64_t) = v;
}

static void
do_route(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	struct route *r;
	const char *dom = argv[0];
	char why[128];
	int i, subdomains = 0;

	if (cf->nroutes >= CONF_MAX_ROUTES) {
		err(c, "route: at most %d routes", CONF_MAX_ROUTES);
		return;
	}
	r = &cf->routes[cf->nroutes];
	memset(r, 0, sizeof(*r));
	r->tls = TLS_MAY;
	if (dom[0] == '.') {
		subdomains = 1;
		dom++;
	}
	if (!addr_domain_valid(dom)) {
		err(c, "route: '%s' is not a valid domain", argv[0]);
		return;
	}
	str_copy(r->domain, dom, sizeof(r->domain));
	str_lower(r->domain);
	r->subdomains = subdomains;
	for (i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].subdomains == subdomains &&
		    strcmp(cf->routes[i].domain, r->domain) == 0) {
			err(c, "route: duplicate route for '%s'", argv[0]);
			return;
		}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "tls") == 0) {
			if (i + 2 != argc && !(i + 3 == argc &&
			    strcmp(argv[i + 1], "verify") == 0)) {
				err(c, "route: 'tls' takes one of none, may, "
				    "encrypt, verify [NAME] and comes last");
				return;
			}
			if (i + 3 == argc) {
				if (!addr_domain_valid(argv[i + 2])) {
					err(c, "route: '%s' is not a valid "
					    "server name", argv[i + 2]);
					return;
				}
				str_copy(r->tls_name, argv[i + 2],
				    sizeof(r->tls_name));
			} else
				str_copy(r->tls_name, r->domain,
				    sizeof(r->tls_name));
			const char *p = argv[i + 1];
			if (strcmp(p, "none") == 0) r->tls = TLS_NONE;
			else if (strcmp(p, "may") == 0) r->tls = TLS_MAY;
			else if (strcmp(p, "encrypt") == 0) r->tls = TLS_ENCRYPT;
			else if (strcmp(p, "verify") == 0) r->tls = TLS_VERIFY;
			else {
				err(c, "route: unknown tls policy '%s' "
				    "(none, may, encrypt, verify)", p);
				return;
			}
			break;
		}
		if (r->nhosts >= CONF_MAX_ROUTE_HOSTS) {
			err(c, "route: at most %d servers per route",
			    CONF_MAX_ROUTE_HOSTS);
			return;
		}
		if (net_parse_endpoint(argv[i], 25, &r->host[r->nhosts], why,
		    sizeof(why)) != 0) {
			err(c, "route: %s", why);
			return;
		}
		r->nhosts++;
	}
	if (r->nhosts == 0) {
		err(c, "route: '%s' names no server (HOST:PORT)", argv[0]);
		return;
	}
	cf->nroutes++;
}

/* dnsbl ZONE[=FILTERS] WEIGHT and dnsbl_allow ZONE[=FILTERS] -WEIGHT */
static void
do_dnsbl(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	int allow = strcmp(d->name, "dnsbl_allow") == 0;
	struct dnsbl_zone z;
	char why[160];
	uint64_t w;
	int neg = argv[1][0] == '-';

	if (cf->ndnsbl >= CONF_MAX_DNSBL) {
		err(c, "%s: at most %d zones", d->name, CONF_MAX_DNSBL);
		return;
	}
	if (parse_uint(argv[1] + neg, 0, 1000, &w) != 0) {
		err(c, "%s: weight '%s' is not a number in -1000..1000",
		    d->name, argv[1]);
		return;
	}
	if (allow && (!neg || w == 0)) {
		err(c, "dnsbl_allow: weight '%s' must be negative", argv[1]);
		return;
	}
	if (!allow && neg) {
		err(c, "dnsbl: weight '%s' is negative: use dnsbl_allow for "
		    "allowlist zones", argv[1]);
		return;
	}
	if (strlen(argv[0]) >= sizeof(cf->dnsbl[0].zone) ||
	    dnsbl_zone_parse(argv[0], neg ? -(int)w : (int)w, allow, &z, why,
	    sizeof(why)) != 0) {
		err(c, "%s: '%s': %s", d->name, argv[0],
		    strlen(argv[0]) >= sizeof(cf->dnsbl[0].zone) ?
		    "too long" : why);
		return;
	}
	str_copy(cf->dnsbl[cf->ndnsbl].zone, argv[0],
	    sizeof(cf->dnsbl[0].zone));
	str_lower(cf->dnsbl[cf->ndnsbl].zone);
	cf->dnsbl[cf->ndnsbl].weight = neg ? -(int)w : (int)w;
	cf->ndnsbl++;
}

/* DURATION in milliseconds: N with ms, s, m or h (plain N: seconds). */
static void
do_duration_ms(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	size_t n = strlen(argv[0]);
	uint64_t v;

	if (n > 2 && strcmp(argv[0] + n - 2, "ms") == 0) {
		char num[32];
		if (n - 2 >= sizeof(num) || (memcpy(num, argv[0], n - 2),
		    num[n - 2] = '\0', parse_uint(num, 0, UINT64_MAX / 2, &v))
		    != 0)
			v = UINT64_MAX;
	} else if (parse_duration(argv[0], &v) == 0 && v <= UINT64_MAX / 1000)
		v *= 1000;
	else
		v = UINT64_MAX;
	if (v < d->min || v > d->max) {
		err(c, "%s: '%s' is not a duration in %llu-%llu ms "
		    "(suffix ms, s, m or h)", d->name, argv[0],
		    (unsigned long long)d->min, (unsigned long long)d->max);
		return;
	}
	*FIELD(cf, d, uint64_t) = v;
}

static void
do_block_action(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	if (strcmp(argv[0], "reply") == 0)
		cf->block_drop = 0;
	else if (strcmp(argv[0], "drop") == 0)
		cf->block_drop = 1;
	else
		err(c, "block_action: '%s' is not reply or drop", argv[0]);
}

/* syslog_server ADDR:PORT [tls none|may|verify NAME] (logfwd.c) */
static void
do_syslog_server(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char why[128];

	if (net_parse_endpoint(argv[0], 6514, &cf->syslog_server, why,
	    sizeof(why)) != 0) {
		err(c, "syslog_server: %s", why);
		return;
	}
	cf->syslog_tls = TLS_MAY;
	cf->syslog_name[0] = '\0';
	if (argc == 1)
		return;
	if (strcmp(argv[1], "tls") != 0 || argc < 3 ||
	    (strcmp(argv[2], "verify") == 0) != (argc == 4)) {
		err(c, "syslog_server: after the address comes 'tls none', "
		    "'tls may' or 'tls verify NAME'");
		return;
	}
	if (strcmp(argv[2], "none") == 0)
		cf->syslog_tls = TLS_NONE;
	else if (strcmp(argv[2], "may") == 0)
		cf->syslog_tls = TLS_MAY;
	else if (strcmp(argv[2], "verify") == 0) {
		if (!addr_domain_valid(argv[3])) {
			err(c, "syslog_server: '%s' is not a valid server "
			    "name", argv[3]);
			return;
		}
		cf->syslog_tls = TLS_VERIFY;
		str_copy(cf->syslog_name, argv[3], sizeof(cf->syslog_name));
	} else
		err(c, "syslog_server: unknown tls policy '%s' (none, may, "
		    "verify NAME)", argv[2]);
}

static void
do_log_full_policy(struct config *cf, struct ctx *c,
    const struct directive *d, int argc, char **argv)
{
	if (strcmp(argv[0], "tempfail") == 0)
		cf->log_drop_oldest = 0;
	else if (strcmp(argv[0], "drop-oldest") == 0)
		cf->log_drop_oldest = 1;
	else
		err(c, "log_full_policy: '%s' is not tempfail or drop-oldest",
		    argv[0]);
}

static void
do_resolver(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char why[128];

	if (cf->nresolvers >= CONF_MAX_RESOLVERS) {
		err(c, "resolver: at most %d resolvers", CONF_MAX_RESOLVERS);
		return;
	}
	if (net_parse_endpoint(argv[0], 53, &cf->resolver[cf->nresolvers],
	    why, sizeof(why)) != 0) {
		err(c, "resolver: %s", why);
		return;
	}
	cf->nresolvers++;
}

static void
do_ntp(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char why[128];

	if (cf->nntp >= CONF_MAX_RESOLVERS) {
		err(c, "ntp: at most %d servers", CONF_MAX_RESOLVERS);
		return;
	}
	if (net_parse_endpoint(argv[0], 123, &cf->ntp[cf->nntp], why,
	    sizeof(why)) != 0) {
		err(c, "ntp: %s", why);
		return;
	}
	cf->nntp++;
}

static void
do_cidr(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	int is_allow = strcmp(d->name, "allow") == 0;
	struct cidr *list = is_allow ? cf->allow : cf->block;
	int *n = is_allow ? &cf->nallow : &cf->nblock;
	char why[128];

	if (*n >= CONF_MAX_CIDRS) {
		err(c, "%s: at most %d entries", d->name, CONF_MAX_CIDRS);
		return;
	}
	if (net_parse_cidr(argv[0], &list[*n], why, sizeof(why)) != 0) {
		err(c, "%s: %s", d->name, why);
		return;
	}
	(*n)++;
}

static void
do_tls_version(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	if (strcmp(argv[0], "1.0") == 0)
		cf->tls_min_version = 0x0301;
	else if (strcmp(argv[0], "1.1") == 0)
		cf->tls_min_version = 0x0302;
	else if (strcmp(argv[0], "1.2") == 0)
		cf->tls_min_version = 0x0303;
	else
		err(c, "tls_min_version: '%s' is not one of 1.0, 1.1, 1.2",
		    argv[0]);
}

static void
do_postmaster(struct config *cf, struct ctx *c, const struct directive *d,
    int argc, char **argv)
{
	char buf[ADDR_PATH_MAX + 3];
	struct smtp_path p;
	size_t used;
	enum addr_status st;

	if (strlen(argv[0]) > ADDR_PATH_MAX) {
		err(c, "postmaster: address too long");
		return;
	}
	snprintf(buf, sizeof(buf), "<%s>", argv[0]);
	st = addr_parse_path(buf, strlen(buf), 0, &p, &used);
	if (st != ADDR_OK || used != strlen(buf)) {
		err(c, "postmaster: '%s': %s", argv[0],
		    st != ADDR_OK ? addr_status_text(st) : "bad address");
		return;
	}
	str_copy(cf->postmaster, p.addr, sizeof(cf->postmaster));
}

#define OFF(f) offsetof(struct config, f)
static const struct directive directives[] = {
	{ "hostname",	1, 1, 0, do_hostname,	0, 0, 0 },
	{ "listen",	1, 2, 1, do_listen,	0, 0, 0 },
	{ "tls_required", 1, 1, 0, do_tls_required, 0, 0, 0 },
	{ "tls_exempt",	1, 1, 1, do_tls_exempt,	0, 0, 0 },
	{ "tls_exempt_sender", 1, 1, 1, do_tls_exempt_sender, 0, 0, 0 },
	{ "queue",	1, 1, 0, do_path,	OFF(queue_dir), 0, 0 },
	{ "route",	2, 1 + CONF_MAX_ROUTE_HOSTS + 3, 1, do_route, 0, 0, 0 },
	{ "mailboxes",	1, 1, 0, do_path,	OFF(mailboxes_file), 0, 0 },
	{ "tls_cert",	1, 1, 0, do_path,	OFF(tls_cert), 0, 0 },
	{ "tls_key",	1, 1, 0, do_path,	OFF(tls_key), 0, 0 },
	{ "tls_ca",	1, 1, 0, do_path,	OFF(tls_ca), 0, 0 },
	{ "tls_min_version", 1, 1, 0, do_tls_version, 0, 0, 0 },
	{ "dnsbl",	2, 2, 1, do_dnsbl,	0, 0, 0 },
	{ "dnsbl_allow", 2, 2, 1, do_dnsbl,	0, 0, 0 },
	{ "dnsbl_timeout", 1, 1, 0, do_duration_ms, OFF(dnsbl_timeout_ms),
	    100, 30000 },
	{ "gate_ip_concurrency", 1, 1, 0, do_uint, OFF(gate_ip_concurrency),
	    1, 10000 },
	{ "gate_net_concurrency", 1, 1, 0, do_uint, OFF(gate_net_concurrency),
	    1, 60000 },
	{ "gate_ip_rate", 1, 1, 0, do_uint,	OFF(gate_ip_rate), 0, 100000 },
	{ "gate_net_rate", 1, 1, 0, do_uint,	OFF(gate_net_rate), 0, 100000 },
	{ "gate_net4_prefix", 1, 1, 0, do_uint,	OFF(gate_net4_prefix), 8, 32 },
	{ "gate_net6_prefix", 1, 1, 0, do_uint,	OFF(gate_net6_prefix), 16, 128 },
	{ "pregreet_wait", 1, 1, 0, do_duration_ms, OFF(pregreet_wait_ms),
	    0, 30000 },
	{ "pass_ttl",	1, 1, 0, do_duration,	OFF(pass_ttl), 0, 7 * 86400 },
	{ "max_unknown_rcpt", 1, 1, 0, do_uint,	OFF(max_unknown_rcpt), 0, 1000 },
	{ "max_refused_rcpt", 1, 1, 0, do_uint,	OFF(max_refused_rcpt), 0, 10000 },
	{ "tempblock_time", 1, 1, 0, do_duration, OFF(tempblock_time),
	    0, 7 * 86400 },
	/* read by the boot check of a new root slot (init/service/bootcheck) */
	{ "boot_check_seconds", 1, 1, 0, do_uint, OFF(boot_check_seconds),
	    20, 3600 },
	/* read by the log retention (init/service/logretention/run) */
	{ "log_clear_days", 1, 1, 0, do_uint,	OFF(log_clear_days), 1, 3650 },
	{ "log_retention_days", 1, 1, 0, do_uint, OFF(log_retention_days),
	    CONF_LOG_RETENTION_MIN, 36500 },
	/* the log disk guard (logdisk.h): the relay and mxgatectl */
	{ "log_dir",	1, 1, 0, do_path,	OFF(log_dir), 0, 0 },
	{ "log_disk_warn", 1, 1, 0, do_uint,	OFF(log_disk_warn), 1, 98 },
	{ "log_disk_full", 1, 1, 0, do_uint,	OFF(log_disk_full), 2, 99 },
	{ "log_full_policy", 1, 1, 0, do_log_full_policy, 0, 0, 0 },
	{ "syslog_server", 1, 4, 0, do_syslog_server, 0, 0, 0 },
	{ "min_data_rate", 1, 1, 0, do_size,	OFF(min_data_rate), 0, 10u << 20 },
	{ "block_action", 1, 1, 0, do_block_action, 0, 0, 0 },
	{ "dnsbl_threshold", 1, 1, 0, do_uint,	OFF(dnsbl_threshold), 1, 1000 },
	{ "resolver",	1, 1, 1, do_resolver,	0, 0, 0 },
	{ "ntp",	1, 1, 1, do_ntp,	0, 0, 0 },
	{ "allow",	1, 1, 1, do_cidr,	0, 0, 0 },
	{ "block",	1, 1, 1, do_cidr,	0, 0, 0 },
	{ "max_message_size", 1, 1, 0, do_size,	OFF(max_message_size),
	    1024, 256ull << 20 },	/* = QUEUE_BODY_MAX: any message can
					   be queued on an outage */
	{ "memory_budget", 1, 1, 0, do_size,	OFF(memory_budget),
	    1ull << 20, 16ull << 30 },
	{ "queue_lifetime", 1, 1, 0, do_duration, OFF(queue_lifetime),
	    60, 366 * 86400 },
	{ "queue_map_size", 1, 1, 0, do_size,	OFF(queue_map_size),
	    1ull << 20, 1ull << 40 },
	{ "postmaster",	1, 1, 0, do_postmaster,	0, 0, 0 },
	{ "max_sessions", 1, 1, 0, do_uint,	OFF(max_sessions), 1, 100000 },
	{ "max_recipients", 1, 1, 0, do_uint,	OFF(max_recipients), 1, 10000 },
	{ "max_errors",	1, 1, 0, do_uint,	OFF(max_errors), 1, 1000 },
	{ "command_timeout", 1, 1, 0, do_duration, OFF(command_timeout),
	    1, 3600 },
	{ "session_timeout", 1, 1, 0, do_duration, OFF(session_timeout),
	    10, 86400 },
	{ "relay_timeout", 1, 1, 0, do_duration, OFF(relay_timeout), 1, 3600 },
	{ "connect_timeout", 1, 1, 0, do_duration, OFF(connect_timeout),
	    1, 600 },
	{ "workers",	1, 1, 0, do_uint,	OFF(workers), 1, CONF_MAX_WORKERS },
	{ "gate_file",	1, 1, 0, do_path,	OFF(gate_file), 0, 0 },
	{ "chroot",	1, 1, 0, do_path,	OFF(chroot_dir), 0, 0 },
};

/* --- the parser ---------------------------------------------------- */

static int
split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static void
parse_line(struct config *cf, struct ctx *c, char *line)
{
	char *words[MAX_WORDS + 1], *hash;
	const struct directive *d = NULL;
	size_t i;
	int n;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	n = split_words(line, words, MAX_WORDS + 1);
	if (n == 0)
		return;
	for (i = 0; i < ARRAY_LEN(directives); i++)
		if (strcmp(words[0], directives[i].name) == 0) {
			d = &directives[i];
			break;
		}
	if (d == NULL) {
		err(c, "unknown directive '%s'", words[0]);
		return;
	}
	if (n < 0 || n - 1 < d->minargs || n - 1 > d->maxargs) {
		if (d->minargs == d->maxargs)
			err(c, "%s: takes %d argument%s", d->name, d->minargs,
			    d->minargs == 1 ? "" : "s");
		else
			err(c, "%s: takes %d to %d arguments", d->name,
			    d->minargs, d->maxargs);
		return;
	}
	if (c->seen[i] && !d->repeatable) {
		err(c, "%s: given more than once", d->name);
		return;
	}
	{
		int before = c->errors;
		d->fn(cf, c, d, n - 1, words + 1);
		if (c->errors == before)
			c->seen[i]++;	/* only a value that took counts */
	}
}

/* No tls_cert/tls_key: a self-signed pair is generated on first start
 * beside the queue, in DIR/../tls/ (the data side of the appliance). */
static int
derive_tls_paths(struct config *cf)
{
	if (path_beside(cf->queue_dir, "tls/cert.pem", cf->tls_cert,
	    sizeof(cf->tls_cert)) != 0 || path_beside(cf->queue_dir,
	    "tls/key.pem", cf->tls_key, sizeof(cf->tls_key)) != 0)
		return -1;
	cf->tls_cert_default = 1;
	return 0;
}

int
config_parse(struct config *cf, const char *name, const char *text,
    size_t len, FILE *errs)
{
	struct ctx c = { .name = name, .errs = errs };
	char line[CONF_LINE_MAX + 1];
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		size_t adv = nl ? n + 1 : n;

		c.line++;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > CONF_LINE_MAX)
			err(&c, "line longer than %d bytes", CONF_LINE_MAX);
		else if (memchr(text + pos, '\0', n) != NULL)
			err(&c, "NUL byte in line");
		else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			parse_line(cf, &c, line);
		}
		pos += adv;
	}
	c.line++;
	if (cf->nlisten == 0)
		err(&c, "no 'listen' directive: mxgate would accept no mail");
	if (cf->nroutes == 0)
		err(&c, "no 'route' directive: mxgate would relay no mail");
	if ((cf->tls_cert[0] != '\0') != (cf->tls_key[0] != '\0'))
		err(&c, "tls_cert and tls_key must be given together");
	for (int i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].tls == TLS_VERIFY && cf->tls_ca[0] == '\0')
			err(&c, "route %s: 'tls verify' needs tls_ca (the CA "
			    "that signs the customer's certificate)",
			    cf->routes[i].domain);
	if (cf->tls_cert[0] == '\0' && derive_tls_paths(cf) != 0)
		err(&c, "queue path too long to derive the default "
		    "certificate paths");
	if (cf->gate_file[0] == '\0' && path_beside(cf->queue_dir,
	    "gate.table", cf->gate_file, sizeof(cf->gate_file)) != 0)
		err(&c, "queue path too long to derive the gate_file path");
	if (cf->ndnsbl > 0 && cf->nresolvers == 0)
		err(&c, "dnsbl needs at least one 'resolver' "
		    "(no public resolver is ever used)");
	if (cf->log_clear_days >= cf->log_retention_days)
		err(&c, "log_clear_days (%d) must be below log_retention_days "
		    "(%d): logs are sealed before they are deleted",
		    cf->log_clear_days, cf->log_retention_days);
	if (cf->syslog_tls == TLS_VERIFY && cf->syslog_server.ss_family &&
	    cf->tls_ca[0] == '\0')
		err(&c, "syslog_server: 'tls verify' needs tls_ca (the CA "
		    "that signs the log server's certificate)");
	if (cf->log_disk_warn >= cf->log_disk_full)
		err(&c, "log_disk_warn (%d%%) must be below log_disk_full "
		    "(%d%%)", cf->log_disk_warn, cf->log_disk_full);
	if (cf->max_message_size > cf->memory_budget)
		err(&c, "max_message_size (%llu) exceeds memory_budget (%llu)",
		    (unsigned long long)cf->max_message_size,
		    (unsigned long long)cf->memory_budget);
	if (cf->postmaster[0] != '\0') {
		const char *at = strrchr(cf->postmaster, '@');
		if (at == NULL || config_route(cf, at + 1) == NULL)
			err(&c, "postmaster <%s> is not in a routed domain",
			    cf->postmaster);
	}
	return c.errors;
}

/* --- mailboxes ----------------------------------------------------- */

int
config_parse_mailboxes(struct config *cf, const char *name,
    const char *text, size_t len, FILE *errs)
{
	struct ctx c = { .name = name, .errs = errs };
	char line[ADDR_PATH_MAX + 3], buf[ADDR_PATH_MAX + 3], *w[2], *hash;
	size_t pos = 0, cap = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		size_t adv = nl ? n + 1 : n;
		struct smtp_path p;
		size_t used;
		enum addr_status st;
		int nw;

		c.line++;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > ADDR_PATH_MAX) {
			err(&c, "line longer than %d bytes", ADDR_PATH_MAX);
			goto next;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		nw = split_words(line, w, 2);
		if (nw == 0)
			goto next;
		if (nw != 1) {
			err(&c, "one address per line");
			goto next;
		}
		if (w[0][0] == '@') {
			if (!addr_domain_valid(w[0] + 1)) {
				err(&c, "bad domain in '%s'", w[0]);
				goto next;
			}
		} else {
			snprintf(buf, sizeof(buf), "<%s>", w[0]);
			st = addr_parse_path(buf, strlen(buf), ADDR_UTF8, &p, &used);
			if (st != ADDR_OK || used != strlen(buf)) {
				err(&c, "'%s': %s", w[0], st != ADDR_OK ?
				    addr_status_text(st) : "bad address");
				goto next;
			}
		}
		if (cf->nmailboxes >= CONF_MAX_MAILBOXES) {
			err(&c, "more than %d mailboxes", CONF_MAX_MAILBOXES);
			break;
		}
		if (cf->nmailboxes == cap) {
			cap = cap ? cap * 2 : 64;
			char **nm = realloc(cf->mailboxes, cap * sizeof(char *));
			if (nm == NULL)
				fatal(EXIT_TEMP, "mailboxes");
			cf->mailboxes = nm;
		}
		cf->mailboxes[cf->nmailboxes] = xstrdup(w[0]);
		str_lower(cf->mailboxes[cf->nmailboxes++]);
next:
		pos += adv;
	}
	if (cf->nmailboxes > 0)
		qsort(cf->mailboxes, cf->nmailboxes, sizeof(char *),
		    str_ptr_cmp);
	return c.errors;
}

int
config_mailbox_known(const struct config *cf, const char *addr)
{
	char key[ADDR_PATH_MAX + 2], *k = key;
	const char *at;

	if (cf->mailboxes_file[0] == '\0')
		return 1;
	if (cf->nmailboxes == 0)	/* an empty list knows nobody */
		return 0;
	if (str_copy(key, addr, sizeof(key)) >= sizeof(key))
		return 0;
	str_lower(key);
	if (bsearch(&k, cf->mailboxes, cf->nmailboxes, sizeof(char *),
	    str_ptr_cmp) != NULL)
		return 1;
	if ((at = strrchr(key, '@')) == NULL)
		return 0;
	k = (char *)at;
	return bsearch(&k, cf->mailboxes, cf->nmailboxes, sizeof(char *),
	    str_ptr_cmp) != NULL;
}

/* --- lookups, lifecycle, files ------------------------------------- */

const struct route *
config_route(const struct config *cf, const char *domain)
{
	const struct route *best = NULL;
	size_t dlen = strlen(domain), blen = 0;
	int i;

	for (i = 0; i < cf->nroutes; i++) {
		const struct route *r = &cf->routes[i];
		size_t rlen = strlen(r->domain);
		if (!r->subdomains) {
			if (strcmp(r->domain, domain) == 0)
				return r;
		} else if (dlen > rlen && domain[dlen - rlen - 1] == '.' &&
		    strcmp(domain + dlen - rlen, r->domain) == 0 &&
		    rlen > blen) {
			best = r;
			blen = rlen;
		}
	}
	return best;
}

const char *
tls_policy_name(enum tls_policy p)
{
	switch (p) {
	case TLS_NONE: return "none";
	case TLS_MAY: return "may";
	case TLS_ENCRYPT: return "encrypt";
	case TLS_VERIFY: return "verify";
	}
	return "?";
}

struct config *
config_new(void)
{
	struct config *cf = xcalloc(1, sizeof(*cf));

	cf->routes = xcalloc(CONF_MAX_ROUTES, sizeof(struct route));
	cf->allow = xcalloc(CONF_MAX_CIDRS, sizeof(struct cidr));
	cf->block = xcalloc(CONF_MAX_CIDRS, sizeof(struct cidr));
	if (gethostname(cf->hostname, sizeof(cf->hostname) - 1) != 0 ||
	    !addr_domain_valid(cf->hostname))
		str_copy(cf->hostname, "localhost", sizeof(cf->hostname));
	str_copy(cf->queue_dir, "/var/lib/mxgate/queue", CONF_PATH_MAX);
	cf->dnsbl_threshold = 1;
	cf->max_message_size = 10u << 20;
	cf->memory_budget = 256u << 20;
	cf->queue_lifetime = 15 * 86400;
	cf->queue_map_size = 2ull << 30;	/* address space, not disk */
	cf->max_sessions = 1000;
	cf->max_recipients = 100;
	cf->max_errors = 10;
	cf->command_timeout = 60;
	cf->session_timeout = 600;
	cf->relay_timeout = 120;
	cf->connect_timeout = 10;
	cf->workers = 2;
	cf->tls_min_version = 0x0303;
	cf->gate_ip_concurrency = 50;
	cf->gate_net_concurrency = 200;
	cf->gate_ip_rate = 300;
	cf->gate_net_rate = 1200;
	cf->gate_net4_prefix = 24;
	cf->gate_net6_prefix = 64;
	cf->pregreet_wait_ms = 2000;
	cf->pass_ttl = 3600;
	cf->dnsbl_timeout_ms = 2000;
	cf->max_unknown_rcpt = 10;
	cf->max_refused_rcpt = 30;
	cf->tempblock_time = 600;
	cf->log_clear_days = 30;
	cf->boot_check_seconds = 60;
	cf->log_retention_days = 400;
	str_copy(cf->log_dir, "/data/log", CONF_PATH_MAX);
	cf->log_disk_warn = 80;
	cf->log_disk_full = 95;
	cf->min_data_rate = 256;
	str_copy(cf->chroot_dir, "/var/lib/mxgate/empty", CONF_PATH_MAX);
	return cf;
}

void
config_free(struct config *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->nmailboxes; i++)
		free(cf->mailboxes[i]);
	free(cf->mailboxes);
	free(cf->routes);
	free(cf->allow);
	free(cf->block);
	free(cf);
}

/* Reads a whole regular file of at most CONF_FILE_MAX bytes. */
static char *
read_file(const char *path, size_t *len, FILE *errs)
{
	struct stat st;
	char *buf;
	ssize_t r;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(errs, "%s:0: cannot open: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > CONF_FILE_MAX) {
		fprintf(errs, "%s:0: not a regular file of at most %u bytes\n",
		    path, CONF_FILE_MAX);
		close(fd);
		return NULL;
	}
	buf = xcalloc(1, (size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(errs, "%s:0: read error\n", path);
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
}

struct config *
config_load(const char *path, FILE *errs)
{
	struct config *cf = config_new();
	size_t len;
	char *text;
	int errors;

	if ((text = read_file(path, &len, errs)) == NULL) {
		config_free(cf);
		return NULL;
	}
	errors = config_parse(cf, path, text, len, errs);
	free(text);
	if (errors == 0 && cf->mailboxes_file[0] != '\0') {
		if ((text = read_file(cf->mailboxes_file, &len, errs)) == NULL)
			errors++;
		else {
			errors += config_parse_mailboxes(cf,
			    cf->mailboxes_file, text, len, errs);
			free(text);
		}
	}
	if (errors) {
		config_free(cf);
		return NULL;
	}
	return cf;
}
