/* relay.c — placeholder until the relay core lands (issue 3). */
#include <stdio.h>
#include "relay.h"
#include "util.h"

int
relay_main(struct config *cf, const char *config_path)
{
	fprintf(stderr, "mxgate: the relay loop is not built yet\n");
	config_free(cf);
	return EXIT_TEMP;
}
