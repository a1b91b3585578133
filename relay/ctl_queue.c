/*
 * ctl_queue.c — `mxgatectl queue ...`: list, show, flush, delete, hold,
 * release on the outage queue (queue.h). See docs/mxgatectl.8.md.
 *
 * Opens the queue the configuration names, never creates one and never
 * creates a key. Prints the body of a message only when asked (--body).
 * Every operation, read-only ones included, is audited (ctl.h): reading
 * an envelope is access to personal data.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "dsn.h"
#include "queue.h"
#include "util.h"

static const char *const state_name[] = { "pending", "sent", "failed" };

static void
age_format(int64_t us, char *buf, size_t size)
{
	int64_t s = us / 1000000;

	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s / 60 % 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s / 3600 % 24));
}

static void
time_format(int64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, size, "-");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* Terminal-safe text: control and 8-bit bytes as '?'. */
static void
safe_puts(const char *s, FILE *f)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ?
		    '?' : *s, f);
}

static void
json_str(const char *s, FILE *f)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *
last_error(const struct queue_msg *m)
{
	int i;

	if (m->nhist > 0)
		return m->hist[m->nhist - 1].result;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].last_error[0])
			return m->rcpt[i].last_error;
	return "";
}

struct list_ctx {
	int	json;
	int	n;
	int	unreadable;
	int64_t	now;
};

static int
list_one(void *arg, const struct queue_msg *m, int status)
{
	struct list_ctx *lc = arg;
	char age[32], t1[32], t2[32];
	int i;

	age_format(queue_age_us(m, lc->now), age, sizeof(age));
	if (status != QUEUE_OK)
		lc->unreadable++;
	if (lc->json) {
		time_format(m->arrival_us, t1, sizeof(t1));
		time_format(m->next_try_us, t2, sizeof(t2));
		printf("%s\n  {\"id\": \"%s\", \"arrival\": \"%s\", "
		    "\"age_seconds\": %lld, \"size\": %llu, \"attempts\": %u, "
		    "\"held\": %s, \"next_try\": \"%s\", ", lc->n ? "," : "",
		    m->id, t1, (long long)(queue_age_us(m, lc->now) / 1000000),
		    (unsigned long long)m->size, m->attempts,
		    m->flags & QMSG_HELD ? "true" : "false", t2);
		if (status != QUEUE_OK) {
			printf("\"error\": ");
			json_str(queue_strerror(status), stdout);
			printf("}");
		} else {
			printf("\"sender\": ");
			json_str(m->from, stdout);
			printf(", \"route\": ");
			json_str(m->route_domain, stdout);
			printf(", \"last_error\": ");
			json_str(last_error(m), stdout);
			printf(", \"recipients\": [");
			for (i = 0; i < m->nrcpt; i++) {
				printf("%s{\"address\": ", i ? ", " : "");
				json_str(m->rcpt[i].addr, stdout);
				printf(", \"state\": \"%s\", \"status\": ",
				    state_name[m->rcpt[i].state]);
				json_str(m->rcpt[i].status, stdout);
				printf(", \"last_error\": ");
				json_str(m->rcpt[i].last_error, stdout);
				printf("}");
			}
			printf("]}");
		}
	} else {
		if (lc->n == 0)
			printf("%-18s %7s %10s %5s %-5s %s\n", "ID", "AGE",
			    "SIZE", "TRIES", "STATE", "SENDER");
		printf("%-18s %7s %10llu %5u %-5s ", m->id, age,
		    (unsigned long long)m->size, m->attempts,
		    m->flags & QMSG_HELD ? "held" : "queue");
		if (status != QUEUE_OK) {
			printf("(unreadable: %s)\n", queue_strerror(status));
		} else {
			printf("<");
			safe_puts(m->from, stdout);
			printf(">\n");
			for (i = 0; i < m->nrcpt; i++) {
				printf("    <");
				safe_puts(m->rcpt[i].addr, stdout);
				printf("> %s", state_name[m->rcpt[i].state]);
				if (m->rcpt[i].last_error[0]) {
					printf(" (");
					safe_puts(m->rcpt[i].last_error,
					    stdout);
					printf(")");
				}
				printf("\n");
			}
		}
	}
	lc->n++;
	return 0;
}

static int
print_chunk(void *arg, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

/* Exit code for a queue status. */
static int
exit_of(int st)
{
	switch (st) {
	case QUEUE_OK:
	case QUEUE_DONE:
		return EXIT_OK;
	case QUEUE_NOTFOUND:
	case QUEUE_EINVAL:
	case QUEUE_EAUTH:
	case QUEUE_ECORRUPT:
		return EXIT_PERM;
	default:
		return EXIT_TEMP;
	}
}

static int
show(struct queue *q, const char *id, int body)
{
	struct queue_msg m;
	struct dsn_headers *h;
	char t[32];
	int st, i;

	queue_msg_init(&m);
	if ((st = queue_get(q, id, &m)) != QUEUE_OK) {
		queue_msg_free(&m);
		return st;
	}
	printf("id: %s\n", m.id);
	time_format(m.arrival_us, t, sizeof(t));
	printf("arrival: %s\n", t);
	printf("size: %llu\n", (unsigned long long)m.size);
	printf("sender: <");
	safe_puts(m.from, stdout);
	printf(">\nroute: ");
	safe_puts(m.route_domain, stdout);
	printf("\nstate: %s%s\n", m.flags & QMSG_HELD ? "held" : "queued",
	    m.flags & QMSG_INFLIGHT ? ", attempt in flight" : "");
	printf("attempts: %u\n", m.attempts);
	time_format(m.last_try_us, t, sizeof(t));
	printf("last_try: %s\n", t);
	time_format(m.next_try_us, t, sizeof(t));
	printf("next_try: %s\n", t);
	for (i = 0; i < m.nrcpt; i++) {
		printf("recipient: <");
		safe_puts(m.rcpt[i].addr, stdout);
		printf("> %s %s (", state_name[m.rcpt[i].state],
		    m.rcpt[i].status[0] ? m.rcpt[i].status : "-");
		safe_puts(m.rcpt[i].last_error, stdout);
		printf(")\n");
	}
	for (i = 0; i < m.nhist; i++) {
		time_format(m.hist[i].at_us, t, sizeof(t));
		printf("attempt: %s relay=", t);
		safe_puts(m.hist[i].relay[0] ? m.hist[i].relay : "none",
		    stdout);
		printf(" (");
		safe_puts(m.hist[i].result, stdout);
		printf(")\n");
	}
	queue_msg_free(&m);
	printf("\n");
	fflush(stdout);
	if (body)
		return queue_get_body(q, id, print_chunk, NULL);
	if ((h = malloc(sizeof(*h))) == NULL)
		return QUEUE_ERR;
	dsn_headers_init(h);
	st = queue_get_body(q, id, dsn_headers_collect, h);
	if (st == QUEUE_STOPPED || st == QUEUE_OK) {
		fwrite(h->buf, 1, h->len, stdout);
		if (h->cut)
			printf("[headers longer than %u bytes: cut here]\n",
			    DSN_HEADERS_MAX);
		st = QUEUE_OK;
	}
	free(h);
	return st;
}

static int
cmd_usage(void)
{
	fputs("usage: mxgatectl queue list [--json]\n"
	    "       mxgatectl queue show ID [--body]\n"
	    "       mxgatectl queue flush [ID]\n"
	    "       mxgatectl queue delete ID | hold ID | release ID\n",
	    stderr);
	return EXIT_PERM;
}

int
ctl_queue(struct ctl *c, int argc, char **argv)
{
	struct config *cf;
	struct queue *q;
	char err[512], id[QUEUE_ID_LEN + 2], result[128], op[32];
	const char *sub;
	int st, json = 0, body = 0, count = 0, need_id, i;

	if (argc < 2)
		return cmd_usage();
	sub = argv[1];
	if (strcmp(sub, "list") == 0) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0))
			return cmd_usage();
		json = argc == 3;
		need_id = 0;
	} else if (strcmp(sub, "show") == 0) {
		if (argc < 3 || argc > 4 ||
		    (argc == 4 && strcmp(argv[3], "--body") != 0))
			return cmd_usage();
		body = argc == 4;
		need_id = 1;
	} else if (strcmp(sub, "flush") == 0) {
		if (argc > 3)
			return cmd_usage();
		need_id = argc == 3;
	} else if (strcmp(sub, "delete") == 0 || strcmp(sub, "hold") == 0 ||
	    strcmp(sub, "release") == 0) {
		if (argc != 3)
			return cmd_usage();
		need_id = 1;
	} else
		return cmd_usage();
	if (need_id) {
		if (str_copy(id, argv[2], sizeof(id)) != QUEUE_ID_LEN) {
			fprintf(stderr, "mxgatectl: '%s' is not a queue id\n",
			    argv[2]);
			return EXIT_PERM;
		}
		for (i = 0; id[i]; i++)
			id[i] = (char)toupper((unsigned char)id[i]);
	}
	snprintf(op, sizeof(op), "queue-%s%s", sub, body ? "-body" : "");

	cf = ctl_config(c);
	ctl_audit_open(c);
	st = queue_open(&q, cf->queue_dir, c->key_path, 0, 0, err,
	    sizeof(err));
	if (st == QUEUE_NOTFOUND && strcmp(sub, "list") == 0) {
		/* no queue yet: nothing queued */
		if (json)
			printf("[]\n");
		ctl_audit(c, op, NULL, "ok count=0 (no queue yet)");
		return EXIT_OK;
	}
	if (st != QUEUE_OK) {
		fprintf(stderr, "mxgatectl: %s\n", err);
		snprintf(result, sizeof(result), "error (%s)",
		    queue_strerror(st));
		ctl_audit(c, op, need_id ? id : NULL, result);
		return exit_of(st);
	}

	if (strcmp(sub, "list") == 0) {
		struct list_ctx lc = { json, 0, 0, wall_us() };
		if (json)
			printf("[");
		st = queue_list(q, list_one, &lc);
		if (json)
			printf("%s]\n", lc.n ? "\n" : "");
		snprintf(result, sizeof(result), "%s count=%d unreadable=%d",
		    st == QUEUE_OK ? "ok" : queue_strerror(st), lc.n,
		    lc.unreadable);
	} else if (strcmp(sub, "show") == 0) {
		st = show(q, id, body);
		snprintf(result, sizeof(result), "%s", st == QUEUE_OK ?
		    "ok" : queue_strerror(st));
	} else if (strcmp(sub, "flush") == 0) {
		st = queue_flush(q, need_id ? id : NULL, wall_us(), &count);
		if (st == QUEUE_OK)
			printf("flushed %d message%s\n", count,
			    count == 1 ? "" : "s");
		snprintf(result, sizeof(result), "%s count=%d",
		    st == QUEUE_OK ? "ok" : queue_strerror(st), count);
	} else {
		st = strcmp(sub, "delete") == 0 ? queue_delete(q, id) :
		    strcmp(sub, "hold") == 0 ? queue_hold(q, id) :
		    queue_release(q, id);
		if (st == QUEUE_OK)
			printf("%s: %s\n", id, strcmp(sub, "delete") == 0 ?
			    "deleted" : strcmp(sub, "hold") == 0 ? "held" :
			    "released");
		snprintf(result, sizeof(result), "%s", st == QUEUE_OK ?
		    "ok" : queue_strerror(st));
	}
	fflush(stdout);
	if (st != QUEUE_OK)
		fprintf(stderr, "mxgatectl: queue %s%s%s: %s\n", sub,
		    need_id ? " " : "", need_id ? id : "", queue_strerror(st));
	ctl_audit(c, op, need_id ? id : NULL, result);
	queue_close(q);
	return exit_of(st);
}
