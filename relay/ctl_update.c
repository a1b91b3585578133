/*
 * ctl_update.c — `mxgatectl update`: firmware updates into the other root
 * slot, and the boot check that makes a slot good.
 *
 *   update status [--json]    the running slot, both slots' versions and
 *                             states, boots left, the last failed update,
 *                             the SHA-256 of the running build's SBOM
 *   update apply FILE|DEVICE|esp:NAME [--allow-downgrade] [--reboot]
 *                             verifies the bundle (update.h) completely —
 *                             its signature with a key the image trusts,
 *                             its size, every file's SHA-256, its version —
 *                             before writing a byte; then writes the slot
 *                             the appliance does not run from, its kernel
 *                             and description on the ESP, and makes it the
 *                             one to try at the next boot (3 boots)
 *   update rollback [--reboot]  the other slot (good) first again
 *   update confirm [--failed] the boot check (init/service/bootcheck):
 *                             with the relay healthy, the running slot is
 *                             good and gets its 3 boots back, and a slot
 *                             that ran out of boots is marked bad and said;
 *                             --failed: not healthy in time; a slot on
 *                             trial reboots (GRUB takes one of its boots)
 *
 * The slot choice is ESP:/grub/grubenv (image/grub.cfg says what it
 * holds). The order of writes keeps the running slot bootable whenever the
 * power goes: the target is marked empty first, then written and read
 * back, then its kernel and slot.env go onto the ESP (each through a
 * temporary file and a rename), and only then does grubenv point at it.
 *
 * Where things are: the ESP (GPT name mxgate-esp, mounted here on
 * /run/mxgate/esp while a command runs), the slots (mxgate-root-a/-b), the
 * running slot (mxgate.slot= on /proc/cmdline), the trusted keys
 * (/usr/share/mxgate/update-keys). The tests put all of these under one
 * directory, $MXGATE_UPDATE_ROOT (esp/, root-a, root-b, cmdline,
 * update-keys), never honoured for an operator (whose environment is
 * cleared anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <bearssl.h>

#include "ctl.h"
#include "update.h"
#include "util.h"
#include "version.h"

/* <linux/fs.h>'s, which musl does not carry */
#ifndef BLKGETSIZE64
#define BLKGETSIZE64	_IOR(0x12, 114, size_t)
#endif
#ifndef MXGATE_EPOCH
#define MXGATE_EPOCH 0
#endif

#define ESP_MOUNT	"/run/mxgate/esp"
#define UPDATE_LOCK	"/run/mxgate/update.lock"
#define UPDATE_KEYS	"/usr/share/mxgate/update-keys"
#define FALLBACK_NOTE	"/run/mxgate/update-failed"

#define SLOT_TRIES	"3"
#define CHUNK		(1u << 20)

struct upd {
	struct ctl	*c;
	char		 root[256];	/* $MXGATE_UPDATE_ROOT, "" the device */
	char		 esp[300];	/* the mounted ESP */
	char		 esp_dev[64];
	int		 mounted;	/* by us */
	char		 dev[2][300];	/* slot a, slot b */
	char		 booted;	/* 'a', 'b', 0 unknown */
	int		 lock_fd;
};

static int
slot_index(char s)
{
	return s == 'b';
}

static char
other(char s)
{
	return s == 'a' ? 'b' : 'a';
}

/* /dev/NAME of the partition whose GPT name is name (the kernel's uevent
 * of each partition in /proc/partitions), or -1. */
static int
part_by_name(const char *name, char *out, size_t size)
{
	char path[320], buf[512], want[80], line[256], pname[64];
	unsigned maj, min;
	unsigned long long blocks;
	FILE *ls = fopen("/proc/partitions", "r");
	int found = -1;

	if (ls == NULL)
		return -1;
	snprintf(want, sizeof(want), "\nPARTNAME=%s\n", name);
	while (found < 0 && fgets(line, sizeof(line), ls) != NULL) {
		ssize_t n;
		int fd;

		if (sscanf(line, " %u %u %llu %63s", &maj, &min, &blocks,
		    pname) != 4)
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/uevent",
		    pname);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		buf[0] = '\n';
		n = read(fd, buf + 1, sizeof(buf) - 2);
		close(fd);
		if (n <= 0)
			continue;
		buf[n + 1] = '\0';
		if (strstr(buf, want) != NULL &&
		    snprintf(out, size, "/dev/%s", pname) < (int)size)
			found = 0;
	}
	fclose(ls);
	return found;
}

char
ctl_root_slot(const char *cmdline_path)
{
	char buf[4096];
	const char *p;
	ssize_t n;
	int fd = open(cmdline_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "mxgate.slot=")) != NULL; p++)
		if ((p == buf || p[-1] == ' ') && (p[12] == 'a' ||
		    p[12] == 'b') && (p[13] == ' ' || p[13] == '\n' ||
		    p[13] == '\0'))
			return p[12];
	return 0;
}

/* Finds everything, takes the update lock, mounts the ESP (read-only
 * unless write). 0, or -1 said. */
static int
upd_open(struct ctl *c, struct upd *u, int write)
{
	const char *r = c->role != CTL_OPERATOR ?
	    getenv("MXGATE_UPDATE_ROOT") : NULL;
	char path[320];

	memset(u, 0, sizeof(*u));
	u->c = c;
	u->lock_fd = -1;
	if (r != NULL && r[0] != '\0') {
		str_copy(u->root, r, sizeof(u->root));
		snprintf(u->esp, sizeof(u->esp), "%s/esp", r);
		snprintf(u->dev[0], sizeof(u->dev[0]), "%s/root-a", r);
		snprintf(u->dev[1], sizeof(u->dev[1]), "%s/root-b", r);
		snprintf(path, sizeof(path), "%s/cmdline", r);
		u->booted = ctl_root_slot(path);
		snprintf(path, sizeof(path), "%s/update.lock", r);
	} else {
		str_copy(u->esp, ESP_MOUNT, sizeof(u->esp));
		if (part_by_name("mxgate-esp", u->esp_dev,
		    sizeof(u->esp_dev)) < 0 ||
		    part_by_name("mxgate-root-a", u->dev[0],
		    sizeof(u->dev[0])) < 0 ||
		    part_by_name("mxgate-root-b", u->dev[1],
		    sizeof(u->dev[1])) < 0) {
			fprintf(stderr, "mxgatectl: update: this disk has no "
			    "mxgate-esp, mxgate-root-a and mxgate-root-b "
			    "partitions (an image from before the two root "
			    "slots cannot be updated in place: see "
			    "docs/UPDATES.md)\n");
			return -1;
		}
		u->booted = ctl_root_slot("/proc/cmdline");
		str_copy(path, UPDATE_LOCK, sizeof(path));
	}
	u->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (u->lock_fd < 0 || flock(u->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "mxgatectl: update: %s: %s\n", path,
		    errno == EWOULDBLOCK ? "another update command is running" :
		    strerror(errno));
		return -1;
	}
	if (u->root[0] == '\0') {
		mkdir(u->esp, 0700);
		if (mount(u->esp_dev, u->esp, "vfat", MS_NOSUID | MS_NODEV |
		    MS_NOEXEC | (write ? 0 : MS_RDONLY), "umask=0077") == 0)
			u->mounted = 1;
		else if (errno != EBUSY) {
			fprintf(stderr, "mxgatectl: update: cannot mount the "
			    "ESP %s: %s\n", u->esp_dev, strerror(errno));
			return -1;
		} else if (write && mount(NULL, u->esp, NULL, MS_REMOUNT |
		    MS_NOSUID | MS_NODEV | MS_NOEXEC, "umask=0077") != 0) {
			fprintf(stderr, "mxgatectl: update: cannot remount "
			    "the ESP writable: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void
upd_close(struct upd *u)
{
	sync();
	if (u->mounted && umount(u->esp) != 0)
		fprintf(stderr, "mxgatectl: update: umount %s: %s\n", u->esp,
		    strerror(errno));
	u->mounted = 0;
	if (u->lock_fd >= 0)
		close(u->lock_fd);
	u->lock_fd = -1;
}

/* ESP:/grub/grubenv, or what grub.cfg assumes without one (slot a good,
 * b empty). */
static void
env_read(struct upd *u, struct grubenv *e)
{
	char path[400], *text;
	const char *why = "";
	size_t len;

	snprintf(path, sizeof(path), "%s/grub/grubenv", u->esp);
	text = ctl_read_file(path, &len);
	if (text == NULL || grubenv_parse(text, len, e, &why) < 0) {
		fprintf(stderr, "mxgatectl: update: %s: %s; taking GRUB's "
		    "defaults\n", path, text == NULL ? strerror(errno) : why);
		memset(e, 0, sizeof(*e));
	}
	free(text);
	if (grubenv_get(e, "mx_first") == NULL)
		grubenv_set(e, "mx_first", "a");
	if (grubenv_get(e, "mx_a_state") == NULL)
		grubenv_set(e, "mx_a_state", "good");
	if (grubenv_get(e, "mx_b_state") == NULL)
		grubenv_set(e, "mx_b_state", "empty");
	if (grubenv_get(e, "mx_a_left") == NULL)
		grubenv_set(e, "mx_a_left", SLOT_TRIES);
	if (grubenv_get(e, "mx_b_left") == NULL)
		grubenv_set(e, "mx_b_left", "0");
}

/* Rewrites ESP:/grub/grubenv in place, as GRUB's save_env does: the file
 * keeps its clusters, so no FAT or directory entry changes and a power cut
 * leaves the old block or the new one (the variables fit its first
 * sector). A missing or odd-sized file is replaced whole. */
static int
env_write(struct upd *u, const struct grubenv *e)
{
	char path[400], block[GRUBENV_SIZE];
	struct stat st;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/grub/grubenv", u->esp);
	if (grubenv_format(e, block) < 0) {
		errno = EOVERFLOW;
		goto fail;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size == GRUBENV_SIZE) {
		rc = pwrite(fd, block, sizeof(block), 0) ==
		    (ssize_t)sizeof(block) && fsync(fd) == 0 ? 0 : -1;
		close(fd);
	} else {
		if (fd >= 0)
			close(fd);
		rc = ctl_replace_file(path, block, sizeof(block), 0644);
	}
fail:
	if (rc < 0) {
		fprintf(stderr, "mxgatectl: update: cannot write %s: %s\n",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

static const char *
slot_var(const struct grubenv *e, char slot, const char *what)
{
	char name[32];
	const char *v;

	snprintf(name, sizeof(name), "mx_%c_%s", slot, what);
	v = grubenv_get(e, name);
	return v != NULL ? v : "";
}

static int
slot_set(struct grubenv *e, char slot, const char *what, const char *v)
{
	char name[32];

	snprintf(name, sizeof(name), "mx_%c_%s", slot, what);
	return grubenv_set(e, name, v);
}

/* The version in ESP:/slot-X/slot.env, or "-" without one. */
static void
slot_version(struct upd *u, char slot, char *out, size_t size)
{
	char path[400], *text;
	struct grubenv se;
	const char *why, *v = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/slot-%c/slot.env", u->esp, slot);
	text = ctl_read_file(path, &len);
	if (text != NULL && grubenv_parse(text, len, &se, &why) == 0)
		v = grubenv_get(&se, "mx_version");
	str_copy(out, v != NULL && v[0] != '\0' ? v : "-", size);
	free(text);
}

/* --- status ------------------------------------------------------------------ */

static int
update_status(struct ctl *c, int json)
{
	struct upd u;
	struct grubenv e;
	char ver[2][UPDATE_VERSION_MAX], sbom[65];
	const char *failed;
	int i;

	ctl_sbom_sha256(sbom);
	ctl_audit_open(c);
	if (upd_open(c, &u, 0) < 0) {
		upd_close(&u);
		return EXIT_TEMP;
	}
	env_read(&u, &e);
	slot_version(&u, 'a', ver[0], sizeof(ver[0]));
	slot_version(&u, 'b', ver[1], sizeof(ver[1]));
	upd_close(&u);
	failed = grubenv_get(&e, "mx_failed");
	if (json) {
		printf("{\"running_slot\":");
		if (u.booted)
			printf("\"%c\"", u.booted);
		else
			printf("null");
		printf(",\"running_version\":\"%s\",\"sbom_sha256\":",
		    MXGATE_VERSION);
		printf(sbom[0] ? "\"%s\"" : "null", sbom);
		printf(",\"first\":\"%s\"", grubenv_get(&e, "mx_first"));
		for (i = 0; i < 2; i++)
			printf(",\"slot_%c\":{\"version\":\"%s\",\"state\":"
			    "\"%s\",\"boots_left\":\"%s\"}", 'a' + i, ver[i],
			    slot_var(&e, (char)('a' + i), "state"),
			    slot_var(&e, (char)('a' + i), "left"));
		printf(",\"failed_update\":");
		if (failed != NULL && failed[0] != '\0')
			printf("\"%s\"", failed);
		else
			printf("null");
		printf("}\n");
	} else {
		printf("running: slot %c, mxgate %s\n", u.booted ? u.booted :
		    '?', MXGATE_VERSION);
		printf("software bill of materials: %s%s\n", sbom[0] ?
		    "sha256 " : "none (" CTL_SBOM_PATH ")", sbom);
		for (i = 0; i < 2; i++) {
			char s = (char)('a' + i);

			printf("slot %c: %s, %s, %s boot(s) left%s%s\n", s,
			    ver[i], slot_var(&e, s, "state"),
			    slot_var(&e, s, "left"),
			    s == grubenv_get(&e, "mx_first")[0] ?
			    ", tried first" : "",
			    s == u.booted ? ", running" : "");
		}
		if (failed != NULL && failed[0] != '\0')
			printf("failed update: %s (it did not come up "
			    "healthy; apply a fixed bundle)\n", failed);
	}
	ctl_audit(c, "update", "status", "ok");
	return EXIT_OK;
}

/* --- apply ------------------------------------------------------------------- */

/* SHA-256 of size bytes at off of fd; when out >= 0 they are also written
 * there from offset 0. 0, or -1 with errno (EIO for a short read). */
static int
pass_range(int fd, uint64_t off, uint64_t size, int out, uint8_t sha[32])
{
	br_sha256_context sc;
	uint8_t *buf = malloc(CHUNK);
	uint64_t done = 0;

	if (buf == NULL)
		return -1;
	br_sha256_init(&sc);
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) :
		    CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			free(buf);
			return -1;
		}
		br_sha256_update(&sc, buf, (size_t)n);
		if (out >= 0 && (lseek(out, (off_t)done, SEEK_SET) < 0 ||
		    write_all(out, buf, (size_t)n) < 0)) {
			free(buf);
			return -1;
		}
		done += (uint64_t)n;
	}
	br_sha256_out(&sc, sha);
	free(buf);
	return 0;
}

/* The size of a regular file or a block device; -1 otherwise. */
static int64_t
fd_size(int fd)
{
	struct stat st;
	uint64_t n;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return (int64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &n) == 0)
		return (int64_t)n;
	errno = EINVAL;
	return -1;
}

/* Opens and checks the bundle completely: header, signature, size, every
 * file's SHA-256, version. fd and m on success; else said, audited and
 * the exit code returned. */
static int
bundle_check(struct upd *u, const char *arg, int allow_downgrade, int *fd,
    struct update_manifest *m)
{
	static uint8_t hdr[UPDATE_HEADER_SIZE];
	struct update_key keys[UPDATE_KEYS_MAX];
	char path[600], kpath[400], why_buf[1100], result[1200];
	const char *why = NULL;
	char *ktext;
	size_t klen;
	int64_t size;
	ssize_t n;
	int nkeys, i, key = -1;

	*fd = -1;
	if (strncmp(arg, "esp:", 4) == 0) {
		const char *name = arg + 4;

		if (name[0] == '\0' || name[0] == '.' ||
		    strchr(name, '/') != NULL) {
			why = "esp:NAME names a file in the ESP's top folder";
			goto refuse;
		}
		snprintf(path, sizeof(path), "%s/%s", u->esp, name);
	} else
		str_copy(path, arg, sizeof(path));
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (size = fd_size(*fd)) < 0) {
		snprintf(why_buf, sizeof(why_buf), "%s: %s", path,
		    strerror(errno));
		why = why_buf;
		goto refuse;
	}
	n = pread(*fd, hdr, sizeof(hdr), 0);
	if (update_parse(hdr, n > 0 ? (size_t)n : 0, m, &why) < 0)
		goto refuse;
	if (u->root[0] != '\0')
		snprintf(kpath, sizeof(kpath), "%s/update-keys", u->root);
	else
		str_copy(kpath, UPDATE_KEYS, sizeof(kpath));
	if ((ktext = ctl_read_file(kpath, &klen)) == NULL) {
		snprintf(why_buf, sizeof(why_buf), "the trusted keys %s: %s",
		    kpath, strerror(errno));
		why = why_buf;
		goto refuse;
	}
	nkeys = update_keys_parse(ktext, keys, UPDATE_KEYS_MAX, &why);
	free(ktext);
	if (nkeys < 0)
		goto refuse;
	for (i = 0; i < nkeys && key < 0; i++)
		if (update_verify(m, keys[i].q) == 0)
			key = i;
	if (key < 0) {
		why = "the signature does not verify with any key this "
		    "appliance trusts";
		goto refuse;
	}
	if ((uint64_t)size < m->total) {
		snprintf(why_buf, sizeof(why_buf), "truncated: %lld bytes, "
		    "its manifest needs %llu", (long long)size,
		    (unsigned long long)m->total);
		why = why_buf;
		goto refuse;
	}
	for (i = 0; i < UPDATE_NFILES; i++) {
		uint8_t sha[32];

		if (pass_range(*fd, m->file[i].off, m->file[i].size, -1,
		    sha) < 0 || memcmp(sha, m->file[i].sha256, 32) != 0) {
			snprintf(why_buf, sizeof(why_buf), "its %s does not "
			    "match the signed SHA-256%s%s",
			    update_file_name(i), errno == EIO ? ": " : "",
			    errno == EIO ? strerror(errno) : "");
			why = why_buf;
			goto refuse;
		}
	}
	printf("bundle: mxgate %s, signed with the key \"%s\"\n", m->version,
	    keys[key].name);
	if (m->epoch < (int64_t)MXGATE_EPOCH) {
		if (!allow_downgrade) {
			snprintf(why_buf, sizeof(why_buf), "mxgate %s is older "
			    "than the running %s (--allow-downgrade to "
			    "install it anyway)", m->version, MXGATE_VERSION);
			why = why_buf;
			goto refuse;
		}
		ctl_audit(u->c, "update", m->version, "downgrade allowed");
	}
	return EXIT_OK;
refuse:
	fprintf(stderr, "mxgatectl: update: refused, nothing written: %s\n",
	    why);
	snprintf(result, sizeof(result), "refused: %s", why);
	ctl_audit(u->c, "update apply", arg, result);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return EXIT_PERM;
}

/* A file of the bundle into ESP:/slot-X/name (temporary, rename). */
static int
esp_put(struct upd *u, char slot, const char *name, int fd,
    const struct update_file *f)
{
	char path[400];
	uint8_t sha[32];
	char *buf = malloc((size_t)f->size);
	ssize_t n;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/slot-%c/%s", u->esp, slot, name);
	if (buf != NULL && (n = pread(fd, buf, (size_t)f->size,
	    (off_t)f->off)) == (ssize_t)f->size) {
		br_sha256_context sc;

		br_sha256_init(&sc);
		br_sha256_update(&sc, buf, (size_t)f->size);
		br_sha256_out(&sc, sha);
		if (memcmp(sha, f->sha256, 32) != 0)
			errno = EIO;
		else
			rc = ctl_replace_file(path, buf, (size_t)f->size,
			    0644);
	}
	if (rc < 0)
		fprintf(stderr, "mxgatectl: update: %s: %s\n", path,
		    strerror(errno));
	free(buf);
	return rc;
}

/* slot.env for GRUB from the manifest (image/slot.sh writes the same). */
static int
slot_env_put(struct upd *u, char slot, const struct update_manifest *m)
{
	struct grubenv se;
	char path[400], num[32], block[GRUBENV_SIZE];

	memset(&se, 0, sizeof(se));
	grubenv_set(&se, "mx_version", m->version);
	grubenv_set(&se, "mx_hash", m->root_hash);
	grubenv_set(&se, "mx_salt", m->root_salt);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)m->root_blocks);
	grubenv_set(&se, "mx_blocks", num);
	snprintf(num, sizeof(num), "%llu",
	    (unsigned long long)m->root_blocks * 8);
	grubenv_set(&se, "mx_sectors", num);
	snprintf(path, sizeof(path), "%s/slot-%c/slot.env", u->esp, slot);
	if (grubenv_format(&se, block) < 0 ||
	    ctl_replace_file(path, block, sizeof(block), 0644) < 0) {
		fprintf(stderr, "mxgatectl: update: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The slot's content onto its partition, synced, read back and checked. */
static int
slot_write(struct upd *u, char slot, int fd, const struct update_manifest *m)
{
	const struct update_file *f = &m->file[UPDATE_SLOT];
	const char *dev = u->dev[slot_index(slot)];
	uint8_t sha[32];
	int64_t room;
	int out = open(dev, O_RDWR | O_CLOEXEC | (u->root[0] ? O_CREAT : 0),
	    0600);

	if (out < 0 || (room = fd_size(out)) < 0) {
		fprintf(stderr, "mxgatectl: update: %s: %s\n", dev,
		    strerror(errno));
		goto fail;
	}
	if (u->root[0] == '\0' && (uint64_t)room < f->size) {
		fprintf(stderr, "mxgatectl: update: the slot's %llu bytes do "
		    "not fit partition %s (%lld bytes)\n",
		    (unsigned long long)f->size, dev, (long long)room);
		goto fail;
	}
	if (pass_range(fd, f->off, f->size, out, sha) < 0 ||
	    memcmp(sha, f->sha256, 32) != 0 || fsync(out) < 0) {
		fprintf(stderr, "mxgatectl: update: writing %s: %s\n", dev,
		    memcmp(sha, f->sha256, 32) != 0 ? "the bundle changed "
		    "while it was read" : strerror(errno));
		goto fail;
	}
	/* what the partition now holds, read back */
	posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
	if (pass_range(out, 0, f->size, -1, sha) < 0 ||
	    memcmp(sha, f->sha256, 32) != 0) {
		fprintf(stderr, "mxgatectl: update: %s does not read back "
		    "what was written\n", dev);
		goto fail;
	}
	close(out);
	return 0;
fail:
	if (out >= 0)
		close(out);
	return -1;
}

static int
update_apply(struct ctl *c, const char *arg, int allow_downgrade,
    int reboot)
{
	struct upd u;
	struct grubenv e;
	struct update_manifest m;
	char target, dir[400], result[200];
	int fd = -1, rc;

	ctl_audit_open(c);
	if (upd_open(c, &u, 1) < 0) {
		upd_close(&u);
		ctl_audit(c, "update apply", arg, "failed: no slots");
		return EXIT_TEMP;
	}
	if (u.booted == 0) {
		fprintf(stderr, "mxgatectl: update: the running slot is "
		    "unknown (no mxgate.slot= on the kernel command line)\n");
		upd_close(&u);
		ctl_audit(c, "update apply", arg, "failed: running slot unknown");
		return EXIT_TEMP;
	}
	if ((rc = bundle_check(&u, arg, allow_downgrade, &fd, &m)) != EXIT_OK) {
		upd_close(&u);
		return rc;
	}
	target = other(u.booted);
	printf("writing slot %c (the running slot is %c); the relay goes on "
	    "relaying\n", target, u.booted);
	fflush(stdout);
	/* 1: GRUB must not pick the target while it is being written */
	env_read(&u, &e);
	slot_set(&e, target, "state", "empty");
	slot_set(&e, target, "left", "0");
	if (grubenv_get(&e, "mx_first")[0] == target)
		grubenv_set(&e, "mx_first", (char[2]){ u.booted, '\0' });
	snprintf(dir, sizeof(dir), "%s/slot-%c", u.esp, target);
	if (env_write(&u, &e) < 0 || (mkdir(dir, 0755) < 0 &&
	    errno != EEXIST))
		goto fail;
	/* 2: the root, then the kernel, the SBOM and the slot's description */
	if (slot_write(&u, target, fd, &m) < 0 ||
	    esp_put(&u, target, "vmlinuz", fd, &m.file[UPDATE_KERNEL]) < 0 ||
	    esp_put(&u, target, "mxgate.spdx.json", fd,
	    &m.file[UPDATE_SBOM]) < 0 || slot_env_put(&u, target, &m) < 0)
		goto fail;
	/* 3: the target is tried first, for 3 boots */
	slot_set(&e, target, "state", "trial");
	slot_set(&e, target, "left", SLOT_TRIES);
	grubenv_set(&e, "mx_first", (char[2]){ target, '\0' });
	grubenv_set(&e, "mx_failed", "");
	if (env_write(&u, &e) < 0)
		goto fail;
	close(fd);
	upd_close(&u);
	printf("slot %c now holds mxgate %s and is tried first at the next "
	    "boot; if it does not come up healthy within %s boots, slot %c "
	    "runs again by itself\n", target, m.version, SLOT_TRIES,
	    u.booted);
	snprintf(result, sizeof(result), "ok: mxgate %s into slot %c",
	    m.version, target);
	ctl_audit(c, "update apply", arg, result);
	if (reboot)
		return ctl_power(c, "reboot");
	printf("reboot to run it: mxgatectl reboot\n");
	return EXIT_OK;
fail:
	if (fd >= 0)
		close(fd);
	upd_close(&u);
	fprintf(stderr, "mxgatectl: update: failed; slot %c still runs and "
	    "stays the one booted\n", u.booted);
	ctl_audit(c, "update apply", arg, "failed: writing");
	return EXIT_TEMP;
}

/* --- rollback ---------------------------------------------------------------- */

static int
update_rollback(struct ctl *c, int reboot)
{
	struct upd u;
	struct grubenv e;
	char target, ver[UPDATE_VERSION_MAX], result[160];
	const char *state;

	ctl_audit_open(c);
	if (upd_open(c, &u, 1) < 0 || u.booted == 0) {
		if (u.lock_fd >= 0 && u.booted == 0)
			fprintf(stderr, "mxgatectl: update: the running slot "
			    "is unknown\n");
		upd_close(&u);
		ctl_audit(c, "update rollback", NULL, "failed");
		return EXIT_TEMP;
	}
	target = other(u.booted);
	env_read(&u, &e);
	state = slot_var(&e, target, "state");
	slot_version(&u, target, ver, sizeof(ver));
	if (strcmp(state, "good") != 0 || strcmp(ver, "-") == 0) {
		upd_close(&u);
		fprintf(stderr, "mxgatectl: update: refused: slot %c (%s) is "
		    "%s, not a good slot to return to\n", target, ver,
		    state[0] ? state : "unknown");
		snprintf(result, sizeof(result), "refused: slot %c is %s",
		    target, state);
		ctl_audit(c, "update rollback", NULL, result);
		return EXIT_PERM;
	}
	slot_set(&e, target, "left", SLOT_TRIES);
	grubenv_set(&e, "mx_first", (char[2]){ target, '\0' });
	if (env_write(&u, &e) < 0) {
		upd_close(&u);
		ctl_audit(c, "update rollback", NULL, "failed: writing");
		return EXIT_TEMP;
	}
	upd_close(&u);
	printf("slot %c (mxgate %s) boots first from the next boot on\n",
	    target, ver);
	snprintf(result, sizeof(result), "ok: slot %c (mxgate %s) first",
	    target, ver);
	ctl_audit(c, "update rollback", NULL, result);
	if (reboot)
		return ctl_power(c, "reboot");
	printf("reboot to run it: mxgatectl reboot\n");
	return EXIT_OK;
}

/* --- the boot check ------------------------------------------------------------ */

/* A "220" greeting from the relay's first listener (a wildcard address is
 * asked on loopback) within 10 s; 0 healthy, -1 not (why said). An
 * appliance without a configuration runs no relay: healthy as far as it
 * can be. */
static int
relay_healthy(struct ctl *c, char *why, size_t size)
{
	struct sockaddr_storage ss;
	struct config *cf;
	struct stat st;
	struct timeval tv = { 10, 0 };
	char line[64];
	ssize_t n;
	int fd;

	if (stat(c->config_path, &st) < 0 || st.st_size == 0)
		return 0;
	cf = config_load(c->config_path, stderr);
	if (cf == NULL || cf->nlisten == 0) {
		snprintf(why, size, "the configuration does not load");
		return -1;
	}
	ss = cf->listen[0];
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) < 0 || connect(fd, (struct sockaddr *)&ss,
	    ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6)) < 0) {
		snprintf(why, size, "no SMTP listener: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = read(fd, line, sizeof(line) - 1);
	if (n > 0)
		(void)write(fd, "QUIT\r\n", 6);
	close(fd);
	if (n < 4 || memcmp(line, "220", 3) != 0) {
		snprintf(why, size, "the relay does not greet");
		return -1;
	}
	return 0;
}

static int
update_confirm(struct ctl *c, int failed)
{
	struct upd u;
	struct grubenv e;
	char why[160] = "", result[200], ver[UPDATE_VERSION_MAX];
	char first;
	const char *fallen;
	int fd;

	if (!failed && relay_healthy(c, why, sizeof(why)) < 0) {
		fprintf(stderr, "mxgatectl: update confirm: not healthy: %s\n",
		    why);
		return EXIT_TEMP;
	}
	ctl_audit_open(c);
	if (upd_open(c, &u, 1) < 0 || u.booted == 0) {
		upd_close(&u);
		ctl_audit(c, "update confirm", NULL, "failed: no slots");
		return EXIT_TEMP;
	}
	env_read(&u, &e);
	if (failed) {
		const char *left = slot_var(&e, u.booted, "left");
		int trial = strcmp(slot_var(&e, u.booted, "state"), "trial") ==
		    0;

		upd_close(&u);
		snprintf(result, sizeof(result), "slot %c not healthy%s%s%s",
		    u.booted, trial ? ": on trial, rebooting (" : "",
		    trial ? left : "", trial ? " boot(s) left)" : "");
		printf("mxgate: boot check: %s\n", result);
		fflush(stdout);
		ctl_audit(c, "update confirm", NULL, result);
		return trial ? ctl_power(c, "reboot") : EXIT_TEMP;
	}
	first = grubenv_get(&e, "mx_first")[0];
	if (first != u.booted && strcmp(slot_var(&e, first, "left"), "0") ==
	    0) {
		/* GRUB passed the preferred slot over: it ran out of boots
		 * (a slot applied during this boot is preferred too, with its
		 * boots still ahead of it: not a fallback) */
		slot_version(&u, first, ver, sizeof(ver));
		snprintf(result, sizeof(result), "%c %s", first, ver);
		grubenv_set(&e, "mx_failed", result);
		slot_set(&e, first, "state", "bad");
		grubenv_set(&e, "mx_first", (char[2]){ u.booted, '\0' });
		printf("mxgate: update: slot %c (mxgate %s) did not come up "
		    "healthy within its boots; running slot %c (mxgate %s) "
		    "again\n", first, ver, u.booted, MXGATE_VERSION);
		ctl_audit(c, "update confirm", NULL, "fallback: slot failed");
	}
	slot_set(&e, u.booted, "state", "good");
	slot_set(&e, u.booted, "left", SLOT_TRIES);
	if (env_write(&u, &e) < 0) {
		upd_close(&u);
		ctl_audit(c, "update confirm", NULL, "failed: writing");
		return EXIT_TEMP;
	}
	upd_close(&u);
	/* for mxgatectl status until the next boot's check */
	fallen = grubenv_get(&e, "mx_failed");
	if (u.root[0] == '\0') {
		if (fallen != NULL && fallen[0] != '\0') {
			fd = open(FALLBACK_NOTE, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0644);
			if (fd >= 0) {
				dprintf(fd, "%s\n", fallen);
				close(fd);
			}
		} else
			unlink(FALLBACK_NOTE);
	}
	snprintf(result, sizeof(result), "ok: slot %c (mxgate %s) good",
	    u.booted, MXGATE_VERSION);
	printf("mxgate: boot check: %s\n", result + 4);
	ctl_audit(c, "update confirm", NULL, result);
	return EXIT_OK;
}

int
ctl_update(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "status";
	int i, json = 0, downgrade = 0, reboot = 0, failed = 0;
	const char *file = NULL;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--allow-downgrade") == 0)
			downgrade = 1;
		else if (strcmp(argv[i], "--reboot") == 0)
			reboot = 1;
		else if (strcmp(argv[i], "--failed") == 0)
			failed = 1;
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			goto usage;
	}
	if (strcmp(sub, "status") == 0 && !downgrade && !reboot && !failed &&
	    file == NULL)
		return update_status(c, json);
	if (strcmp(sub, "apply") == 0 && file != NULL && !json && !failed)
		return update_apply(c, file, downgrade, reboot);
	if (strcmp(sub, "rollback") == 0 && file == NULL && !json &&
	    !downgrade && !failed)
		return update_rollback(c, reboot);
	if (strcmp(sub, "confirm") == 0 && file == NULL && !json &&
	    !downgrade && !reboot) {
		if (c->role != CTL_ROOT) {
			fprintf(stderr, "mxgatectl: update confirm is the "
			    "boot check's (root)\n");
			return EXIT_PERM;
		}
		return update_confirm(c, failed);
	}
usage:
	fprintf(stderr, "usage: mxgatectl update status [--json] |\n"
	    "       mxgatectl update apply FILE|DEVICE|esp:NAME "
	    "[--allow-downgrade] [--reboot] |\n"
	    "       mxgatectl update rollback [--reboot] |\n"
	    "       mxgatectl update confirm [--failed]\n");
	return EXIT_PERM;
}
