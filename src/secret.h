/* Passwords and PINs: where they come from, and wiping them afterwards. */
#ifndef RASIGN_SECRET_H
#define RASIGN_SECRET_H

#include <stddef.h>

#define SECRET_MAX 1024		/* longer input is refused, not truncated */

/*
 * Resolves an OpenSSL pass-phrase source (openssl-passphrase-options(1)):
 * "pass:PW", "env:VAR", "file:PATH" (first line), "fd:N" (first line).
 * Anything else is the password itself, as the Go helper takes it.
 * `what` names the option in error messages. *out is freed with secret_free.
 */
int secret_from_source(const char *spec, const char *what, char **out);

/* Asks on /dev/tty with echo off. ERR_PASSWORD when there is no terminal. */
int secret_prompt(const char *prompt, char **out);

/*
 * Takes pin-value out of a pkcs11: URI in place, before any library parses
 * it: *pin gets the decoded value (or NULL) and the URI is rewritten
 * without it, the removed bytes wiped (so argv no longer shows the PIN).
 */
int secret_take_uri_pin(char *uri, char **pin);

/*
 * The percent-decoded value of query attribute `name` ("pin-source") of a
 * pkcs11: URI, or NULL when it has none. Freed with secret_free.
 */
int secret_uri_query(const char *uri, const char *name, char **value);

/* Wipes and frees; NULL-safe. */
void secret_free(char *s);

#endif
