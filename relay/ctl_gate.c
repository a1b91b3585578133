/*
 * ctl_gate.c — `mxgatectl gate`: the running relay's admission table
 * (SPEC 3.4, docs/GATING.md). Attaches to the shared table the daemon
 * keeps in `gate_file` (read and written in place, under its lock):
 *
 *   gate [status]            counters, top talkers, temporary blocks
 *   gate allow|block CIDR    add a run-time allow/block entry
 *   gate unallow|unblock CIDR  remove one
 *   gate release IP          lift a temporary block
 *
 * Every change goes to the audit log. The entries live until the daemon
 * restarts; the configuration file is not changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "gate.h"
#include "util.h"

#define TOP_MAX	20

struct gate *
ctl_gate_attach(struct ctl *c, void **mem, size_t *size, int quiet)
{
	struct config *cf = ctl_config(c);
	struct gate *g;
	struct stat st;
	int fd = open(cf->gate_file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) != 0) {
		if (!quiet)
			fprintf(stderr, "mxgatectl: gate table %s: %s (is "
			    "mxgate running?)\n", cf->gate_file,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*size = (size_t)st.st_size;
	*mem = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (*mem == MAP_FAILED || (g = gate_attach(cf, *mem, *size)) == NULL) {
		if (!quiet)
			fprintf(stderr, "mxgatectl: %s is not a gate table of "
			    "this version\n", cf->gate_file);
		if (*mem != MAP_FAILED)
			munmap(*mem, *size);
		return NULL;
	}
	return g;
}

static void
print_entries(struct gate *g, int blocks)
{
	struct gate_entry e[TOP_MAX];
	char ip[NET_ADDRSTRLEN];
	int i, n = gate_list_entries(g, mono_ms(), blocks, e, TOP_MAX);

	printf("%s:\n", blocks ? "temporary blocks" : "top talkers");
	if (n == 0)
		printf("  (none)\n");
	for (i = 0; i < n; i++) {
		netaddr_format(&e[i].addr, ip, sizeof(ip));
		if (blocks)
			printf("  %-40s %lld s left  %s\n", ip,
			    (long long)(e[i].block_left_ms / 1000), e[i].why);
		else
			printf("  %-40s live %u  total %u  refused %u%s\n", ip,
			    e[i].conns, e[i].total, e[i].rejected,
			    e[i].is_net ? "  (netblock)" : "");
	}
}

static int
status(struct gate *g)
{
	struct gate_stats st;
	int v;

	gate_stats(g, &st);
	printf("sessions now: %u\ntable: %u of %u entries, %llu evictions, "
	    "%llu refused when full\nrun-time allow/block entries: %u\n",
	    st.sessions, st.used, st.slots,
	    (unsigned long long)st.evictions,
	    (unsigned long long)st.table_full, st.ndyn);
	printf("verdicts since start:\n");
	for (v = 0; v < GATE_NVERDICTS; v++)
		printf("  %-12s %llu\n", gate_verdict_name((enum gate_verdict)v),
		    (unsigned long long)st.verdicts[v]);
	print_entries(g, 0);
	print_entries(g, 1);
	return EXIT_OK;
}

int
ctl_gate(struct ctl *c, int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "status";
	struct gate *g;
	struct cidr cidr;
	struct netaddr ip;
	char why[128], result[64];
	void *mem;
	size_t size;
	int rc = -1;

	if (strcmp(op, "status") == 0 && argc <= 2) {
		if ((g = ctl_gate_attach(c, &mem, &size, 0)) == NULL)
			return EXIT_TEMP;
		rc = status(g);
		gate_free(g);
		munmap(mem, size);
		return rc;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: mxgatectl gate [status] | allow|block|"
		    "unallow|unblock CIDR | release IP\n");
		return EXIT_PERM;
	}
	if (strcmp(op, "release") == 0) {
		if (net_parse_ip(argv[2], &ip) != 0) {
			fprintf(stderr, "mxgatectl: '%s' is not an address\n",
			    argv[2]);
			return EXIT_PERM;
		}
	} else if (strcmp(op, "allow") == 0 || strcmp(op, "block") == 0 ||
	    strcmp(op, "unallow") == 0 || strcmp(op, "unblock") == 0) {
		if (net_parse_cidr(argv[2], &cidr, why, sizeof(why)) != 0) {
			fprintf(stderr, "mxgatectl: %s\n", why);
			return EXIT_PERM;
		}
	} else {
		fprintf(stderr, "mxgatectl: unknown gate operation '%s'\n", op);
		return EXIT_PERM;
	}
	ctl_audit_open(c);
	if ((g = ctl_gate_attach(c, &mem, &size, 0)) == NULL) {
		ctl_audit(c, op, argv[2], "error: no gate table");
		return EXIT_TEMP;
	}
	if (strcmp(op, "release") == 0)
		rc = gate_unblock(g, &ip);
	else if (strcmp(op, "allow") == 0)
		rc = gate_cidr_add(g, GATE_LIST_ALLOW, &cidr);
	else if (strcmp(op, "block") == 0)
		rc = gate_cidr_add(g, GATE_LIST_BLOCK, &cidr);
	else if (strcmp(op, "unallow") == 0)
		rc = gate_cidr_del(g, GATE_LIST_ALLOW, &cidr);
	else
		rc = gate_cidr_del(g, GATE_LIST_BLOCK, &cidr);
	snprintf(result, sizeof(result), rc == 0 ? "ok" :
	    "error: not found or table full");
	ctl_audit(c, op, argv[2], result);
	gate_free(g);
	munmap(mem, size);
	return rc == 0 ? EXIT_OK : EXIT_PERM;
}
