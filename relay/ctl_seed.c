/*
 * ctl_seed.c — `mxgatectl seed`: a first-boot seed made the appliance's
 * configuration, as the console setup would make it. A directory holding
 * a cloud-init NoCloud seed (meta-data, and user-data and network-config
 * when given), an OpenStack config drive (openstack/latest/: meta_data.json,
 * user_data, network_data.json) or an OVF environment (ovf-env.xml).
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

/* The kinds of seed, tried in this order: the first whose first part is
 * there is the seed; its other parts are optional. */
static const struct seed_kind {
	const char	*name;		/* the default source */
	const char	*part[3];	/* first, then the optional ones */
} kinds[] = {
	{ "nocloud", { "meta-data", "user-data", "network-config" } },
	{ "config-2", { "openstack/latest/meta_data.json",
	    "openstack/latest/user_data",
	    "openstack/latest/network_data.json" } },
	{ "ovf", { "ovf-env.xml", NULL, NULL } },
};

/* The parts of the first kind of seed in dir: 0, or -1 said (none there,
 * or a part there that does not read: a seed applied without a part it
 * has would be half of it). */
static int
read_parts(const char *dir, const struct seed_kind **kind, char **text,
    size_t *len)
{
	size_t k;
	int i, miss;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		text[0] = seed_part(dir, kinds[k].part[0], &len[0], &miss);
		if (text[0] == NULL && miss)
			continue;
		*kind = &kinds[k];
		for (i = 1; i < 3 && text[0] != NULL; i++) {
			if (kinds[k].part[i] == NULL)
				continue;
			text[i] = seed_part(dir, kinds[k].part[i], &len[i],
			    &miss);
			if (text[i] == NULL && !miss) {
				fprintf(stderr, "mxgatectl: seed: %s/%s: %s: "
				    "nothing changed\n", dir, kinds[k].part[i],
				    strerror(errno));
				return -1;
			}
		}
		if (text[0] == NULL)
			fprintf(stderr, "mxgatectl: seed: %s/%s: %s: nothing "
			    "changed\n", dir, kinds[k].part[0], strerror(errno));
		return text[0] == NULL ? -1 : 0;
	}
	fprintf(stderr, "mxgatectl: seed: %s: no meta-data (NoCloud), "
	    "openstack/latest/meta_data.json (config-2) or ovf-env.xml\n", dir);
	return -1;
}

int
ctl_seed(struct ctl *c, int argc, char **argv)
{
	char *text[3] = { NULL, NULL, NULL }, err[512];
	const struct seed_kind *kind = &kinds[0];
	const char *source;
	size_t len[3] = { 0, 0, 0 };
	struct seed s;
	int check, rc, i;

	if (argc < 3 || (strcmp(argv[1], "check") != 0 &&
	    strcmp(argv[1], "apply") != 0) || (argc != 3 && !(argc == 5 &&
	    strcmp(argv[3], "--source") == 0))) {
		fprintf(stderr, "usage: mxgatectl seed check DIR | apply DIR "
		    "[--source NAME]\n");
		return EXIT_PERM;
	}
	check = strcmp(argv[1], "check") == 0;
	ctl_audit_open(c);
	rc = read_parts(argv[2], &kind, text, len);
	source = argc == 5 ? argv[4] : kind->name;
	if (rc != 0) {
		for (i = 0; i < 3; i++)
			free(text[i]);
		ctl_audit(c, "seed", source, "refused: does not read");
		return EXIT_PERM;
	}
	if (kind == &kinds[0])
		rc = seed_read(text[0], len[0], text[1], len[1], text[2],
		    len[2], &s, err, sizeof(err));
	else if (kind == &kinds[1])
		rc = seed_read_config2(text[0], len[0], text[1], len[1],
		    text[2], len[2], &s, err, sizeof(err));
	else
		rc = seed_read_ovf(text[0], len[0], &s, err, sizeof(err));
	for (i = 0; i < 3; i++)
		free(text[i]);
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
