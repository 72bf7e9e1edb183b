#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "err.h"
#include "log.h"

/* Room for a list of candidate URIs in an ambiguity error. */
static _Thread_local char msg[4096];
static _Thread_local int have_msg;

/* The attribute lets -Wformat-nonliteral see that fmt is a checked format. */
static int vset(int code, int replace, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int
vset(int code, int replace, const char *fmt, va_list ap)
{
	char raw[sizeof(msg)];

	if (have_msg && !replace)
		return code;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	/*
	 * Escaped when recorded, so that no caller can print it raw: one line
	 * per failure, and no terminal control from a server or a token.
	 */
	log_escape(msg, sizeof(msg), raw, sizeof(raw));
	have_msg = 1;
	return code;
}

int
err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int
err_replace(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, 1, fmt, ap);
	va_end(ap);
	return code;
}

int
err_ssl(int code, const char *fmt, ...)
{
	char head[2048], reason[256] = "";
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	/* The first error is the root cause; later ones are the call stack. */
	if ((e = ERR_peek_error()) != 0 && ERR_reason_error_string(e) != NULL)
		snprintf(reason, sizeof(reason), " (%s)",
		    ERR_reason_error_string(e));
	ERR_clear_error();
	return err_set(code, "%s%s", head, reason);
}

const char *
err_message(void)
{
	return have_msg ? msg : NULL;
}

void
err_clear(void)
{
	have_msg = 0;
	msg[0] = '\0';
}

const char *
err_strerror(int code)
{
	switch (code) {
	case ERR_OK:		return "success";
	case ERR_INTERNAL:	return "internal error";
	case ERR_NOMEM:		return "out of memory";
	case ERR_USAGE:		return "invalid usage";
	case ERR_CERT:		return "certificate error";
	case ERR_KEY:		return "private key error";
	case ERR_PASSWORD:	return "wrong or missing password";
	case ERR_DEVICE:	return "device error";
	case ERR_NETWORK:	return "network error";
	case ERR_RESPONSE:	return "malformed response from the service";
	case ERR_REJECTED:	return "request rejected by the service";
	}
	return "unknown error";
}

int
err_exit_code(int code)
{
	switch (code) {
	case ERR_OK:		return EXIT_OK;
	case ERR_USAGE:		return EXIT_USAGE;
	case ERR_CERT:
	case ERR_KEY:		return EXIT_CERTKEY;
	case ERR_PASSWORD:	return EXIT_PASSWORD;
	case ERR_DEVICE:	return EXIT_DEVICE;
	case ERR_NETWORK:
	case ERR_RESPONSE:	return EXIT_NETWORK;
	case ERR_REJECTED:	return EXIT_REJECTED;
	}
	return EXIT_INTERNAL;
}
