/*
 * update_fuzz.c — the parsers of relay/update.c on hostile bytes: the
 * header of a firmware update bundle (whoever hands the admin a file or a
 * USB stick writes it; it is parsed before its signature is checked), the
 * trusted-keys file and the GRUB environment block. The input's first
 * byte chooses the parser. Invariants: a parsed header's signed text lies
 * inside the header, its files are 4096-aligned, in order, without
 * overlap, and the bundle's size is the slot's end; the key parser gives
 * at most its maximum, each an uncompressed point; a grubenv that parses
 * formats back to exactly its input when its padding was canonical, and
 * what is formatted parses again to the same variables.
 */
#include <string.h>

#include "fuzz.h"
#include "update.h"

static uint8_t hdr[UPDATE_HEADER_SIZE];

static void
header(const uint8_t *data, size_t size)
{
	struct update_manifest m;
	const char *why = NULL;
	int i;

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, data, size < sizeof(hdr) ? size : sizeof(hdr));
	if (update_parse(hdr, size < sizeof(hdr) ? size : sizeof(hdr), &m,
	    &why) != 0) {
		FUZZ_ASSERT(why != NULL && strchr(why, '\n') == NULL);
		return;
	}
	FUZZ_ASSERT(m.text >= hdr && m.text + m.text_len <= hdr + sizeof(hdr));
	FUZZ_ASSERT(m.sig_len > 0 && m.sig_len <= UPDATE_SIG_MAX);
	FUZZ_ASSERT(m.version[0] != '\0' && m.epoch > 0);
	FUZZ_ASSERT(strlen(m.root_hash) == 64 && strlen(m.root_salt) == 64);
	for (i = 0; i < UPDATE_NFILES; i++) {
		FUZZ_ASSERT(m.file[i].off % 4096 == 0 && m.file[i].size > 0);
		FUZZ_ASSERT(m.file[i].off >= (i == 0 ? UPDATE_HEADER_SIZE :
		    m.file[i - 1].off + m.file[i - 1].size));
	}
	FUZZ_ASSERT(m.root_blocks * 4096 < m.file[UPDATE_SLOT].size);
	FUZZ_ASSERT(m.total == m.file[UPDATE_SLOT].off +
	    m.file[UPDATE_SLOT].size);
}

static void
keys(const uint8_t *data, size_t size)
{
	struct update_key k[UPDATE_KEYS_MAX];
	static char text[8192];
	const char *why = NULL;
	int n, i;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	n = update_keys_parse(text, k, UPDATE_KEYS_MAX, &why);
	if (n < 0) {
		FUZZ_ASSERT(why != NULL);
		return;
	}
	FUZZ_ASSERT(n >= 1 && n <= UPDATE_KEYS_MAX);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(k[i].q[0] == 4 && k[i].name[0] != '\0');
}

static void
env(const uint8_t *data, size_t size)
{
	struct grubenv e, e2;
	char block[GRUBENV_SIZE];
	const char *why = NULL;
	int i;

	if (grubenv_parse((const char *)data, size, &e, &why) != 0) {
		FUZZ_ASSERT(why != NULL);
		return;
	}
	FUZZ_ASSERT(size == GRUBENV_SIZE && e.n <= GRUBENV_VARS);
	FUZZ_ASSERT(grubenv_format(&e, block) == 0);
	FUZZ_ASSERT(memcmp(block, data, GRUBENV_SIZE) == 0);
	FUZZ_ASSERT(grubenv_parse(block, sizeof(block), &e2, &why) == 0);
	FUZZ_ASSERT(e2.n == e.n);
	for (i = 0; i < e.n; i++) {
		FUZZ_ASSERT(strcmp(e.name[i], e2.name[i]) == 0);
		FUZZ_ASSERT(strcmp(e.value[i], e2.value[i]) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0: header(data + 1, size - 1); break;
	case 1: keys(data + 1, size - 1); break;
	default: env(data + 1, size - 1); break;
	}
	return 0;
}
