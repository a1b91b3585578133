/*
 * shacrypt_fuzz.c — SHA-512 crypt (relay/shacrypt.c) on hostile
 * settings: a stored hash is read back from the shadow file as the
 * setting of the next check. Invariants: a setting is refused or gives a
 * hash that starts with "$6$", fits SHACRYPT_MAX, holds no ':' or
 * newline (it goes into a shadow line), and is its own setting (hashing
 * the key again under it gives it back: how a password is verified).
 *
 * Input: byte 0 the key's length (mod 64), the key, then the setting.
 * Settings asking for more than 20,000 rounds are skipped (slow, not
 * interesting: the rounds are a plain loop).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "shacrypt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t kl = fuzz_u8(&in) % 64;
	char key[65], setting[256], out[SHACRYPT_MAX], again[SHACRYPT_MAX];
	const char *r;

	if (kl > in.len)
		kl = in.len;
	memcpy(key, in.p, kl);
	key[kl] = '\0';
	in.p += kl;
	in.len -= kl;
	if (in.len >= sizeof(setting))
		in.len = sizeof(setting) - 1;
	memcpy(setting, in.p, in.len);
	setting[in.len] = '\0';
	if ((r = strstr(setting, "rounds=")) != NULL &&
	    strtoul(r + 7, NULL, 10) > 20000)
		return 0;
	if (shacrypt(key, setting, out) != 0)
		return 0;
	FUZZ_ASSERT(strncmp(out, "$6$", 3) == 0);
	FUZZ_ASSERT(strlen(out) < SHACRYPT_MAX);
	FUZZ_ASSERT(strpbrk(out, ":\n") == NULL);
	FUZZ_ASSERT(shacrypt(key, out, again) == 0);
	FUZZ_ASSERT(strcmp(again, out) == 0);
	return 0;
}
