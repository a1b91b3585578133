/*
 * ctl_logguard.c — mxgatectl logs guard: the log disk guard's hand
 * (logdisk.h). Says how full the log disk is against log_disk_warn and
 * log_disk_full; when it is full and log_full_policy is drop-oldest,
 * deletes the oldest logs — sealed archives and rotated clear-text files,
 * oldest first by their time, never a service's `current` — one at a time
 * until the disk is below log_disk_full again. Each deletion is printed
 * (the log retention service runs this every minute, so it lands in its
 * log) and audited.
 *
 *   mxgatectl logs guard [--dir DIR]
 *
 * Exit 0: below the high-water mark (or not measurable); 1: above it or
 * full, after whatever was deleted.
 *
 * Owns: the choice of what to delete first. Must never: delete the
 * file a logger is writing, or anything outside the log directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "logdisk.h"
#include "util.h"

#define GUARD_FILES_MAX	100000	/* candidates looked at per pass */

struct victim {
	char	*path;
	time_t	 mtime;
};

struct victims {
	struct victim	*v;
	size_t		 n, cap;
};

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Regular files of dir whose names pass keep(), appended to vs. */
static void
collect(struct victims *vs, const char *dir, int (*keep)(const char *))
{
	struct dirent *e;
	struct stat sb;
	char path[CONF_PATH_MAX * 2];
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && vs->n < GUARD_FILES_MAX) {
		if (!keep(e->d_name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    e->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		vs->v = xgrow(vs->v, &vs->cap, vs->n + 1, sizeof(*vs->v), 256);
		vs->v[vs->n].path = xstrdup(path);
		vs->v[vs->n].mtime = sb.st_mtime;
		vs->n++;
	}
	closedir(d);
}

static int
is_archive(const char *name)
{
	return name[0] != '.' && (has_suffix(name, ".sealed") ||
	    has_suffix(name, ".gz"));
}

/* s6-log's rotated files: @TAI64N.s (and .u, cut by a crash) */
static int
is_rotated(const char *name)
{
	return name[0] == '@' && (has_suffix(name, ".s") ||
	    has_suffix(name, ".u"));
}

static int
older_first(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Every directory one level below dir (services; archive/NAME) */
static void
collect_all(struct victims *vs, const char *logdir)
{
	char sub[CONF_PATH_MAX * 2];
	struct dirent *e;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/archive", logdir);
	if ((d = opendir(sub)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char adir[CONF_PATH_MAX * 2 + 256];
			if (e->d_name[0] == '.')
				continue;
			snprintf(adir, sizeof(adir), "%s/%s", sub, e->d_name);
			collect(vs, adir, is_archive);
		}
		closedir(d);
	}
	if ((d = opendir(logdir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' ||
			    strcmp(e->d_name, "archive") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", logdir, e->d_name);
			collect(vs, sub, is_rotated);
		}
		closedir(d);
	}
	qsort(vs->v, vs->n, sizeof(*vs->v), older_first);
}

int
ctl_logs_guard(struct ctl *c, const char *dir)
{
	struct config *cf = ctl_config(c);
	struct victims vs = { NULL, 0, 0 };
	struct logdisk d;
	const char *policy = cf->log_drop_oldest ? "drop-oldest" : "tempfail";
	size_t i, dropped = 0;

	if (dir != NULL)
		str_copy(cf->log_dir, dir, sizeof(cf->log_dir));
	if (logdisk_check(cf, &d) == LOGDISK_UNKNOWN) {
		printf("log disk %s: %s: not guarded\n", cf->log_dir,
		    strerror(d.err));
		return EXIT_OK;
	}
	if (d.level == LOGDISK_FULL && cf->log_drop_oldest) {
		collect_all(&vs, cf->log_dir);
		for (i = 0; i < vs.n && d.level == LOGDISK_FULL; i++) {
			char when[32], result[96];
			struct tm tm;

			gmtime_r(&vs.v[i].mtime, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			if (dropped == 0)
				ctl_audit_open(c);
			if (unlink(vs.v[i].path) != 0) {
				fprintf(stderr, "mxgatectl: %s: %s\n",
				    vs.v[i].path, strerror(errno));
				continue;
			}
			dropped++;
			snprintf(result, sizeof(result), "deleted disk=%d%% "
			    "full=%d%%", d.pct, cf->log_disk_full);
			ctl_audit(c, "logs.drop", vs.v[i].path, result);
			printf("deleted %s (of %s): log disk %d%% used, full at "
			    "%d%% (log_full_policy drop-oldest)\n",
			    vs.v[i].path, when, d.pct, cf->log_disk_full);
			logdisk_check(cf, &d);
		}
		for (i = 0; i < vs.n; i++)
			free(vs.v[i].path);
		free(vs.v);
		if (d.level == LOGDISK_FULL)
			printf("log disk %s %d%% used: nothing older is left to "
			    "delete; at %d%% new mail gets 451 4.3.0\n",
			    cf->log_dir, d.pct, LOGDISK_LAST_RESORT_PCT);
	}
	printf("log disk %s %d%% used: %s (warn %d%%, full %d%%, "
	    "log_full_policy %s)%s\n", cf->log_dir, d.pct,
	    logdisk_level_name(d.level), cf->log_disk_warn, cf->log_disk_full,
	    policy, d.refuse ? ": new mail gets 451 4.3.0" : "");
	return d.level == LOGDISK_OK ? EXIT_OK : 1;
}
