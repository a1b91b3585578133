/*
 * update.c — see update.h.
 */
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "update.h"
#include "util.h"

static const char *const file_names[UPDATE_NFILES] = { "kernel", "sbom",
    "slot" };
static const uint64_t file_max[UPDATE_NFILES] = { UPDATE_KERNEL_MAX,
    UPDATE_SBOM_MAX, UPDATE_SLOT_MAX };

const char *
update_file_name(int i)
{
	return i >= 0 && i < UPDATE_NFILES ? file_names[i] : "?";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lower-case hex of exactly 2*n digits into out; 0 or -1. */
static int
unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	size_t i;

	if (slen != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		int h = hexval((unsigned char)s[2 * i]);
		int l = hexval((unsigned char)s[2 * i + 1]);

		if (h < 0 || l < 0)
			return -1;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

/* The next line of [*p, end): its start and length without the '\n';
 * -1 when there is no '\n' before end. */
static int
next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return 0;
}

/* Splits a line into at most max space-separated words (NUL-terminated
 * copies in buf); the count, or -1 when there are more or a word is
 * empty. */
static int
words(const char *line, size_t len, char *buf, size_t size, char **w,
    int max)
{
	size_t i;
	int n = 0;

	if (len == 0 || len >= size)
		return -1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (i = 0; i <= len; i++) {
		if (i == 0 || buf[i - 1] == '\0') {
			if (buf[i] == ' ' || buf[i] == '\0' || n == max)
				return -1;
			w[n++] = buf + i;
		}
		if (buf[i] == ' ')
			buf[i] = '\0';
	}
	return n;
}

static int
version_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < UPDATE_VERSION_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789.+~_-") == n;
}

int
update_parse(const uint8_t *hdr, size_t len, struct update_manifest *m,
    const char **why)
{
	const char *p = (const char *)hdr, *end, *line;
	char buf[256], *w[6];
	uint64_t v, need = UPDATE_HEADER_SIZE;
	size_t ll, ml = strlen(UPDATE_MAGIC);
	unsigned seen = 0;
	int n, i;

	memset(m, 0, sizeof(*m));
	if (len < UPDATE_HEADER_SIZE || memcmp(hdr, UPDATE_MAGIC, ml) != 0) {
		*why = len >= ml && memcmp(hdr, UPDATE_MAGIC, ml) == 0 ?
		    "truncated: shorter than its 4096-byte header" :
		    "not an mxgate update bundle";
		return -1;
	}
	/* the text ends at the first NUL; the rest of the header is NULs */
	end = memchr(p, '\0', UPDATE_HEADER_SIZE);
	if (end == NULL) {
		*why = "header: no padding (not an mxgate update bundle)";
		return -1;
	}
	for (i = (int)(end - p); i < UPDATE_HEADER_SIZE; i++)
		if (hdr[i] != 0) {
			*why = "header: bytes after its text";
			return -1;
		}
	p += ml;
	if (next_line(&p, end, &line, &ll) < 0 ||
	    words(line, ll, buf, sizeof(buf), w, 2) != 2 ||
	    strcmp(w[0], "signature") != 0 || strlen(w[1]) % 2 != 0 ||
	    strlen(w[1]) / 2 > UPDATE_SIG_MAX || strlen(w[1]) == 0 ||
	    unhex(w[1], strlen(w[1]), m->sig, strlen(w[1]) / 2) < 0) {
		*why = "header: no signature line (unsigned bundle)";
		return -1;
	}
	m->sig_len = strlen(w[1]) / 2;
	m->text = (const uint8_t *)p;
	m->text_len = (size_t)(end - p);
	while (p < end) {
		unsigned bit;

		if (next_line(&p, end, &line, &ll) < 0) {
			*why = "manifest: its last line does not end";
			return -1;
		}
		n = words(line, ll, buf, sizeof(buf), w, 5);
		if (n < 2) {
			*why = "manifest: an empty or malformed line";
			return -1;
		}
		if (strcmp(w[0], "version") == 0 && n == 2) {
			bit = 1;
			if (!version_ok(w[1])) {
				*why = "manifest: unusable version";
				return -1;
			}
			str_copy(m->version, w[1], sizeof(m->version));
		} else if (strcmp(w[0], "epoch") == 0 && n == 2) {
			bit = 2;
			if (parse_uint(w[1], 1, 1ull << 40, &v) < 0) {
				*why = "manifest: unusable epoch";
				return -1;
			}
			m->epoch = (int64_t)v;
		} else if ((strcmp(w[0], "root-hash") == 0 ||
		    strcmp(w[0], "root-salt") == 0) && n == 2) {
			uint8_t x[32];
			int salt = w[0][5] == 's';

			bit = salt ? 8 : 4;
			if (unhex(w[1], strlen(w[1]), x, 32) < 0) {
				*why = "manifest: a root hash or salt is not 64 "
				    "lower-case hex digits";
				return -1;
			}
			str_copy(salt ? m->root_salt : m->root_hash, w[1], 65);
		} else if (strcmp(w[0], "root-blocks") == 0 && n == 2) {
			bit = 16;
			if (parse_uint(w[1], 1, UPDATE_SLOT_MAX / 4096,
			    &m->root_blocks) < 0) {
				*why = "manifest: unusable root-blocks";
				return -1;
			}
		} else if (strcmp(w[0], "file") == 0 && n == 5) {
			struct update_file *f;

			for (i = 0; i < UPDATE_NFILES; i++)
				if (strcmp(w[1], file_names[i]) == 0)
					break;
			if (i == UPDATE_NFILES) {
				*why = "manifest: an unknown file";
				return -1;
			}
			bit = 32u << i;
			f = &m->file[i];
			/* in order, each right after the one before */
			if (parse_uint(w[2], need, need, &f->off) < 0 ||
			    parse_uint(w[3], 1, file_max[i], &f->size) < 0 ||
			    unhex(w[4], strlen(w[4]), f->sha256, 32) < 0 ||
			    (seen & ~(bit - 1) & ~63u) != 0) {
				*why = "manifest: a file out of order, too big "
				    "or with an unusable size or SHA-256";
				return -1;
			}
			need = f->off + (f->size + 4095) / 4096 * 4096;
		} else {
			*why = "manifest: an unknown line";
			return -1;
		}
		if (seen & bit) {
			*why = "manifest: a line given twice";
			return -1;
		}
		seen |= bit;
	}
	if (seen != 255) {
		*why = "manifest: incomplete";
		return -1;
	}
	if (m->root_blocks * 4096 >= m->file[UPDATE_SLOT].size) {
		*why = "manifest: the slot holds no hash tree after its data";
		return -1;
	}
	m->total = m->file[UPDATE_SLOT].off + m->file[UPDATE_SLOT].size;
	return 0;
}

int
update_verify(const struct update_manifest *m,
    const uint8_t key[UPDATE_KEY_LEN])
{
	br_sha256_context sc;
	uint8_t hash[32];
	br_ec_public_key pk;

	br_sha256_init(&sc);
	br_sha256_update(&sc, m->text, m->text_len);
	br_sha256_out(&sc, hash);
	pk.curve = BR_EC_secp256r1;
	pk.q = (unsigned char *)(uintptr_t)key;
	pk.qlen = UPDATE_KEY_LEN;
	if (key[0] != 0x04)
		return -1;
	return br_ecdsa_vrfy_asn1_get_default()(br_ec_get_default(), hash,
	    sizeof(hash), &pk, m->sig, m->sig_len) == 1 ? 0 : -1;
}

int
update_keys_parse(const char *text, struct update_key *keys, int max,
    const char **why)
{
	const char *p = text, *end = text + strlen(text), *line;
	char buf[256], *w[3];
	size_t ll;
	int n = 0;

	while (p < end) {
		if (next_line(&p, end, &line, &ll) < 0) {
			*why = "update keys: the last line does not end";
			return -1;
		}
		if (ll == 0 || line[0] == '#')
			continue;
		if (words(line, ll, buf, sizeof(buf), w, 2) != 2 ||
		    strlen(w[0]) >= sizeof(keys[0].name) ||
		    unhex(w[1], strlen(w[1]), keys[n < max ? n : 0].q,
		    UPDATE_KEY_LEN) < 0 || keys[n < max ? n : 0].q[0] != 4) {
			*why = "update keys: a line is not NAME and an "
			    "uncompressed P-256 point in hex";
			return -1;
		}
		if (n == max) {
			*why = "update keys: too many";
			return -1;
		}
		str_copy(keys[n].name, w[0], sizeof(keys[n].name));
		n++;
	}
	if (n == 0) {
		*why = "update keys: none";
		return -1;
	}
	return n;
}

#define GRUBENV_SIG	"# GRUB Environment Block\n"

static int
env_text_ok(const char *s, size_t n, int name)
{
	size_t i;

	if (n == 0 && name)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || c == '\\' ||
		    (name && (c == '=' || c == '#' || c == ' ')))
			return 0;
	}
	return 1;
}

int
grubenv_parse(const char *p, size_t len, struct grubenv *e, const char **why)
{
	const char *end = p + len, *line;
	size_t sl = strlen(GRUBENV_SIG), ll;

	memset(e, 0, sizeof(*e));
	if (len != GRUBENV_SIZE || memcmp(p, GRUBENV_SIG, sl) != 0) {
		*why = "not a 1024-byte GRUB environment block";
		return -1;
	}
	p += sl;
	while (p < end && *p != '#') {
		const char *eq;

		if (next_line(&p, end, &line, &ll) < 0) {
			*why = "grubenv: a line does not end";
			return -1;
		}
		eq = memchr(line, '=', ll);
		if (eq == NULL || !env_text_ok(line, (size_t)(eq - line), 1) ||
		    !env_text_ok(eq + 1, ll - (size_t)(eq + 1 - line), 0) ||
		    (size_t)(eq - line) >= sizeof(e->name[0]) ||
		    ll - (size_t)(eq + 1 - line) >= sizeof(e->value[0]) ||
		    e->n == GRUBENV_VARS) {
			*why = "grubenv: a line this reader does not keep";
			return -1;
		}
		memcpy(e->name[e->n], line, (size_t)(eq - line));
		memcpy(e->value[e->n], eq + 1, ll - (size_t)(eq + 1 - line));
		e->n++;
	}
	for (; p < end; p++)
		if (*p != '#') {
			*why = "grubenv: the padding is not '#'";
			return -1;
		}
	return 0;
}

const char *
grubenv_get(const struct grubenv *e, const char *name)
{
	int i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

int
grubenv_set(struct grubenv *e, const char *name, const char *value)
{
	int i;

	if (!env_text_ok(name, strlen(name), 1) ||
	    !env_text_ok(value, strlen(value), 0) ||
	    strlen(name) >= sizeof(e->name[0]) ||
	    strlen(value) >= sizeof(e->value[0]))
		return -1;
	for (i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			break;
	if (i == e->n) {
		if (e->n == GRUBENV_VARS)
			return -1;
		str_copy(e->name[e->n++], name, sizeof(e->name[0]));
	}
	str_copy(e->value[i], value, sizeof(e->value[0]));
	return 0;
}

int
grubenv_format(const struct grubenv *e, char out[GRUBENV_SIZE])
{
	size_t n = strlen(GRUBENV_SIG), nl, vl;
	int i;

	memcpy(out, GRUBENV_SIG, n);
	for (i = 0; i < e->n; i++) {
		nl = strlen(e->name[i]);
		vl = strlen(e->value[i]);
		if (n + nl + 1 + vl + 1 > GRUBENV_SIZE)
			return -1;
		memcpy(out + n, e->name[i], nl);
		out[n + nl] = '=';
		memcpy(out + n + nl + 1, e->value[i], vl);
		out[n + nl + 1 + vl] = '\n';
		n += nl + 1 + vl + 1;
	}
	memset(out + n, '#', GRUBENV_SIZE - n);
	return 0;
}
