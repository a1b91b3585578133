/*
 * seed.c — see seed.h. Reads the three documents with yaml.c and checks
 * every value it keeps (addresses with inet_pton, names by their
 * grammar, password hashes by their form); what it writes is the same
 * text setup writes, so the relay's own check (`mxgate -n`, at the
 * commit) has the last word on mxgate.conf.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "seed.h"
#include "util.h"
#include "yaml.h"

struct ctx {
	struct seed	*s;
	char		*err;
	size_t		 errlen;
	const char	*doc;	/* which file, for messages */
};

static int
bad(struct ctx *c, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, c->errlen, at ? "%s: line %d: " : "%s: ",
	    c->doc, at ? at->line : 0);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
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

static int
read_network(struct ctx *c, const char *text, size_t len)
{
	struct ynode *doc;
	const struct ynode *root;
	struct net n;
	char out[1024];
	const char *ver;
	int rc, o;

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
	if (!n.dhcp && n.addr4[0] == '\0')
		return bad(c, NULL, "neither DHCP nor a static IPv4 address");
	o = snprintf(out, sizeof(out), "# /etc/mxgate/network.conf — from a "
	    "cloud-init seed (mxgatectl seed)\nMODE=%s\nIFACE=auto\n",
	    n.dhcp ? "dhcp" : "static");
	if (!n.dhcp)
		o += snprintf(out + o, sizeof(out) - (size_t)o,
		    "ADDRESS=%s\nGATEWAY=%s\n", n.addr4, n.gw4);
	if (n.dns[0])
		o += snprintf(out + o, sizeof(out) - (size_t)o, "DNS=\"%s\"\n",
		    n.dns);
	if (n.addr6[0])
		snprintf(out + o, sizeof(out) - (size_t)o,
		    "ADDRESS6=%s\nGATEWAY6=%s\n", n.addr6, n.gw6);
	return add_file(c, NULL, "network.conf", out);
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
	o = snprintf(out, sizeof(out), "# /etc/mxgate/ntp.conf — from a "
	    "cloud-init seed (mxgatectl seed)\n");
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
	struct ctx c = { s, err, errlen, "meta-data" };
	struct ynode *doc;
	const char *v;
	char e[256];

	memset(s, 0, sizeof(*s));
	if (yaml_parse(meta, meta_len, &doc, e, sizeof(e)) != 0)
		return bad(&c, NULL, "%s", e);
	v = yaml_str(doc, "instance-id");
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof(s->instance_id) ||
	    strpbrk(v, " \t\n/") != NULL) {
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
