/*
 * yaml_fuzz.c — the YAML subset of cloud-init seeds (relay/yaml.c) on
 * hostile bytes: a seed comes from whoever built the VM's CD-ROM.
 * Invariants: a parse succeeds with a tree or fails with a "line N: ..."
 * message and no tree; the tree has at most YAML_MAX_NODES nodes and
 * nests at most YAML_MAX_DEPTH + 2 deep; every entry of a mapping has a
 * key, no key twice; only mappings and sequences have children.
 */
#include <string.h>

#include "fuzz.h"
#include "yaml.h"

static int nodes;

static void
walk(const struct ynode *n, int depth, int in_map)
{
	const struct ynode *k, *j;

	nodes++;
	FUZZ_ASSERT(depth <= YAML_MAX_DEPTH + 2);
	FUZZ_ASSERT(!in_map || n->key != NULL);
	FUZZ_ASSERT(n->t != Y_STR || (n->str != NULL && n->kids == NULL));
	FUZZ_ASSERT(n->line >= 1);
	for (k = n->kids; k != NULL; k = k->next) {
		if (n->t == Y_MAP)
			for (j = k->next; j != NULL; j = j->next)
				FUZZ_ASSERT(strcmp(k->key, j->key) != 0);
		walk(k, depth + 1, n->t == Y_MAP);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ynode *root = NULL;
	char err[256];

	if (yaml_parse((const char *)data, size, &root, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(root == NULL);
		FUZZ_ASSERT(strncmp(err, "line ", 5) == 0);
		return 0;
	}
	FUZZ_ASSERT(root != NULL);
	nodes = 0;
	walk(root, 0, 0);
	FUZZ_ASSERT(nodes <= YAML_MAX_NODES);
	yaml_free(root);
	return 0;
}
