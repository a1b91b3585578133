/*
 * config.h — the mxgate configuration: one directive per line, '#'
 * comments, words separated by blanks (SPEC 3.1).
 *
 * The parser is pure (text in, struct out, every error reported as
 * "FILE:LINE: message"); config_load() adds the file reads. Every limit is
 * an explicit constant here and every directive is a row of the table in
 * config.c with its arity, type and bounds.
 */
#ifndef MXGATE_CONFIG_H
#define MXGATE_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"
#include "net.h"

#define CONF_LINE_MAX		4096
/* processing logs are kept at least this long (the retention a mail
 * service owes; a shorter log_retention_days is refused) */
#define CONF_LOG_RETENTION_MIN	180
#define CONF_PATH_MAX		1024
#define CONF_MAX_LISTEN		16
#define CONF_MAX_ROUTES		1024
#define CONF_MAX_ROUTE_HOSTS	8
#define CONF_MAX_CIDRS		4096
#define CONF_MAX_TLS_EXEMPT	256	/* tls_exempt / tls_exempt_sender */
#define CONF_MAX_DNSBL		32
#define CONF_MAX_RESOLVERS	4
#define CONF_MAX_MAILBOXES	1000000
#define CONF_MAX_WORKERS	8	/* two generations share 16 gate slots */

enum tls_policy { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY };

struct route {
	char			domain[ADDR_DOMAIN_MAX + 1];	/* lower case */
	int			subdomains;	/* written ".example.com" */
	struct sockaddr_storage	host[CONF_MAX_ROUTE_HOSTS];
	int			nhosts;
	enum tls_policy		tls;
	char			tls_name[ADDR_DOMAIN_MAX + 1]; /* verify: the
					   name the certificate must carry */
};

struct dnsbl {
	char	zone[512];	/* ZONE[=127.0.0.2,127.0.0.[4..7]] */
	int	weight;		/* negative: an allowlist zone */
};

struct config {
	char			hostname[ADDR_DOMAIN_MAX + 1];
	struct sockaddr_storage	listen[CONF_MAX_LISTEN];
	int			nlisten;
	/* inbound TLS policy: a listener (listen ... tls_required, or all
	 * of them with tls_required yes) answers MAIL with 530 5.7.0 until
	 * STARTTLS, but for clients in tls_exempt and senders whose domain
	 * is in tls_exempt_sender */
	int			listen_tls_required[CONF_MAX_LISTEN];
	struct cidr		tls_exempt[CONF_MAX_TLS_EXEMPT];
	int			ntls_exempt;
	char			tls_exempt_sender[CONF_MAX_TLS_EXEMPT][ADDR_DOMAIN_MAX + 1];
	int			ntls_exempt_sender;
	int			tls_required;	/* every listener */
	char			queue_dir[CONF_PATH_MAX];
	struct route		*routes;	/* CONF_MAX_ROUTES slots */
	int			nroutes;
	char			mailboxes_file[CONF_PATH_MAX];
	char			**mailboxes;	/* sorted, lower case */
	size_t			nmailboxes;
	char			tls_cert[CONF_PATH_MAX];
	char			tls_key[CONF_PATH_MAX];
	char			tls_ca[CONF_PATH_MAX];
	int			tls_min_version;	/* 0x0301..0x0303 */
	int			tls_cert_default;	/* paths were derived */
	char			gate_file[CONF_PATH_MAX];	/* shared gate table */
	struct dnsbl		dnsbl[CONF_MAX_DNSBL];
	int			ndnsbl;
	int			dnsbl_threshold;
	struct sockaddr_storage	resolver[CONF_MAX_RESOLVERS];
	int			nresolvers;
	struct sockaddr_storage	ntp[CONF_MAX_RESOLVERS];	/* NTP servers */
	int			nntp;
	struct cidr		*allow;		/* CONF_MAX_CIDRS slots */
	int			nallow;
	struct cidr		*block;		/* CONF_MAX_CIDRS slots */
	int			nblock;
	uint64_t		max_message_size;	/* bytes */
	uint64_t		memory_budget;		/* bytes, all sessions */
	uint64_t		queue_lifetime;		/* seconds */
	uint64_t		queue_map_size;		/* LMDB map, bytes */
	char			postmaster[ADDR_PATH_MAX + 1];
	int			max_sessions;
	int			max_recipients;
	int			max_errors;
	uint64_t		command_timeout;	/* seconds */
	uint64_t		session_timeout;	/* seconds */
	uint64_t		relay_timeout;		/* seconds, customer replies */
	uint64_t		connect_timeout;	/* seconds */
	int			workers;		/* SMTP front workers */
	/* gating (docs/GATING.md) */
	int			gate_ip_concurrency;
	int			gate_net_concurrency;
	int			gate_ip_rate;		/* per minute, 0 off */
	int			gate_net_rate;
	int			gate_net4_prefix;
	int			gate_net6_prefix;
	uint64_t		pregreet_wait_ms;
	uint64_t		pass_ttl;		/* seconds */
	uint64_t		dnsbl_timeout_ms;
	int			max_unknown_rcpt;
	int			max_refused_rcpt;
	uint64_t		tempblock_time;		/* seconds */
	int			log_clear_days;		/* then sealed */
	int			boot_check_seconds;	/* a slot on trial */
	int			log_retention_days;	/* then deleted */
	char			log_dir[CONF_PATH_MAX];	/* /data/log */
	int			log_disk_warn;		/* % used: warn */
	int			log_disk_full;		/* % used: full */
	int			log_drop_oldest;	/* log_full_policy */
	struct sockaddr_storage	syslog_server;	/* family 0: none */
	enum tls_policy		syslog_tls;
	char			syslog_name[ADDR_DOMAIN_MAX + 1]; /* verify */
	uint64_t		min_data_rate;		/* bytes/s, 0 off */
	int			block_drop;		/* block_action drop */
	char			chroot_dir[CONF_PATH_MAX]; /* empty, root's */
};

/* Parses text (len bytes) named `name` into cf (which must come from
 * config_new()). Writes each error to errs as "name:LINE: message" and
 * returns the number of errors; cf is usable only when it returns 0. */
int config_parse(struct config *cf, const char *name, const char *text,
    size_t len, FILE *errs);

/* Parses a mailboxes list (one address or "@domain" per line). */
int config_parse_mailboxes(struct config *cf, const char *name,
    const char *text, size_t len, FILE *errs);

struct config *config_new(void);
void config_free(struct config *cf);

/* Reads and parses path and the files it names (mailboxes). NULL after
 * reporting every error to errs. */
struct config *config_load(const char *path, FILE *errs);

/* Route for a lower-case domain, or NULL: exact match first, then the
 * longest ".parent" subdomain route. */
const struct route *config_route(const struct config *cf, const char *domain);

/* 1 when no mailbox list is configured or addr (local@domain) is on it. */
int config_mailbox_known(const struct config *cf, const char *addr);

const char *tls_policy_name(enum tls_policy p);

#endif
