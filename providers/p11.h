/*
 * Internals of the PKCS#11 backend, shared by its files:
 *   p11uri.c    the PIN taken out of a pkcs11: URI; URIs for listings
 *   p11find.c   modules, tokens and object search (after
 *               draft-woodhouse-cert-best-practice)
 *   pkcs11.c    the backend table: open, login, sign, reopen
 */
#ifndef RASIGN_P11_H
#define RASIGN_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#define P11_MAX_TOKENS 32
#define P11_MAX_OBJECTS 64
#define P11_ATTESTATION_LABEL "X.509 Certificate for PIV Attestation"

struct p11_token {
	CK_FUNCTION_LIST *module;
	CK_SLOT_ID slot;
	CK_INFO module_info;
	CK_TOKEN_INFO info;
};

struct p11_object {
	const struct p11_token *token;
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS class;
	uint8_t id[256];
	size_t id_len;
	char label[256];
	uint8_t *value;		/* a certificate's DER, or NULL */
	size_t value_len;
};

struct p11_modules {
	CK_FUNCTION_LIST **list;	/* NULL-terminated */
	bool from_p11kit;		/* p11-kit's registered set */
	char failed[512];		/* "the PKCS#11 module PATH failed to
					   initialise (why)", or "" */
};

/* CK_RV to one of our codes, with a message naming `what`. */
int p11_err(CK_RV rv, const char *what);

/* A URI that names `obj` on its token, for listings and error messages. */
char *p11_uri_for(const struct p11_object *obj);

int p11_modules_load(const char *lib, P11KitUri *uri, struct p11_modules *);
void p11_modules_release(struct p11_modules *);
/* "no token matches URI", naming a module that failed to initialise. */
int p11_no_token(const struct p11_modules *, const char *uri);
/* The tokens whose module, slot and token match the URI. */
int p11_tokens_match(const struct p11_modules *, P11KitUri *uri,
    struct p11_token *out, size_t *n);
/*
 * Objects of `class` on the token matching the URI's id and label (or
 * `id` when given, instead of the URI's). Certificates come with values.
 */
int p11_find(const struct p11_token *, CK_SESSION_HANDLE, P11KitUri *uri,
    CK_OBJECT_CLASS class, const uint8_t *id, size_t id_len,
    struct p11_object *out, size_t max, size_t *n);
/* Fills id, label and, for certificates, the value of a found object. */
int p11_read_object(const struct p11_token *, CK_SESSION_HANDLE,
    struct p11_object *);
void p11_objects_clear(struct p11_object *, size_t n);
/* Drops PIV attestation certificates when something else matched too. */
size_t p11_skip_attestation(struct p11_object *, size_t n);
/* "several objects match: URI1, URI2" as the error, for n > 1. */
int p11_ambiguous(const char *what, const struct p11_object *, size_t n);
/* The same for several tokens, listing each token's URI. */
int p11_ambiguous_tokens(const struct p11_token *, size_t n, const char *uri);

#endif
