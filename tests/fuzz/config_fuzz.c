/*
 * config_fuzz.c — the configuration parser and the mailboxes parser
 * (relay/config.c) on hostile text, then the lookups the session makes
 * with what they built. Invariants: the parsers never fail to return,
 * every count stays within its table, every error names its line, the
 * mailbox list is sorted and lower case, the lookups terminate (and,
 * under UBSan, never call bsearch() with a NULL list).
 *
 * Input: byte 0 selects (even: config, odd: mailboxes), then the text.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static const char *const probes[] = {
	"alice@example.test", "ALICE@Example.Test", "x@sub.example.test",
	"@example.test", "", "nobody",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned sel = fuzz_u8(&in);
	const char *text = (const char *)in.p;
	struct config *cf = config_new();
	char errs[4096] = "";
	FILE *f = fmemopen(errs, sizeof(errs) - 1, "w");
	size_t i;
	int n;

	FUZZ_ASSERT(f != NULL);
	if (sel & 1) {
		strcpy(cf->mailboxes_file, "/fuzz/mailboxes");
		n = config_parse_mailboxes(cf, "m", text, in.len, f);
		for (i = 1; i < cf->nmailboxes; i++)
			FUZZ_ASSERT(strcmp(cf->mailboxes[i - 1],
			    cf->mailboxes[i]) <= 0);
		FUZZ_ASSERT(cf->nmailboxes <= CONF_MAX_MAILBOXES);
	} else {
		n = config_parse(cf, "c", text, in.len, f);
		FUZZ_ASSERT(cf->nlisten <= CONF_MAX_LISTEN);
		FUZZ_ASSERT(cf->nroutes <= CONF_MAX_ROUTES);
		FUZZ_ASSERT(cf->ndnsbl <= CONF_MAX_DNSBL);
		FUZZ_ASSERT(cf->nallow <= CONF_MAX_CIDRS &&
		    cf->nblock <= CONF_MAX_CIDRS);
		for (i = 0; i < (size_t)cf->nroutes; i++) {
			char sub[ADDR_DOMAIN_MAX + 3] = "x.";

			FUZZ_ASSERT(cf->routes[i].nhosts >= 1 &&
			    cf->routes[i].nhosts <= CONF_MAX_ROUTE_HOSTS);
			strcat(sub, cf->routes[i].domain);
			FUZZ_ASSERT(config_route(cf, cf->routes[i].subdomains ?
			    sub : cf->routes[i].domain) != NULL);
		}
	}
	fclose(f);
	FUZZ_ASSERT(n >= 0);
	if (n > 0)
		FUZZ_ASSERT(strchr(errs, ':') != NULL);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		(void)config_mailbox_known(cf, probes[i]);
		(void)config_route(cf, probes[i]);
	}
	config_free(cf);
	return 0;
}
