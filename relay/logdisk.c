/*
 * logdisk.c — see logdisk.h.
 */
#include <errno.h>
#include <sys/statvfs.h>

#include "config.h"
#include "logdisk.h"

void
logdisk_classify(const struct config *cf, struct logdisk *d)
{
	d->refuse = 0;
	if (d->pct < 0) {
		d->level = LOGDISK_UNKNOWN;
		return;
	}
	if (d->pct >= cf->log_disk_full)
		d->level = LOGDISK_FULL;
	else if (d->pct >= cf->log_disk_warn)
		d->level = LOGDISK_HIGH;
	else
		d->level = LOGDISK_OK;
	if (d->level == LOGDISK_FULL && (!cf->log_drop_oldest ||
	    d->pct >= LOGDISK_LAST_RESORT_PCT))
		d->refuse = 1;
}

enum logdisk_level
logdisk_check(const struct config *cf, struct logdisk *d)
{
	struct statvfs vs;

	d->pct = -1;
	d->avail = d->total = 0;
	d->err = 0;
	if (statvfs(cf->log_dir, &vs) != 0)
		d->err = errno;
	else {
		d->total = (uint64_t)vs.f_blocks * vs.f_frsize;
		d->avail = (uint64_t)vs.f_bavail * vs.f_frsize;
		/* used as an unprivileged writer sees it, rounded up: a
		 * filesystem with 0.5 % left is 100 % full for the logger */
		if (d->total == 0)
			d->pct = 100;
		else
			d->pct = (int)(100 - d->avail * 100 / d->total);
	}
	logdisk_classify(cf, d);
	return d->level;
}

const char *
logdisk_level_name(enum logdisk_level l)
{
	switch (l) {
	case LOGDISK_OK:	return "ok";
	case LOGDISK_HIGH:	return "above the high-water mark";
	case LOGDISK_FULL:	return "full";
	default:		return "unknown";
	}
}
