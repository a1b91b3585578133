/*
 * yaml_test.c — the YAML subset of cloud-init seeds (relay/yaml.c): each
 * document is parsed and dumped in one canonical line ({k:v,...}, [a,...],
 * strings in quotes with \n for newlines) and compared; then the inputs
 * that must be refused, each with the line it names.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "ydump.h"
#include "yaml.h"

#define parses(text, want, name)	ytree_parses(yaml_parse, text, want, name)

static void
refused(const char *text, const char *why, const char *name)
{
	struct ynode *root = NULL;
	char err[256] = "";
	int rc = yaml_parse(text, strlen(text), &root, err, sizeof(err));

	ok(rc == -1 && root == NULL && strstr(err, why) != NULL,
	    "%s: refused (%s)", name, err);
}

int
main(void)
{
	struct ynode *root;
	char err[256];

	parses("instance-id: iid-local01\nlocal-hostname: mx1\n",
	    "{instance-id:\"iid-local01\",local-hostname:\"mx1\"}", "meta-data");
	parses("", "{}", "an empty document");
	parses("# only a comment\n\n", "{}", "a comment only");
	parses("#cloud-config\nhostname: mx.example.com   # the name\n"
	    "ntp:\n  enabled: true\n  servers: [ntp1.example.com, "
	    "\"10.0.0.1\"]\n",
	    "{hostname:\"mx.example.com\",ntp:{enabled:\"true\",servers:"
	    "[\"ntp1.example.com\",\"10.0.0.1\"]}}", "cloud-config, flow list");
	parses("users:\n  - name: alice\n    passwd: '$6$x$y'\n    groups: "
	    "[mxadmin]\n  - name: bob\n    lock_passwd: true\n",
	    "{users:[{name:\"alice\",passwd:\"$6$x$y\",groups:[\"mxadmin\"]},"
	    "{name:\"bob\",lock_passwd:\"true\"}]}", "users, items are maps");
	parses("write_files:\n- path: /etc/mxgate/mailboxes\n  content: |\n"
	    "    a@example.com\n\n    @example.org\n  permissions: '0644'\n",
	    "{write_files:[{path:\"/etc/mxgate/mailboxes\",content:"
	    "\"a@example.com\\n\\n@example.org\\n\",permissions:\"0644\"}]}",
	    "a sequence at its key's column, a literal block with a blank line");
	parses("mxgate: |\n  hostname mx.example.com\n  # a comment inside\n"
	    "  route example.com 10.0.0.25\nafter: x\n",
	    "{mxgate:\"hostname mx.example.com\\n# a comment inside\\nroute "
	    "example.com 10.0.0.25\\n\",after:\"x\"}",
	    "a block keeps its # lines");
	parses("a: |-\n  one\n  two\n\nb: |+\n  keep\n\n\nc: >\n  folded\n"
	    "  words\n\n  new\n",
	    "{a:\"one\\ntwo\",b:\"keep\\n\\n\\n\",c:\"folded words\\nnew\\n\"}",
	    "chomping and folding");
	parses("version: 2\nethernets:\n  eth0:\n    dhcp4: false\n"
	    "    addresses: [192.0.2.10/24, \"2001:db8::10/64\"]\n"
	    "    gateway4: 192.0.2.1\n    routes:\n      - to: default\n"
	    "        via: 192.0.2.1\n    nameservers: {addresses: [192.0.2.53,"
	    " 192.0.2.54], search: []}\n",
	    "{version:\"2\",ethernets:{eth0:{dhcp4:\"false\",addresses:"
	    "[\"192.0.2.10/24\",\"2001:db8::10/64\"],gateway4:\"192.0.2.1\","
	    "routes:[{to:\"default\",via:\"192.0.2.1\"}],nameservers:"
	    "{addresses:[\"192.0.2.53\",\"192.0.2.54\"],search:[]}}}}",
	    "network-config v2");
	parses("version: 1\nconfig:\n  - type: physical\n    name: eth0\n"
	    "    subnets:\n      - type: static\n        address: 192.0.2.10/24\n"
	    "        gateway: 192.0.2.1\n  - type: nameserver\n    address:\n"
	    "      - 192.0.2.53\n",
	    "{version:\"1\",config:[{type:\"physical\",name:\"eth0\",subnets:"
	    "[{type:\"static\",address:\"192.0.2.10/24\",gateway:\"192.0.2.1\"}]"
	    "},{type:\"nameserver\",address:[\"192.0.2.53\"]}]}",
	    "network-config v1");
	parses("---\nk: \"tab\\there \\\"q\\\" \\x41\"\nl: 'it''s'\nm:\nn: ~\n"
	    "o: http://example.com/a#frag\n",
	    "{k:\"tab\there \"q\" A\",l:\"it's\",m:\"\",n:\"~\",o:"
	    "\"http://example.com/a#frag\"}", "quotes, escapes, empty, '---'");
	parses("- - a\n  - b\n- c\n", "[[\"a\",\"b\"],\"c\"]", "nested sequences");
	parses("key: value\r\nother: 1\r\n", "{key:\"value\",other:\"1\"}",
	    "CRLF lines");

	refused("a:\n\tb: 1\n", "line 2: a tab", "a tab in the indentation");
	refused("a: &x 1\nb: *x\n", "line 1: anchors", "an anchor");
	refused("a: !!str 1\n", "line 1: anchors, aliases and tags", "a tag");
	refused("a: 1\na: 2\n", "line 2: duplicate key 'a'", "a duplicate key");
	refused("a: 1\n  b: 2\n", "line 2: indented more", "bad indentation");
	refused("a: \"open\n", "line 1: a quoted string does not end",
	    "an unterminated quote");
	refused("a: [1,\n  2]\n", "line 1: a flow collection must end on its "
	    "line", "a multi-line flow list");
	refused("a: 1\n---\nb: 2\n", "a second document", "two documents");
	refused("a: \"\\q\"\n", "line 1: an escape sequence", "a bad escape");
	refused("a: {b 1}\n", "has no ':'", "a flow map entry without ':'");
	refused("  a: 1\n", "line 1: the document starts indented",
	    "an indented start");
	refused("a: x\nplain words here\n", "line 2: 'key: value' expected",
	    "a line that is no entry");
	{
		/* nesting past the limit */
		char deep[4096] = "";
		size_t o = 0;
		int i;
		for (i = 0; i < YAML_MAX_DEPTH + 2; i++)
			o += (size_t)snprintf(deep + o, sizeof(deep) - o,
			    "%*sk:\n", i * 2, "");
		refused(deep, "nested deeper than", "too deep");
	}
	ok(yaml_parse("a: 1\0b", 6, &root, err, sizeof(err)) == -1 &&
	    strstr(err, "NUL") != NULL, "a NUL byte: refused");
	ok(yaml_parse("x: {a: [b, {c: d}]}\n", 20, &root, err,
	    sizeof(err)) == 0 && yaml_str(yaml_get(yaml_get(root, "x"), "a")
	    ? yaml_get(root, "x") : NULL, "a") == NULL &&
	    yaml_get(root, "missing") == NULL, "yaml_get/yaml_str");
	yaml_free(root);
	return done_testing();
}
