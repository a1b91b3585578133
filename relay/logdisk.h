/*
 * logdisk.h — the log disk guard: how full the filesystem of log_dir is,
 * against the configuration's two marks (docs/ADMIN.md, "When the log
 * disk fills"):
 *
 *   log_disk_warn  (80 %)  the high-water mark: said by the relay's log,
 *                           mxgatectl status (degraded) and the console;
 *   log_disk_full  (95 %)  full: log_full_policy applies. tempfail: new
 *                           mail gets 451 4.3.0 until space returns (no
 *                           mail is processed unlogged). drop-oldest: the
 *                           log retention deletes the oldest logs
 *                           (mxgatectl logs guard, audited); only at
 *                           LOGDISK_LAST_RESORT_PCT, when nothing was left
 *                           to delete, does new mail get 451 4.3.0.
 *
 * Owns: the measure (statvfs: blocks available to an unprivileged writer,
 * which the logger is) and the classification. Used by the relay's master
 * (each second, the verdict shared with the workers through the gate
 * table), mxgatectl status and mxgatectl logs guard. Never writes.
 */
#ifndef MXGATE_LOGDISK_H
#define MXGATE_LOGDISK_H

#include <stdint.h>

struct config;

#define LOGDISK_LAST_RESORT_PCT	99

enum logdisk_level {
	LOGDISK_UNKNOWN,	/* log_dir cannot be measured */
	LOGDISK_OK,
	LOGDISK_HIGH,		/* at or above log_disk_warn */
	LOGDISK_FULL		/* at or above log_disk_full */
};

struct logdisk {
	enum logdisk_level level;
	int		pct;		/* used, 0..100; -1 when unknown */
	uint64_t	avail;		/* bytes an unprivileged writer has */
	uint64_t	total;
	int		err;		/* errno when LOGDISK_UNKNOWN */
	int		refuse;		/* new mail gets 451 4.3.0 */
};

/* Measures cf->log_dir and classifies it; returns d->level. */
enum logdisk_level logdisk_check(const struct config *cf, struct logdisk *d);

/* The classification alone (pure): used percent against the marks and
 * the policy; fills level and refuse. */
void logdisk_classify(const struct config *cf, struct logdisk *d);

/* "high", "full", ... for log lines and status */
const char *logdisk_level_name(enum logdisk_level l);

#endif
