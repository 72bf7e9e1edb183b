/*
 * The signing backends behind one table. The core hashes; a backend signs a
 * digest and never sees anything else. A backend never reads CLI state and
 * never exits the process: it returns an enum rerr with err_set() detail.
 */
#ifndef RASIGN_PROVIDER_H
#define RASIGN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "auth.h"

#define SIGNATURE_MAX 1024	/* RSA-8192 raw, or any ECDSA DER */

/* Capabilities a backend declares. */
enum {
	CAP_RSA = 1 << 0,
	CAP_ECDSA = 1 << 1,
	CAP_NEEDS_PIN = 1 << 2,	/* may ask for a PIN or password */
	CAP_HAS_CERT = 1 << 3,	/* can supply the certificate itself */
};

/* What the user asked for, without any CLI detail. */
struct key_request {
	const char *key_ref;		/* path, pkcs11: URI or handle: */
	/*
	 * The key's bytes when it came from env: or fd: (key_ref then names
	 * that source); NULL: read key_ref. Owned and wiped by the caller.
	 */
	const uint8_t *key_data;
	size_t key_len;
	bool key_is_cert;		/* no --private-key: one file holds both */
	const char *cert_ref;		/* --certificate as given, or NULL */
	X509 *cert;			/* read from a file, or chosen by
					   --cert-selector among the URI's */
	/*
	 * The PINs and passwords, resolved by the tool; outlives the signer.
	 * Backends take values from it with auth_get() and never read a
	 * source or prompt themselves.
	 */
	struct auth *auth;
	const char *pkcs11_lib;		/* one module instead of p11-kit's list */
	const char *tpm_tcti;		/* TCTI configuration, or NULL */
	bool no_tpm_key_password;	/* the key's auth value is empty */
};

struct provider;

/* Every backend's signer starts with this; the rest is the backend's own. */
struct signer {
	const struct provider *provider;
};

struct provider {
	const char *name;
	unsigned caps;
	/* Does this key reference belong to this backend? */
	bool (*claims)(const char *key_ref);
	int (*open)(const struct key_request *, struct signer **);
	/* Optional: the certificate and chain that come with the key. */
	int (*certificate)(struct signer *, X509 **leaf,
	    STACK_OF(X509) **chain);
	int (*public_key)(struct signer *, EVP_PKEY **);
	/* *siglen: the buffer's size in, the signature's length out. */
	int (*sign_digest)(struct signer *, int md_nid, const uint8_t *dgst,
	    size_t dlen, uint8_t *sig, size_t *siglen);
	void (*close)(struct signer *);
	/* Optional: every certificate the reference matches, for listings. */
	int (*list_certificates)(const struct key_request *,
	    int (*each)(void *arg, X509 *, const char *uri), void *arg);
};

extern const struct provider file_provider;
extern const struct provider pkcs11_provider;
extern const struct provider tpm2_provider;

/* For certificate hooks: hands out new references to a leaf and chain. */
int provider_share_certificate(X509 *leaf, STACK_OF(X509) *chain,
    X509 **out_leaf, STACK_OF(X509) **out_chain);

/* A public key of OpenSSL type "RSA" or "EC" from its parameters. */
int provider_public_from_params(const char *type, OSSL_PARAM_BLD *,
    EVP_PKEY **out);

/* A key's modulus (RSA) or group order (EC) length in bytes; 0 if NULL. */
size_t provider_key_bytes(const EVP_PKEY *pub);
/*
 * The one conversion of a device's raw signature (raw, rawlen) into what
 * the protocol carries (sig, *siglen: room in, length out; sig must not
 * overlap raw): RSA is left-padded with zeros to keybytes; ECDSA must be
 * r||s of exactly keybytes each (odd or short lengths are refused) and
 * becomes DER. keybytes 0: unknown, checked more loosely.
 */
int provider_finish_signature(bool ec, size_t keybytes, const uint8_t *raw,
    size_t rawlen, uint8_t *sig, size_t *siglen);

/* The dispatchers: the only callers of the table. */
const struct provider *provider_find(const char *key_ref);
/* The backends built in, NULL-terminated, in the order they claim. */
const struct provider *const *provider_all(void);
int signer_open(const struct key_request *, struct signer **);
/* Leaves *leaf and *chain NULL when the backend has no certificate. */
int signer_certificate(struct signer *, X509 **leaf, STACK_OF(X509) **chain);
int signer_public_key(struct signer *, EVP_PKEY **);
int signer_sign_digest(struct signer *, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen);
void signer_close(struct signer *);
/* ERR_USAGE when the reference's backend cannot list certificates. */
int provider_list_certificates(const struct key_request *,
    int (*each)(void *arg, X509 *, const char *uri), void *arg);

#endif
