/*
 * The lockout rule, in one place for every backend (see auth.h). What a
 * device refused is remembered for the life of the process as a salted
 * SHA-256, never as the value, so that a reload that reads the same wrong
 * PIN from a file again does not offer it a second time.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "err.h"
#include "log.h"

#define REFUSED_MAX 64		/* a process that met more has bigger trouble */

static pthread_mutex_t refused_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char salt[32];
static bool salted;
static unsigned char refused[REFUSED_MAX][32];
static size_t nrefused;

/* "X needs ...": what is missing. */
static const char *const needs[AUTH_NKINDS] = {
	[AUTH_FILE_KEY] = "a password (it is encrypted)",
	[AUTH_PIN] = "a PIN",
	/* One literal: clang takes a split one in an array for a lost comma. */
	[AUTH_CONTEXT_PIN] =
	    "its PIN for every signature (CKA_ALWAYS_AUTHENTICATE)",
	[AUTH_TPM_KEY] = "a password",
	[AUTH_TPM_PARENT] = "a password",
};

/* "... was refused": the value. */
static const char *const nouns[AUTH_NKINDS] = {
	[AUTH_FILE_KEY] = "the key file's password",
	[AUTH_PIN] = "the PIN",
	[AUTH_CONTEXT_PIN] = "the signature PIN",
	[AUTH_TPM_KEY] = "the TPM key's password",
	[AUTH_TPM_PARENT] = "the TPM parent's password",
};

static const char *const prompts[AUTH_NKINDS] = {
	[AUTH_FILE_KEY] = "Password for",
	[AUTH_PIN] = "PIN for",
	[AUTH_CONTEXT_PIN] = "Signature PIN for",
	[AUTH_TPM_KEY] = "TPM key password for",
	[AUTH_TPM_PARENT] = "TPM parent password for",
};

/* The salted digest of (kind, value); false if OpenSSL failed. */
static bool
fingerprint(enum auth_kind kind, const char *value, unsigned char md[32])
{
	EVP_MD_CTX *ctx;
	unsigned char k = (unsigned char)kind;
	bool ok;

	if (!salted) {
		if (RAND_bytes(salt, sizeof(salt)) != 1)
			return false;
		salted = true;
	}
	ok = (ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, salt, sizeof(salt)) == 1 &&
	    EVP_DigestUpdate(ctx, &k, 1) == 1 &&
	    EVP_DigestUpdate(ctx, value, strlen(value)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* A value is refused when a device refused it, or when we cannot tell. */
static bool
was_refused(enum auth_kind kind, const char *value)
{
	unsigned char md[32];
	bool found = false;

	pthread_mutex_lock(&refused_lock);
	if (!fingerprint(kind, value, md))
		found = true;
	for (size_t i = 0; !found && i < nrefused; i++)
		found = CRYPTO_memcmp(refused[i], md, sizeof(md)) == 0;
	pthread_mutex_unlock(&refused_lock);
	OPENSSL_cleanse(md, sizeof(md));
	return found;
}

static void
remember_refused(enum auth_kind kind, const char *value)
{
	pthread_mutex_lock(&refused_lock);
	if (nrefused < REFUSED_MAX && fingerprint(kind, value,
	    refused[nrefused]))
		nrefused++;
	pthread_mutex_unlock(&refused_lock);
}

static enum auth_kind
effective(const struct auth *a, enum auth_kind kind)
{
	return kind == AUTH_CONTEXT_PIN && a->reuse_pin ? AUTH_PIN : kind;
}

/* Asks once; on a final try, says so before the person types. */
static int
ask(struct auth *a, enum auth_kind kind, enum auth_tries tries,
    const char *what)
{
	struct auth_secret *s = &a->s[kind];
	char prompt[300];

	if (a->prompt == NULL)
		return err_set(ERR_PASSWORD, "%s needs %s and nobody can be "
		    "asked for it here: give it with %s", what, needs[kind],
		    s->how ? s->how : "its option");
	if (tries == AUTH_TRIES_FINAL)
		log_warn("%s has one try left: a wrong value now locks it",
		    what);
	snprintf(prompt, sizeof(prompt), "%s %s", prompts[kind], what);
	if (a->prompt(a->prompt_cls, prompt, &s->value) != ERR_OK) {
		s->value = NULL;
		return err_replace(ERR_PASSWORD, "%s needs %s: give it with %s "
		    "(no terminal to ask on)", what, needs[kind],
		    s->how ? s->how : "its option");
	}
	s->prompted = true;
	return ERR_OK;
}

int
auth_get(struct auth *a, enum auth_kind kind, enum auth_tries tries,
    const char *what, const char **value)
{
	struct auth_secret *s;
	bool asked_now = false;
	int ret;

	*value = NULL;
	if (a == NULL)		/* a request that carries no secrets */
		return err_set(ERR_PASSWORD, "%s needs %s", what, needs[kind]);
	kind = effective(a, kind);
	s = &a->s[kind];
	if (tries == AUTH_TRIES_LOCKED)
		return err_set(ERR_PASSWORD, "%s is locked after too many "
		    "wrong tries: unlock it (a token with its SO PIN or PUK, a "
		    "TPM when its lockout time has passed) before using it",
		    what);
	if (s->value == NULL) {
		if ((ret = ask(a, kind, tries, what)) != ERR_OK)
			return ret;
		asked_now = true;
	}
	if (was_refused(kind, s->value))
		return err_set(ERR_PASSWORD, "%s was refused by %s already: "
		    "rasign does not offer it again (each try counts toward a "
		    "lockout); correct %s and start again", nouns[kind], what,
		    s->how ? s->how : "it");
	if (tries == AUTH_TRIES_FINAL && !asked_now)
		return err_set(ERR_PASSWORD, "%s has one try left: rasign "
		    "spends it only on a value typed at its prompt; log in "
		    "once by hand to reset the counter, then start again",
		    what);
	/* SoftHSM, for one, keeps this flag after any wrong PIN: no noise. */
	if (tries == AUTH_TRIES_LOW)
		log_debug("%s reports that few tries are left", what);
	*value = s->value;
	return ERR_OK;
}

void
auth_result(struct auth *a, enum auth_kind kind, bool accepted)
{
	struct auth_secret *s;

	if (a == NULL || accepted || (s = &a->s[effective(a, kind)])->value ==
	    NULL)
		return;
	remember_refused(effective(a, kind), s->value);
	OPENSSL_clear_free(s->value, strlen(s->value));
	s->value = NULL;
}

bool
auth_known(const struct auth *a, enum auth_kind kind)
{
	return a != NULL && a->s[effective(a, kind)].value != NULL;
}

void
auth_clear(struct auth *a)
{
	for (int k = 0; k < AUTH_NKINDS; k++) {
		if (a->s[k].value != NULL)
			OPENSSL_clear_free(a->s[k].value,
			    strlen(a->s[k].value));
		a->s[k].value = NULL;
		a->s[k].prompted = false;
	}
}
