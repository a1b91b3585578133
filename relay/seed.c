/*
 * seed.c — see seed.h. Reads the three documents with yaml.c and checks
 * every value it keeps (addresses with inet_pton, names by their
 * grammar, password hashes by their form); what it writes is the same
 * text setup writes, so the relay's own check (`mxgate -n`, at the
 * commit) has the last word on mxgate.conf.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "net.h"
#include "seed.h"
#include "util.h"
#include "xml.h"
#include "yaml.h"

struct ctx {
	struct seed	*s;
	char		*err;
	size_t		 errlen;
	const char	*doc;	/* which file, for messages */
	const char	*from;	/* what kind of seed, for the files' headers */
};

static int
bad(struct ctx *c, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	char *e;

	n = snprintf(c->err, c->errlen, at ? "%s: line %d: " : "%s: ",
	    c->doc, at ? at->line : 0);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (e = c->err; *e != '\0'; e++)	/* one line, whatever it quotes */
		if ((unsigned char)*e < 0x20 || *e == 0x7f)
			*e = '?';
	return -1;
}

/* An instance-id: one word of printable ASCII, no slash. */
static int
instance_ok(const char *v, size_t size)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '/')
			return 0;
	return i > 0 && i < size;
}

static void
note(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->s->nnotes >= SEED_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(c->s->notes[c->s->nnotes++], sizeof(c->s->notes[0]), fmt,
	    ap);
	va_end(ap);
}

static int
is_true(const char *v)
{
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "True") ==
	    0 || strcmp(v, "TRUE") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "on") == 0);
}

static int
is_false(const char *v)
{
	return v != NULL && (strcmp(v, "false") == 0 || strcmp(v, "False") ==
	    0 || strcmp(v, "FALSE") == 0 || strcmp(v, "no") == 0 ||
	    strcmp(v, "off") == 0);
}

static int
add_file(struct ctx *c, const struct ynode *at, const char *name,
    const char *text)
{
	struct seed *s = c->s;
	int i;

	for (i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i].name, name) == 0)
			return bad(c, at, "/etc/mxgate/%s is given twice", name);
	if (s->nfiles >= SEED_MAX_FILES)
		return bad(c, at, "too many files");
	snprintf(s->files[s->nfiles].name, sizeof(s->files[0].name), "%s",
	    name);
	if ((s->files[s->nfiles].text = strdup(text)) == NULL)
		return bad(c, at, "out of memory");
	s->nfiles++;
	return 0;
}

const char *
seed_file(const struct seed *s, const char *name)
{
	int i;

	for (i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i].name, name) == 0)
			return s->files[i].text;
	return NULL;
}

void
seed_free(struct seed *s)
{
	int i;

	for (i = 0; i < s->nfiles; i++)
		free(s->files[i].text);
	memset(s, 0, sizeof(*s));
}

/* "ADDR/PREFIX" of the family (4 or 6). */
static int
prefix_ok(const char *v, int fam)
{
	char a[64], *slash;
	unsigned char buf[16];
	long p;

	if (strlen(v) >= sizeof(a))
		return 0;
	snprintf(a, sizeof(a), "%s", v);
	if ((slash = strchr(a, '/')) == NULL)
		return 0;
	*slash++ = '\0';
	p = strtol(slash, &slash, 10);
	return *slash == '\0' && p >= 1 && p <= (fam == 4 ? 32 : 128) &&
	    inet_pton(fam == 4 ? AF_INET : AF_INET6, a, buf) == 1;
}

static int
ip_ok(const char *v, int fam)
{
	unsigned char buf[16];

	return v != NULL && inet_pton(fam == 4 ? AF_INET : AF_INET6, v,
	    buf) == 1;
}

/* --- network-config ---------------------------------------------------- */

struct net {
	int	 dhcp;
	char	 addr4[64], gw4[64], addr6[80], gw6[80];
	char	 dns[256];
};

static int
add_one_dns(struct ctx *c, struct net *n, const struct ynode *k)
{
	if (k->t != Y_STR || (!ip_ok(k->str, 4) && !ip_ok(k->str, 6)))
		return bad(c, k, "'%s' is not an IP address", k->t == Y_STR ?
		    k->str : "(a list)");
	if (strlen(n->dns) + strlen(k->str) + 2 > sizeof(n->dns))
		return bad(c, k, "too many nameservers");
	if (n->dns[0])
		strcat(n->dns, " ");
	strcat(n->dns, k->str);
	return 0;
}

/* one address or a list of them */
static int
add_dns(struct ctx *c, struct net *n, const struct ynode *v)
{
	const struct ynode *k;

	if (v == NULL)
		return 0;
	if (v->t == Y_STR)
		return add_one_dns(c, n, v);
	if (v->t != Y_SEQ)
		return bad(c, v, "nameserver addresses are a list");
	for (k = v->kids; k != NULL; k = k->next)
		if (add_one_dns(c, n, k) != 0)
			return -1;
	return 0;
}

static int
set_addr(struct ctx *c, struct net *n, const struct ynode *at,
    const char *v)
{
	int six = strchr(v, ':') != NULL;

	if (!prefix_ok(v, six ? 6 : 4))
		return bad(c, at, "'%s' is not an address with its /prefix", v);
	if (six ? n->addr6[0] != '\0' : n->addr4[0] != '\0') {
		note(c, "network-config: address %s ignored (one per family)",
		    v);
		return 0;
	}
	snprintf(six ? n->addr6 : n->addr4, six ? sizeof(n->addr6) :
	    sizeof(n->addr4), "%s", v);
	return 0;
}

static int
set_gw(struct ctx *c, struct net *n, const struct ynode *at, const char *v)
{
	int six = strchr(v, ':') != NULL;

	if (!ip_ok(v, six ? 6 : 4))
		return bad(c, at, "gateway '%s' is not an IP address", v);
	snprintf(six ? n->gw6 : n->gw4, six ? sizeof(n->gw6) : sizeof(n->gw4),
	    "%s", v);
	return 0;
}

static int
net_v2(struct ctx *c, const struct ynode *root, struct net *n)
{
	const struct ynode *eths = yaml_get(root, "ethernets"), *e, *k, *r;
	const char *v;

	if (eths == NULL || eths->t != Y_MAP || eths->kids == NULL)
		return bad(c, root, "version 2 without ethernets");
	e = eths->kids;
	for (k = e->next; k != NULL; k = k->next)
		note(c, "network-config: ethernet %s ignored (the appliance "
		    "configures one uplink)", k->key);
	for (k = root->kids; k != NULL; k = k->next)
		if (strcmp(k->key, "version") != 0 &&
		    strcmp(k->key, "ethernets") != 0 &&
		    strcmp(k->key, "renderer") != 0)
			note(c, "network-config: %s ignored", k->key);
	if (e->t != Y_MAP)
		return bad(c, e, "ethernet %s is not a mapping", e->key);
	n->dhcp = is_true(yaml_str(e, "dhcp4"));
	if ((k = yaml_get(e, "addresses")) != NULL) {
		if (k->t != Y_SEQ)
			return bad(c, k, "addresses are a list");
		for (r = k->kids; r != NULL; r = r->next)
			if (r->t != Y_STR || set_addr(c, n, r, r->str) != 0)
				return r->t != Y_STR ? bad(c, r, "an address "
				    "is a string") : -1;
	}
	if ((v = yaml_str(e, "gateway4")) != NULL && set_gw(c, n, e, v) != 0)
		return -1;
	if ((v = yaml_str(e, "gateway6")) != NULL && set_gw(c, n, e, v) != 0)
		return -1;
	if ((k = yaml_get(e, "routes")) != NULL && k->t == Y_SEQ)
		for (r = k->kids; r != NULL; r = r->next) {
			const char *to = yaml_str(r, "to"), *via =
			    yaml_str(r, "via");
			if (to != NULL && via != NULL && (strcmp(to,
			    "default") == 0 || strcmp(to, "0.0.0.0/0") == 0 ||
			    strcmp(to, "::/0") == 0)) {
				if (set_gw(c, n, r, via) != 0)
					return -1;
			} else
				note(c, "network-config: route to %s ignored "
				    "(default routes only)", to ? to : "?");
		}
	if ((k = yaml_get(e, "nameservers")) != NULL &&
	    add_dns(c, n, yaml_get(k, "addresses")) != 0)
		return -1;
	for (k = e->kids; k != NULL; k = k->next)
		if (strcmp(k->key, "dhcp4") && strcmp(k->key, "addresses") &&
		    strcmp(k->key, "gateway4") && strcmp(k->key, "gateway6") &&
		    strcmp(k->key, "routes") && strcmp(k->key, "nameservers"))
			note(c, "network-config: %s.%s ignored", e->key,
			    k->key);
	return 0;
}

/* "a.b.c.d" netmask to its prefix length, or -1 */
static int
mask_bits(const char *m)
{
	struct in_addr a;
	uint32_t v;
	int bits = 0;

	if (inet_pton(AF_INET, m, &a) != 1)
		return -1;
	v = ntohl(a.s_addr);
	while (v & 0x80000000u) {
		bits++;
		v <<= 1;
	}
	return v == 0 ? bits : -1;
}

static int
net_v1(struct ctx *c, const struct ynode *root, struct net *n)
{
	const struct ynode *cfg = yaml_get(root, "config"), *e, *sn, *k;
	int physical = 0;

	if (cfg == NULL || cfg->t != Y_SEQ)
		return bad(c, root, "version 1 without a config list");
	for (e = cfg->kids; e != NULL; e = e->next) {
		const char *type = yaml_str(e, "type");
		if (type != NULL && strcmp(type, "nameserver") == 0) {
			if (add_dns(c, n, yaml_get(e, "address")) != 0)
				return -1;
			continue;
		}
		if (type == NULL || strcmp(type, "physical") != 0 ||
		    physical++) {
			note(c, "network-config: a %s entry ignored",
			    type ? type : "typeless");
			continue;
		}
		if ((sn = yaml_get(e, "subnets")) == NULL || sn->t != Y_SEQ)
			continue;
		for (k = sn->kids; k != NULL; k = k->next) {
			const char *st = yaml_str(k, "type"), *a =
			    yaml_str(k, "address"), *m = yaml_str(k, "netmask"),
			    *gw = yaml_str(k, "gateway");
			char addr[96];

			if (st != NULL && (strcmp(st, "dhcp") == 0 ||
			    strcmp(st, "dhcp4") == 0)) {
				n->dhcp = 1;
				continue;
			}
			if (st == NULL || (strcmp(st, "static") != 0 &&
			    strcmp(st, "static6") != 0) || a == NULL) {
				note(c, "network-config: a %s subnet ignored",
				    st ? st : "typeless");
				continue;
			}
			if (m != NULL && strchr(a, '/') == NULL) {
				if (mask_bits(m) < 1)
					return bad(c, k, "netmask '%s' is not a "
					    "netmask", m);
				snprintf(addr, sizeof(addr), "%s/%d", a,
				    mask_bits(m));
			} else
				snprintf(addr, sizeof(addr), "%s", a);
			if (set_addr(c, n, k, addr) != 0 || (gw != NULL &&
			    set_gw(c, n, k, gw) != 0) || add_dns(c, n,
			    yaml_get(k, "dns_nameservers")) != 0)
				return -1;
		}
	}
	return 0;
}

/* network.conf as setup writes it */
static int
net_file(struct ctx *c, const struct net *n)
{
	char out[1024];
	int o;

	if (!n->dhcp && n->addr4[0] == '\0')
		return bad(c, NULL, "neither DHCP nor a static IPv4 address");
	o = snprintf(out, sizeof(out), "# /etc/mxgate/network.conf — from "
	    "%s (mxgatectl seed)\nMODE=%s\nIFACE=auto\n", c->from,
	    n->dhcp ? "dhcp" : "static");
	if (!n->dhcp)
		o += snprintf(out + o, sizeof(out) - (size_t)o,
		    "ADDRESS=%s\nGATEWAY=%s\n", n->addr4, n->gw4);
	if (n->dns[0])
		o += snprintf(out + o, sizeof(out) - (size_t)o, "DNS=\"%s\"\n",
		    n->dns);
	if (n->addr6[0])
		snprintf(out + o, sizeof(out) - (size_t)o,
		    "ADDRESS6=%s\nGATEWAY6=%s\n", n->addr6, n->gw6);
	return add_file(c, NULL, "network.conf", out);
}

static int
read_network(struct ctx *c, const char *text, size_t len)
{
	struct ynode *doc;
	const struct ynode *root;
	struct net n;
	char out[1024];
	const char *ver;
	int rc;

	c->doc = "network-config";
	memset(&n, 0, sizeof(n));
	if (yaml_parse(text, len, &doc, out, sizeof(out)) != 0)
		return bad(c, NULL, "%s", out);
	root = yaml_get(doc, "network") ? yaml_get(doc, "network") : doc;
	ver = yaml_str(root, "version");
	if (ver != NULL && strcmp(ver, "2") == 0)
		rc = net_v2(c, root, &n);
	else if (ver != NULL && strcmp(ver, "1") == 0)
		rc = net_v1(c, root, &n);
	else
		rc = bad(c, root, "version 1 or 2 expected");
	yaml_free(doc);
	if (rc != 0)
		return -1;
	return net_file(c, &n);
}

/* --- user-data ------------------------------------------------------------ */

static int
hash_ok(const char *h)
{
	size_t i;

	if (strncmp(h, "$6$", 3) != 0 || strlen(h) < 3 + 1 + 1 + 86 ||
	    strlen(h) >= sizeof(((struct seed_user *)0)->hash))
		return 0;
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' &&
		    h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		    strchr("./$=", h[i]) != NULL))
			return 0;
	return 1;
}

static int
in_groups(const struct ynode *g, const char *name)
{
	const struct ynode *k;
	const char *p;
	size_t n = strlen(name);

	if (g == NULL)
		return 0;
	if (g->t == Y_STR) {
		for (p = g->str; (p = strstr(p, name)) != NULL; p += n)
			if ((p == g->str || p[-1] == ',' || p[-1] == ' ') &&
			    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
				return 1;
		return 0;
	}
	for (k = g->kids; k != NULL; k = k->next)
		if (k->t == Y_STR && strcmp(k->str, name) == 0)
			return 1;
	return 0;
}

static int
read_users(struct ctx *c, const struct ynode *list)
{
	const struct ynode *u, *k, *g;
	const char *v;

	if (list->t != Y_SEQ)
		return bad(c, list, "users is a list");
	for (u = list->kids; u != NULL; u = u->next) {
		struct seed_user *su;

		if (u->t == Y_STR) {
			note(c, "user-data: users entry '%s' ignored "
			    "(accounts are named here)", u->str);
			continue;
		}
		if ((v = yaml_str(u, "name")) == NULL || !account_name_valid(v))
			return bad(c, u, "a user needs a name: a lower-case "
			    "letter or _, then letters, digits, _ or -");
		if (c->s->nusers >= SEED_MAX_USERS)
			return bad(c, u, "more than %d users", SEED_MAX_USERS);
		if (yaml_get(u, "plain_text_passwd") != NULL)
			return bad(c, u, "%s: a plain-text password; give a "
			    "SHA-512 crypt hash (mkpasswd -m sha-512)", v);
		su = &c->s->users[c->s->nusers++];
		snprintf(su->name, sizeof(su->name), "%s", v);
		v = yaml_str(u, "passwd") ? yaml_str(u, "passwd") :
		    yaml_str(u, "hashed_passwd");
		if (v != NULL && !hash_ok(v))
			return bad(c, u, "%s: the password is no SHA-512 crypt "
			    "hash ($6$...)", su->name);
		if (v != NULL)
			snprintf(su->hash, sizeof(su->hash), "%s", v);
		else
			note(c, "user-data: %s has no password: locked until "
			    "mxgatectl user passwd", su->name);
		g = yaml_get(u, "groups");
		su->admin = in_groups(g, "mxadmin") || in_groups(g, "admin") ||
		    in_groups(g, "sudo") || in_groups(g, "wheel");
		for (k = u->kids; k != NULL; k = k->next)
			if (strcmp(k->key, "name") && strcmp(k->key, "passwd") &&
			    strcmp(k->key, "hashed_passwd") &&
			    strcmp(k->key, "groups") &&
			    strcmp(k->key, "lock_passwd"))
				note(c, "user-data: %s: %s ignored", su->name,
				    k->key);
	}
	return 0;
}

static int
read_ntp(struct ctx *c, const struct ynode *ntp)
{
	const char *lists[] = { "servers", "pools" };
	const struct ynode *l, *k;
	char out[1024];
	size_t i;
	int o;

	if (ntp->t != Y_MAP)
		return bad(c, ntp, "ntp is a mapping");
	o = snprintf(out, sizeof(out), "# /etc/mxgate/ntp.conf — from %s "
	    "(mxgatectl seed)\n", c->from);
	if (is_false(yaml_str(ntp, "enabled")))
		return add_file(c, ntp, "ntp.conf", strcat(out, "server none\n"));
	for (i = 0; i < 2; i++) {
		if ((l = yaml_get(ntp, lists[i])) == NULL)
			continue;
		if (l->t != Y_SEQ)
			return bad(c, l, "ntp %s is a list", lists[i]);
		for (k = l->kids; k != NULL; k = k->next) {
			if (k->t != Y_STR || (!addr_domain_valid(k->str) &&
			    !ip_ok(k->str, 6)))
				return bad(c, k, "an NTP server is a name or "
				    "an address");
			o += snprintf(out + o, sizeof(out) - (size_t)o,
			    "server %s\n", k->str);
			if ((size_t)o >= sizeof(out))
				return bad(c, k, "too many NTP servers");
		}
	}
	return add_file(c, ntp, "ntp.conf", out);
}

static int
read_write_files(struct ctx *c, const struct ynode *list)
{
	static const char *allowed[] = { "mailboxes", "network.conf",
	    "ntp.conf", "mxgate.conf", "log-archive-key.pem" };
	const struct ynode *f, *k;
	const char *path, *content, *enc;
	size_t i;

	if (list->t != Y_SEQ)
		return bad(c, list, "write_files is a list");
	for (f = list->kids; f != NULL; f = f->next) {
		if ((path = yaml_str(f, "path")) == NULL)
			return bad(c, f, "a file without a path");
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (strncmp(path, "/etc/mxgate/", 12) == 0 &&
			    strcmp(path + 12, allowed[i]) == 0)
				break;
		if (i == sizeof(allowed) / sizeof(allowed[0]))
			return bad(c, f, "%s: only /etc/mxgate/mailboxes, "
			    "network.conf, ntp.conf, mxgate.conf and "
			    "log-archive-key.pem may be written", path);
		enc = yaml_str(f, "encoding");
		if (enc != NULL && strcmp(enc, "text/plain") != 0)
			return bad(c, f, "%s: encoding %s is not taken (plain "
			    "text only)", path, enc);
		content = yaml_str(f, "content");
		if (add_file(c, f, path + 12, content ? content : "") != 0)
			return -1;
		for (k = f->kids; k != NULL; k = k->next)
			if (strcmp(k->key, "path") && strcmp(k->key, "content") &&
			    strcmp(k->key, "encoding"))
				note(c, "user-data: %s: %s ignored", path,
				    k->key);
	}
	return 0;
}

static int
read_user(struct ctx *c, const char *text, size_t len)
{
	struct ynode *doc;
	const struct ynode *k;
	const char *h;
	char err[256];
	int rc = 0;

	c->doc = "user-data";
	if (len < 13 || strncmp(text, "#cloud-config", 13) != 0 ||
	    (len > 13 && text[13] != '\n' && text[13] != '\r' &&
	    text[13] != ' ')) {
		note(c, "user-data is no #cloud-config: ignored (nothing in "
		    "a seed is ever run)");
		return 0;
	}
	if (yaml_parse(text, len, &doc, err, sizeof(err)) != 0)
		return bad(c, NULL, "%s", err);
	h = yaml_str(doc, "fqdn") ? yaml_str(doc, "fqdn") :
	    yaml_str(doc, "hostname");
	if (h != NULL) {
		if (!addr_domain_valid(h))
			rc = bad(c, yaml_get(doc, "hostname"), "'%s' is not a "
			    "host name", h);
		else
			snprintf(c->s->hostname, sizeof(c->s->hostname), "%s",
			    h);
	}
	for (k = doc->kids; rc == 0 && k != NULL; k = k->next) {
		if (strcmp(k->key, "hostname") == 0 ||
		    strcmp(k->key, "fqdn") == 0)
			continue;
		if (strcmp(k->key, "users") == 0)
			rc = read_users(c, k);
		else if (strcmp(k->key, "ntp") == 0)
			rc = read_ntp(c, k);
		else if (strcmp(k->key, "write_files") == 0)
			rc = read_write_files(c, k);
		else if (strcmp(k->key, "mxgate") == 0) {
			if (k->t != Y_STR)
				rc = bad(c, k, "mxgate: holds mxgate.conf as a "
				    "block (mxgate: |)");
			else
				rc = add_file(c, k, "mxgate.conf", k->str);
		} else
			note(c, "user-data: %s ignored", k->key);
	}
	yaml_free(doc);
	return rc;
}

/* --- the seed ----------------------------------------------------------------- */

int
seed_read(const char *meta, size_t meta_len, const char *user,
    size_t user_len, const char *net, size_t net_len, struct seed *s,
    char *err, size_t errlen)
{
	struct ctx c = { s, err, errlen, "meta-data", "a cloud-init seed" };
	struct ynode *doc;
	const char *v;
	char e[256];

	memset(s, 0, sizeof(*s));
	if (yaml_parse(meta, meta_len, &doc, e, sizeof(e)) != 0)
		return bad(&c, NULL, "%s", e);
	v = yaml_str(doc, "instance-id");
	if (v == NULL || !instance_ok(v, sizeof(s->instance_id))) {
		yaml_free(doc);
		return bad(&c, NULL, "no instance-id (one word)");
	}
	snprintf(s->instance_id, sizeof(s->instance_id), "%s", v);
	if ((v = yaml_str(doc, "local-hostname")) != NULL && addr_domain_valid(v))
		snprintf(s->hostname, sizeof(s->hostname), "%s", v);
	yaml_free(doc);
	if ((net != NULL && net_len > 0 && read_network(&c, net, net_len) !=
	    0) || (user != NULL && read_user(&c, user, user_len) != 0)) {
		seed_free(s);
		return -1;
	}
	return 0;
}

/* --- an OVF environment (ovf-env.xml) --------------------------------------- */

enum {
	P_INSTANCE, P_HOSTNAME, P_MODE, P_ADDR, P_GW, P_DNS, P_ADDR6, P_GW6,
	P_NTP, P_DOMAIN, P_SERVERS, P_TLS, P_POSTMASTER, P_ADMIN_HASH, P_MAX
};

/* the keys the OVA declares (image/mxgate.ovf.in), in that order */
static const char *const ovf_keys[P_MAX] = {
	"instance-id", "hostname", "network.mode", "network.address",
	"network.gateway", "network.dns", "network.address6",
	"network.gateway6", "ntp.servers", "mxgate.domain", "mxgate.servers",
	"mxgate.tls", "mxgate.postmaster", "admin.password_hash"
};

/* 64-bit FNV-1a: names a set of properties (not a security property) */
static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Each word of list (blanks or commas between) is what ok() checks, at
 * most max of them: their number, or -1. */
static int
words_ok(struct ctx *c, const char *key, const char *list, int max,
    int (*ok)(const char *), const char *what)
{
	char buf[512], *w, *save = NULL;
	int n = 0;

	if (strlen(list) >= sizeof(buf))
		return bad(c, NULL, "%s is too long", key);
	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " ,", &save); w != NULL;
	    w = strtok_r(NULL, " ,", &save)) {
		if (++n > max)
			return bad(c, NULL, "%s: more than %d", key, max);
		if (!ok(w))
			return bad(c, NULL, "%s: '%s' is not %s", key, w, what);
	}
	return n;
}

static int
dns_ok(const char *w)
{
	return ip_ok(w, 4) || ip_ok(w, 6);
}

static int
ntp_ok(const char *w)
{
	return addr_domain_valid(w) || ip_ok(w, 4) || ip_ok(w, 6);
}

static int
server_ok(const char *w)
{
	struct sockaddr_storage ss;
	char why[128];

	return net_parse_endpoint(w, 25, &ss, why, sizeof(why)) == 0;
}

/* "a, b c" -> "a b c" (the words already checked) */
static void
words_join(const char *list, char *out, size_t size)
{
	char buf[512], *w, *save = NULL;

	out[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " ,", &save); w != NULL;
	    w = strtok_r(NULL, " ,", &save)) {
		if (out[0] && strlen(out) + 1 < size)
			strcat(out, " ");
		if (strlen(out) + strlen(w) < size)
			strcat(out, w);
	}
}

static int
ovf_network(struct ctx *c, const char *const *v)
{
	struct net n;
	const char *mode = v[P_MODE];

	memset(&n, 0, sizeof(n));
	if (mode == NULL)
		mode = v[P_ADDR] != NULL ? "static" : "dhcp";
	if (strcmp(mode, "dhcp") != 0 && strcmp(mode, "static") != 0)
		return bad(c, NULL, "network.mode is dhcp or static, not '%s'",
		    mode);
	n.dhcp = strcmp(mode, "dhcp") == 0;
	if (!n.dhcp && (v[P_ADDR] == NULL || !prefix_ok(v[P_ADDR], 4)))
		return bad(c, NULL, "network.address: an IPv4 address with its "
		    "/prefix is needed for a static address");
	if (v[P_GW] != NULL && !ip_ok(v[P_GW], 4))
		return bad(c, NULL, "network.gateway: '%s' is not an IPv4 "
		    "address", v[P_GW]);
	if (v[P_ADDR6] != NULL && !prefix_ok(v[P_ADDR6], 6))
		return bad(c, NULL, "network.address6: '%s' is not an IPv6 "
		    "address with its /prefix", v[P_ADDR6]);
	if (v[P_GW6] != NULL && !ip_ok(v[P_GW6], 6))
		return bad(c, NULL, "network.gateway6: '%s' is not an IPv6 "
		    "address", v[P_GW6]);
	if (v[P_DNS] != NULL && words_ok(c, "network.dns", v[P_DNS], 3,
	    dns_ok, "an IP address") < 0)
		return -1;
	if (!n.dhcp)
		snprintf(n.addr4, sizeof(n.addr4), "%s", v[P_ADDR]);
	snprintf(n.gw4, sizeof(n.gw4), "%s", v[P_GW] ? v[P_GW] : "");
	snprintf(n.addr6, sizeof(n.addr6), "%s", v[P_ADDR6] ? v[P_ADDR6] : "");
	snprintf(n.gw6, sizeof(n.gw6), "%s", v[P_GW6] ? v[P_GW6] : "");
	if (v[P_DNS] != NULL)
		words_join(v[P_DNS], n.dns, sizeof(n.dns));
	return net_file(c, &n);
}

static int
ovf_relay(struct ctx *c, const char *const *v)
{
	char out[4096], servers[512], domains[512], pm[320];
	char *w, *save = NULL;
	const char *tls = v[P_TLS] ? v[P_TLS] : "may", *at;
	int o;

	if ((v[P_DOMAIN] == NULL) != (v[P_SERVERS] == NULL))
		return bad(c, NULL, "mxgate.domain and mxgate.servers go "
		    "together");
	if (v[P_DOMAIN] == NULL) {
		if (v[P_TLS] || v[P_POSTMASTER])
			note(c, "ovf-env.xml: mxgate.tls and mxgate.postmaster "
			    "ignored without mxgate.domain");
		return 0;
	}
	if (words_ok(c, "mxgate.domain", v[P_DOMAIN], 16, addr_domain_valid,
	    "a domain") < 0 || words_ok(c, "mxgate.servers", v[P_SERVERS], 8,
	    server_ok, "an IP address with an optional :PORT") < 0)
		return -1;
	if (strcmp(tls, "none") && strcmp(tls, "may") &&
	    strcmp(tls, "encrypt") && strcmp(tls, "verify"))
		return bad(c, NULL, "mxgate.tls is none, may, encrypt or "
		    "verify, not '%s'", tls);
	words_join(v[P_DOMAIN], domains, sizeof(domains));
	words_join(v[P_SERVERS], servers, sizeof(servers));
	if (v[P_POSTMASTER] != NULL) {
		at = strchr(v[P_POSTMASTER], '@');
		if (at == NULL || at == v[P_POSTMASTER] ||
		    strspn(v[P_POSTMASTER], "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-") !=
		    (size_t)(at - v[P_POSTMASTER]) ||
		    !addr_domain_valid(at + 1) || strlen(v[P_POSTMASTER]) >=
		    sizeof(pm))
			return bad(c, NULL, "mxgate.postmaster: '%s' is not a "
			    "mail address", v[P_POSTMASTER]);
		snprintf(pm, sizeof(pm), "%s", v[P_POSTMASTER]);
	} else
		snprintf(pm, sizeof(pm), "postmaster@%.*s",
		    (int)strcspn(domains, " "), domains);
	o = snprintf(out, sizeof(out), "# /etc/mxgate/mxgate.conf — from %s "
	    "(mxgatectl seed); every directive in mxgate.conf(5)\n", c->from);
	if (c->s->hostname[0])
		o += snprintf(out + o, sizeof(out) - (size_t)o, "hostname %s\n",
		    c->s->hostname);
	o += snprintf(out + o, sizeof(out) - (size_t)o, "listen 0.0.0.0:25\n%s",
	    v[P_ADDR6] ? "listen [::]:25\n" : "");
	for (w = strtok_r(domains, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		o += snprintf(out + o, sizeof(out) - (size_t)o,
		    "route %s %s tls %s\n", w, servers, tls);
	snprintf(out + o, sizeof(out) - (size_t)o, "postmaster %s\n", pm);
	c->s->conf_setup = 1;
	return add_file(c, NULL, "mxgate.conf", out);
}

/* The PropertySection's values into v (NULL: not given or empty); the
 * instance-id, when none is given, is named after them. */
static int
ovf_properties(struct ctx *c, const struct xnode *env, const char **v)
{
	const struct xnode *sec, *p;
	uint64_t h = 14695981039346656037ull;
	const char *k, *val;
	int i;

	for (sec = env->kids; sec != NULL; sec = sec->next) {
		if (strcmp(xml_local(sec->name), "PropertySection") != 0) {
			note(c, "ovf-env.xml: %s ignored", xml_local(sec->name));
			continue;
		}
		for (p = sec->kids; p != NULL; p = p->next) {
			k = xml_attr(p, "key");
			val = xml_attr(p, "value");
			if (strcmp(xml_local(p->name), "Property") != 0 ||
			    k == NULL || val == NULL) {
				c->doc = "ovf-env.xml";
				return bad(c, NULL, "line %d: a <Property> with "
				    "a key and a value expected", p->line);
			}
			h = fnv(fnv(fnv(fnv(h, k), "="), val), "\n");
			for (i = 0; i < P_MAX && strcmp(k, ovf_keys[i]); i++)
				;
			if (i == P_MAX) {
				note(c, "ovf-env.xml: property %s ignored", k);
				continue;
			}
			if (v[i] != NULL)
				return bad(c, NULL, "line %d: property %s "
				    "twice", p->line, k);
			while (*val == ' ')
				val++;
			v[i] = *val != '\0' ? val : NULL;
		}
	}
	if (v[P_INSTANCE] == NULL)
		snprintf(c->s->instance_id, sizeof(c->s->instance_id),
		    "ovf-%016llx", (unsigned long long)h);
	else if (!instance_ok(v[P_INSTANCE], sizeof(c->s->instance_id)))
		return bad(c, NULL, "instance-id is one word");
	else
		snprintf(c->s->instance_id, sizeof(c->s->instance_id), "%s",
		    v[P_INSTANCE]);
	return 0;
}

int
seed_read_ovf(const char *xml, size_t len, struct seed *s, char *err,
    size_t errlen)
{
	struct ctx c = { s, err, errlen, "ovf-env.xml",
	    "an OVF environment" };
	const char *v[P_MAX] = { NULL };
	struct xnode *env;
	char e[256];
	int rc, i, net = 0;

	memset(s, 0, sizeof(*s));
	if (xml_parse(xml, len, &env, e, sizeof(e)) != 0)
		return bad(&c, NULL, "%s", e);
	if (strcmp(xml_local(env->name), "Environment") != 0) {
		bad(&c, NULL, "the root element is <%s>, not <Environment>",
		    env->name);
		xml_free(env);
		return -1;
	}
	rc = ovf_properties(&c, env, v);
	for (i = P_MODE; i <= P_GW6; i++)
		net |= v[i] != NULL;
	if (rc == 0 && v[P_HOSTNAME] != NULL) {
		if (!addr_domain_valid(v[P_HOSTNAME]) ||
		    strlen(v[P_HOSTNAME]) >= sizeof(s->hostname))
			rc = bad(&c, NULL, "hostname: '%s' is not a host name",
			    v[P_HOSTNAME]);
		else
			snprintf(s->hostname, sizeof(s->hostname), "%s",
			    v[P_HOSTNAME]);
	}
	if (rc == 0 && net)
		rc = ovf_network(&c, v);
	if (rc == 0 && v[P_NTP] != NULL) {
		char out[1024], list[512], *w, *save = NULL;
		int o;

		if (strcmp(v[P_NTP], "none") == 0)
			snprintf(list, sizeof(list), "none");
		else if (words_ok(&c, "ntp.servers", v[P_NTP], 8, ntp_ok,
		    "a name or an address") < 0)
			rc = -1;
		else
			words_join(v[P_NTP], list, sizeof(list));
		o = snprintf(out, sizeof(out), "# /etc/mxgate/ntp.conf — from "
		    "an OVF environment (mxgatectl seed)\n");
		for (w = strtok_r(list, " ", &save); rc == 0 && w != NULL;
		    w = strtok_r(NULL, " ", &save))
			o += snprintf(out + o, sizeof(out) - (size_t)o,
			    "server %s\n", w);
		if (rc == 0)
			rc = add_file(&c, NULL, "ntp.conf", out);
	}
	if (rc == 0)
		rc = ovf_relay(&c, v);
	if (rc == 0 && v[P_ADMIN_HASH] != NULL) {
		if (!hash_ok(v[P_ADMIN_HASH]))
			rc = bad(&c, NULL, "admin.password_hash is no SHA-512 "
			    "crypt hash ($6$...)");
		else {
			snprintf(s->users[0].name, sizeof(s->users[0].name),
			    "admin");
			snprintf(s->users[0].hash, sizeof(s->users[0].hash),
			    "%s", v[P_ADMIN_HASH]);
			s->users[0].admin = 1;
			s->nusers = 1;
		}
	}
	xml_free(env);
	if (rc != 0)
		seed_free(s);
	return rc;
}

/* --- an OpenStack config drive (config-2) ------------------------------------ */

/* An IPv6 netmask ("ffff:ffff:ffff:ffff::") to its prefix length, or -1. */
static int
mask6_bits(const char *m)
{
	unsigned char a[16];
	int i, bits = 0, b;

	if (inet_pton(AF_INET6, m, a) != 1)
		return -1;
	for (i = 0; i < 16; i++)
		for (b = 7; b >= 0; b--) {
			if (a[i] & (1 << b)) {
				if (bits != i * 8 + (7 - b))
					return -1;	/* not contiguous */
				bits++;
			}
		}
	return bits;
}

/* One ipv4 or ipv6 network of network_data.json into n. */
static int
c2_static(struct ctx *c, struct net *n, const struct ynode *nw, int six)
{
	const struct ynode *routes, *r, *svc;
	const char *ip = yaml_str(nw, "ip_address"), *mask =
	    yaml_str(nw, "netmask"), *dst, *gw;
	char addr[96];
	int bits;

	if (ip == NULL)
		return bad(c, nw, "a network without ip_address");
	if (strchr(ip, '/') != NULL || mask == NULL)
		snprintf(addr, sizeof(addr), "%s", ip);
	else {
		bits = six ? (strchr(mask, ':') ? mask6_bits(mask) :
		    atoi(mask)) : mask_bits(mask);
		if (bits < 1 || bits > (six ? 128 : 32))
			return bad(c, nw, "netmask '%s' is not a netmask", mask);
		snprintf(addr, sizeof(addr), "%s/%d", ip, bits);
	}
	if (set_addr(c, n, nw, addr) != 0)
		return -1;
	routes = yaml_get(nw, "routes");
	for (r = routes && routes->t == Y_SEQ ? routes->kids : NULL; r != NULL;
	    r = r->next) {
		dst = yaml_str(r, "network");
		gw = yaml_str(r, "gateway");
		if (dst != NULL && gw != NULL && (strcmp(dst, "0.0.0.0") == 0 ||
		    strcmp(dst, "::") == 0)) {
			if (set_gw(c, n, r, gw) != 0)
				return -1;
		} else
			note(c, "network_data.json: route to %s ignored "
			    "(default routes only)", dst ? dst : "?");
	}
	svc = yaml_get(nw, "services");
	for (r = svc && svc->t == Y_SEQ ? svc->kids : NULL; r != NULL;
	    r = r->next)
		if (yaml_str(r, "type") && strcmp(yaml_str(r, "type"), "dns") ==
		    0 && add_dns(c, n, yaml_get(r, "address")) != 0)
			return -1;
	return 0;
}

static int
c2_network(struct ctx *c, const char *text, size_t len)
{
	struct ynode *doc;
	const struct ynode *nets, *k, *svc;
	struct net n;
	const char *type;
	char e[256];
	int four = 0, six = 0, rc = 0;

	c->doc = "network_data.json";
	memset(&n, 0, sizeof(n));
	if (json_parse(text, len, &doc, e, sizeof(e)) != 0)
		return bad(c, NULL, "%s", e);
	nets = yaml_get(doc, "networks");
	for (k = nets && nets->t == Y_SEQ ? nets->kids : NULL; rc == 0 &&
	    k != NULL; k = k->next) {
		type = yaml_str(k, "type") ? yaml_str(k, "type") : "typeless";
		if (strcmp(type, "ipv4_dhcp") == 0 && !four) {
			four = n.dhcp = 1;
		} else if (strcmp(type, "ipv4") == 0 && !four) {
			four = 1;
			rc = c2_static(c, &n, k, 0);
		} else if (strcmp(type, "ipv6") == 0 && !six) {
			six = 1;
			rc = c2_static(c, &n, k, 1);
		} else
			note(c, "network_data.json: a %s network ignored (the "
			    "appliance configures one uplink: DHCP or static "
			    "IPv4, static IPv6)", type);
	}
	svc = yaml_get(doc, "services");
	for (k = svc && svc->t == Y_SEQ ? svc->kids : NULL; rc == 0 &&
	    k != NULL; k = k->next)
		if (yaml_str(k, "type") && strcmp(yaml_str(k, "type"), "dns") ==
		    0)
			rc = add_dns(c, &n, yaml_get(k, "address"));
	yaml_free(doc);
	if (rc != 0)
		return -1;
	if (!four && !six)
		return 0;	/* nothing said: the network stays as it is */
	if (!four)
		n.dhcp = 1;
	return net_file(c, &n);
}

int
seed_read_config2(const char *meta, size_t meta_len, const char *user,
    size_t user_len, const char *net, size_t net_len, struct seed *s,
    char *err, size_t errlen)
{
	/* what Nova always writes and the appliance has no use for */
	static const char *const quiet[] = { "uuid", "hostname", "name",
	    "launch_index", "availability_zone", "project_id", "random_seed",
	    "devices", "dedicated_cpus", NULL };
	struct ctx c = { s, err, errlen, "meta_data.json",
	    "an OpenStack config drive" };
	struct ynode *doc;
	const struct ynode *k;
	const char *v;
	char e[256];
	int i;

	memset(s, 0, sizeof(*s));
	if (json_parse(meta, meta_len, &doc, e, sizeof(e)) != 0)
		return bad(&c, NULL, "%s", e);
	if (doc->t != Y_MAP || (v = yaml_str(doc, "uuid")) == NULL ||
	    !instance_ok(v, sizeof(s->instance_id))) {
		yaml_free(doc);
		return bad(&c, NULL, "no uuid (the instance-id)");
	}
	snprintf(s->instance_id, sizeof(s->instance_id), "%s", v);
	if ((v = yaml_str(doc, "hostname")) != NULL && addr_domain_valid(v))
		snprintf(s->hostname, sizeof(s->hostname), "%s", v);
	for (k = doc->kids; k != NULL; k = k->next) {
		for (i = 0; quiet[i] != NULL && strcmp(quiet[i], k->key); i++)
			;
		if (quiet[i] != NULL)
			continue;
		if (strcmp(k->key, "admin_pass") == 0)
			note(&c, "meta_data.json: admin_pass ignored (a "
			    "clear-text password is never taken: give a hash "
			    "in user_data)");
		else
			note(&c, "meta_data.json: %s ignored", k->key);
	}
	yaml_free(doc);
	if ((net != NULL && net_len > 0 && c2_network(&c, net, net_len) !=
	    0) || (user != NULL && read_user(&c, user, user_len) != 0)) {
		seed_free(s);
		return -1;
	}
	return 0;
}
