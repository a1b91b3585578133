/*
 * tls.h — TLS for mxgate on BearSSL: inbound STARTTLS (server side),
 * outbound TLS toward the customer's servers (client side), and the
 * self-signed certificate made on first start (SPEC 3.6).
 *
 * Shape. A `tls_server` or `tls_client` is the per-process policy: keys,
 * certificate chain, trust anchors, versions, suites, session cache. It
 * is built once at start-up (before privileges are dropped: it reads
 * files) and is read-only afterwards. A `tls_conn` is one TLS connection
 * on one non-blocking descriptor owned by the caller; every call that
 * moves bytes takes that fd. The layer never opens, closes, polls or
 * registers descriptors, never blocks, and never reads more from the fd
 * than whole TLS records need — so the caller decides what happened
 * before the handshake (SPEC 3.3: plaintext buffered before STARTTLS is
 * the caller's to discard, and it must do so before tls_conn_server() /
 * tls_conn_client(); the TLS layer starts from an empty input).
 *
 * Event-loop contract (level-triggered epoll, relay/loop.h):
 *  - Functions return -1 with errno EAGAIN when they need the fd to be
 *    readable or writable; tls_want() then says which (EPOLLIN and/or
 *    EPOLLOUT). Ask the loop for those events (plus your own interest)
 *    and call the same function again when they arrive.
 *  - Plaintext may be buffered inside the engine after a tls_read() that
 *    returned data: keep calling tls_read() until it returns -1/EAGAIN,
 *    or check tls_pending(), before waiting for EPOLLIN again.
 *  - tls_write() takes plaintext into the engine and sends what the
 *    socket accepts; bytes it could not send yet stay queued: when
 *    tls_want() contains EPOLLOUT, call tls_flush().
 *  - Any other -1 is final: errno says the class (EPROTO for a TLS
 *    failure, ECONNRESET for EOF during the handshake, EPIPE for writing
 *    after the peer closed, or the errno of read()/send()), tls_error()
 *    gives a one-line reason for the log. Nothing leaks: tls_conn_free()
 *    is all that is left to do (and close the fd).
 *
 * Policy (fixed here, not configurable beyond the minimum version):
 * TLS 1.2 maximum (BearSSL 0.6 has no 1.3), TLS 1.2 minimum by default;
 * ECDHE suites only on the server (AES-GCM, ChaCha20-Poly1305 first,
 * then AES-CBC for old peers), server preference enforced,
 * renegotiation refused, no RC4, 3DES, NULL or export suites anywhere.
 * The client also offers plain-RSA key exchange (AES only) last, since
 * for opportunistic mail any encryption beats plaintext.
 *
 * Key material: private keys are copied out of the PEM/DER buffers into
 * memory owned by the tls_server, and every temporary buffer that held
 * them is wiped; tls_server_free() and tls_conn_free() wipe what they
 * free (session keys live in the connection).
 *
 * Entropy: each connection injects 32 bytes from getrandom(2) into its
 * engine, so a chrooted worker without /dev works (BearSSL 0.6 itself
 * only knows RDRAND and /dev/urandom; if the seccomp policy forbids
 * open() it must fail it with an errno, not kill).
 *
 * This module never logs and never exits: errors go back as text.
 */
#ifndef MXGATE_TLS_H
#define MXGATE_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Protocol versions, the wire values (same as BearSSL's BR_TLS1x). */
#define TLS_V10		0x0301
#define TLS_V11		0x0302
#define TLS_V12		0x0303
#define TLS_MIN_DEFAULT	TLS_V12

/* Per-connection engine buffers: a full-size input buffer (a peer may
 * always send 16 KB records) and a smaller output buffer; records we
 * send carry at most 4 KB of plaintext (the engine fragments, and
 * advertises that through the max_fragment_length extension as a
 * client). Full duplex, so a peer that pipelines while we write never
 * deadlocks the engine. */
#define TLS_IBUF_LEN	(16384 + 325)		/* BR_SSL_BUFSIZE_INPUT */
#define TLS_OBUF_LEN	(4096 + 85)		/* 4 KB records + overhead */

#define TLS_MAX_CHAIN		16	/* certificates in tls_cert */
#define TLS_MAX_ANCHORS		512	/* certificates in tls_ca */
#define TLS_MAX_PEM_FILE	(1 << 20)	/* bytes, any PEM file */
#define TLS_SESSION_SLOTS	4096	/* inbound sessions remembered, shared
					   by the workers (512 KiB) */
#define TLS_SESSION_LIFETIME_S	3600	/* a session resumes this long */

struct tls_server;
struct tls_client;
struct tls_conn;

/* --- policy objects (start-up, may read files) ----------------------- */

/* Loads the certificate chain (cert_pem: one or more CERTIFICATE
 * objects, server certificate first) and its private key (key_pem: RSA
 * PRIVATE KEY, EC PRIVATE KEY or PKCS#8 PRIVATE KEY; EC PARAMETERS
 * blocks are skipped) and checks that the key matches the certificate.
 * min_version is TLS_V10..TLS_V12 (0 means TLS_MIN_DEFAULT).
 * Returns 0 and sets *out, or -1 with a message in err (never NULL
 * text, errlen > 0) naming the file and the reason. */
int tls_server_new(struct tls_server **out, const char *cert_pem,
    const char *key_pem, int min_version, char *err, size_t errlen);
/* Wipes and frees srv, its session cache too: that table is shared with
 * every process forked since tls_server_new(), so free srv only once
 * they have all exited. */
void tls_server_free(struct tls_server *srv);

/* The BearSSL back-ends this build and this CPU give every connection,
 * read back from an engine: "AES x86ni, GHASH pclmul, ChaCha20 sse2,
 * RSA i62, EC m31" where the CPU has AES-NI, PCLMULQDQ and SSE2 (else
 * ct64, ctmul64, ct). A static buffer. */
const char *tls_backends(void);

/* SHA-256 fingerprint of the server certificate (the DER of the first
 * certificate of the chain) as 64 lower-case hex digits. */
const char *tls_server_fingerprint(const struct tls_server *srv);

/* Trust anchors for `verify`: ca_pem is a file of CERTIFICATE objects
 * (CA certificates; a non-CA certificate is trusted directly for its own
 * key and name only), or NULL/"" for none (then no connection can use
 * verify). min_version as above for outbound connections.
 * Returns 0 and sets *out, or -1 with a message in err. */
int tls_client_new(struct tls_client **out, const char *ca_pem,
    int min_version, char *err, size_t errlen);
void tls_client_free(struct tls_client *cl);

/* Number of trust anchors loaded (0 when no tls_ca). */
size_t tls_client_anchors(const struct tls_client *cl);

/* Narrows the versions offered by later connections (interoperability
 * tests only; min and max in TLS_V10..TLS_V12, min <= max). 0 or -1. */
int tls_client_set_versions(struct tls_client *cl, int min, int max);

/* First-start certificate: when NEITHER cert_path nor
 * key_path exists, generates an EC P-256 key and a self-signed X.509 v3
 * certificate for hostname (CN and subjectAltName dNSName, serverAuth,
 * valid from one day ago for 3650 days, ECDSA-SHA256), writes both as
 * PEM with mode 0600 (created with O_EXCL through a temporary name and
 * link(2), so an existing file is never replaced), and fills fp_hex with
 * the certificate's SHA-256 fingerprint (64 hex digits + NUL).
 * Returns 1 when it created both files, 0 when both already existed
 * (nothing touched; fp_hex is the fingerprint of the first certificate
 * in cert_path, or "" if it cannot be read), -1 on error — including
 * when exactly one of the two exists: an admin's half-installed pair is
 * never "completed" (err says which). hostname must be a DNS name
 * (letters, digits, '-', '.'; at most 253 octets). */
int tls_selfsigned_ensure(const char *cert_path, const char *key_path,
    const char *hostname, char fp_hex[65], char *err, size_t errlen);

/* --- connections (per session, never read files) ---------------------- */

/* A server-side connection (after "220 ready to start TLS" has been
 * flushed). NULL with errno ENOMEM, or EPROTO if the engine refused its
 * setup. The first tls_handshake()/tls_read() call drives the
 * handshake. */
struct tls_conn *tls_conn_server(struct tls_server *srv);

/* A client-side connection toward a customer's server (after its "220"
 * reply to our STARTTLS). server_name is the route host's DNS name (sent
 * as SNI, matched against the certificate under verify), or NULL/"" for
 * none. verify: 1 = the chain must lead to a tls_ca anchor and the name
 * must match (policy `verify`; needs anchors and a server_name, else
 * NULL with errno EINVAL); 0 = accept any certificate, only its public
 * key is used (policies `may` and `encrypt`). NULL with errno ENOMEM,
 * EINVAL or EPROTO. Call tls_handshake() at once: the client speaks
 * first. */
struct tls_conn *tls_conn_client(struct tls_client *cl,
    const char *server_name, int verify);

/* Drives the handshake: 1 done (also when already done), -1 with errno
 * EAGAIN (wait for tls_want()) or a final error. */
int tls_handshake(struct tls_conn *c, int fd);

/* Reads plaintext (driving the handshake first if needed). Returns
 * >0 bytes, 0 at end of stream (the peer's close_notify, or a plain TCP
 * EOF after the handshake — then tls_error() says "closed without
 * close_notify"), or -1 with errno EAGAIN or a final error. Only reads
 * from fd while no plaintext is buffered. */
ssize_t tls_read(struct tls_conn *c, int fd, void *buf, size_t len);

/* Plaintext bytes already decrypted and waiting for tls_read(). */
size_t tls_pending(struct tls_conn *c);

/* Takes up to len plaintext bytes (len > 0) into the engine, seals and
 * sends what the socket accepts. Returns how many bytes were taken
 * (> 0, maybe < len), or -1 with errno EAGAIN (nothing taken: wait for
 * tls_want()) or a final error. Never reads the fd after the
 * handshake. */
ssize_t tls_write(struct tls_conn *c, int fd, const void *buf, size_t len);

/* Sends everything queued (including a partial record). 0 when nothing
 * is left to send, -1 with errno EAGAIN or a final error. */
int tls_flush(struct tls_conn *c, int fd);

/* Starts a clean shutdown (close_notify) and sends it: 0 when sent (the
 * caller may close the fd; waiting for the peer's close_notify is not
 * needed for SMTP), -1 with errno EAGAIN (call tls_close() again on
 * EPOLLOUT) or a final error (then just close). */
int tls_close(struct tls_conn *c, int fd);

/* What the engine needs from the fd now: EPOLLIN and/or EPOLLOUT; 0 once
 * the connection is closed or failed. */
uint32_t tls_want(struct tls_conn *c);

/* 1 once the handshake completed (version and cipher known). */
int tls_handshake_done(const struct tls_conn *c);
/* 1 when an inbound handshake resumed a cached session (abbreviated
 * handshake: no key exchange, no signature). */
int tls_resumed(const struct tls_conn *c);

/* "TLSv1.2", "TLSv1.1", "TLSv1" (OpenSSL/Postfix spelling) after the
 * handshake, NULL before. */
const char *tls_version(const struct tls_conn *c);

/* The cipher suite in OpenSSL naming, e.g. "ECDHE-ECDSA-AES128-GCM-
 * SHA256", after the handshake, NULL before. */
const char *tls_cipher(const struct tls_conn *c);

/* Symmetric key bits of the cipher (128 or 256), 0 before the handshake;
 * Postfix writes "(256/256 bits)" in Received:. */
int tls_cipher_bits(const struct tls_conn *c);

/* Client connections: 1 when the peer's chain led to a tls_ca anchor
 * and its name matched (always so after a `verify` handshake; under
 * may/encrypt it says whether it would have verified). 0 otherwise. */
int tls_peer_verified(const struct tls_conn *c);

/* The last error as one line of text ("handshake: received fatal alert
 * 40 (handshake_failure)", "certificate: not trusted", ...), or NULL
 * when there was none. Valid until tls_conn_free(). */
const char *tls_error(const struct tls_conn *c);

/* Wipes and frees. Does not touch the fd. NULL is allowed. */
void tls_conn_free(struct tls_conn *c);

/* Bytes allocated for one connection of each kind (for the memory
 * budget and the report). */
size_t tls_conn_size_server(void);
size_t tls_conn_size_client(void);

#endif
