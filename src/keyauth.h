/*
 * The PINs and passwords of a key request, resolved from the options by the
 * tool before any backend runs (providers/auth.h has the rule for offering
 * them to a device).
 */
#ifndef RASIGN_KEYAUTH_H
#define RASIGN_KEYAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "options.h"

/*
 * Reads every given source once (pass:, env:, file:, fd:, a URI's
 * pin-value or pin-source); a secret with no source is asked for at a
 * terminal the first time a device needs it. With `prev` (the auth being
 * replaced on a reload), what cannot be read again (an fd: source, a value
 * typed at a prompt) is carried over, and file: and env: sources are read
 * anew. A person may be asked only when `prev` is NULL.
 */
int keyauth_init(const struct options *, const struct auth *prev,
    struct auth *);
/* Nobody may be asked from now on (a long-running mode after its start). */
void keyauth_unattended(struct auth *);

/*
 * The certificate, key and intermediates as given: a path (or "file:PATH",
 * the same), a pkcs11: URI or handle:, or bytes from "env:VAR" or "fd:N"
 * so that a CI runner never writes a key to disk.
 */
struct keysrc {
	const char *ref;	/* as given, for messages; NULL if not given */
	const char *path;	/* the file to read; NULL for env:/fd:/URIs */
	uint8_t *data;		/* the bytes: env:/fd:, and certificate files */
	size_t len;
	bool once;		/* fd: it cannot be read again */
};

struct keyfiles {
	struct keysrc cert, key, chain;	/* key: --private-key, else --certificate */
};

/*
 * Reads the env: and fd: sources, and the certificate and intermediates
 * files, now; a key file is left to its backend. With `prev` (a reload),
 * an fd: source is taken from it and the others are read again. A path
 * starting with '~' that does not exist is refused (secret_check_tilde).
 */
int keyfiles_init(const struct options *, const struct keyfiles *prev,
    struct keyfiles *);
/*
 * Wipes the bytes once the key and certificates are parsed, except an fd:
 * source's, kept for a reload (serve, update) since it cannot be read again.
 */
void keyfiles_drop(struct keyfiles *);
void keyfiles_free(struct keyfiles *);
/* The file to stat for changes, or NULL (env:, fd:, URIs, handles). */
const char *keyfiles_path(const char *ref);
/*
 * Removes from the environment a variable that held the private key (exec:
 * the command it runs must not see it).
 */
void keyfiles_unsetenv(const struct options *);

#endif
