/* TSS2 PRIVATE KEY files (draft-bottomley-tpm2-keys) and TPM public keys. */
#ifndef RASIGN_TPM2KEY_H
#define RASIGN_TPM2KEY_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

struct tpm2_keyfile {
	bool empty_auth;
	TPM2_HANDLE parent;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* Does the file hold a TSS2 PRIVATE KEY (PEM or DER)? */
bool tpm2key_is_keyfile(const char *path);
int tpm2key_load(const char *path, struct tpm2_keyfile *);
/* The OpenSSL public key of a TPM RSA or ECC key. */
int tpm2key_public(const TPMT_PUBLIC *, EVP_PKEY **);

#endif
