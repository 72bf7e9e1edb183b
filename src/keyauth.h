/*
 * The PINs and passwords of a key request, resolved from the options by the
 * tool before any backend runs (providers/auth.h has the rule for offering
 * them to a device).
 */
#ifndef RASIGN_KEYAUTH_H
#define RASIGN_KEYAUTH_H

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

#endif
