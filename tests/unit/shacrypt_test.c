/*
 * shacrypt_test.c — SHA-512 crypt against the test vectors of its
 * specification (Drepper, "Unix crypt using SHA-256 and SHA-512"), and
 * the settings it refuses.
 */
#include <string.h>

#include "shacrypt.h"
#include "tap.h"

static const struct {
	const char *setting, *key, *want;
} vec[] = {
	{ "$6$saltstring", "Hello world!",
	  "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJu"
	  "esI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
	{ "$6$rounds=10000$saltstringsaltstring", "Hello world!",
	  "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sb"
	  "HbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v." },
	{ "$6$rounds=5000$toolongsaltstring", "This is just a test",
	  "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQ"
	  "zQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0" },
	{ "$6$rounds=10$roundstoolow", "the minimum number is still observed",
	  "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1x"
	  "hLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX." },
};

int
main(void)
{
	char out[SHACRYPT_MAX], again[SHACRYPT_MAX];
	size_t i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		ok(shacrypt(vec[i].key, vec[i].setting, out) == 0 &&
		    strcmp(out, vec[i].want) == 0, "vector %zu: %s", i + 1,
		    vec[i].setting);
		/* a stored hash is its own setting: verifying is hashing */
		ok(shacrypt(vec[i].key, out, again) == 0 &&
		    strcmp(again, out) == 0, "vector %zu verifies", i + 1);
	}
	ok(shacrypt("x", "$5$salt", out) == -1, "not $6$: refused");
	ok(shacrypt("x", "$6$rounds=$salt", out) == -1, "rounds without a "
	    "number: refused");
	ok(shacrypt("x", "$6$rounds=12salt", out) == -1, "rounds without $: "
	    "refused");
	ok(shacrypt("x", "$6$sa:lt", out) == -1, "a colon in the salt: "
	    "refused");
	ok(shacrypt("", "$6$", out) == 0 && strncmp(out, "$6$$", 4) == 0 &&
	    strlen(out) == 4 + 86, "empty key and salt: a hash of 86");
	return done_testing();
}
