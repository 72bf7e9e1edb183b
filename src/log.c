#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static bool debug;

void
log_set_debug(bool on)
{
	debug = on;
}

bool
log_debug_enabled(void)
{
	return debug;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	fputs("rasign: debug: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("rasign: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
log_debug_block(const char *heading, const char *text)
{
	const char *p = text, *nl;

	if (!debug)
		return;
	fprintf(stderr, "rasign: debug: %s:\n", heading);
	do {
		nl = strchr(p, '\n');
		fprintf(stderr, "rasign: debug: | %.*s\n",
		    nl != NULL ? (int)(nl - p) : (int)strlen(p), p);
		p = nl != NULL ? nl + 1 : NULL;
	} while (p != NULL);
}
