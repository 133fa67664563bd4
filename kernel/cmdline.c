/* kernel/cmdline.c - the boot command line, split into words and checked against a
 * table of known keys. The line is copied into a static buffer and split in place;
 * values point into that buffer. Every parse starts from a clean state.
 */
#include "kernel/cmdline.h"
#include "kernel/printf.h"
#include "kernel/types.h"

enum param_kind {
	PARAM_CHOICE, /* one of the '|'-separated words of `expect` */
	PARAM_SIZE,   /* parse_size() */
	PARAM_NUMBER, /* parse_u64() */
	PARAM_TEXT,   /* free text, accepted by `check` */
};

struct param {
	const char *key;
	enum param_kind kind;
	const char *expect; /* the choices, or what a problem message says is expected */
	bool (*check)(const char *value); /* PARAM_TEXT only */
};

static bool console_ok(const char *value);
static bool suites_ok(const char *value);

/* The known keys; keep in step with the list in cmdline.h. */
static const struct param params[] = {
	{ "pks", PARAM_CHOICE, "on|off", NULL },
	{ "pks_tables", PARAM_CHOICE, "on|soft|off", NULL },
	{ "la57", PARAM_CHOICE, "on|off|auto", NULL },
	{ "smp", PARAM_CHOICE, "on|off", NULL },
	{ "x2apic", PARAM_CHOICE, "on|off|auto", NULL },
	{ "preempt", PARAM_CHOICE, "on|off", NULL },
	{ "console", PARAM_TEXT, "ttyS0..ttyS3[,baud]", console_ok },
	{ "ktest", PARAM_TEXT, "suite[,suite...]", suites_ok },
	{ "ktest.seed", PARAM_NUMBER, "a decimal or 0x number", NULL },
	{ "ktest.fail_early", PARAM_CHOICE, "on|off", NULL },
	{ "ktest.wake_absent", PARAM_CHOICE, "on|off", NULL },
	{ "ktest.bench_reps", PARAM_NUMBER, "a decimal or 0x number", NULL },
	{ "smp_stress.iters", PARAM_NUMBER, "a decimal or 0x number", NULL },
	{ "set_memory.steps", PARAM_NUMBER, "a decimal or 0x number", NULL },
	{ "mem", PARAM_SIZE, "a size such as 512M or 4G", NULL },
	{ "bootdump", PARAM_CHOICE, "mbi|acpi|all", NULL },
};

#define PROBLEM_MAX (CMDLINE_MAX_WORDS + 2) /* one per word, overflow, length */
#define PROBLEM_LEN 160

/* The last parse: all of it is rebuilt by cmdline_parse(). */
static char line[CMDLINE_MAX];		       /* words NUL-terminated in place */
static const char *values[ARRAY_SIZE(params)]; /* into line; NULL = not given validly */
static char problems[PROBLEM_MAX][PROBLEM_LEN];
static int nr_problems;

/* The first string ever parsed, one byte longer than line so that re-parsing it
 * still notices that it was too long. */
static char boot_line[CMDLINE_MAX + 1];
static bool boot_saved;

/* Records a problem message; later ones are dropped once the table is full. */
static __printf(1, 2) void problem(const char *fmt, ...)
{
	va_list ap;

	if (nr_problems == PROBLEM_MAX)
		return;
	va_start(ap, fmt);
	kvsnprintf(problems[nr_problems++], PROBLEM_LEN, fmt, ap);
	va_end(ap);
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Value of a hex digit, 16 for anything else. */
static unsigned int digit_value(char ch)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 16;
}

/* Reads a decimal or 0x-hex number at *sp and advances *sp past it.
 * Returns 0, or -EINVAL on no digits or overflow (*sp and *out unchanged). */
static int parse_number(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	unsigned int base = 10, d;
	uint64_t v = 0;
	int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; (d = digit_value(*s)) < base; s++, n++) {
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	if (!n)
		return -EINVAL;
	*sp = s;
	*out = v;
	return 0;
}

/* See cmdline.h. */
int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;

	if (!s || parse_number(&s, &v) || *s)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Shift of a binary-unit suffix (K, M, G, T in either case), 0 for anything else. */
static unsigned int suffix_shift(char ch)
{
	switch (ch) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return 0;
	}
}

/* See cmdline.h. */
int parse_size(const char *s, uint64_t *out)
{
	unsigned int shift;
	uint64_t v;

	if (!s || parse_number(&s, &v))
		return -EINVAL;
	shift = suffix_shift(*s);
	if (shift)
		s++;
	if (*s || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* True for "ttyS0".."ttyS3", optionally followed by ",BAUD" (decimal, 1..2^32-1). */
static bool console_ok(const char *value)
{
	const char *s;
	uint64_t baud;

	if (strncmp(value, "ttyS", 4) != 0 || value[4] < '0' || value[4] > '3')
		return false;
	if (value[5] == '\0')
		return true;
	if (value[5] != ',')
		return false;
	for (s = value + 6; *s; s++)
		if (!is_digit(*s))
			return false;
	return parse_u64(value + 6, &baud) == 0 && baud && baud <= UINT32_MAX;
}

/* True for a comma-separated list of non-empty names made of [A-Za-z0-9_.*-]. */
static bool suites_ok(const char *value)
{
	const char *s;
	size_t n = 0;
	char ch;

	for (s = value;; s++) {
		ch = *s;
		if (ch == ',' || ch == '\0') {
			if (!n)
				return false;
			if (!ch)
				return true;
			n = 0;
			continue;
		}
		if (!is_digit(ch) && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') && ch != '_' &&
		    ch != '.' && ch != '*' && ch != '-')
			return false;
		n++;
	}
}

/* True when value is one of the '|'-separated words of choices. */
static bool choice_ok(const char *choices, const char *value)
{
	size_t n = strlen(value);
	const char *c = choices;

	while (*c) {
		if (strncmp(c, value, n) == 0 && (c[n] == '|' || c[n] == '\0') && n)
			return true;
		while (*c && *c != '|')
			c++;
		if (*c)
			c++;
	}
	return false;
}

/* True when value is acceptable for p. */
static bool value_ok(const struct param *p, const char *value)
{
	uint64_t v;

	switch (p->kind) {
	case PARAM_CHOICE:
		return choice_ok(p->expect, value);
	case PARAM_SIZE:
		return parse_size(value, &v) == 0;
	case PARAM_NUMBER:
		return parse_u64(value, &v) == 0;
	case PARAM_TEXT:
		return *value && p->check(value);
	}
	return false;
}

/* Index in params of the key s[0..n), or -1. */
static int find_param(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(params); i++)
		if (strlen(params[i].key) == n && strncmp(params[i].key, s, n) == 0)
			return (int)i;
	return -1;
}

/* Handles one NUL-terminated word of length n: records its value or a problem. */
static void parse_word(const char *w, size_t n)
{
	const char *eq = w;
	int i;

	if (n > CMDLINE_MAX_WORD) {
		problem("parameter '%.40s...' is longer than %d characters", w, CMDLINE_MAX_WORD);
		return;
	}
	while (*eq && *eq != '=')
		eq++;
	i = find_param(w, eq - w);
	if (i < 0) {
		problem("unknown parameter '%.64s'", w);
	} else if (!*eq) {
		problem("parameter '%s' needs a value", w);
	} else if (!value_ok(&params[i], eq + 1)) {
		problem("invalid value '%.64s' for %s (expected %s)", eq + 1, params[i].key,
			params[i].expect);
	} else {
		values[i] = eq + 1; /* a later duplicate overrides */
	}
}

/* Copies s into line. A line too long for it is cut before its last, partial word
 * (reported), so that a cut word never passes for a valid shorter one. */
static void copy_line(const char *s)
{
	size_t n;

	strncpy_z(line, s, sizeof(line));
	if (strnlen(s, CMDLINE_MAX) < CMDLINE_MAX)
		return;
	n = CMDLINE_MAX - 1;
	if (!is_space(s[n]))
		while (n && !is_space(line[n - 1]))
			n--;
	line[n] = '\0';
	problem("command line longer than %d characters: ignoring it from offset %zu",
		CMDLINE_MAX - 1, n);
}

/* See cmdline.h. The first string given is kept for cmdline_restore_boot(). */
int cmdline_parse(const char *s)
{
	char *p = line, *w;
	int words = 0;

	if (!s)
		s = "";
	if (!boot_saved) {
		strncpy_z(boot_line, s, sizeof(boot_line));
		boot_saved = true;
	}
	memset(values, 0, sizeof(values));
	nr_problems = 0;
	copy_line(s);
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		if (++words > CMDLINE_MAX_WORDS) {
			problem("more than %d parameters: ignoring '%.40s' and the rest",
				CMDLINE_MAX_WORDS, p);
			break;
		}
		for (w = p; *p && !is_space(*p); p++)
			;
		if (*p)
			*p++ = '\0';
		parse_word(w, strlen(w));
	}
	return nr_problems;
}

/* See cmdline.h. Parses "" when nothing was ever parsed. */
void cmdline_restore_boot(void)
{
	cmdline_parse(boot_line);
}

/* See cmdline.h. */
const char *cmdline_get(const char *key)
{
	int i = find_param(key, strlen(key));

	return i < 0 ? NULL : values[i];
}

/* See cmdline.h. */
bool cmdline_is(const char *key, const char *value)
{
	const char *v = cmdline_get(key);

	return v && strcmp(v, value) == 0;
}

/* See cmdline.h. */
const char *cmdline_problem(int i)
{
	return i >= 0 && i < nr_problems ? problems[i] : NULL;
}
