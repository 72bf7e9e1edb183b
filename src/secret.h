/* Passwords and PINs: where they come from, and wiping them afterwards. */
#ifndef RASIGN_SECRET_H
#define RASIGN_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_MAX 1024		/* longer input is refused, not truncated */

/*
 * Resolves an OpenSSL pass-phrase source (openssl-passphrase-options(1)):
 * "pass:PW", "env:VAR", "file:PATH" (first line), "fd:N" (first line).
 * Anything else is the password itself, as the Go helper takes it.
 * `what` names the option in error messages. *out is freed with secret_free.
 */
int secret_from_source(const char *spec, const char *what, char **out);

/*
 * A certificate or key given as a source instead of a path: "env:VAR" or
 * "fd:N" (read whole by secret_read_all), not a path; "file:PATH" is a
 * path, returned by secret_source_path.
 */
bool secret_is_stream(const char *spec);
/* The file a reference names: PATH for "file:PATH", else spec itself. */
const char *secret_source_path(const char *spec);
/*
 * The whole content of an "env:VAR" or "fd:N" source, at most `max` bytes,
 * in a buffer wiped when freed: OPENSSL_clear_free(*buf, *len + 1). An fd
 * is read to its end and closed, so that nothing started later (exec's
 * command) inherits it. `what` names the option ("--private-key"); an
 * unset variable, an empty value or a closed fd is `err`, a malformed
 * number ERR_USAGE.
 */
int secret_read_all(const char *spec, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len);
/*
 * A path that starts with '~' and does not exist: nothing expanded it (a
 * credential_process line in ~/.aws/config is run without a shell).
 * ERR_USAGE with a line giving the expanded path to write; else ERR_OK.
 */
int secret_check_tilde(const char *path, const char *what);

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
