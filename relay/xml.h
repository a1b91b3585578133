/*
 * xml.h — the XML subset an OVF environment document (ovf-env.xml, DMTF
 * DSP0243 section 11) is written in: elements, attributes, comments,
 * processing instructions and character data, in UTF-8. Pure: bytes in,
 * a tree of elements out; nothing is fetched, nothing expanded.
 *
 * Refused: a DOCTYPE (so no DTD and no entity but the five predefined
 * ones), a name that is not one, an attribute twice on an element, an
 * end tag that does not match, a second root, a NUL or another control
 * character, more than XML_MAX_BYTES, XML_MAX_DEPTH, XML_MAX_NODES or
 * XML_MAX_ATTRS. Character references (&#N; &#xN;) become UTF-8;
 * attribute values are normalised as XML 1.0 section 3.3.3 says (tab,
 * CR, LF become spaces). Character data is checked and then dropped:
 * the OVF environment carries everything in attributes.
 *
 * Namespaces are not resolved: a name keeps its prefix as written, and
 * xml_local() gives the part after it. A reader matches local names.
 */
#ifndef MXGATE_XML_H
#define MXGATE_XML_H

#include <stddef.h>

#define XML_MAX_BYTES	(256 * 1024)
#define XML_MAX_DEPTH	32
#define XML_MAX_NODES	4096
#define XML_MAX_ATTRS	64	/* per element */

struct xattr {
	char		*name;
	char		*value;
};

struct xnode {
	char		*name;		/* with its prefix, as written */
	struct xattr	*attr;
	int		 nattr;
	int		 line;
	struct xnode	*kids, *next;
};

/* 0 and *root (xml_free it), or -1, *root NULL and "line N: why" in err. */
int xml_parse(const char *text, size_t len, struct xnode **root, char *err,
    size_t errlen);
void xml_free(struct xnode *n);

/* The name after its prefix ("oe:key" -> "key"). */
const char *xml_local(const char *name);
/* The value of the attribute whose local name is local, or NULL. */
const char *xml_attr(const struct xnode *n, const char *local);

#endif
