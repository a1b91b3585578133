/*
 * update_test.c — the update bundle header and the GRUB environment block
 * (relay/update.h): a header signed here with BearSSL parses and verifies;
 * one changed manifest byte, another key, a missing or broken signature
 * line, a short header, a duplicate, unknown, out-of-order or misplaced
 * line are each refused; the trusted-keys file; grubenv parse, set and
 * format round trips, and what it refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "tap.h"
#include "update.h"

static const char manifest[] =
    "version 0.42-gabcdef012345\n"
    "epoch 1764950000\n"
    "root-hash 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "root-salt fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n"
    "root-blocks 10\n"
    "file kernel 4096 5000 1111111111111111111111111111111111111111111111111111111111111111\n"
    "file sbom 12288 100 2222222222222222222222222222222222222222222222222222222222222222\n"
    "file slot 16384 45056 3333333333333333333333333333333333333333333333333333333333333333\n";

static uint8_t qpub[2][UPDATE_KEY_LEN];
static br_ec_private_key sk[2];
static uint8_t skx[2][32];

static void
make_key(int i)
{
	memset(skx[i], 0, 32);
	skx[i][31] = (uint8_t)(7 + i);
	skx[i][0] = 0x42;
	sk[i].curve = BR_EC_secp256r1;
	sk[i].x = skx[i];
	sk[i].xlen = 32;
	br_ec_compute_pub(br_ec_get_default(), NULL, qpub[i], &sk[i]);
}

/* A header: magic, "signature HEX" of text signed with key k (k < 0: the
 * line as given in sigline), text, NUL padding. */
static void
header(uint8_t *h, const char *text, int k, const char *sigline)
{
	br_sha256_context sc;
	uint8_t hash[32], sig[80];
	char line[200];
	size_t n, i;

	memset(h, 0, UPDATE_HEADER_SIZE);
	if (k >= 0) {
		br_sha256_init(&sc);
		br_sha256_update(&sc, text, strlen(text));
		br_sha256_out(&sc, hash);
		n = br_ecdsa_sign_asn1_get_default()(br_ec_get_default(),
		    &br_sha256_vtable, hash, &sk[k], sig);
		strcpy(line, "signature ");
		for (i = 0; i < n; i++)
			sprintf(line + 10 + 2 * i, "%02x", sig[i]);
		strcat(line, "\n");
		sigline = line;
	}
	snprintf((char *)h, UPDATE_HEADER_SIZE, "%s%s%s", UPDATE_MAGIC,
	    sigline, text);
}

static int
parses(const char *text, const char **why)
{
	static uint8_t h[UPDATE_HEADER_SIZE];
	struct update_manifest m;

	header(h, text, 0, NULL);
	return update_parse(h, sizeof(h), &m, why);
}

/* manifest with line number ln (0-based) replaced by repl ("" drops it) */
static char *
edit(int ln, const char *repl)
{
	static char out[2048];
	const char *p = manifest;
	int i = 0;

	out[0] = '\0';
	while (*p) {
		const char *nl = strchr(p, '\n');

		if (i == ln)
			strcat(out, repl);
		else
			strncat(out, p, (size_t)(nl + 1 - p));
		p = nl + 1;
		i++;
	}
	return out;
}

int
main(void)
{
	static uint8_t h[UPDATE_HEADER_SIZE];
	struct update_manifest m;
	struct update_key keys[UPDATE_KEYS_MAX];
	struct grubenv e, e2;
	char keytext[400], block[GRUBENV_SIZE], hex[140];
	const char *why = "";
	int i;

	make_key(0);
	make_key(1);

	/* --- a good header */
	header(h, manifest, 0, NULL);
	is_int(update_parse(h, sizeof(h), &m, &why), 0, "a signed header "
	    "parses");
	is_str(m.version, "0.42-gabcdef012345", "version");
	is_int(m.epoch, 1764950000, "epoch");
	is_int(m.root_blocks, 10, "root-blocks");
	is_str(m.root_hash, "0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef", "root hash");
	is_int(m.file[UPDATE_KERNEL].off, 4096, "kernel offset");
	is_int(m.file[UPDATE_SBOM].off, 12288, "sbom after the kernel, "
	    "aligned");
	is_int(m.file[UPDATE_SLOT].size, 45056, "slot size");
	ok(m.file[UPDATE_SLOT].sha256[0] == 0x33, "slot SHA-256 decoded");
	is_int(m.total, 16384 + 45056, "the bytes the bundle needs");
	is_int(m.text_len, strlen(manifest), "the signed text is the manifest");
	is_int(update_verify(&m, qpub[0]), 0, "the signature verifies");
	ok(update_verify(&m, qpub[1]) != 0, "not with another key");

	/* --- a changed byte after signing */
	h[strlen(UPDATE_MAGIC) + 20 + m.sig_len * 2] ^= 1;
	if (update_parse(h, sizeof(h), &m, &why) == 0)
		ok(update_verify(&m, qpub[0]) != 0, "one changed manifest "
		    "byte: the signature fails");
	else
		ok(1, "one changed manifest byte: refused by the parser");
	header(h, manifest, 0, NULL);
	h[strlen(UPDATE_MAGIC) + 12] ^= 1;	/* in the signature's hex */
	ok(update_parse(h, sizeof(h), &m, &why) < 0 ||
	    update_verify(&m, qpub[0]) != 0, "one changed signature digit: "
	    "refused");

	/* --- refusals */
	header(h, manifest, -1, "signature \n");
	ok(update_parse(h, sizeof(h), &m, &why) < 0 && strstr(why,
	    "unsigned") != NULL, "an empty signature line: unsigned (%s)",
	    why);
	header(h, manifest, -1, "");
	ok(update_parse(h, sizeof(h), &m, &why) < 0, "no signature line");
	header(h, manifest, -1, "signature 0g\n");
	ok(update_parse(h, sizeof(h), &m, &why) < 0, "a signature that is "
	    "not hex");
	header(h, manifest, 0, NULL);
	ok(update_parse(h, 4095, &m, &why) < 0 && strstr(why, "truncated") !=
	    NULL, "a header cut short: truncated (%s)", why);
	ok(update_parse((const uint8_t *)"GIF89a", 6, &m, &why) < 0 &&
	    strstr(why, "not an mxgate") != NULL, "another file: not a "
	    "bundle");
	header(h, manifest, 0, NULL);
	h[4000] = 'x';
	ok(update_parse(h, sizeof(h), &m, &why) < 0, "bytes in the padding");
	memset(h, 'a', sizeof(h));
	memcpy(h, UPDATE_MAGIC, strlen(UPDATE_MAGIC));
	ok(update_parse(h, sizeof(h), &m, &why) < 0, "no padding at all");

	ok(parses(edit(0, ""), &why) < 0, "no version: incomplete (%s)", why);
	ok(parses(edit(0, "version 1 2\n"), &why) < 0, "a version of two "
	    "words");
	ok(parses(edit(0, "version a/b\n"), &why) < 0, "a version with '/'");
	ok(parses(edit(1, "epoch -5\n"), &why) < 0, "a negative epoch");
	ok(parses(edit(2, "root-hash 0123\n"), &why) < 0, "a short root hash");
	ok(parses(edit(3, "root-salt FEDCBA9876543210FEDCBA9876543210"
	    "FEDCBA9876543210FEDCBA9876543210\n"), &why) < 0,
	    "an upper-case salt");
	ok(parses(edit(4, "root-blocks 11\n"), &why) < 0, "no room for the "
	    "hash tree after the data (%s)", why);
	ok(parses(edit(5, "file kernel 0 5000 1111111111111111111111111111"
	    "111111111111111111111111111111111111\n"), &why) < 0,
	    "a file over the header");
	ok(parses(edit(6, "file sbom 8192 100 22222222222222222222222222222"
	    "22222222222222222222222222222222222\n"), &why) < 0,
	    "a file overlapping the one before");
	ok(parses(edit(6, "file sbom 12289 100 2222222222222222222222222222"
	    "222222222222222222222222222222222222\n"), &why) < 0,
	    "an unaligned file");
	ok(parses(edit(7, "file slot 16384 0 3333333333333333333333333333"
	    "333333333333333333333333333333333333\n"), &why) < 0,
	    "an empty file");
	ok(parses(edit(5, "file kernel 4096 99999999999 1111111111111111111"
	    "111111111111111111111111111111111111111111111\n"), &why) < 0,
	    "a kernel above its limit");
	ok(parses(edit(7, "file swap 16384 45056 3333333333333333333333333333"
	    "333333333333333333333333333333333333\n"), &why) < 0,
	    "an unknown file");
	ok(parses(edit(4, "root-blocks 10\nroot-blocks 10\n"), &why) < 0,
	    "a line given twice (%s)", why);
	ok(parses(edit(4, "root-blocks 10\nhello world\n"), &why) < 0,
	    "an unknown line");
	ok(parses(edit(4, "root-blocks 10\n\n"), &why) < 0, "an empty line");
	{
		char swapped[2048];

		/* the sbom first: out of order */
		snprintf(swapped, sizeof(swapped), "%.*s%s%s",
		    (int)(strstr(manifest, "file kernel") - manifest), manifest,
		    "file sbom 4096 100 222222222222222222222222222222222222"
		    "2222222222222222222222222222\n"
		    "file kernel 8192 5000 11111111111111111111111111111111"
		    "11111111111111111111111111111111\n",
		    strstr(manifest, "file slot"));
		ok(parses(swapped, &why) < 0, "files out of order (%s)", why);
	}
	header(h, "version 1\n", 0, NULL);
	h[strlen((char *)h) - 1] = 'x';	/* the last line without '\n' */
	ok(update_parse(h, sizeof(h), &m, &why) < 0, "a last line that does "
	    "not end");

	/* --- trusted keys */
	for (i = 0; i < UPDATE_KEY_LEN; i++)
		sprintf(hex + 2 * i, "%02x", qpub[1][i]);
	snprintf(keytext, sizeof(keytext), "# comment\n\nrelease %s\n", hex);
	is_int(update_keys_parse(keytext, keys, UPDATE_KEYS_MAX, &why), 1,
	    "one trusted key");
	is_str(keys[0].name, "release", "its name");
	ok(memcmp(keys[0].q, qpub[1], UPDATE_KEY_LEN) == 0, "its point");
	ok(update_keys_parse("# none\n", keys, UPDATE_KEYS_MAX, &why) < 0,
	    "no key at all: refused");
	hex[0] = '0', hex[1] = '2';
	snprintf(keytext, sizeof(keytext), "release %s\n", hex);
	ok(update_keys_parse(keytext, keys, UPDATE_KEYS_MAX, &why) < 0,
	    "a compressed point: refused");
	ok(update_keys_parse("release 04ab\n", keys, UPDATE_KEYS_MAX, &why) <
	    0, "a short key: refused");

	/* --- grubenv */
	memset(&e, 0, sizeof(e));
	ok(grubenv_set(&e, "mx_first", "b") == 0 &&
	    grubenv_set(&e, "mx_failed", "a 0.41-g123 x") == 0 &&
	    grubenv_set(&e, "mx_first", "a") == 0, "set, set, replace");
	is_int(e.n, 2, "two variables");
	ok(grubenv_set(&e, "bad name", "x") < 0, "a name with a space: "
	    "refused");
	ok(grubenv_set(&e, "x", "line\nbreak") < 0, "a value with a newline: "
	    "refused");
	is_int(grubenv_format(&e, block), 0, "formatted");
	ok(memcmp(block, "# GRUB Environment Block\nmx_first=a\nmx_failed=a "
	    "0.41-g123 x\n#", 61) == 0 && block[GRUBENV_SIZE - 1] == '#',
	    "the block: signature, lines, '#' padding");
	is_int(grubenv_parse(block, sizeof(block), &e2, &why), 0, "it parses "
	    "back");
	is_str(grubenv_get(&e2, "mx_failed"), "a 0.41-g123 x", "the value "
	    "with spaces");
	ok(grubenv_get(&e2, "mx_none") == NULL, "an unset name: NULL");
	ok(grubenv_parse(block, 1000, &e2, &why) < 0, "not 1024 bytes: "
	    "refused");
	block[200] = 'x';
	ok(grubenv_parse(block, sizeof(block), &e2, &why) < 0, "a padding "
	    "that is not '#': refused");
	memset(&e, 0, sizeof(e));
	for (i = 0; i < GRUBENV_VARS; i++) {
		char n[16];

		snprintf(n, sizeof(n), "v%d", i);
		grubenv_set(&e, n, "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789"
		    "01234567890123456789");
	}
	ok(grubenv_set(&e, "one_more", "x") < 0, "no room for a 17th "
	    "variable");
	ok(grubenv_format(&e, block) < 0, "more than 1024 bytes: refused");
	return done_testing();
}
