/* kernel/printf.c - printf-style formatter and console output. */
#include "kernel/printf.h"
#include "kernel/console.h"

/* Output cursor: writes what fits into buf, counts everything. */
struct sink {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct sink *s, char c)
{
	if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void pad(struct sink *s, char c, int n)
{
	while (n-- > 0)
		put(s, c);
}

/* One conversion's flags, width and precision. */
struct spec {
	bool left, zero;
	int width;
	int prec; /* -1: none */
	int size; /* 0 int, 1 long, 2 long long, 3 size_t */
};

/* Emits a string with width and (for %s) precision. */
static void emit_str(struct sink *s, const struct spec *sp, const char *str)
{
	int n;

	if (!str)
		str = "(null)";
	n = (int)strnlen(str, sp->prec >= 0 ? (size_t)sp->prec : (size_t)-1);
	if (!sp->left)
		pad(s, ' ', sp->width - n);
	for (int i = 0; i < n; i++)
		put(s, str[i]);
	if (sp->left)
		pad(s, ' ', sp->width - n);
}

/* Emits an unsigned magnitude in `base` with an optional sign or prefix. */
static void emit_num(struct sink *s, const struct spec *sp, uint64_t v, unsigned base, bool upper,
		     const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, plen = (int)strlen(prefix), fill;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	fill = sp->width - n - plen;
	if (!sp->left && !sp->zero)
		pad(s, ' ', fill);
	for (int i = 0; i < plen; i++)
		put(s, prefix[i]);
	if (!sp->left && sp->zero)
		pad(s, '0', fill);
	while (n)
		put(s, tmp[--n]);
	if (sp->left)
		pad(s, ' ', fill);
}

/* Parses flags, width, precision and size at *fmt; advances it past them. */
static const char *parse_spec(const char *fmt, struct spec *sp, va_list *ap)
{
	*sp = (struct spec){ .prec = -1 };
	for (;; fmt++) {
		if (*fmt == '-')
			sp->left = true;
		else if (*fmt == '0')
			sp->zero = true;
		else
			break;
	}
	if (*fmt == '*') {
		sp->width = va_arg(*ap, int);
		if (sp->width < 0) {
			sp->left = true;
			sp->width = -sp->width;
		}
		fmt++;
	}
	while (*fmt >= '0' && *fmt <= '9')
		sp->width = sp->width * 10 + (*fmt++ - '0');
	if (*fmt == '.') {
		fmt++;
		sp->prec = 0;
		if (*fmt == '*') {
			sp->prec = va_arg(*ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			sp->prec = sp->prec * 10 + (*fmt++ - '0');
	}
	if (*fmt == 'z') {
		sp->size = 3;
		fmt++;
	}
	while (*fmt == 'l' && sp->size < 2) {
		sp->size++;
		fmt++;
	}
	return fmt;
}

static int64_t arg_signed(const struct spec *sp, va_list *ap)
{
	switch (sp->size) {
	case 0:
		return va_arg(*ap, int);
	case 1:
		return va_arg(*ap, long);
	case 3:
		return (int64_t)va_arg(*ap, size_t);
	default:
		return va_arg(*ap, long long);
	}
}

static uint64_t arg_unsigned(const struct spec *sp, va_list *ap)
{
	switch (sp->size) {
	case 0:
		return va_arg(*ap, unsigned int);
	case 1:
		return va_arg(*ap, unsigned long);
	case 3:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned long long);
	}
}

/* Formats one conversion character `c`. */
static void convert(struct sink *s, struct spec *sp, char c, va_list *ap)
{
	int64_t sv;

	switch (c) {
	case 'd':
	case 'i':
		sv = arg_signed(sp, ap);
		emit_num(s, sp, sv < 0 ? -(uint64_t)sv : (uint64_t)sv, 10, false,
			 sv < 0 ? "-" : "");
		break;
	case 'u':
		emit_num(s, sp, arg_unsigned(sp, ap), 10, false, "");
		break;
	case 'x':
	case 'X':
		emit_num(s, sp, arg_unsigned(sp, ap), 16, c == 'X', "");
		break;
	case 'p':
		emit_num(s, sp, (uint64_t)va_arg(*ap, void *), 16, false, "0x");
		break;
	case 's':
		emit_str(s, sp, va_arg(*ap, const char *));
		break;
	case 'c': {
		char ch[2] = { (char)va_arg(*ap, int), '\0' };
		sp->prec = 1;
		emit_str(s, sp, ch);
		break;
	}
	case '%':
		put(s, '%');
		break;
	default: /* unknown conversion: print it as is */
		put(s, '%');
		if (c)
			put(s, c);
	}
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = { buf, size, 0 };
	struct spec sp;
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%') {
			put(&s, *fmt++);
			continue;
		}
		fmt = parse_spec(fmt + 1, &sp, &aq);
		convert(&s, &sp, *fmt, &aq);
		if (*fmt)
			fmt++;
	}
	va_end(aq);
	if (size)
		buf[s.len < size ? s.len : size - 1] = '\0';
	return (int)s.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* Line state of the console: see console_set_line_hook() in printf.h. */
static const char *(*line_hook)(char first);
static bool at_line_start = true;
static int held_blanks; /* blanks at the start of a line, not printed yet */

void console_set_line_hook(const char *(*hook)(char first))
{
	line_hook = hook;
}

/* Sends one character to the console's ports, "\n" as "\r\n". Console lock held. */
static void out_char(char c)
{
	if (c == '\n')
		console_tx('\r');
	console_tx(c);
	at_line_start = c == '\n';
}

static void out_text(const char *s)
{
	while (*s)
		out_char(*s++);
}

/* The first character of a line that is not a blank: the hook's prefix replaces the
 * held blanks (they follow the prefix on a line that is not a '#' line). */
static void start_line(char first)
{
	const char *prefix = line_hook(first);

	if (prefix)
		out_text(prefix);
	if (!prefix || first != '#')
		for (; held_blanks; held_blanks--)
			out_char(' ');
	held_blanks = 0;
	out_char(first);
}

/* Writes one character through the line-start logic. */
static void console_putc(char c)
{
	if (!line_hook || !at_line_start)
		out_char(c);
	else if (c == ' ')
		held_blanks++;
	else if (c == '\n')
		held_blanks = 0; /* a blank line carries nothing: dropped */
	else
		start_line(c);
}

/* Holds the console lock for the whole write (kernel/console.h): lines of two CPUs never
 * mix. After taking the lock over from a stalled CPU, its unfinished line is ended. */
void console_write(const char *str, size_t n)
{
	struct console_hold h = console_hold();

	if (h.how == CON_TAKEN_OVER && !at_line_start)
		out_char('\n');
	for (size_t i = 0; i < n; i++)
		console_putc(str[i]);
	console_release(h, at_line_start);
}

void console_fresh_line(void)
{
	struct console_hold h = console_hold();

	held_blanks = 0;
	if (!at_line_start)
		out_char('\n');
	console_release(h, at_line_start);
}

int kvprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = kvsnprintf(buf, sizeof(buf), fmt, ap);

	console_write(buf, MIN((size_t)n, sizeof(buf) - 1));
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}
