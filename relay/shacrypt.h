/*
 * shacrypt.h — SHA-512 crypt ("$6$", Ulrich Drepper's SHA-crypt
 * specification), the password hash of /etc/shadow that busybox login
 * checks. Pure: no I/O, BearSSL's SHA-512.
 */
#ifndef MXGATE_SHACRYPT_H
#define MXGATE_SHACRYPT_H

#include <stddef.h>

/* "$6$" + "rounds=N$" (when given) + 16 salt characters + "$" + 86 */
#define SHACRYPT_MAX	(3 + 7 + 10 + 1 + 16 + 1 + 86 + 1)

/* Hashes key under setting ("$6$SALT[$...]" or "$6$rounds=N$SALT[$...]",
 * e.g. a whole stored hash: only its salt part is read) into out.
 * 0, or -1 for a setting that is not SHA-512 crypt. Rounds are clamped
 * to 1000 ... 999,999,999 as the specification says. */
int shacrypt(const char *key, const char *setting, char out[SHACRYPT_MAX]);

#endif
