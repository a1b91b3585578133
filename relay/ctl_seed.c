/*
 * ctl_seed.c — `mxgatectl seed`: a cloud-init NoCloud seed (a directory
 * holding meta-data, and user-data and network-config when given), or an
 * OVF environment (a directory holding ovf-env.xml and no meta-data),
 * made the appliance's configuration, as the console setup would make it.
 *
 *   seed check DIR                  what it would write, and what it
 *                                   ignores; writes nothing
 *   seed apply DIR [--source NAME]  the same files into the candidate,
 *                                   then one `config commit -m "seed:
 *                                   NAME"` (checked by mxgate -n); then
 *                                   the accounts; then the instance-id
 *                                   is recorded: the same instance-id is
 *                                   applied once, a new one again
 *
 * A seed that does not read (seed.c) changes nothing; a candidate the
 * commit refuses is discarded: never half-configured. Each step audited.
 * Owns: seed-instance beside the configuration directory's link
 * (/data/etc/seed-instance on the appliance).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "seed.h"
#include "util.h"

/* dir/name read whole, or NULL (absent: *missing set) */
static char *
seed_part(const char *dir, const char *name, size_t *len, int *missing)
{
	char path[PATH_MAX];
	char *p;

	*missing = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((p = ctl_read_file(path, len)) == NULL && errno == ENOENT)
		*missing = 1;
	return p;
}

/* mxgatectl (this program) with args, waited for: its exit status */
static int
run_self(struct ctl *c, const char *const *args, int n)
{
	char *argv[16];
	int st;
	pid_t pid;

	ctl_self_argv(c, argv, args, n < 8 ? n : 8);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return EXIT_TEMP;
	return WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_TEMP;
}

/* mxgate.conf of the seed, with its host name when it names none */
static char *
with_hostname(const char *conf, const char *host)
{
	const char *p;
	char *out;
	size_t n;

	for (p = conf; p != NULL && *p != '\0'; p = strchr(p, '\n') ?
	    strchr(p, '\n') + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "hostname", 8) == 0 && (p[8] == ' ' ||
		    p[8] == '\t'))
			return xstrdup(conf);
	}
	n = strlen(conf) + strlen(host) + 16;
	out = xcalloc(n, 1);
	snprintf(out, n, "hostname %s\n%s", host, conf);
	return out;
}

static int
apply(struct ctl *c, const struct seed *s, const char *source)
{
	char dir[PATH_MAX], path[PATH_MAX + 40], cand[PATH_MAX], run[PATH_MAX];
	char state[PATH_MAX], msg[192], arg[320], *old, *text;
	const char *commit[] = { "config", "commit", "-m", msg };
	const char *discard[] = { "config", "discard" };
	size_t len;
	int i, rc;

	str_copy(dir, c->config_path, sizeof(dir));
	if (strrchr(dir, '/') != NULL)
		*strrchr(dir, '/') = '\0';
	snprintf(arg, sizeof(arg), "%s instance-id=%s", source,
	    s->instance_id);
	if (ctl_config_beside(c, "seed-instance", state, sizeof(state)) != 0)
		return EXIT_PERM;
	if ((old = ctl_read_file(state, &len)) != NULL) {
		old[strcspn(old, "\n")] = '\0';
		if (strcmp(old, s->instance_id) == 0) {
			printf("seed: instance-id %s is applied already; "
			    "nothing to do\n", s->instance_id);
			free(old);
			return EXIT_OK;
		}
		free(old);
	}
	ctl_audit(c, "seed", arg, "started");
	for (i = 0; i < s->nfiles; i++) {
		text = strcmp(s->files[i].name, "mxgate.conf") == 0 &&
		    s->hostname[0] ? with_hostname(s->files[i].text,
		    s->hostname) : xstrdup(s->files[i].text);
		if (strcmp(s->files[i].name, "mxgate.conf") == 0 &&
		    s->conf_setup) {	/* the rest stays, as setup keeps it */
			char *kept = ctl_setup_kept(c->config_path);
			char *both = xcalloc(strlen(text) + strlen(kept) + 1, 1);

			strcat(strcpy(both, text), kept);
			free(kept);
			free(text);
			text = both;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, s->files[i].name);
		rc = ctl_config_file(c, path, 1, cand, run, sizeof(cand)) != 0 ||
		    ctl_write_file(cand, text, strlen(text), 0644) != 0;
		free(text);
		if (rc) {
			fprintf(stderr, "mxgatectl: seed: %s: %s\n",
			    s->files[i].name, strerror(errno));
			ctl_config_unlock();
			run_self(c, discard, 2);
			ctl_audit(c, "seed", arg, "failed: candidate");
			return EXIT_TEMP;
		}
	}
	ctl_config_unlock();
	if (s->nfiles > 0) {
		snprintf(msg, sizeof(msg), "seed: %s", source);
		if ((rc = run_self(c, commit, 4)) != 0) {
			fprintf(stderr, "mxgatectl: seed: the commit failed: "
			    "nothing is changed; the candidate is discarded\n");
			run_self(c, discard, 2);
			ctl_audit(c, "seed", arg, "refused: commit failed");
			return rc;
		}
	}
	for (i = 0; i < s->nusers; i++)
		if (ctl_user_seed(c, s->users[i].name, s->users[i].admin,
		    s->users[i].hash) != EXIT_OK) {
			ctl_audit(c, "seed", arg, "failed: accounts");
			return EXIT_TEMP;
		}
	snprintf(msg, sizeof(msg), "%s\n", s->instance_id);
	if (ctl_write_file(state, msg, strlen(msg), 0644) != 0) {
		fprintf(stderr, "mxgatectl: seed: %s: %s\n", state,
		    strerror(errno));
		ctl_audit(c, "seed", arg, "failed: instance-id not recorded");
		return EXIT_TEMP;
	}
	printf("seed: instance-id %s applied (%d file%s, %d account%s)\n",
	    s->instance_id, s->nfiles, s->nfiles == 1 ? "" : "s", s->nusers,
	    s->nusers == 1 ? "" : "s");
	ctl_audit(c, "seed", arg, "ok");
	return EXIT_OK;
}

int
ctl_seed(struct ctl *c, int argc, char **argv)
{
	char *meta, *user, *net, err[512];
	const char *source = "nocloud", *part;
	size_t ml = 0, ul = 0, nl = 0;
	struct seed s;
	int miss, check, rc, i;

	if (argc < 3 || (strcmp(argv[1], "check") != 0 &&
	    strcmp(argv[1], "apply") != 0) || (argc != 3 && !(argc == 5 &&
	    strcmp(argv[3], "--source") == 0))) {
		fprintf(stderr, "usage: mxgatectl seed check DIR | apply DIR "
		    "[--source NAME]\n");
		return EXIT_PERM;
	}
	check = strcmp(argv[1], "check") == 0;
	if (argc == 5)
		source = argv[4];
	ctl_audit_open(c);
	part = "meta-data";
	if ((meta = seed_part(argv[2], part, &ml, &miss)) == NULL && miss) {
		/* no NoCloud seed: an OVF environment? */
		part = "ovf-env.xml";
		meta = seed_part(argv[2], part, &ml, &miss);
		if (meta != NULL) {
			if (argc != 5)
				source = "ovf";
			rc = seed_read_ovf(meta, ml, &s, err, sizeof(err));
			free(meta);
			goto read;
		}
		if (miss)
			part = "meta-data (nor ovf-env.xml)";
	}
	if (meta == NULL) {
		fprintf(stderr, "mxgatectl: seed: %s/%s: %s\n", argv[2], part,
		    strerror(errno));
		return EXIT_PERM;
	}
	/* the optional parts: absent is fine, unreadable is not (a seed
	 * applied without a part it has would be half of it) */
	if ((user = seed_part(argv[2], "user-data", &ul, &miss)) == NULL &&
	    !miss) {
		fprintf(stderr, "mxgatectl: seed: %s/user-data: %s: nothing "
		    "changed\n", argv[2], strerror(errno));
		free(meta);
		ctl_audit(c, "seed", source, "refused: does not read");
		return EXIT_PERM;
	}
	if ((net = seed_part(argv[2], "network-config", &nl, &miss)) == NULL &&
	    !miss) {
		fprintf(stderr, "mxgatectl: seed: %s/network-config: %s: "
		    "nothing changed\n", argv[2], strerror(errno));
		free(meta);
		free(user);
		ctl_audit(c, "seed", source, "refused: does not read");
		return EXIT_PERM;
	}
	rc = seed_read(meta, ml, user, ul, net, nl, &s, err, sizeof(err));
	free(meta);
	free(user);
	free(net);
read:
	if (rc != 0) {
		fprintf(stderr, "mxgatectl: seed %s: %s: nothing changed\n",
		    argv[2], err);
		ctl_audit(c, "seed", source, "refused: does not read");
		return EXIT_PERM;
	}
	for (i = 0; i < s.nnotes; i++)
		printf("seed: %s\n", s.notes[i]);
	if (check) {
		printf("seed: instance-id %s%s%s\n", s.instance_id,
		    s.hostname[0] ? ", host name " : "", s.hostname);
		for (i = 0; i < s.nfiles; i++)
			printf("seed: would write /etc/mxgate/%s (%zu bytes)\n",
			    s.files[i].name, strlen(s.files[i].text));
		for (i = 0; i < s.nusers; i++)
			printf("seed: account %s (%s%s)\n", s.users[i].name,
			    s.users[i].admin ? "admin" : "operator",
			    s.users[i].hash[0] ? "" : ", locked");
		seed_free(&s);
		return EXIT_OK;
	}
	rc = apply(c, &s, source);
	seed_free(&s);
	return rc;
}
