/*
 * tls_test.c — relay/tls.h end to end inside one process: the first-start
 * certificate (modes, fingerprint, never overwriting), key/certificate
 * loading, and full handshakes between our server and our client over a
 * non-blocking socketpair pumped with poll(): may and verify, wrong name,
 * wrong CA, the TLS 1.2 minimum, garbage, EOF in and after the handshake,
 * close_notify, bulk data through partial writes. Bounded: every pump
 * gives up after 5 seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tls.h"
#include "tls_int.h"
#include "tap.h"

#define ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static char dir[512];

static const char *
path(const char *name)
{
	static char p[4][600];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static short
to_poll(uint32_t ev)
{
	return (short)(((ev & EPOLLIN) ? POLLIN : 0) |
	    ((ev & EPOLLOUT) ? POLLOUT : 0));
}

static void
pair(int fd[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == -1)
		abort();
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	fcntl(fd[1], F_SETFL, O_NONBLOCK);
}

/* Handshakes both ends; 1 both done, 0 one failed (its fd is shut down
 * so the other sees EOF), -1 timeout. sres/cres: 1 done, -1 failed. */
static int
handshake(struct tls_conn *s, int sfd, struct tls_conn *c, int cfd,
    int *sres, int *cres)
{
	int64_t end = now_ms() + 5000;
	struct pollfd p[2];

	*sres = *cres = 0;
	while (now_ms() < end) {
		if (*sres == 0) {
			if (tls_handshake(s, sfd) == 1)
				*sres = 1;
			else if (errno != EAGAIN) {
				*sres = -1;
				shutdown(sfd, SHUT_RDWR);
			}
		}
		if (*cres == 0) {
			if (tls_handshake(c, cfd) == 1)
				*cres = 1;
			else if (errno != EAGAIN) {
				*cres = -1;
				shutdown(cfd, SHUT_RDWR);
			}
		}
		if (*sres != 0 && *cres != 0)
			return *sres == 1 && *cres == 1 ? 1 : 0;
		p[0].fd = *sres == 0 ? sfd : -1;
		p[0].events = to_poll(tls_want(s));
		p[1].fd = *cres == 0 ? cfd : -1;
		p[1].events = to_poll(tls_want(c));
		poll(p, 2, 100);
	}
	return -1;
}

/* Sends n bytes from a to b while b reads them back: 1 when b got
 * exactly what a sent. Exercises partial writes and tls_pending. */
static int
transfer(struct tls_conn *a, int afd, struct tls_conn *b, int bfd,
    size_t n)
{
	unsigned char *src = malloc(n), *dst = malloc(n);
	size_t sent = 0, got = 0, i;
	int64_t end = now_ms() + 5000;
	struct pollfd p[2];
	ssize_t r;
	int ok = 0, flushed = 0;

	for (i = 0; i < n; i++)
		src[i] = (unsigned char)(i * 7 + i / 251);
	while (now_ms() < end && got < n) {
		if (sent < n) {
			r = tls_write(a, afd, src + sent, n - sent);
			if (r > 0)
				sent += (size_t)r;
			else if (errno != EAGAIN)
				break;
		} else if (!flushed) {
			if (tls_flush(a, afd) == 0)
				flushed = 1;
			else if (errno != EAGAIN)
				break;
		}
		for (;;) {
			r = tls_read(b, bfd, dst + got, n - got > 1000 ?
			    1000 : n - got);	/* small reads: engine keeps */
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
		p[0].fd = afd;
		p[0].events = to_poll(tls_want(a));
		p[1].fd = bfd;
		p[1].events = POLLIN;
		poll(p, 2, 50);
	}
	ok = got == n && memcmp(src, dst, n) == 0;
	free(src);
	free(dst);
	return ok;
}

/* Pumps b's reads until it returns 0 or a final error; returns what
 * tls_read finally gave (0 or -1), errno kept in *e. */
static int
read_end(struct tls_conn *b, int bfd, int *e)
{
	int64_t end = now_ms() + 5000;
	char buf[256];
	ssize_t r;

	while (now_ms() < end) {
		r = tls_read(b, bfd, buf, sizeof(buf));
		if (r == 0)
			return 0;
		if (r < 0 && errno != EAGAIN) {
			*e = errno;
			return -1;
		}
		if (r < 0) {
			struct pollfd p = { .fd = bfd,
			    .events = to_poll(tls_want(b)) };
			poll(&p, 1, 100);
		}
	}
	*e = ETIMEDOUT;
	return -1;
}

static int
contains(const char *s, const char *want)
{
	return s != NULL && strstr(s, want) != NULL;
}

static int
file_mode(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void
rmdir_all(void)
{
	static const char *names[] = { "a.crt", "a.key", "b.crt", "b.key",
	    "c.crt", "c.key", "garbage.pem" };
	size_t i;

	for (i = 0; i < ARRAY_LEN_T(names); i++)
		unlink(path(names[i]));
	rmdir(dir);
}


/* 1 when /proc/cpuinfo's first "flags" line holds flag. */
static int
cpu_has(const char *flag)
{
	char line[8192], *p;
	FILE *f = fopen("/proc/cpuinfo", "r");
	size_t n = strlen(flag);
	int has = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (p = strstr(line, flag); p != NULL; p = strstr(p + 1, flag))
			if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n'))
				has = 1;
		break;
	}
	fclose(f);
	return has;
}

/* The fast back-ends, proved on the running build: what an engine is
 * given follows the CPU, and the 64-bit big-integer code is compiled in. */
static void
test_backends(void)
{
	const char *b = tls_backends();

	printf("# TLS back-ends: %s\n", b);
	ok(contains(b, cpu_has("aes") ? "AES x86ni" : "AES ct64"),
	    "AES: x86ni where the CPU has AES-NI, else ct64");
	ok(contains(b, cpu_has("pclmulqdq") ? "GHASH pclmul" :
	    "GHASH ctmul64"), "GHASH: pclmul where the CPU has it");
	ok(contains(b, cpu_has("sse2") ? "ChaCha20 sse2" : "ChaCha20 ct"),
	    "ChaCha20: sse2 where the CPU has it");
	ok(contains(b, "RSA i62"), "RSA: the 64-bit i62 code");
	ok(contains(b, "EC m31"), "EC: m31 (BearSSL 0.6 has no m62)");
}

/* A session whose every field follows from its ID's last byte n and slot
 * byte: a torn copy of two sessions cannot pass session_whole(). */
static void
session_make(br_ssl_session_parameters *p, unsigned slot, unsigned n)
{
	int i;

	memset(p, 0, sizeof(*p));
	p->session_id[0] = (unsigned char)slot;
	for (i = 1; i < 32; i++)
		p->session_id[i] = (unsigned char)(n * 31 + (unsigned)i);
	p->session_id_len = 32;
	p->version = BR_TLS12;
	p->cipher_suite = (uint16_t)(0xc000 + n);
	for (i = 0; i < 48; i++)
		p->master_secret[i] = (unsigned char)(p->session_id[i % 32] ^
		    0x5c);
}

static int
session_whole(const br_ssl_session_parameters *p, unsigned slot, unsigned n)
{
	br_ssl_session_parameters want;

	session_make(&want, slot, n);
	return p->version == want.version &&
	    p->cipher_suite == want.cipher_suite &&
	    memcmp(p->master_secret, want.master_secret, 48) == 0;
}

static int
cache_load(struct tls_cache *c, unsigned slot, unsigned n,
    br_ssl_session_parameters *out)
{
	br_ssl_session_parameters p;

	session_make(&p, slot, n);
	memset(p.master_secret, 0, 48);
	p.version = 0;
	p.cipher_suite = 0;
	if (!c->vtable->load(&c->vtable, NULL, &p))
		return 0;
	*out = p;
	return 1;
}

/* The session cache the workers share (tls_cache.c): what one process
 * saves another finds, a newer session takes the slot, entries expire,
 * and writers racing in other processes never give a reader a torn
 * entry. Bounded: 200,000 saves per writer. */
static void
test_cache(void)
{
	struct tls_cache c, c0;
	br_ssl_session_parameters p, q;
	pid_t w[2];
	long loads = 0, hits = 0, torn = 0;
	int i, st, live;

	ok(tls_cache_init(&c, 3, 60) == -1 && errno == EINVAL,
	    "cache: the slot count must be a power of two");
	if (!ok(tls_cache_init(&c, 4, 60) == 0, "cache: 4 slots"))
		return;
	session_make(&p, 1, 7);
	if ((w[0] = fork()) == 0) {
		c.vtable->save(&c.vtable, NULL, &p);
		_exit(0);
	}
	waitpid(w[0], &st, 0);
	ok(cache_load(&c, 1, 7, &q) && session_whole(&q, 1, 7),
	    "cache: a session saved by another process is found whole");
	ok(!cache_load(&c, 1, 8, &q), "cache: another ID: not found");
	session_make(&p, 1, 8);
	c.vtable->save(&c.vtable, NULL, &p);
	ok(cache_load(&c, 1, 8, &q) && !cache_load(&c, 1, 7, &q),
	    "cache: a newer session in the same slot replaces the older");
	ok(tls_cache_init(&c0, 8, 0) == 0, "cache: lifetime 0");
	session_make(&p, 2, 1);
	c0.vtable->save(&c0.vtable, NULL, &p);
	ok(!cache_load(&c0, 2, 1, &q), "cache: an expired session is not used");
	tls_cache_free(&c0);

	/* two writers in other processes, two sessions per slot */
	for (i = 0; i < 2; i++)
		if ((w[i] = fork()) == 0) {
			unsigned k;
			for (k = 0; k < 200000; k++) {
				session_make(&p, k % 4, (unsigned)i * 2 +
				    (k / 4) % 2);
				c.vtable->save(&c.vtable, NULL, &p);
			}
			_exit(0);
		}
	for (live = 2; live > 0 && loads < 20000000; loads++) {
		unsigned slot = (unsigned)loads % 4, n = (unsigned)(loads / 4) % 4;

		if (cache_load(&c, slot, n, &q)) {
			hits++;
			if (!session_whole(&q, slot, n))
				torn++;
		}
		if (loads % 4096 == 0)
			for (i = 0; i < 2; i++)
				if (w[i] > 0 && waitpid(w[i], &st, WNOHANG) ==
				    w[i]) {
					w[i] = 0;
					live--;
				}
	}
	for (i = 0; i < 2; i++)
		if (w[i] > 0)
			waitpid(w[i], &st, 0);
	printf("# cache race: %ld loads, %ld hits, %ld torn\n", loads, hits,
	    torn);
	ok(hits > 0 && torn == 0, "cache: racing writers, %ld hits, none torn",
	    hits);

	/* freed by the parent: wiped for a process that still maps it */
	{
		struct tls_cache kept;
		int pfd[2];
		char go;

		session_make(&p, 3, 1);
		c.vtable->save(&c.vtable, NULL, &p);
		kept = c;
		if (pipe(pfd) != 0 || (w[0] = fork()) < 0) {
			ok(0, "cache: pipe and fork");
			tls_cache_free(&c);
			return;
		}
		if (w[0] == 0) {
			const unsigned char *b = (const void *)kept.slots;
			size_t k, n = 0;

			close(pfd[1]);
			if (read(pfd[0], &go, 1) != 1)
				_exit(2);
			for (k = 0; k < kept.nslots * 128; k++)
				n += b[k] != 0;
			_exit(n == 0 && !cache_load(&kept, 3, 1, &q) ? 0 : 1);
		}
		close(pfd[0]);
		tls_cache_free(&c);
		(void)!write(pfd[1], "x", 1);
		close(pfd[1]);
		waitpid(w[0], &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "cache: freed, the table is wiped for a process still "
		    "mapping it");
	}
}

int
main(void)
{
	struct tls_server *srv = NULL, *srv_b = NULL, *srv10 = NULL;
	struct tls_client *cl = NULL, *cl_a = NULL, *cl_b = NULL;
	struct tls_conn *s, *c;
	char fp[65], fp2[65], err[512];
	const char *base = getenv("MXGATE_OUT");
	int fd[2], sr, cr, r, e;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/tmp/tls-XXXXXX", base ? base : "/tmp");
	if (base) {
		char t[512];

		snprintf(t, sizeof(t), "%s/tmp", base);
		mkdir(t, 0700);
	}
	if (mkdtemp(dir) == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/tls-XXXXXX");
		if (mkdtemp(dir) == NULL)
			return 1;
	}

	/* --- first-start certificate -------------------------------------- */
	r = tls_selfsigned_ensure(path("a.crt"), path("a.key"), "mx.test", fp,
	    err, sizeof(err));
	is_int(r, 1, "self-signed: created");
	ok(strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64,
	    "fingerprint is 64 hex digits");
	is_int(file_mode(path("a.crt")), 0600, "certificate mode 0600");
	is_int(file_mode(path("a.key")), 0600, "key mode 0600");
	r = tls_selfsigned_ensure(path("a.crt"), path("a.key"), "mx.test", fp2,
	    err, sizeof(err));
	is_int(r, 0, "second run: both exist, nothing done");
	is_str(fp2, fp, "second run reports the existing fingerprint");
	tls_selfsigned_ensure(path("b.crt"), path("b.key"), "other.test", fp2,
	    err, sizeof(err));
	ok(strcmp(fp, fp2) != 0, "a second key pair differs");

	/* its validity, read back by the DER walk status uses */
	{
		struct tls_chain ch;
		int64_t nb, na, now = (int64_t)time(NULL);
		static const unsigned char utc[] = { 0x30, 0x24, 0x30, 0x22,
		    0x02, 0x01, 0x01,			/* serial, no version */
		    0x30, 0x00, 0x30, 0x00,		/* sigalg, issuer */
		    0x30, 0x1a,
		    0x17, 0x0b, '4', '9', '1', '2', '3', '1', '2', '3', '5',
		    '9', 'Z',				/* one digit short */
		    0x17, 0x0d, '5', '0', '0', '1', '0', '1', '0', '0', '0',
		    '0', '0', '0', 'Z' };

		ok(tls_chain_load(&ch, path("a.crt"), err, sizeof(err)) == 0 &&
		    tls_cert_validity(ch.cert[0].data, ch.cert[0].data_len,
		    &nb, &na) == 0, "validity of the self-signed certificate");
		ok(nb <= now - 86000 && nb >= now - 86500 &&
		    (na - nb) / 86400 == 3651, "... from a day ago, for 3650 "
		    "days (%lld)", (long long)((na - nb) / 86400));
		tls_chain_free(&ch);
		is_int(tls_cert_validity(utc, sizeof(utc), &nb, &na), -1,
		    "a malformed UTCTime: refused");
		is_int(tls_cert_validity(utc, 5, &nb, &na), -1,
		    "a cut certificate: refused");
	}

	/* an admin-installed half pair is never completed or overwritten */
	f = fopen(path("c.crt"), "w");
	fputs("admin certificate\n", f);
	fclose(f);
	r = tls_selfsigned_ensure(path("c.crt"), path("c.key"), "mx.test", fp2,
	    err, sizeof(err));
	ok(r == -1 && contains(err, "refusing"), "cert without key: refused");
	ok(access(path("c.key"), F_OK) == -1, "no key written");
	f = fopen(path("c.crt"), "r");
	ok(f && fgets(err, sizeof(err), f) &&
	    strcmp(err, "admin certificate\n") == 0, "admin file untouched");
	if (f)
		fclose(f);
	unlink(path("c.crt"));
	r = tls_selfsigned_ensure(path("c.crt"), path("c.key"), "bad host!",
	    fp2, err, sizeof(err));
	ok(r == -1 && access(path("c.crt"), F_OK) == -1,
	    "invalid hostname: refused, nothing written");

	/* --- loading ------------------------------------------------------------- */
	r = tls_server_new(&srv, path("a.crt"), path("a.key"), 0, err,
	    sizeof(err));
	if (!ok(r == 0, "server loads the generated pair"))
		printf("#   %s\n", err);
	if (srv == NULL)
		return done_testing();
	is_str(tls_server_fingerprint(srv), fp, "server fingerprint matches");
	r = tls_server_new(&srv_b, path("a.crt"), path("b.key"), 0, err,
	    sizeof(err));
	ok(r == -1 && contains(err, "does not match"), "mismatched key refused");
	r = tls_server_new(&srv_b, path("nonexistent.crt"), path("a.key"), 0,
	    err, sizeof(err));
	ok(r == -1 && contains(err, "nonexistent.crt"), "missing file named");
	f = fopen(path("garbage.pem"), "w");
	fputs("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
	    f);
	fclose(f);
	r = tls_server_new(&srv_b, path("garbage.pem"), path("a.key"), 0, err,
	    sizeof(err));
	ok(r == -1 && contains(err, "garbage.pem"), "bad PEM refused: %s", err);
	r = tls_server_new(&srv_b, path("a.crt"), path("a.key"), 0x0300, err,
	    sizeof(err));
	ok(r == -1, "SSL 3.0 minimum refused");
	r = tls_server_new(&srv_b, path("b.crt"), path("b.key"), 0, err,
	    sizeof(err));
	ok(r == 0, "second server");
	r = tls_server_new(&srv10, path("a.crt"), path("a.key"), TLS_V10, err,
	    sizeof(err));
	ok(r == 0, "server with TLS 1.0 minimum");
	ok(tls_client_new(&cl, NULL, 0, err, sizeof(err)) == 0 &&
	    tls_client_anchors(cl) == 0, "client without anchors");
	ok(tls_client_new(&cl_a, path("a.crt"), 0, err, sizeof(err)) == 0 &&
	    tls_client_anchors(cl_a) == 1, "client trusting a.crt");
	ok(tls_client_new(&cl_b, path("b.crt"), 0, err, sizeof(err)) == 0,
	    "client trusting b.crt");
	if (!srv_b || !srv10 || !cl || !cl_a || !cl_b)
		return done_testing();

	/* --- may: any certificate, data both ways ------------------------------ */
	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl, "mx.test", 0);
	ok(s && c, "connections created");
	ok(!tls_handshake_done(s) && tls_version(s) == NULL &&
	    tls_cipher(s) == NULL, "nothing known before the handshake");
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	is_int(r, 1, "may: handshake completes");
	is_str(tls_version(s), "TLSv1.2", "server: TLSv1.2");
	is_str(tls_cipher(s), "ECDHE-ECDSA-AES128-GCM-SHA256",
	    "server: ECDHE-ECDSA-AES128-GCM-SHA256 (server preference)");
	is_str(tls_cipher(c), tls_cipher(s), "client agrees");
	is_int(tls_cipher_bits(s), 128, "128 bits");
	is_int(tls_peer_verified(c), 0, "may without anchors: not verified");
	{
		char big[5000], small[10];
		int64_t end = now_ms() + 5000;
		ssize_t w;

		memset(big, 'x', sizeof(big));
		w = tls_write(c, fd[1], big, sizeof(big));
		while (tls_read(s, fd[0], small, sizeof(small)) < 0 &&
		    errno == EAGAIN && now_ms() < end)
			usleep(1000);
		ok(w == 4096 && tls_pending(s) == 4096 - 10,
		    "tls_pending: the rest of a 4 KB record waits in the engine "
		    "(%zu)", tls_pending(s));
		while (tls_pending(s) > 0)
			(void)tls_read(s, fd[0], big, sizeof(big));
	}
	ok(transfer(c, fd[1], s, fd[0], 200000),
	    "200 KB client -> server, partial reads");
	ok(transfer(s, fd[0], c, fd[1], 100000), "100 KB server -> client");
	/* clean close: close_notify gives EOF, no error */
	ok(tls_close(c, fd[1]) == 0, "client sends close_notify");
	r = read_end(s, fd[0], &e);
	ok(r == 0 && tls_error(s) == NULL, "server: EOF by close_notify, "
	    "no error");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	/* --- may with an anchor that matches: says verified -------------------- */
	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl_a, "mx.test", 0);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 1 && tls_peer_verified(c) == 1,
	    "may + matching anchor: verified=1");
	/* TCP EOF after the handshake: EOF, reported as unclean */
	close(fd[1]);
	r = read_end(s, fd[0], &e);
	ok(r == 0 && contains(tls_error(s), "without close_notify"),
	    "TCP EOF after handshake: 0 and 'without close_notify'");
	ok(tls_want(s) == 0 || !(tls_want(s) & EPOLLIN),
	    "no more EPOLLIN wanted after EOF");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);

	/* --- encrypt/may accept a certificate for another name --------------- */
	pair(fd);
	s = tls_conn_server(srv_b);
	c = tls_conn_client(cl_a, "mx.test", 0);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 1 && tls_peer_verified(c) == 0,
	    "may: untrusted certificate accepted, verified=0");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	/* --- verify ----------------------------------------------------------------- */
	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl_a, "mx.test", 1);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 1 && tls_peer_verified(c) == 1, "verify: right CA and name");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl_a, "wrong.test", 1);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 0 && cr == -1, "verify: wrong name fails");
	ok(contains(tls_error(c), "name does not match"), "error: %s",
	    tls_error(c) ? tls_error(c) : "(none)");
	ok(sr == -1 && tls_error(s) != NULL, "server side fails cleanly: %s",
	    tls_error(s) ? tls_error(s) : "(none)");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl_b, "mx.test", 1);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 0 && cr == -1 && contains(tls_error(c), "not trusted"),
	    "verify: wrong CA fails: %s", tls_error(c) ? tls_error(c) : "-");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	errno = 0;
	c = tls_conn_client(cl, "mx.test", 1);
	ok(c == NULL && errno == EINVAL, "verify without anchors: EINVAL");
	c = tls_conn_client(cl_a, NULL, 1);
	ok(c == NULL && errno == EINVAL, "verify without a name: EINVAL");
	c = tls_conn_client(cl_a, "192.0.2.1", 1);
	ok(c == NULL && errno == EINVAL, "verify with an IP literal: EINVAL");

	/* --- versions ----------------------------------------------------------------- */
	tls_client_set_versions(cl, TLS_V10, TLS_V11);
	pair(fd);
	s = tls_conn_server(srv);
	c = tls_conn_client(cl, "mx.test", 0);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 0 && sr == -1 && cr == -1, "client limited to TLS 1.1 fails "
	    "against the 1.2 minimum");
	ok(contains(tls_error(s), "protocol_version") ||
	    contains(tls_error(s), "unsupported protocol version"),
	    "server error: %s", tls_error(s) ? tls_error(s) : "(none)");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);

	pair(fd);
	s = tls_conn_server(srv10);
	c = tls_conn_client(cl, "mx.test", 0);
	r = handshake(s, fd[0], c, fd[1], &sr, &cr);
	ok(r == 1, "lowered minimum: TLS 1.1 client accepted");
	is_str(tls_version(s), "TLSv1.1", "TLSv1.1");
	is_str(tls_cipher(s), "ECDHE-ECDSA-AES128-SHA", "CBC suite for 1.1");
	ok(transfer(c, fd[1], s, fd[0], 30000), "data over TLS 1.1");
	tls_conn_free(s);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);
	tls_client_set_versions(cl, TLS_V12, TLS_V12);

	/* --- garbage and EOF in the handshake ------------------------------------ */
	pair(fd);
	s = tls_conn_server(srv);
	r = (int)write(fd[1], "EHLO attacker\r\nMAIL FROM:<a@b>\r\n", 32);
	r = read_end(s, fd[0], &e);
	ok(r == -1 && e == EPROTO && tls_error(s) != NULL,
	    "plaintext instead of TLS: EPROTO, '%s'",
	    tls_error(s) ? tls_error(s) : "(none)");
	is_int(tls_want(s), 0, "failed connection wants nothing");
	ok(tls_write(s, fd[0], "x", 1) == -1 && errno == EPROTO,
	    "write after failure: EPROTO");
	tls_conn_free(s);
	close(fd[0]);
	close(fd[1]);

	pair(fd);
	s = tls_conn_server(srv);
	{
		unsigned char junk[3000];
		size_t i;

		junk[0] = 0x16;
		junk[1] = 3;
		junk[2] = 3;
		junk[3] = 0x0b;
		junk[4] = 0xb8;
		for (i = 5; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 131 + 7);
		r = (int)write(fd[1], junk, sizeof(junk));
	}
	r = read_end(s, fd[0], &e);
	ok(r == -1 && e == EPROTO, "garbage handshake record: EPROTO, '%s'",
	    tls_error(s) ? tls_error(s) : "(none)");
	tls_conn_free(s);
	close(fd[0]);
	close(fd[1]);

	pair(fd);
	s = tls_conn_server(srv);
	r = (int)write(fd[1], "\x16\x03\x01\x00", 4);	/* half a header */
	close(fd[1]);
	r = read_end(s, fd[0], &e);
	ok(r == -1 && e == ECONNRESET && contains(tls_error(s), "closed"),
	    "EOF inside the handshake: ECONNRESET, '%s'",
	    tls_error(s) ? tls_error(s) : "(none)");
	tls_conn_free(s);
	close(fd[0]);

	/* --- sizes ------------------------------------------------------------------------ */
	printf("# bytes per connection: server %zu, client %zu\n",
	    tls_conn_size_server(), tls_conn_size_client());
	ok(tls_conn_size_server() <= 32 * 1024,
	    "server connection <= 32 KB (%zu)", tls_conn_size_server());
	ok(tls_conn_size_client() <= 32 * 1024,
	    "client connection <= 32 KB (%zu)", tls_conn_size_client());

	tls_server_free(srv);
	tls_server_free(srv_b);
	tls_server_free(srv10);
	tls_client_free(cl);
	tls_client_free(cl_a);
	tls_client_free(cl_b);
	test_backends();
	test_cache();
	rmdir_all();
	return done_testing();
}
