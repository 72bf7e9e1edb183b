/*
 * The secrets a signer may need (PINs, passwords), resolved by the tool
 * before any backend runs, and the one rule about offering them to a
 * device. A device counts wrong PINs and locks itself (a YubiKey's PIV PIN
 * after 3, a TPM's dictionary-attack lockout): whatever a backend does,
 * rasign never offers a value that a device has already refused, never
 * spends a token's last try without a person at a prompt, and never asks a
 * person twice for the same secret in one process.
 *
 * Backends call auth_get() right before a login and auth_result() right
 * after it; they never read a source or prompt themselves.
 */
#ifndef RASIGN_AUTH_H
#define RASIGN_AUTH_H

#include <stdbool.h>

enum auth_kind {
	AUTH_FILE_KEY,		/* an encrypted key file or PKCS#12 */
	AUTH_PIN,		/* a PKCS#11 token's user PIN */
	AUTH_CONTEXT_PIN,	/* CKA_ALWAYS_AUTHENTICATE's signature PIN */
	AUTH_TPM_KEY,		/* a TPM key's auth value */
	AUTH_TPM_PARENT,	/* a TPM parent's or the owner's auth value */
	AUTH_NKINDS
};

/* What the device says about its retry counter, when it says anything. */
enum auth_tries {
	AUTH_TRIES_UNKNOWN,
	AUTH_TRIES_LOW,		/* fewer tries left than a full count */
	AUTH_TRIES_FINAL,	/* the next wrong value locks the device */
	AUTH_TRIES_LOCKED,	/* locked already: no value will do */
};

struct auth_secret {
	char *value;		/* resolved; NULL until known */
	bool prompted;		/* typed by a person in this process */
	const char *how;	/* how to give it, for messages ("--pkcs11-pin") */
};

/* Asks a person; *out is freed with auth's wiping free. */
typedef int (*auth_prompt_fn)(void *cls, const char *prompt, char **out);

struct auth {
	struct auth_secret s[AUTH_NKINDS];
	auth_prompt_fn prompt;	/* NULL: nobody may be asked (unattended) */
	void *prompt_cls;
	bool reuse_pin;		/* the user PIN doubles as the context PIN */
};

/*
 * The value to offer for `kind` to the device called `what`, given what it
 * reports about its tries. Refuses (ERR_PASSWORD, with a line that says
 * what to do) a value that a device refused before in this process, a
 * locked device, and a final try without a person typing the value now.
 * Asks at most once per process, through auth->prompt. *value stays owned
 * by `a`: use it, do not free it.
 */
int auth_get(struct auth *a, enum auth_kind kind, enum auth_tries tries,
    const char *what, const char **value);
/* After the device answered: a refused value is remembered and wiped. */
void auth_result(struct auth *a, enum auth_kind kind, bool accepted);
/* Whether a value is known without asking anybody. */
bool auth_known(const struct auth *a, enum auth_kind kind);
/* Wipes and frees every value; the struct may be reused after. */
void auth_clear(struct auth *a);

#endif
