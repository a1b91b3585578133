/*
 * csv_test.c — the CSV reader (relay/csv.h) on the shapes directory
 * exports take: quoted fields with commas, quotes and line breaks, CRLF
 * and LF, a byte order mark, empty fields and lines; and every refusal
 * with its reason and line.
 */
#include <string.h>

#include "csv.h"
#include "tap.h"

static char scratch[512];
static char *f[8];

static int
next(struct csv *c, size_t *line)
{
	return csv_next(c, scratch, sizeof(scratch), f, 8, line);
}

int
main(void)
{
	static const char doc[] = "\xef\xbb\xbfName,Email\r\n"
	    "\"Doe, Jane\",jane@example.test\r\n"
	    "\"say \"\"hi\"\"\nsecond line\",x@example.test\n"
	    ",\n"
	    "\n"
	    "last,no-newline@example.test";
	struct csv c;
	size_t line;

	csv_init(&c, doc, sizeof(doc) - 1);
	is_int(next(&c, &line), 2, "header: 2 fields");
	ok(strcmp(f[0], "Name") == 0 && line == 1, "the BOM is skipped");
	is_int(next(&c, &line), 2, "quoted comma");
	ok(strcmp(f[0], "Doe, Jane") == 0 && strcmp(f[1],
	    "jane@example.test") == 0 && line == 2, "... its fields, line 2");
	is_int(next(&c, &line), 2, "quotes and a line break in a field");
	ok(strcmp(f[0], "say \"hi\"\nsecond line") == 0 && line == 3,
	    "... unquoted, line 3");
	is_int(next(&c, &line), 2, "two empty fields");
	ok(f[0][0] == '\0' && f[1][0] == '\0' && line == 5, "... line 5");
	is_int(next(&c, &line), 1, "an empty line: one empty field");
	is_int(next(&c, &line), 2, "the last record without a line end");
	ok(strcmp(f[1], "no-newline@example.test") == 0 && line == 7,
	    "... line 7");
	is_int(next(&c, &line), 0, "then the end");

	{
		static const struct {
			const char *in, *why;
			size_t line;
		} bad[] = {
			{ "a,b\nc\"d,e\n", "a quote inside an unquoted field", 2 },
			{ "\"a\"b,c\n", "text after a closing quote", 1 },
			{ "ok\n\"open\n", "a quoted field is not closed", 2 },
			{ "a,b,c,d,e,f,g,h,i\n", "too many fields", 1 },
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int r;
			csv_init(&c, bad[i].in, strlen(bad[i].in));
			while ((r = next(&c, &line)) > 0)
				;
			ok(r == -1 && c.err && strcmp(c.err, bad[i].why) == 0 &&
			    line == bad[i].line, "refused: %s (line %zu)",
			    bad[i].why, bad[i].line);
			is_int(next(&c, &line), -1, "... and stays refused");
		}
		csv_init(&c, "a\0b\n", 4);
		ok(next(&c, &line) == -1 && strcmp(c.err, "a NUL byte") == 0,
		    "refused: a NUL byte");
		{
			char small[4];
			csv_init(&c, "abcdef\n", 7);
			ok(csv_next(&c, small, sizeof(small), f, 8, &line) == -1 &&
			    strcmp(c.err, "record too long") == 0,
			    "refused: a record longer than the scratch buffer");
			csv_init(&c, "ab,,,,\n", 7);
			ok(csv_next(&c, small, sizeof(small), f, 8, &line) == -1,
			    "refused: empty fields past the scratch buffer");
		}
	}
	return done_testing();
}
