/*
 * update.h — the firmware update bundle (mxgate-VERSION.mxu) and the GRUB
 * environment block that chooses the root slot; pure: no I/O.
 *
 * A bundle is a 4096-byte header, then its files, each at a 4096-aligned
 * offset. The header is text, NUL-padded:
 *
 *   mxgate-update 1
 *   signature HEX          DER ECDSA P-256 / SHA-256 of the manifest
 *   version VERSION        the manifest: every line from here on, up to
 *   epoch SECONDS          the padding, is what the signature covers;
 *   root-hash HEX64        each key once, nothing else
 *   root-salt HEX64
 *   root-blocks N          4 KiB data blocks of the slot (the dm-verity
 *                          hash tree follows them in the slot file)
 *   file kernel OFFSET SIZE SHA256
 *   file sbom OFFSET SIZE SHA256
 *   file slot OFFSET SIZE SHA256
 *
 * image/bundle.sh writes it; `mxgatectl update apply` (ctl_update.c)
 * verifies the signature with the keys the image trusts and every file's
 * SHA-256 before it writes a byte.
 *
 * A GRUB environment block is "# GRUB Environment Block\n", NAME=VALUE
 * lines, '#' padding to 1024 bytes (image/grub.cfg reads it).
 */
#ifndef MXGATE_UPDATE_H
#define MXGATE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#define UPDATE_HEADER_SIZE	4096
#define UPDATE_MAGIC		"mxgate-update 1\n"
#define UPDATE_SIG_MAX		80	/* DER ECDSA P-256: at most 72 */
#define UPDATE_VERSION_MAX	64
#define UPDATE_KERNEL_MAX	(64ull << 20)
#define UPDATE_SBOM_MAX		(8ull << 20)
#define UPDATE_SLOT_MAX		(4ull << 30)
#define UPDATE_KEY_LEN		65	/* uncompressed P-256 point */
#define UPDATE_KEYS_MAX		8

enum { UPDATE_KERNEL, UPDATE_SBOM, UPDATE_SLOT, UPDATE_NFILES };

struct update_file {
	uint64_t	 off, size;
	uint8_t		 sha256[32];
};

struct update_manifest {
	char			 version[UPDATE_VERSION_MAX];
	int64_t			 epoch;
	char			 root_hash[65], root_salt[65];
	uint64_t		 root_blocks;
	struct update_file	 file[UPDATE_NFILES];
	uint64_t		 total;		/* bytes the bundle must have */
	const uint8_t		*text;		/* the signed manifest, in hdr */
	size_t			 text_len;
	uint8_t			 sig[UPDATE_SIG_MAX];
	size_t			 sig_len;
};

/* The name of a file (kernel, sbom, slot). */
const char *update_file_name(int i);

/* Parses a bundle's header (len bytes; at most UPDATE_HEADER_SIZE are
 * read). 0 with m filled (m->text points into hdr), or -1 with why set to
 * a one-line reason. */
int update_parse(const uint8_t *hdr, size_t len, struct update_manifest *m,
    const char **why);

/* 0 when m's signature verifies with the uncompressed P-256 point key. */
int update_verify(const struct update_manifest *m,
    const uint8_t key[UPDATE_KEY_LEN]);

/* The keys an image trusts (/usr/share/mxgate/update-keys): lines "NAME
 * HEX130", '#' comments. The count (at least 1), or -1 with why. */
struct update_key {
	char	 name[32];
	uint8_t	 q[UPDATE_KEY_LEN];
};
int update_keys_parse(const char *text, struct update_key *keys, int max,
    const char **why);

#define GRUBENV_SIZE	1024
#define GRUBENV_VARS	16

struct grubenv {
	int	 n;
	char	 name[GRUBENV_VARS][32];
	char	 value[GRUBENV_VARS][160];
};

/* 0 with e filled, or -1 with why (not a block, a line too long...). */
int grubenv_parse(const char *p, size_t len, struct grubenv *e,
    const char **why);
/* The value of name, or NULL. */
const char *grubenv_get(const struct grubenv *e, const char *name);
/* Sets (adds or replaces) name; -1 when full or not storable. */
int grubenv_set(struct grubenv *e, const char *name, const char *value);
/* The block, exactly GRUBENV_SIZE bytes; -1 when it does not fit. */
int grubenv_format(const struct grubenv *e, char out[GRUBENV_SIZE]);

#endif
