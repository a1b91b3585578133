/*
 * xml_test.c — the XML subset of OVF environments (relay/xml.c) and the
 * OVF reader on it (seed_read_ovf, relay/seed.c). Each document is parsed
 * and dumped in one canonical line (name[attr=value,...]{kids}) and
 * compared; then the inputs that must be refused, each with its line;
 * then ovf-env.xml documents as vSphere writes them, turned into files.
 */
#include <stdio.h>
#include <string.h>

#include "seed.h"
#include "tap.h"
#include "xml.h"

static size_t
dump(const struct xnode *n, char *out, size_t size, size_t o)
{
	const struct xnode *k;
	int i;

	for (; n != NULL && o + 64 < size; n = n->next) {
		o += (size_t)snprintf(out + o, size - o, "%s", n->name);
		if (n->nattr > 0) {
			out[o++] = '[';
			for (i = 0; i < n->nattr && o + 64 < size; i++)
				o += (size_t)snprintf(out + o, size - o,
				    "%s%s=%s", i ? "," : "", n->attr[i].name,
				    n->attr[i].value);
			out[o++] = ']';
		}
		if ((k = n->kids) != NULL) {
			out[o++] = '{';
			o = dump(k, out, size, o);
			out[o++] = '}';
		}
		if (n->next != NULL)
			out[o++] = ' ';
		out[o] = '\0';
	}
	return o;
}

static void
parses(const char *text, const char *want, const char *name)
{
	struct xnode *root;
	char err[256], got[4096] = "";

	if (xml_parse(text, strlen(text), &root, err, sizeof(err)) != 0) {
		ok(0, "%s: parses (%s)", name, err);
		return;
	}
	dump(root, got, sizeof(got), 0);
	is_str(got, want, "%s", name);
	xml_free(root);
}

static void
refused(const char *text, size_t len, const char *why, const char *name)
{
	struct xnode *root = NULL;
	char err[256] = "";
	int rc = xml_parse(text, len, &root, err, sizeof(err));

	ok(rc == -1 && root == NULL && strncmp(err, "line ", 5) == 0 &&
	    strstr(err, why) != NULL, "%s: refused (%s)", name, err);
}

#define R(text, why, name)	refused(text, sizeof(text) - 1, why, name)

static const char *ENV_HEAD =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
    "     xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
    "     xmlns:ve=\"http://www.vmware.com/schema/ovfenv\"\n"
    "     oe:id=\"\" ve:vCenterId=\"vm-42\">\n"
    "  <PlatformSection><Kind>VMware ESXi</Kind></PlatformSection>\n"
    "  <PropertySection>\n";
static const char *ENV_TAIL =
    "  </PropertySection>\n"
    "  <ve:EthernetAdapterSection><ve:Adapter ve:mac=\"00:50:56:8a:2b:3c\" "
    "ve:network=\"VM Network\"/></ve:EthernetAdapterSection>\n"
    "</Environment>\n";

static int
ovf(const char *props, struct seed *s, char *err, size_t errlen)
{
	char doc[8192];

	snprintf(doc, sizeof(doc), "%s%s%s", ENV_HEAD, props, ENV_TAIL);
	return seed_read_ovf(doc, strlen(doc), s, err, errlen);
}

#define P(k, v)	"    <Property oe:key=\"" k "\" oe:value=\"" v "\"/>\n"

static void
ovf_refused(const char *props, const char *why, const char *name)
{
	struct seed s;
	char err[256] = "";

	ok(ovf(props, &s, err, sizeof(err)) == -1 && strstr(err, why) != NULL,
	    "ovf: %s: refused (%s)", name, err);
}

int
main(void)
{
	struct xnode *root;
	struct seed s, t;
	char err[256];
	const char *h6 = "$6$abcdefghijklmnop$0123456789012345678901234567"
	    "89012345678901234567890123456789012345678901234567890123456789";
	char props[2048];
	int i;

	parses("<a/>", "a", "one empty element");
	parses("\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c -->\n<a x=\"1\" "
	    "y = '2'>text<b/><!-- in --><c z=\"&lt;&amp;&gt;&quot;&apos;\">"
	    "<![CDATA[<raw>]]></c><?pi x?></a>\n<!-- after -->\n",
	    "a[x=1,y=2]{b c[z=<&>\"']}", "prolog, comments, PI, CDATA, "
	    "entities");
	parses("<oe:P oe:key=\"k\" oe:value=\"a&#x20;b&#233;&#x1F600;\"/>",
	    "oe:P[oe:key=k,oe:value=a b\xc3\xa9\xf0\x9f\x98\x80]",
	    "character references become UTF-8");
	parses("<a v=\"one\ttwo\nthree\r\"/>", "a[v=one two three ]",
	    "attribute values normalised");
	parses("<a><b><c/></b><b/></a>", "a{b{c} b}", "nesting and siblings");

	R("", "no root element", "empty");
	R("<!DOCTYPE a [<!ENTITY x \"y\">]><a/>", "DOCTYPE", "a DOCTYPE");
	R("<a>&x;</a>", "an entity other than", "an unknown entity");
	R("<a b=\"&#0;\"/>", "does not allow", "a NUL by reference");
	R("<a b=\"&#xD800;\"/>", "does not allow", "a surrogate by reference");
	R("<a b=\"&#x110000;\"/>", "beyond U+10FFFF", "beyond Unicode");
	R("<a b=\"&#;\"/>", "bad character reference", "an empty reference");
	R("<a b=\"1\" b=\"2\"/>", "twice", "an attribute twice");
	R("<a b=\"1\"c=\"2\"/>", "a space expected", "attributes run together");
	R("<a b=1/>", "quoted value", "an unquoted value");
	R("<a b=\"<\"/>", "'<' in the value", "'<' in a value");
	R("<a></b>", "</b> closes <a>", "a wrong end tag");
	R("<a>", "<a> is not closed", "unclosed");
	R("<a/><b/>", "content after the root element", "two roots");
	R("<a/>text", "content after the root element", "text after the root");
	R("<a>\x01</a>", "control character 0x01", "a control character");
	R("<a>\0</a>", "control character 0x00", "a NUL byte");
	R("<a><!-- x </a>", "unterminated comment", "an open comment");
	R("<1a/>", "a name expected", "a name starting with a digit");
	R("<a>\n\n<b x=\"1\"\n y=\"2\" y=\"3\"/></a>", "line 4:",
	    "the line of the error");
	{
		char deep[1024] = "";
		size_t o = 0;
		for (i = 0; i <= XML_MAX_DEPTH; i++)
			o += (size_t)snprintf(deep + o, sizeof(deep) - o,
			    "<e>");
		refused(deep, o, "nested more than", "too deep");
	}
	{
		static char many[XML_MAX_NODES * 4 + 64];
		size_t o = (size_t)snprintf(many, sizeof(many), "<r>");
		for (i = 0; i < XML_MAX_NODES; i++)
			o += (size_t)snprintf(many + o, sizeof(many) - o,
			    "<e/>");
		o += (size_t)snprintf(many + o, sizeof(many) - o, "</r>");
		refused(many, o, "more than", "too many elements");
	}
	ok(xml_parse("<a x:k=\"v\"/>", 12, &root, err, sizeof(err)) == 0 &&
	    strcmp(xml_local("oe:key"), "key") == 0 &&
	    strcmp(xml_local("key"), "key") == 0 &&
	    strcmp(xml_attr(root, "k"), "v") == 0 &&
	    xml_attr(root, "missing") == NULL, "xml_local/xml_attr");
	xml_free(root);

	/* an OVF environment as vSphere writes it */
	snprintf(props, sizeof(props), "%s%s%s%s%s%s%s%s%s%s%s",
	    P("hostname", "mx1.example.com"), P("network.mode", "static"),
	    P("network.address", "192.0.2.10/24"),
	    P("network.gateway", "192.0.2.1"),
	    P("network.dns", "192.0.2.53, 192.0.2.54"),
	    P("network.address6", ""), P("mxgate.domain", "example.com "
	    "example.org"), P("mxgate.servers", "192.0.2.25 192.0.2.26:2525"),
	    P("mxgate.tls", "encrypt"), P("vami.timezone", "UTC"),
	    P("admin.password_hash", ""));
	ok(ovf(props, &s, err, sizeof(err)) == 0, "ovf: read (%s)",
	    ovf(props, &t, err, sizeof(err)) == 0 ? "ok" : err);
	seed_free(&t);
	is_str(s.hostname, "mx1.example.com", "ovf: host name");
	ok(strncmp(s.instance_id, "ovf-", 4) == 0 &&
	    strlen(s.instance_id) == 20, "ovf: an instance-id named after the "
	    "properties: %s", s.instance_id);
	is_str(seed_file(&s, "network.conf") ? seed_file(&s, "network.conf") :
	    "", "# /etc/mxgate/network.conf — from an OVF environment "
	    "(mxgatectl seed)\nMODE=static\nIFACE=auto\nADDRESS=192.0.2.10/24\n"
	    "GATEWAY=192.0.2.1\nDNS=\"192.0.2.53 192.0.2.54\"\n",
	    "ovf: network.conf");
	is_str(seed_file(&s, "mxgate.conf") ? seed_file(&s, "mxgate.conf") :
	    "", "# /etc/mxgate/mxgate.conf — from an OVF environment "
	    "(mxgatectl seed); every directive in mxgate.conf(5)\n"
	    "hostname mx1.example.com\nlisten 0.0.0.0:25\n"
	    "route example.com 192.0.2.25 192.0.2.26:2525 tls encrypt\n"
	    "route example.org 192.0.2.25 192.0.2.26:2525 tls encrypt\n"
	    "postmaster postmaster@example.com\n", "ovf: mxgate.conf, a route "
	    "per domain");
	ok(seed_file(&s, "ntp.conf") == NULL && s.nusers == 0,
	    "ovf: an empty property is not given");
	for (i = 0; i < s.nnotes; i++)
		if (strstr(s.notes[i], "vami.timezone ignored") != NULL)
			break;
	ok(i < s.nnotes, "ovf: an unknown property is noted");
	seed_free(&s);

	/* the same properties: the same instance; another value: another */
	ok(ovf(props, &s, err, sizeof(err)) == 0 &&
	    ovf(P("hostname", "mx2.example.com"), &t, err, sizeof(err)) == 0 &&
	    strcmp(s.instance_id, t.instance_id) != 0, "ovf: changed "
	    "properties, a new instance-id");
	seed_free(&t);
	ok(ovf(props, &t, err, sizeof(err)) == 0 &&
	    strcmp(s.instance_id, t.instance_id) == 0, "ovf: the same "
	    "properties, the same instance-id");
	seed_free(&s);
	seed_free(&t);

	snprintf(props, sizeof(props), "%s    <Property oe:key=\"admin."
	    "password_hash\" oe:value=\"%s\"/>\n%s", P("instance-id",
	    "vapp-7"), h6, P("ntp.servers", "ntp1.example.com, 192.0.2.123"));
	ok(ovf(props, &s, err, sizeof(err)) == 0, "ovf: admin hash, NTP, "
	    "instance-id (%s)", err);
	is_str(s.instance_id, "vapp-7", "ovf: the instance-id given");
	ok(s.nusers == 1 && strcmp(s.users[0].name, "admin") == 0 &&
	    s.users[0].admin && strcmp(s.users[0].hash, h6) == 0,
	    "ovf: the admin account's hash");
	is_str(seed_file(&s, "ntp.conf") ? seed_file(&s, "ntp.conf") : "",
	    "# /etc/mxgate/ntp.conf — from an OVF environment (mxgatectl "
	    "seed)\nserver ntp1.example.com\nserver 192.0.2.123\n",
	    "ovf: ntp.conf");
	ok(seed_file(&s, "network.conf") == NULL &&
	    seed_file(&s, "mxgate.conf") == NULL, "ovf: no network or relay "
	    "property, no such file");
	seed_free(&s);
	ok(ovf(P("network.mode", "dhcp"), &s, err, sizeof(err)) == 0 &&
	    strstr(seed_file(&s, "network.conf"), "MODE=dhcp\n") != NULL,
	    "ovf: DHCP");
	seed_free(&s);

	ovf_refused(P("network.mode", "static"), "network.address",
	    "static without an address");
	ovf_refused(P("network.address", "300.1.1.1/24"), "network.address",
	    "a bad address");
	ovf_refused(P("network.mode", "auto"), "dhcp or static", "a bad mode");
	ovf_refused(P("network.mode", "dhcp") P("network.dns", "8.8.8.8 x"),
	    "'x' is not an IP address", "a bad DNS server");
	ovf_refused(P("mxgate.domain", "example.com"), "go together",
	    "a domain without servers");
	ovf_refused(P("mxgate.domain", "example.com") P("mxgate.servers",
	    "mail.example.com"), "not an IP address", "a server by name");
	ovf_refused(P("mxgate.domain", "example.com&#10;queue /tmp")
	    P("mxgate.servers", "192.0.2.25"), "not a domain",
	    "a newline smuggled into a domain");
	ovf_refused(P("mxgate.domain", "example.com") P("mxgate.servers",
	    "192.0.2.25") P("mxgate.tls", "maybe"), "none, may, encrypt",
	    "a bad TLS policy");
	ovf_refused(P("mxgate.domain", "example.com") P("mxgate.servers",
	    "192.0.2.25") P("mxgate.postmaster", "root"), "not a mail address",
	    "a bad postmaster");
	ovf_refused(P("admin.password_hash", "hunter22"), "no SHA-512 crypt",
	    "a plain-text password");
	ovf_refused(P("hostname", "a") P("hostname", "b"), "twice",
	    "a property twice");
	ovf_refused(P("hostname", "-bad-"), "not a host name", "a bad name");
	ovf_refused("<Property oe:key=\"x\"/>", "a key and a value",
	    "a property without a value");
	ok(seed_read_ovf("<Envelope/>", 11, &s, err, sizeof(err)) == -1 &&
	    strstr(err, "not <Environment>") != NULL, "ovf: another document "
	    "refused (%s)", err);
	ok(seed_read_ovf("<Environment>", 13, &s, err, sizeof(err)) == -1 &&
	    strstr(err, "ovf-env.xml: line 1:") != NULL, "ovf: XML that does "
	    "not parse, with its line (%s)", err);
	return done_testing();
}
