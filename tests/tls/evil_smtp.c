/*
 * evil_smtp.c — a hostile customer server for tests/relay/tls_badcert.t:
 * plain SMTP that offers STARTTLS, then a stock BearSSL server handshake
 * presenting a certificate entry made by tests/tls/x509_craft.h, sent as
 * raw bytes (nothing decodes it on this side). Never shipped. Listens on
 * 127.0.0.1 only, serves one connection at a time, exits after SECONDS.
 *
 *   evil_smtp serve good|bigkey|hugekey|trailing|early SECONDS
 *       prints "port N", then per connection "conn", and after STARTTLS
 *       "handshake ok" or "handshake failed: ERR" (BearSSL error number).
 *       MAIL, RCPT, DATA in plaintext are answered 503: a client must
 *       never send mail here after a failed handshake.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bearssl.h"
#include "x509_craft.h"

static int
sock_read(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n = read(*(int *)ctx, buf, len);

	return n > 0 ? (int)n : -1;
}

static int
sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = write(*(int *)ctx, buf, len);

	return n > 0 ? (int)n : -1;
}

static int
say(int fd, const char *s)
{
	size_t len = strlen(s);

	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* One CRLF line (without it) into buf; -1 on EOF, error or overlong. */
static int
get_line(int fd, char *buf, size_t max)
{
	size_t n = 0;
	char c;

	for (;;) {
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= max)
			return -1;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

static void
handshake(int fd, const unsigned char *cert, size_t certlen,
    const br_ec_private_key *sk)
{
	static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	br_ssl_server_context sc;
	br_sslio_context io;
	br_x509_certificate chain = { (unsigned char *)cert, certlen };
	int e;

	br_ssl_server_init_full_ec(&sc, &chain, 1, BR_KEYTYPE_EC, sk);
	br_ssl_engine_set_buffer(&sc.eng, iobuf, sizeof(iobuf), 1);
	br_ssl_server_reset(&sc);
	br_sslio_init(&io, &sc.eng, sock_read, &fd, sock_write, &fd);
	br_sslio_flush(&io);
	e = br_ssl_engine_last_error(&sc.eng);
	if (e == 0 && (br_ssl_engine_current_state(&sc.eng) & BR_SSL_CLOSED))
		e = -1;
	if (e == 0)
		printf("handshake ok\n");
	else
		printf("handshake failed: %d\n", e);
	fflush(stdout);
}

static void
serve_one(int fd, const unsigned char *cert, size_t certlen,
    const br_ec_private_key *sk)
{
	char line[1024];

	if (say(fd, "220 evil.test ESMTP\r\n") != 0)
		return;
	while (get_line(fd, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0)
			say(fd, "250-evil.test\r\n250-PIPELINING\r\n"
			    "250 STARTTLS\r\n");
		else if (strncasecmp(line, "HELO", 4) == 0)
			say(fd, "250 evil.test\r\n");
		else if (strcasecmp(line, "STARTTLS") == 0) {
			say(fd, "220 2.0.0 go ahead\r\n");
			handshake(fd, cert, certlen, sk);
			return;
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(fd, "221 bye\r\n");
			return;
		} else if (strcasecmp(line, "RSET") == 0 ||
		    strcasecmp(line, "NOOP") == 0)
			say(fd, "250 ok\r\n");
		else {
			printf("plaintext command: %s\n", line);
			fflush(stdout);
			say(fd, "503 5.5.1 TLS first\r\n");
		}
	}
}

int
main(int argc, char **argv)
{
	static unsigned char kbuf[BR_EC_KBUF_PRIV_MAX_SIZE];
	unsigned char seed[32], *cert;
	br_hmac_drbg_context rng;
	br_ec_private_key sk;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	socklen_t sl = sizeof(sa);
	enum craft_kind kind;
	size_t certlen;
	FILE *ur;
	int ls, fd, one = 1;

	if (argc != 4 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: evil_smtp serve "
		    "good|bigkey|hugekey|trailing|early SECONDS\n");
		return 100;
	}
	if (strcmp(argv[2], "good") == 0)
		kind = CRAFT_GOOD;
	else if (strcmp(argv[2], "bigkey") == 0)
		kind = CRAFT_BIG_KEY;
	else if (strcmp(argv[2], "hugekey") == 0)
		kind = CRAFT_HUGE_KEY;
	else if (strcmp(argv[2], "trailing") == 0)
		kind = CRAFT_TRAILING;
	else if (strcmp(argv[2], "early") == 0)
		kind = CRAFT_EARLY;
	else
		return 100;
	craft_cert(kind, &cert, &certlen);

	if ((ur = fopen("/dev/urandom", "rb")) == NULL ||
	    fread(seed, 1, sizeof(seed), ur) != sizeof(seed))
		return 111;
	fclose(ur);
	br_hmac_drbg_init(&rng, &br_sha256_vtable, seed, sizeof(seed));
	if (br_ec_keygen(&rng.vtable, br_ec_get_default(), &sk, kbuf,
	    BR_EC_secp256r1) == 0)
		return 111;

	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)atoi(argv[3]));	/* SIGALRM ends the run */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 16) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1) {
		perror("evil_smtp: listen");
		return 111;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		if ((fd = accept(ls, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			return 111;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		printf("conn\n");
		fflush(stdout);
		serve_one(fd, cert, certlen, &sk);
		close(fd);
	}
}
