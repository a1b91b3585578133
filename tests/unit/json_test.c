/*
 * json_test.c — JSON as an OpenStack config drive writes it
 * (relay/json.c) and the config-2 reader on it (seed_read_config2,
 * relay/seed.c). Each document is parsed and dumped in one canonical line
 * (ydump.h) and compared; then the inputs
 * RFC 8259 does not allow, each with its line; then meta_data.json and
 * network_data.json as Nova writes them, turned into files.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "seed.h"
#include "tap.h"
#include "ydump.h"

#define parses(text, want, name)	ytree_parses(json_parse, text, want, name)

static void
refused(const char *text, size_t len, const char *why, const char *name)
{
	struct ynode *root = NULL;
	char err[256] = "";
	int rc = json_parse(text, len, &root, err, sizeof(err));

	ok(rc == -1 && root == NULL && strncmp(err, "line ", 5) == 0 &&
	    strstr(err, why) != NULL, "%s: refused (%s)", name, err);
}

#define R(text, why, name)	refused(text, sizeof(text) - 1, why, name)

static const char *META =
    "{\"uuid\": \"83679162-1378-4288-a2d4-70e13ec132aa\", \"meta\": "
    "{\"role\": \"mx\"}, \"hostname\": \"mx1.novalocal\", \"name\": \"mx1\", "
    "\"launch_index\": 0, \"availability_zone\": \"nova\", \"random_seed\": "
    "\"abc/def+==\", \"public_keys\": {\"k\": \"ssh-rsa AAAA x@y\"}, "
    "\"admin_pass\": \"hunter22\", \"devices\": [], \"project_id\": \"p\"}";
static const char *NET =
    "{\"links\": [{\"ethernet_mac_address\": \"fa:16:3e:00:00:01\", \"mtu\": "
    "1450, \"type\": \"ovs\", \"id\": \"tap1\", \"vif_id\": \"1\"}], "
    "\"networks\": [{\"id\": \"network0\", \"type\": \"ipv4\", \"link\": "
    "\"tap1\", \"ip_address\": \"10.0.0.5\", \"netmask\": \"255.255.255.0\", "
    "\"routes\": [{\"network\": \"0.0.0.0\", \"netmask\": \"0.0.0.0\", "
    "\"gateway\": \"10.0.0.1\"}, {\"network\": \"172.16.0.0\", \"netmask\": "
    "\"255.240.0.0\", \"gateway\": \"10.0.0.254\"}], \"network_id\": \"n\"}, "
    "{\"id\": \"network1\", \"type\": \"ipv6\", \"link\": \"tap1\", "
    "\"ip_address\": \"2001:db8::5\", \"netmask\": \"ffff:ffff:ffff:ffff::\", "
    "\"routes\": [{\"network\": \"::\", \"netmask\": \"::\", \"gateway\": "
    "\"2001:db8::1\"}]}, {\"id\": \"network2\", \"type\": \"ipv4\", "
    "\"ip_address\": \"10.1.0.5\", \"netmask\": \"255.255.0.0\"}], "
    "\"services\": [{\"type\": \"dns\", \"address\": \"10.0.0.2\"}]}";

static const char *USER =
    "#cloud-config\nmxgate: |\n  route example.com 10.0.0.25\n";
static const char *BADMASK =
    "{\"networks\": [{\"type\": \"ipv4\", \"ip_address\": \"10.0.0.5\", "
    "\"netmask\": \"255.0.255.0\"}]}";

int
main(void)
{
	struct ynode *root;
	struct seed s;
	char err[256];
	const char *f;
	int i, found;

	parses("{}", "{}", "an empty object");
	parses(" [ ] ", "[]", "an empty array, blanks");
	parses("{\"a\": [1, -0.5e+3, true, false, null, \"x\"], \"b\": {\"c\": "
	    "\"d\"}}", "{a:[\"1\",\"-0.5e+3\",\"true\",\"false\",\"null\","
	    "\"x\"],b:{c:\"d\"}}", "every kind of value, kept as written");
	parses("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
	    "\"\"\\/\b\f\\n\r\t\xc3\xa9\xf0\x9f\x98\x80\"",
	    "escapes, \\u, a surrogate pair to UTF-8");
	parses("{\"n\":\n{\"m\": [\n1,\n2]}}\n", "{n:{m:[\"1\",\"2\"]}}",
	    "over several lines");

	R("", "a value expected", "empty");
	R("{\"a\": 1,}", "a trailing comma", "a trailing comma");
	R("[1, 2,]", "a trailing comma", "a trailing comma in an array");
	R("{'a': 1}", "a key (a string) expected", "single quotes");
	R("{\"a\" 1}", "':' expected", "no colon");
	R("{\"a\": 1, \"a\": 2}", "key \"a\" twice", "a key twice");
	R("[01]", "a leading zero", "a leading zero");
	R("[1.]", "digits expected after '.'", "a bare point");
	R("[1e]", "digits expected in an exponent", "a bare exponent");
	R("[tru]", "a value expected", "a broken literal");
	R("\"a\nb\"", "control character 0x0a", "a raw newline in a string");
	R("\"\\ud800\"", "unpaired surrogate", "a lone high surrogate");
	R("\"\\udc00\"", "unpaired surrogate", "a lone low surrogate");
	R("\"\\u0000\"", "\\u0000", "a NUL by escape");
	R("\"\\x\"", "a bad escape", "an unknown escape");
	R("\"abc", "unterminated string", "an open string");
	R("{} {}", "text after the value", "two values");
	R("[1] // c", "text after the value", "a comment");
	R("{\"a\":\n\n[1,, 2]}", "line 3:", "the line of the error");
	{
		char deep[256];
		size_t o = 0;
		for (i = 0; i <= YAML_MAX_DEPTH; i++)
			deep[o++] = '[';
		refused(deep, o, "nested deeper than", "too deep");
	}
	{
		static char many[YAML_MAX_NODES * 2 + 16];
		size_t o = 0;
		many[o++] = '[';
		for (i = 0; i < YAML_MAX_NODES; i++) {
			many[o++] = '0';
			many[o++] = ',';
		}
		many[o++] = '0';
		many[o++] = ']';
		refused(many, o, "more than", "too many values");
	}
	ok(json_parse("{\"x\": {\"y\": \"z\"}}", 17, &root, err,
	    sizeof(err)) == 0 && strcmp(yaml_str(yaml_get(root, "x"), "y"),
	    "z") == 0, "yaml_get/yaml_str on a JSON tree");
	yaml_free(root);

	/* a config drive as Nova writes it */
	ok(seed_read_config2(META, strlen(META), USER, strlen(USER), NET,
	    strlen(NET), &s, err, sizeof(err)) == 0, "config-2: read (%s)",
	    err);
	is_str(s.instance_id, "83679162-1378-4288-a2d4-70e13ec132aa",
	    "config-2: the uuid is the instance-id");
	is_str(s.hostname, "mx1.novalocal", "config-2: the host name");
	f = seed_file(&s, "network.conf");
	is_str(f ? f : "", "# /etc/mxgate/network.conf — from an OpenStack "
	    "config drive (mxgatectl seed)\nMODE=static\nIFACE=auto\n"
	    "ADDRESS=10.0.0.5/24\nGATEWAY=10.0.0.1\nDNS=\"10.0.0.2\"\n"
	    "ADDRESS6=2001:db8::5/64\nGATEWAY6=2001:db8::1\n",
	    "config-2: network.conf (netmasks made prefixes, default routes)");
	f = seed_file(&s, "mxgate.conf");
	is_str(f ? f : "", "route example.com 10.0.0.25\n",
	    "config-2: user_data's mxgate:");
	for (i = found = 0; i < s.nnotes; i++)
		found |= (strstr(s.notes[i], "admin_pass ignored") ? 1 : 0) |
		    (strstr(s.notes[i], "public_keys ignored") ? 2 : 0) |
		    (strstr(s.notes[i], "route to 172.16.0.0 ignored") ? 4 : 0) |
		    (strstr(s.notes[i], "a ipv4 network ignored") ? 8 : 0);
	is_int(found, 15, "config-2: the clear-text password, the keys, a "
	    "route and a second network named as ignored");
	for (i = 0; i < s.nnotes; i++)
		ok(strstr(s.notes[i], "hunter22") == NULL, "config-2: the "
		    "password is not repeated: %s", s.notes[i]);
	seed_free(&s);

	ok(seed_read_config2(META, strlen(META), NULL, 0,
	    "{\"networks\": [{\"type\": \"ipv4_dhcp\"}]}", 37, &s, err,
	    sizeof(err)) == 0 && strstr(seed_file(&s, "network.conf"),
	    "MODE=dhcp\n") != NULL, "config-2: DHCP");
	seed_free(&s);
	ok(seed_read_config2(META, strlen(META), NULL, 0, "{\"links\": []}",
	    13, &s, err, sizeof(err)) == 0 && s.nfiles == 0,
	    "config-2: no network said, no network.conf");
	seed_free(&s);
	ok(seed_read_config2("{\"hostname\": \"x\"}", 17, NULL, 0, NULL, 0, &s,
	    err, sizeof(err)) == -1 && strstr(err, "no uuid") != NULL,
	    "config-2: no uuid, refused (%s)", err);
	ok(seed_read_config2(META, strlen(META), NULL, 0, BADMASK,
	    strlen(BADMASK), &s, err, sizeof(err)) == -1 &&
	    strstr(err, "not a netmask") != NULL, "config-2: a bad netmask, "
	    "refused (%s)", err);
	ok(seed_read_config2("{\"uuid\": 1,}", 12, NULL, 0, NULL, 0, &s, err,
	    sizeof(err)) == -1 && strstr(err, "meta_data.json: line 1: a "
	    "trailing comma") != NULL, "config-2: JSON that does not parse, "
	    "with its file and line (%s)", err);
	return done_testing();
}
