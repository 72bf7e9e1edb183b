/* One error enum for the whole tool, and the message that goes with it. */
#ifndef RASIGN_ERR_H
#define RASIGN_ERR_H

enum rerr {
	ERR_OK = 0,
	ERR_INTERNAL,		/* a library failed in a way we did not expect */
	ERR_NOMEM,
	ERR_USAGE,		/* bad flag, ARN, duration, ... */
	ERR_CERT,		/* certificate unreadable, expired, not yet valid */
	ERR_KEY,		/* key unreadable, unsupported, or not the certificate's */
	ERR_PASSWORD,		/* wrong or missing password or PIN */
	ERR_DEVICE,		/* token or TPM unreachable or failing */
	ERR_NETWORK,		/* connect, TLS, timeout, 5xx/429 after retries */
	ERR_RESPONSE,		/* the service's answer could not be understood */
	ERR_REJECTED,		/* the service said no (4xx) */
};

/* Exit codes: documented in man/rasign.1 EXIT STATUS; never change meaning. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,
	EXIT_USAGE = 2,
	EXIT_CERTKEY = 3,
	EXIT_PASSWORD = 4,
	EXIT_DEVICE = 5,
	EXIT_NETWORK = 6,
	EXIT_REJECTED = 7,
};

/*
 * Records a one-line description of the failure (printf format) for the
 * current thread and returns code, so callers write
 *	return err_set(ERR_KEY, "cannot read %s: ...", path);
 * The first message set since err_clear() wins: it is the closest to the cause.
 */
int err_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like err_set, but replaces whatever was recorded before. */
int err_replace(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends OpenSSL's first queued error reason to a message, then clears the queue. */
int err_ssl(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *err_message(void);
void err_clear(void);
const char *err_strerror(int code);
int err_exit_code(int code);

#endif
