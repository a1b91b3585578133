/*
 * xml_fuzz.c — the XML subset of OVF environments (relay/xml.c) and the
 * OVF reader on it (seed_read_ovf) on hostile bytes: an ovf-env.xml comes
 * from whoever attached the VM's CD-ROM. Invariants: a parse succeeds
 * with a tree or fails with a "line N: ..." message and no tree; the tree
 * has at most XML_MAX_NODES elements, nests at most XML_MAX_DEPTH deep,
 * no element carries an attribute twice or more than XML_MAX_ATTRS; the
 * OVF reader either refuses with a one-line reason or gives files whose
 * every line is free of control characters (they become configuration).
 */
#include <string.h>

#include "fuzz.h"
#include "seed.h"
#include "xml.h"

static int nodes;

static void
walk(const struct xnode *n, int depth)
{
	int i, j;

	for (; n != NULL; n = n->next) {
		nodes++;
		FUZZ_ASSERT(depth <= XML_MAX_DEPTH);
		FUZZ_ASSERT(n->name != NULL && n->name[0] != '\0');
		FUZZ_ASSERT(n->nattr <= XML_MAX_ATTRS);
		FUZZ_ASSERT(n->line >= 1);
		for (i = 0; i < n->nattr; i++) {
			FUZZ_ASSERT(n->attr[i].value != NULL);
			for (j = i + 1; j < n->nattr; j++)
				FUZZ_ASSERT(strcmp(n->attr[i].name,
				    n->attr[j].name) != 0);
		}
		walk(n->kids, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xnode *root = NULL;
	struct seed s;
	char err[256];

	if (xml_parse((const char *)data, size, &root, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(root == NULL);
		FUZZ_ASSERT(strncmp(err, "line ", 5) == 0);
	} else {
		FUZZ_ASSERT(root != NULL);
		nodes = 0;
		walk(root, 1);
		FUZZ_ASSERT(nodes <= XML_MAX_NODES);
		xml_free(root);
	}
	if (seed_read_ovf((const char *)data, size, &s, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(strchr(err, '\n') == NULL);
		return 0;
	}
	FUZZ_ASSERT(s.instance_id[0] != '\0');
	FUZZ_SEED_FILES_OK(s.files, s.nfiles);
	seed_free(&s);
	return 0;
}
