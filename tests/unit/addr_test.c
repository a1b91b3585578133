/*
 * addr_test.c — strict envelope path parsing: every addr_status with the
 * inputs that produce it (the open-relay tricks among them), the parsed
 * fields of accepted paths, the length limits at their exact edges, and
 * domain name validation.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "tap.h"
#include "util.h"

static enum addr_status
parse(const char *s, int allow_null, struct smtp_path *p, size_t *used)
{
	size_t u = 0;
	enum addr_status st = addr_parse_path(s, strlen(s), allow_null, p, &u);

	if (used)
		*used = u;
	return st;
}

static void
test_status(void)
{
	static const struct {
		const char		*in;
		enum addr_status	 want;
	} v[] = {
		{ "<alice@example.test>",		ADDR_OK },
		{ "<Alice.B+tag@Example.TEST>",		ADDR_OK },
		{ "<\"alice\"@example.test>",		ADDR_OK },
		{ "<user@[192.0.2.1]>",			ADDR_OK },	/* never routed */
		{ "<user@[IPv6:2001:db8::1]>",		ADDR_OK },
		{ "alice@example.test",			ADDR_SYNTAX },
		{ "<alice@example.test",		ADDR_SYNTAX },
		{ "<",					ADDR_SYNTAX },
		{ "",					ADDR_SYNTAX },
		{ "<.alice@example.test>",		ADDR_SYNTAX },
		{ "<alice.@example.test>",		ADDR_SYNTAX },
		{ "<al..ice@example.test>",		ADDR_SYNTAX },
		{ "<al ice@example.test>",		ADDR_SYNTAX },
		{ "<al(ice)@example.test>",		ADDR_SYNTAX },
		{ "<@example.test>",			ADDR_SOURCE_ROUTE },
		{ "<al\tice@example.test>",		ADDR_SYNTAX },
		{ "<\"alice@example.test>",		ADDR_SYNTAX },
		{ "<a\"b\"@example.test>",		ADDR_SYNTAX },
		{ "<@a.test,@b.test:user@example.test>", ADDR_SOURCE_ROUTE },
		{ "<@a.test:user@example.test>",	ADDR_SOURCE_ROUTE },
		{ "<user:x@example.test>",		ADDR_SOURCE_ROUTE },
		{ "<user%evil.test@example.test>",	ADDR_PERCENT },
		{ "<evil.test!user@example.test>",	ADDR_BANG },
		{ "<user@example.test@evil.test>",	ADDR_MULTI_AT },
		{ "<user@@example.test>",		ADDR_MULTI_AT },
		{ "<\"a\"@b@example.test>",		ADDR_MULTI_AT },
		{ "<\"user@evil.test\"@example.test>",	ADDR_QUOTED_HIDDEN },
		{ "<\"user%evil.test\"@example.test>",	ADDR_QUOTED_HIDDEN },
		{ "<\"evil!user\"@example.test>",	ADDR_QUOTED_HIDDEN },
		{ "<\"us er\"@example.test>",		ADDR_QUOTED_HIDDEN },
		{ "<\"a\\@b\"@example.test>",		ADDR_QUOTED_HIDDEN },
		{ "<\"a\\\\b\"@example.test>",		ADDR_QUOTED_HIDDEN },
		{ "<j\xc3\xb6rg@example.test>",		ADDR_NON_ASCII },
		{ "<alice@ex\xc3\xa4mple.test>",	ADDR_NON_ASCII },
		{ "<alice>",				ADDR_NO_DOMAIN },
		{ "<alice@>",				ADDR_NO_DOMAIN },
		{ "<\"alice\">",			ADDR_NO_DOMAIN },
		{ "<alice@example.test.>",		ADDR_BAD_DOMAIN },
		{ "<alice@.example.test>",		ADDR_BAD_DOMAIN },
		{ "<alice@example..test>",		ADDR_BAD_DOMAIN },
		{ "<alice@-example.test>",		ADDR_BAD_DOMAIN },
		{ "<alice@example-.test>",		ADDR_BAD_DOMAIN },
		{ "<alice@exa_mple.test>",		ADDR_BAD_DOMAIN },
		{ "<alice@example.test%evil.test>",	ADDR_BAD_DOMAIN },
		{ "<alice@example.test!evil>",		ADDR_BAD_DOMAIN },
		{ "<alice@[1.2.3.4>",			ADDR_BAD_DOMAIN },
		{ "<alice@[]>",				ADDR_BAD_DOMAIN },
		{ "<alice@[1.2 3.4]>",			ADDR_BAD_DOMAIN },
		/* an escaped byte is checked like any other */
		{ "<\"a\\\x1b" "b\"@customer.example>",	ADDR_SYNTAX },
		{ "<\"a\\\x7f" "b\"@customer.example>",	ADDR_SYNTAX },
		{ "<\"a\\\tb\"@customer.example>",	ADDR_SYNTAX },
		{ "<\"a\\\xc3\xb6\"@customer.example>",	ADDR_NON_ASCII },
		/* domain literals hold an address or are refused */
		{ "<a@[\"x>\"]>",			ADDR_BAD_DOMAIN },
		{ "<a@[x]>",				ADDR_BAD_DOMAIN },
		{ "<a@[1.2.3]>",			ADDR_BAD_DOMAIN },
		{ "<a@[1.2.3.256]>",			ADDR_BAD_DOMAIN },
		{ "<a@[IPv6:1.2.3.4]>",			ADDR_BAD_DOMAIN },
		{ "<a@[IPv6:]>",			ADDR_BAD_DOMAIN },
		{ "<a@[2001:db8::1]>",			ADDR_BAD_DOMAIN },
		{ "<a@[tag:anything]>",			ADDR_BAD_DOMAIN },
		{ "<a@[IPv6:2001:db8::1%eth0]>",	ADDR_BAD_DOMAIN },
		{ "<>",					ADDR_NULL_NOT_ALLOWED },
	};
	struct smtp_path p;
	size_t i;

	for (i = 0; i < ARRAY_LEN(v); i++) {
		enum addr_status st = parse(v[i].in, 0, &p, NULL);
		ok(st == v[i].want, "%s -> %s", v[i].in,
		    addr_status_text(v[i].want));
		if (st != v[i].want)
			printf("#   got %s\n", addr_status_text(st));
	}
	for (i = ADDR_OK; i <= ADDR_NULL_NOT_ALLOWED; i++)
		ok(addr_status_text(i)[0] != '\0' &&
		    strcmp(addr_status_text(i), "bad address") != 0,
		    "status %zu has its own text", i);
}

static void
test_fields(void)
{
	struct smtp_path p;
	size_t used;

	is_int(parse("<Alice@Example.TEST> SIZE=10", 0, &p, &used), ADDR_OK,
	    "path followed by parameters");
	is_int(used, 20, "consumed up to and including '>'");
	is_str(p.local, "Alice", "local part kept as given");
	is_str(p.domain, "example.test", "domain lower-cased");
	is_str(p.addr, "Alice@example.test", "addr = local@domain");
	ok(!p.is_null, "not null");

	is_int(parse("<>", 1, &p, &used), ADDR_OK, "<> where allowed");
	ok(p.is_null && used == 2 && p.addr[0] == '\0', "null path");

	is_int(parse("<\"a>b\"@example.test>", 0, &p, &used), ADDR_OK,
	    "quoted '>' does not end the path");
	is_int(used, 20, "... consumed to the real '>'");
	is_str(p.addr, "\"a>b\"@example.test", "quoted local part kept");

	/* an escaped NUL never truncates the address */
	{
		static const char nul[] = "<\"a\\\0b\"@example.test>";
		is_int(addr_parse_path(nul, sizeof(nul) - 1, 0, &p, &used),
		    ADDR_SYNTAX, "escaped NUL refused");
	}
	is_int(parse("<\"a\\\"b\"@example.test>", 0, &p, NULL), ADDR_OK,
	    "escaped quote accepted");
	is_str(p.addr, "\"a\\\"b\"@example.test", "... and kept whole");

	is_int(parse("<u@[192.0.2.1]>", 0, &p, NULL), ADDR_OK, "IPv4 literal");
	is_int(parse("<u@[ipv6:2001:db8::ffff:192.0.2.1]>", 0, &p, NULL),
	    ADDR_OK, "IPv6 literal with an IPv4 tail, tag in any case");
	is_int(parse("<u@[IPv6:::1]>", 0, &p, NULL), ADDR_OK, "IPv6 literal");
	is_str(p.domain, "[ipv6:::1]", "literal kept (lower-cased), never a route name");
}

static void
test_lengths(void)
{
	struct smtp_path p;
	char s[600];

	/* local part: 64 octets */
	memset(s, 0, sizeof(s));
	s[0] = '<';
	memset(s + 1, 'l', 64);
	strcpy(s + 65, "@example.test>");
	is_int(parse(s, 0, &p, NULL), ADDR_OK, "64-octet local part");
	memset(s + 1, 'l', 65);
	strcpy(s + 66, "@example.test>");
	is_int(parse(s, 0, &p, NULL), ADDR_TOO_LONG, "65-octet local part");

	/* path: 256 octets without < > */
	memset(s, 0, sizeof(s));
	strcpy(s, "<a@");
	for (int i = 0; i < 4; i++)
		strcat(s, "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.");
	/* 3 + 4*64 = 259; trim to a 256-octet path */
	s[1 + 256 - 1] = 'x';
	s[1 + 256] = '\0';
	strcat(s, ">");
	is_int(parse(s, 0, &p, NULL), ADDR_OK, "256-octet path");
	s[1 + 256] = 'y';
	s[1 + 257] = '>';
	s[1 + 258] = '\0';
	is_int(parse(s, 0, &p, NULL), ADDR_TOO_LONG, "257-octet path");
}

static void
test_domains(void)
{
	char d[300];

	ok(addr_domain_valid("example.test"), "example.test");
	ok(addr_domain_valid("a"), "single label");
	ok(addr_domain_valid("x-1.example"), "hyphen inside");
	ok(!addr_domain_valid(""), "empty");
	ok(!addr_domain_valid("example.test."), "trailing dot");
	ok(!addr_domain_valid(".example"), "leading dot");
	ok(!addr_domain_valid("a..b"), "empty label");
	ok(!addr_domain_valid("-a.b"), "leading hyphen");
	ok(!addr_domain_valid("a-.b"), "trailing hyphen in a label");
	ok(!addr_domain_valid("a.b-"), "trailing hyphen");
	ok(!addr_domain_valid("a_b.c"), "underscore");
	ok(!addr_domain_valid("a b"), "space");
	memset(d, 'a', 63);
	d[63] = '\0';
	ok(addr_domain_valid(d), "63-octet label");
	memset(d, 'a', 64);
	d[64] = '\0';
	ok(!addr_domain_valid(d), "64-octet label");
	/* 63.63.63.63: 255 octets, the most a domain may have */
	memset(d, 'a', 255);
	d[63] = d[127] = d[191] = '.';
	d[255] = '\0';
	ok(addr_domain_valid(d), "255 octets");
	/* 63.63.63.62.a: 256 octets, every label fine */
	d[254] = '.';
	d[255] = 'a';
	d[256] = '\0';
	ok(!addr_domain_valid(d), "256 octets");
}

/* SMTPUTF8: well-formed UTF-8 in local part, quoted string and labels;
 * nothing else that is 8-bit */
static void
test_utf8(void)
{
	static const struct {
		const char		*in;
		enum addr_status	 want;
		const char		*name;
	} v[] = {
		{ "<j\xc3\xb6rg@example.test>", ADDR_OK, "2-byte in the local part" },
		{ "<\xe7\x94\xa8\xe6\x88\xb7@example.test>", ADDR_OK, "3-byte" },
		{ "<\xf0\x9f\x98\x80@example.test>", ADDR_OK, "4-byte" },
		{ "<\"\xc3\xa9" "t\"@example.test>", ADDR_OK, "in a quoted string" },
		{ "<a@b\xc3\xbc" "cher.example>", ADDR_OK, "a U-label" },
		{ "<a@B\xc3\x9c" "CHER.EXAMPLE>", ADDR_OK, "a U-label, upper case" },
		{ "<a\xc0\xaf" "b@example.test>", ADDR_SYNTAX, "overlong '/'" },
		{ "<a\xe0\x80\xaf@example.test>", ADDR_SYNTAX, "overlong, 3 bytes" },
		{ "<a\xed\xa0\x80@example.test>", ADDR_SYNTAX, "a surrogate" },
		{ "<a\xf4\x90\x80\x80@example.test>", ADDR_SYNTAX, "above U+10FFFF" },
		{ "<a\xf5\x80\x80\x80@example.test>", ADDR_SYNTAX, "F5 lead byte" },
		{ "<a\xc2\x85@example.test>", ADDR_SYNTAX, "a C1 control (NEL)" },
		{ "<a\x80@example.test>", ADDR_SYNTAX, "a lone continuation byte" },
		{ "<a\xc3@example.test>", ADDR_SYNTAX, "a cut sequence" },
		{ "<a\xe2\x82>", ADDR_SYNTAX, "cut by the end of the path" },
		{ "<\"a\\\xc3\xb6\"@example.test>", ADDR_NON_ASCII,
		  "a quoted-pair stays ASCII" },
		{ "<\xef\xbc\xa0@example.test>", ADDR_OK,
		  "a fullwidth '@' is just a character (never normalised)" },
	};
	struct smtp_path p;
	size_t i, used;

	for (i = 0; i < ARRAY_LEN(v); i++) {
		enum addr_status st = addr_parse_path(v[i].in, strlen(v[i].in),
		    ADDR_UTF8, &p, &used);
		ok(st == v[i].want, "UTF-8: %s -> %s", v[i].name,
		    addr_status_text(v[i].want));
		if (st != v[i].want)
			printf("#   got %s\n", addr_status_text(st));
	}
	is_int(addr_parse_path("<a@B\xc3\x9c" "CHER.EXAMPLE>", 19, ADDR_UTF8,
	    &p, &used), ADDR_OK, "U-label domain");
	is_str(p.domain, "b\xc3\x9c" "cher.example", "... lower-cased in ASCII "
	    "only, the rest byte for byte");
	is_int(addr_check("j\xc3\xb6rg@example.test", 0), ADDR_OK,
	    "addr_check takes a UTF-8 address");
	is_int(addr_check("j\xc3@example.test", 0), ADDR_SYNTAX,
	    "... but not broken UTF-8");
	ok(addr_is_utf8("j\xc3\xb6rg@example.test") && !addr_is_utf8("a@b.c"),
	    "addr_is_utf8");
	/* a label of 63 octets in UTF-8 passes, 64 does not */
	{
		char d[160], path[200];
		size_t k = 0;

		for (i = 0; i < 21; i++) {	/* 21 x 3 octets = 63 */
			memcpy(d + k, "\xe2\x82\xac", 3);
			k += 3;
		}
		memcpy(d + k, ".test", 6);
		snprintf(path, sizeof(path), "<a@%s>", d);
		is_int(addr_parse_path(path, strlen(path), ADDR_UTF8, &p, &used),
		    ADDR_OK, "a U-label of 63 octets");
		snprintf(path, sizeof(path), "<a@x%s>", d);
		is_int(addr_parse_path(path, strlen(path), ADDR_UTF8, &p, &used),
		    ADDR_BAD_DOMAIN, "... 64 octets: refused");
	}
}

int
main(void)
{
	test_utf8();
	test_status();
	test_fields();
	test_lengths();
	test_domains();
	return done_testing();
}
