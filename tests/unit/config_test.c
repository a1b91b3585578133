/*
 * config_test.c — the configuration parser: every directive accepted with
 * good values, every error class reported as NAME:LINE: message.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "tap.h"

#define BASE "listen 127.0.0.1:2525\nroute example.com 127.0.0.1:2526\n"

/* Parses text; returns the error count and leaves the messages in errbuf. */
static int
parse(const char *text, struct config **out, char *errbuf, size_t errlen)
{
	struct config *cf = config_new();
	FILE *f = fmemopen(errbuf, errlen, "w");
	int n;

	memset(errbuf, 0, errlen);
	n = config_parse(cf, "t.conf", text, strlen(text), f);
	fclose(f);
	if (out)
		*out = cf;
	else
		config_free(cf);
	return n;
}

/* One bad line (after BASE) must give exactly one error on that line
 * whose message contains `want`. */
static void
bad(const char *line, const char *want)
{
	char text[1024], errs[2048], prefix[32];
	int n;

	snprintf(text, sizeof(text), BASE "%s\n", line);
	n = parse(text, NULL, errs, sizeof(errs));
	snprintf(prefix, sizeof(prefix), "t.conf:3: ");
	if (!ok(n == 1 && strncmp(errs, prefix, strlen(prefix)) == 0 &&
	    strstr(errs, want) != NULL, "rejects '%s'", line))
		printf("#   errors=%d: %s", n, errs);
}

int
main(void)
{
	struct config *cf;
	char errs[4096];
	const struct route *r;
	int n;

	n = parse(
	    "# full example\n"
	    "hostname mx.example.net\n"
	    "listen 127.0.0.1:2525\n"
	    "listen [::1]:2525   # v6\n"
	    "queue /var/lib/mxgate/queue\n"
	    "route example.com 192.0.2.10:25 [2001:db8::10]:2525 tls verify\n"
	    "route .example.org 192.0.2.11\n"
	    "mailboxes /etc/mxgate/mailboxes\n"
	    "tls_cert /etc/mxgate/cert.pem\n"
	    "tls_key /etc/mxgate/key.pem\n"
	    "tls_ca /etc/mxgate/customer-ca.pem\n"
	    "tls_min_version 1.1\n"
	    "resolver 127.0.0.1:5353\n"
	    "dnsbl bl.test 3\n"
	    "dnsbl_allow wl.test -5\n"
	    "dnsbl_threshold 3\n"
	    "allow 192.0.2.0/24\n"
	    "allow 2001:db8::/32\n"
	    "block 198.51.100.7\n"
	    "max_message_size 20M\n"
	    "queue_lifetime 5d\n"
	    "postmaster postmaster@example.com\n"
	    "max_sessions 50\n"
	    "command_timeout 2m\n"
	    "pregreet_wait 500ms\n"
	    "dnsbl bl2.test=127.0.0.2,127.0.0.4 2\n"
	    "gate_ip_concurrency 5\n"
	    "block_action drop\n",
	    &cf, errs, sizeof(errs));
	if (!ok(n == 0, "full example parses"))
		printf("# %s", errs);
	is_str(cf->hostname, "mx.example.net", "hostname");
	is_int(cf->nlisten, 2, "two listeners");
	is_int(cf->listen[1].ss_family, AF_INET6, "second listener is IPv6");
	is_int(cf->nroutes, 2, "two routes");
	is_int(cf->routes[0].nhosts, 2, "route has two servers");
	is_int(cf->routes[0].tls, TLS_VERIFY, "route tls verify");
	is_int(cf->routes[1].tls, TLS_MAY, "route tls defaults to may");
	is_int(ntohs(((struct sockaddr_in *)&cf->routes[1].host[0])->sin_port),
	    25, "route port defaults to 25");
	is_int(cf->ndnsbl, 3, "three dnsbl zones");
	is_int(cf->pregreet_wait_ms, 500, "pregreet_wait in ms");
	is_int(cf->gate_ip_concurrency, 5, "gate_ip_concurrency");
	is_int(cf->block_drop, 1, "block_action drop");
	is_int(cf->dnsbl[1].weight, -5, "negative dnsbl weight");
	is_int(cf->dnsbl_threshold, 3, "dnsbl_threshold");
	is_int(cf->nallow, 2, "two allow entries");
	is_int(cf->nblock, 1, "one block entry");
	is_int(cf->block[0].prefix, 32, "bare address is a /32");
	is_int(cf->max_message_size, 20u << 20, "max_message_size with M");
	is_int(cf->queue_lifetime, 5 * 86400, "queue_lifetime in days");
	is_int(cf->command_timeout, 120, "command_timeout in minutes");
	is_str(cf->postmaster, "postmaster@example.com", "postmaster");
	is_str(cf->mailboxes_file, "/etc/mxgate/mailboxes", "mailboxes");
	is_str(cf->tls_cert, "/etc/mxgate/cert.pem", "tls_cert");
	is_int(cf->tls_min_version, 0x0302, "tls_min_version 1.1");
	is_str(cf->routes[0].tls_name, "example.com",
	    "verify name defaults to the route domain");
	r = config_route(cf, "example.com");
	ok(r == &cf->routes[0], "exact route lookup");
	r = config_route(cf, "mail.example.org");
	ok(r == &cf->routes[1], "subdomain route lookup");
	ok(config_route(cf, "example.org") == NULL,
	    ".example.org does not cover example.org itself");
	ok(config_route(cf, "evil-example.com") == NULL, "no suffix confusion");
	ok(config_route(cf, "com") == NULL, "no route for parent");
	config_free(cf);

	n = parse(BASE, &cf, errs, sizeof(errs));
	ok(n == 0, "minimal config parses");
	is_int(cf->tls_min_version, 0x0303, "TLS 1.2 minimum by default");
	is_str(cf->tls_cert, "/var/lib/mxgate/tls/cert.pem",
	    "default certificate beside the queue");
	is_str(cf->tls_key, "/var/lib/mxgate/tls/key.pem", "default key");
	ok(cf->tls_cert_default, "default paths are marked as derived");
	config_free(cf);
	n = parse(BASE "tls_ca /ca.pem\nroute v.test 127.0.0.1:1 tls verify "
	    "mx.v.test\n", &cf, errs, sizeof(errs));
	ok(n == 0 && strcmp(cf->routes[1].tls_name, "mx.v.test") == 0,
	    "tls verify NAME");
	is_int(cf->queue_lifetime, 15 * 86400, "queue_lifetime default 15d");
	is_int(cf->max_message_size, 10u << 20, "max_message_size default");
	config_free(cf);

	/* every error class */
	bad("frobnicate yes", "unknown directive 'frobnicate'");
	bad("hostname", "takes 1 argument");
	bad("hostname a b", "takes 1 argument");
	bad("hostname -bad-.example", "not a valid host name");
	bad("listen 300.1.1.1:25", "bad IPv4 address");
	bad("listen 127.0.0.1", "missing :PORT");
	bad("listen 127.0.0.1:0", "bad port");
	bad("listen 127.0.0.1:65536", "bad port");
	bad("listen ::1:25", "must be written [ADDR]:PORT");
	bad("listen [::1:25", "missing ']'");
	bad("listen [zz::1]:25", "bad IPv6 address");
	bad("listen mail.example.com:25", "host names are not resolved");
	bad("queue relative/dir", "absolute path");
	bad("route example.com", "takes 2 to");
	bad("route bad_domain 127.0.0.1:25", "not a valid domain");
	bad("route example.com 127.0.0.1:25", "duplicate route");
	bad("route example.net 127.0.0.1:25 tls maybe", "unknown tls policy");
	bad("route example.net 127.0.0.1:25 tls", "'tls' takes one of");
	bad("route example.net 127.0.0.1:99999", "bad port");
	bad("route example.net tls may", "names no server");
	bad("route example.net 127.0.0.1:1 tls encrypt x.test", "comes last");
	bad("tls_min_version 1.3", "not one of 1.0, 1.1, 1.2");
	bad("mailboxes", "takes 1 argument");
	bad("tls_cert cert.pem", "absolute path");
	bad("dnsbl bl.test x", "weight 'x'");
	bad("dnsbl bl..test 1", "bl..test");
	bad("dnsbl bl.test -3", "use dnsbl_allow");
	bad("dnsbl_allow wl.test 3", "must be negative");
	bad("pregreet_wait 40s", "not a duration in 0-30000 ms");
	bad("block_action bounce", "not reply or drop");
	bad("dnsbl_threshold 0", "not a number in 1-1000");
	bad("dnsbl_threshold many", "not a number");
	bad("resolver 8.8.8.8.8", "bad IPv4 address");
	bad("allow 192.0.2.0/33", "prefix must be 0-32");
	bad("allow 192.0.2.1/24", "host bits set");
	bad("block 2001:db8::/129", "prefix must be 0-128");
	bad("block not-an-ip", "is not an address");
	bad("log_retention_days 179", "not a number in 180-36500");
	bad("log_clear_days 0", "not a number in 1-3650");
	n = parse(BASE "log_clear_days 400\n", NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "log_clear_days (400) must be below "
	    "log_retention_days (400)") != NULL,
	    "logs are sealed before they are deleted: clear < retention");
	n = parse(BASE "log_clear_days 7\nlog_retention_days 180\n", &cf, errs,
	    sizeof(errs));
	ok(n == 0 && cf->log_clear_days == 7 && cf->log_retention_days == 180,
	    "log_clear_days 7, log_retention_days 180 (the floor)");
	if (n == 0)
		config_free(cf);
	/* the log disk guard and the log server */
	bad("log_full_policy panic", "is not tempfail or drop-oldest");
	bad("log_disk_full 100", "not a number in 2-99");
	n = parse(BASE "log_disk_warn 90\nlog_disk_full 90\n", NULL, errs,
	    sizeof(errs));
	ok(n == 1 && strstr(errs, "log_disk_warn (90%) must be below "
	    "log_disk_full (90%)") != NULL, "log_disk_warn below log_disk_full");
	n = parse(BASE "log_dir /var/log/mx\nlog_full_policy drop-oldest\n",
	    &cf, errs, sizeof(errs));
	ok(n == 0 && strcmp(cf->log_dir, "/var/log/mx") == 0 &&
	    cf->log_drop_oldest == 1 && cf->log_disk_warn == 80 &&
	    cf->log_disk_full == 95, "log_dir, drop-oldest; marks 80%% / 95%%");
	if (n == 0)
		config_free(cf);
	bad("syslog_server logs.example.test", "syslog_server:");
	bad("syslog_server 192.0.2.7 tls", "after the address comes");
	bad("syslog_server 192.0.2.7 tls verify", "after the address comes");
	bad("syslog_server 192.0.2.7 tls may x", "after the address comes");
	bad("syslog_server 192.0.2.7 tls maybe", "unknown tls policy 'maybe'");
	n = parse(BASE "syslog_server 192.0.2.7 tls verify logs.example.test\n",
	    NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "'tls verify' needs tls_ca") != NULL,
	    "syslog_server tls verify without tls_ca: refused");
	n = parse(BASE "syslog_server 192.0.2.7\n", &cf, errs, sizeof(errs));
	ok(n == 0 && cf->syslog_server.ss_family == AF_INET &&
	    ntohs(((struct sockaddr_in *)&cf->syslog_server)->sin_port) ==
	    6514 && cf->syslog_tls == TLS_MAY,
	    "syslog_server ADDR: port 6514, tls may");
	if (n == 0)
		config_free(cf);
	n = parse(BASE "tls_ca /ca.pem\nsyslog_server [2001:db8::7]:514 tls "
	    "verify logs.example.test\n", &cf, errs, sizeof(errs));
	ok(n == 0 && cf->syslog_server.ss_family == AF_INET6 &&
	    cf->syslog_tls == TLS_VERIFY &&
	    strcmp(cf->syslog_name, "logs.example.test") == 0,
	    "syslog_server [v6]:514 tls verify NAME");
	if (n == 0)
		config_free(cf);
	bad("max_message_size 10Q", "not a size");
	bad("max_message_size 12", "not a size in 1024-");
	bad("max_message_size 2G", "not a size");
	bad("queue_lifetime forever", "not a duration");
	bad("queue_lifetime 10s", "not a duration in 60-");
	bad("queue_lifetime 5x", "not a duration");
	bad("postmaster root", "must have a domain");
	bad("postmaster a@b@c", "more than one '@'");
	bad("max_sessions 0", "not a number in 1-100000");
	bad("command_timeout -1", "not a duration");

	/* a directive given twice is reported on the second line */
	n = parse(BASE "hostname a.example\nhostname b.example\n", NULL, errs,
	    sizeof(errs));
	ok(n == 1 && strstr(errs, "t.conf:4: hostname: given more than once"),
	    "non-repeatable directive twice");

	/* global checks */
	n = parse("route example.com 127.0.0.1:25\n", NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "no 'listen'"), "listen is required");
	n = parse("listen 127.0.0.1:25\n", NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "no 'route'"), "route is required");
	n = parse(BASE "tls_cert /c.pem\n", NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "must be given together"),
	    "tls_cert without tls_key");
	n = parse(BASE "route v.test 127.0.0.1:1 tls verify\n", NULL, errs,
	    sizeof(errs));
	ok(n == 1 && strstr(errs, "needs tls_ca"), "verify without tls_ca");
	n = parse(BASE "dnsbl bl.test 1\n", NULL, errs, sizeof(errs));
	ok(n == 1 && strstr(errs, "needs at least one 'resolver'"),
	    "dnsbl without resolver");
	n = parse(BASE "postmaster pm@elsewhere.test\n", NULL, errs,
	    sizeof(errs));
	ok(n == 1 && strstr(errs, "not in a routed domain"),
	    "postmaster must be routed");

	/* every error is reported, each with its own line */
	n = parse("bogus 1\nlisten nope\nroute x\n", NULL, errs, sizeof(errs));
	ok(n >= 3 && strstr(errs, "t.conf:1:") && strstr(errs, "t.conf:2:") &&
	    strstr(errs, "t.conf:3:"), "all errors reported with lines");

	/* mailboxes */
	cf = config_new();
	strcpy(cf->mailboxes_file, "/m");
	{
		const char *m = "alice@example.com\n# comment\n\nBob@Example.COM\n"
		    "@catchall.example\n";
		FILE *f = fmemopen(errs, sizeof(errs), "w");
		n = config_parse_mailboxes(cf, "m", m, strlen(m), f);
		fclose(f);
	}
	is_int(n, 0, "mailboxes parse");
	ok(config_mailbox_known(cf, "alice@example.com"), "known mailbox");
	ok(config_mailbox_known(cf, "BOB@example.com"), "case-insensitive");
	ok(!config_mailbox_known(cf, "carol@example.com"), "unknown mailbox");
	ok(config_mailbox_known(cf, "anyone@catchall.example"), "@domain");
	config_free(cf);
	cf = config_new();
	{
		const char *m = "ok@example.com\nuser%x@example.com\nnodomain\n";
		FILE *f = fmemopen(errs, sizeof(errs), "w");
		memset(errs, 0, sizeof(errs));
		n = config_parse_mailboxes(cf, "m", m, strlen(m), f);
		fclose(f);
	}
	ok(n == 2 && strstr(errs, "m:2:") && strstr(errs, "m:3:"),
	    "bad mailboxes reported with lines");
	config_free(cf);
	/* an empty list (no entries at all: the sorted array is NULL) knows
	 * nobody; tests/fuzz/corpus/config holds the sanitizer regression */
	cf = config_new();
	strcpy(cf->mailboxes_file, "/m");
	is_int(config_parse_mailboxes(cf, "m", "# none\n", 7, stderr), 0,
	    "mailboxes: only a comment");
	ok(cf->mailboxes == NULL && cf->nmailboxes == 0, "... no entries");
	ok(!config_mailbox_known(cf, "alice@example.com"),
	    "empty mailbox list: nobody is known");
	config_free(cf);
	return done_testing();
}
