#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

static bool debug;
static bool stamps;
/* TSS2_LOG in our environment was put there by log_init, not by the user. */
static bool tss2_log_ours;

void
log_init(void)
{
	/*
	 * tpm2-tss writes its own WARNING and ERROR lines to stderr; our one
	 * line says it better. It has no API for its log level: it reads
	 * TSS2_LOG when it first logs, so set it now, before any thread or
	 * TPM call, for this process only; exec's command does not get it
	 * (log_env_ours). A TSS2_LOG the user set wins.
	 */
	if (getenv("TSS2_LOG") == NULL && setenv("TSS2_LOG", "all+NONE", 1) == 0)
		tss2_log_ours = true;
}

bool
log_env_ours(const char *entry)
{
	return tss2_log_ours && strncmp(entry, "TSS2_LOG=", 9) == 0;
}

void
log_set_debug(bool on)
{
	debug = on;
	/* --debug lets tpm2-tss's own lines through (rasign(1), --debug). */
	if (on && tss2_log_ours && unsetenv("TSS2_LOG") == 0)
		tss2_log_ours = false;
}

/*
 * systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connected stderr to; a stderr redirected elsewhere since does not match.
 */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	return js != NULL && sscanf(js, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
	    fstat(2, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_set_stamps(bool on)
{
	stamps = on && !stderr_is_journal();
}

bool
log_debug_enabled(void)
{
	return debug;
}

/*
 * The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) and its code point, or 0.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * Code points a terminal acts on instead of showing: C0 and C1 controls,
 * DEL, and the bidirectional overrides that can make text read backwards.
 */
static bool
is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

void
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, len, k;
	uint32_t c;

	if (dstlen == 0)
		return;
	while (i < srclen && s[i] != '\0') {
		if ((len = utf8_seq(s + i, srclen - i, &c)) == 0) {
			len = 1;	/* a stray byte: shown alone, escaped */
			c = 0x80;
		}
		if (is_control(c)) {
			if (c == '\n' || c == '\r' || c == '\t') {
				/* One line per message: whitespace stays. */
				if (o + 1 >= dstlen)
					break;
				dst[o++] = ' ';
			} else {
				if (o + 4 * len >= dstlen)
					break;
				for (k = 0; k < len; k++, o += 4)
					snprintf(dst + o, 5, "\\x%02x", s[i + k]);
			}
		} else {
			if (o + len >= dstlen)
				break;
			memcpy(dst + o, s + i, len);
			o += len;
		}
		i += len;
	}
	dst[o] = '\0';
}

/*
 * Every diagnostic line ends here: formatted whole, escaped (it may carry
 * what a server, a certificate or a token said), written in one call.
 */
static void emit(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void emit_fmt(const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
emit(const char *prefix, const char *fmt, va_list ap)
{
	char small[1024], *raw = small, *line = NULL, stamp[32] = "";
	size_t plen, slen, cap;
	va_list aq;
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	if (stamps && localtime_r(&now, &tm) != NULL)
		strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S ", &tm);
	slen = strlen(stamp);
	plen = slen + strlen(prefix);
	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(small) && (raw = malloc((size_t)n + 1)) != NULL)
		vsnprintf(raw, (size_t)n + 1, fmt, aq);
	if (raw == NULL) {
		raw = small;
		n = (int)strlen(small);
	}
	/* Each byte grows to at most four ("\xHH"), plus a newline and a NUL. */
	cap = plen + 4 * (size_t)n + 2;
	if ((line = malloc(cap)) == NULL)
		goto out;
	memcpy(line, stamp, slen);
	memcpy(line + slen, prefix, plen - slen);
	log_escape(line + plen, cap - plen - 1, raw, (size_t)n);
	strcat(line + plen, "\n");
	fputs(line, stderr);
out:
	va_end(aq);
	if (raw != small)
		free(raw);
	free(line);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	va_start(ap, fmt);
	emit("rasign: debug: ", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("rasign: warning: ", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("rasign: ", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("rasign: ", fmt, ap);
	va_end(ap);
}

void
log_plain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

static void
emit_fmt(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}

void
log_debug_block(const char *heading, const char *text)
{
	const char *p = text, *nl;

	if (!debug)
		return;
	emit_fmt("rasign: debug: ", "%s:", heading);
	do {
		nl = strchr(p, '\n');
		emit_fmt("rasign: debug: | ", "%.*s",
		    nl != NULL ? (int)(nl - p) : (int)strlen(p), p);
		p = nl != NULL ? nl + 1 : NULL;
	} while (p != NULL);
}
