/*
 * mxgate.c — the daemon's entry point: flags, configuration, then the
 * privileged parent (master.c), which starts the roles. See docs/mxgate.8.md.
 *
 *   mxgate -f FILE      run in the foreground, log to stderr
 *   mxgate -n -f FILE   check the configuration; exit 0 or print every
 *                       error as FILE:LINE: message and exit 1
 *   mxgate -F -f FILE   print the nftables ruleset for FILE's routes,
 *                       resolvers and NTP servers (the image loads it)
 *   mxgate -V           print the version
 *
 * Exit codes: 0 ok, 1 bad configuration (-n), 100 usage or permanent
 * error, 111 temporary error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "firewall.h"
#include "relay.h"
#include "tls.h"
#include "util.h"
#include "version.h"

/* -n also loads what the parent will load at start: an admin's
 * certificate and key, and the trust anchors for `tls verify` routes. */
static int
check_tls(struct config *cf, const char *path)
{
	struct tls_server *srv;
	struct tls_client *cl;
	char err[512];
	int bad = 0;

	if (!cf->tls_cert_default) {
		if (tls_server_new(&srv, cf->tls_cert, cf->tls_key,
		    cf->tls_min_version, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s:0: tls_cert/tls_key: %s\n", path, err);
			bad = 1;
		} else
			tls_server_free(srv);
	}
	if (cf->tls_ca[0] != '\0') {
		if (tls_client_new(&cl, cf->tls_ca, cf->tls_min_version, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "%s:0: tls_ca: %s\n", path, err);
			bad = 1;
		} else
			tls_client_free(cl);
	}
	config_free(cf);
	return bad ? -1 : 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: mxgate [-n | -F] -f FILE | -V\n", stderr);
	exit(EXIT_PERM);
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct config *cf;
	int ch, check = 0, fw = 0;

	while ((ch = getopt(argc, argv, "f:nFVh")) != -1) {
		switch (ch) {
		case 'f': path = optarg; break;
		case 'n': check = 1; break;
		case 'F': fw = 1; break;
		case 'V':
			printf("mxgate %s\n", MXGATE_VERSION);
			return EXIT_OK;
		default: usage();
		}
	}
	if (optind != argc || path == NULL)
		usage();
	cf = config_load(path, stderr);
	if (check)
		return cf == NULL || check_tls(cf, path) != 0 ? 1 : EXIT_OK;
	if (fw) {
		if (cf == NULL)
			return 1;
		return firewall_write(cf, stdout) == 0 &&
		    fflush(stdout) == 0 ? EXIT_OK : EXIT_TEMP;
	}
	if (cf == NULL)
		return EXIT_PERM;
	return relay_main(cf, path);
}
