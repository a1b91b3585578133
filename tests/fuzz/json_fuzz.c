/*
 * json_fuzz.c — JSON as an OpenStack config drive writes it
 * (relay/json.c) and the config-2 reader on it (seed_read_config2) on
 * hostile bytes: a config drive comes from whoever runs the cloud.
 * Invariants: a parse succeeds with a tree or fails with a "line N: ..."
 * message and no tree; the tree has at most YAML_MAX_NODES nodes and
 * nests at most YAML_MAX_DEPTH deep; every member of an object has a key,
 * no key twice; only objects and arrays have children. The same bytes as
 * meta_data.json and as network_data.json either refuse with a one-line
 * reason or give files free of control characters.
 */
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "seed.h"

static int nodes;

static void
walk(const struct ynode *n, int depth, int in_map)
{
	const struct ynode *k, *j;

	nodes++;
	FUZZ_ASSERT(depth <= YAML_MAX_DEPTH);
	FUZZ_ASSERT(!in_map || n->key != NULL);
	FUZZ_ASSERT(n->t != Y_STR || (n->str != NULL && n->kids == NULL));
	for (k = n->kids; k != NULL; k = k->next) {
		if (n->t == Y_MAP)
			for (j = k->next; j != NULL; j = j->next)
				FUZZ_ASSERT(strcmp(k->key, j->key) != 0);
		walk(k, depth + 1, n->t == Y_MAP);
	}
}

static void
seeded(const char *meta, size_t ml, const char *net, size_t nl)
{
	struct seed s;
	char err[256];

	if (seed_read_config2(meta, ml, NULL, 0, net, nl, &s, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(strchr(err, '\n') == NULL);
		return;
	}
	FUZZ_ASSERT(s.instance_id[0] != '\0');
	FUZZ_SEED_FILES_OK(s.files, s.nfiles);
	seed_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char meta[] = "{\"uuid\": \"u-1\"}";
	struct ynode *root = NULL;
	char err[256];

	if (json_parse((const char *)data, size, &root, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(root == NULL);
		FUZZ_ASSERT(strncmp(err, "line ", 5) == 0);
	} else {
		FUZZ_ASSERT(root != NULL);
		nodes = 0;
		walk(root, 1, 0);
		FUZZ_ASSERT(nodes <= YAML_MAX_NODES);
		yaml_free(root);
	}
	seeded((const char *)data, size, NULL, 0);
	seeded(meta, sizeof(meta) - 1, (const char *)data, size);
	return 0;
}
