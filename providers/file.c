/*
 * Keys in files: PEM or DER; PKCS#1, SEC1, PKCS#8, encrypted PKCS#8 and
 * legacy encrypted PEM (all through OpenSSL's decoders); PKCS#12 with or
 * without a password, whose certificates come along.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "err.h"
#include "provider.h"
#include "files.h"
#include "x509.h"

struct file_signer {
	struct signer base;
	EVP_PKEY *pkey;
	X509 *leaf;			/* PKCS#12 only */
	STACK_OF(X509) *chain;		/* PKCS#12 only */
};

/* The password, taken at most once, when OpenSSL finds the key encrypted. */
struct pwctx {
	const char *path;
	struct auth *auth;
	const char *password;		/* owned by auth */
	int asked;			/* the key turned out to be encrypted */
	int err;			/* why no password could be had */
};

static int
get_password(struct pwctx *pw)
{
	char what[512];

	if (pw->password != NULL || pw->err != ERR_OK)
		return pw->err;
	pw->asked = 1;
	snprintf(what, sizeof(what), "%s", pw->path);
	pw->err = auth_get(pw->auth, AUTH_FILE_KEY, AUTH_TRIES_UNKNOWN, what,
	    &pw->password);
	return pw->err;
}

static int
pem_cb(char *buf, int size, int rwflag, void *u)
{
	struct pwctx *pw = u;
	size_t len;

	(void)rwflag;
	if (get_password(pw) != ERR_OK)
		return -1;
	if ((len = strlen(pw->password)) > (size_t)size)
		return -1;
	memcpy(buf, pw->password, len);
	return (int)len;
}

static int
decode_key(const uint8_t *data, size_t len, struct pwctx *pw, EVP_PKEY **out)
{
	OSSL_DECODER_CTX *dctx = NULL;
	const unsigned char *p = data;
	BIO *bio = NULL;
	int ret = ERR_KEY;

	*out = NULL;
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		/* Skips other blocks, so key+certificate files work too. */
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
			return ERR_NOMEM;
		*out = PEM_read_bio_PrivateKey_ex(bio, NULL, pem_cb, pw, NULL,
		    NULL);
	} else {
		dctx = OSSL_DECODER_CTX_new_for_pkey(out, "DER", NULL, NULL,
		    EVP_PKEY_KEYPAIR, NULL, NULL);
		if (dctx == NULL ||
		    !OSSL_DECODER_CTX_set_pem_password_cb(dctx, pem_cb, pw) ||
		    !OSSL_DECODER_from_data(dctx, &p, &len))
			*out = NULL;
	}
	if (*out != NULL)
		ret = ERR_OK;
	else if (pw->err != ERR_OK)
		ret = pw->err;
	else if (pw->asked) {
		/*
		 * Not reported to auth_result(): a file counts no tries, and the
		 * message cannot tell a wrong password from an unsupported
		 * encryption.
		 */
		ret = err_set(ERR_PASSWORD, "cannot decrypt the private key "
		    "in %s: wrong password, or an encryption OpenSSL does not "
		    "support", pw->path);
	} else
		ret = err_set(ERR_KEY, "no private key found in %s: expected "
		    "PEM or DER in PKCS#8, PKCS#1, SEC1 or PKCS#12 form",
		    pw->path);
	/* OpenSSL's reasons here ("wrong tag", ...) would only mislead. */
	ERR_clear_error();
	BIO_free(bio);
	OSSL_DECODER_CTX_free(dctx);
	return ret;
}

static int
open_pkcs12(PKCS12 *p12, struct pwctx *pw, struct file_signer *fs)
{
	OSSL_PROVIDER *legacy;
	const char *pass = NULL;
	int ret = ERR_KEY;

	/*
	 * Older PKCS#12 files use RC2 or 3DES, which OpenSSL 3 keeps in the
	 * "legacy" provider; loaded only for this parse, beside the default.
	 */
	legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
	ERR_clear_error();
	/* No password: try the empty one both ways (NULL and ""). */
	if (!PKCS12_mac_present(p12) || PKCS12_verify_mac(p12, NULL, 0))
		pass = NULL;
	else if (PKCS12_verify_mac(p12, "", 0))
		pass = "";
	else {
		if ((ret = get_password(pw)) != ERR_OK)
			goto out;
		if (!PKCS12_verify_mac(p12, pw->password, -1)) {
				ret = err_set(ERR_PASSWORD, "wrong password for the "
			    "PKCS#12 file %s (--pkcs8-password)", pw->path);
			goto out;
		}
		pass = pw->password;
	}
	if (!PKCS12_parse(p12, pass, &fs->pkey, &fs->leaf, &fs->chain)) {
		ret = err_ssl(ERR_KEY, "cannot read the PKCS#12 file %s",
		    pw->path);
		goto out;
	}
	if (fs->pkey == NULL) {
		ret = err_set(ERR_KEY, "the PKCS#12 file %s holds no private "
		    "key", pw->path);
		goto out;
	}
	if (fs->leaf == NULL) {
		ret = err_set(ERR_CERT, "the PKCS#12 file %s holds no "
		    "certificate for its key", pw->path);
		goto out;
	}
	if (fs->chain != NULL && sk_X509_num(fs->chain) == 0) {
		sk_X509_free(fs->chain);
		fs->chain = NULL;
	}
	ret = ERR_OK;
out:
	OSSL_PROVIDER_unload(legacy);
	return ret;
}

/*
 * No key where one was expected: name the likely mistake from what the
 * file holds instead (a certificate, a TPM key from a source), keeping
 * `ret` and its message otherwise.
 */
static int
explain_no_key(const struct key_request *req, const uint8_t *data, size_t len,
    int ret)
{
	switch (x509_sniff(data, len)) {
	case X509_HOLDS_CERT:
		if (req->key_is_cert)
			return err_replace(ERR_USAGE, "%s holds a certificate but "
			    "no private key: give the key with --private-key "
			    "(only a PKCS#12 file, or a PEM file holding both, "
			    "is given as --certificate alone)", req->key_ref);
		return err_replace(ERR_USAGE, "--private-key %s holds a "
		    "certificate, not a private key: give the key's file",
		    req->key_ref);
	case X509_HOLDS_TPM_KEY:
		/* tpm2_claims() reads TPM keys from files only. */
		return err_replace(ERR_USAGE, "%s holds a TPM key (TSS2 PRIVATE "
		    "KEY), which is read from a file only: give its path",
		    req->key_ref);
	default:
		return ret;
	}
}

static void
file_close(struct signer *s)
{
	struct file_signer *fs = (struct file_signer *)s;

	if (fs == NULL)
		return;
	EVP_PKEY_free(fs->pkey);
	X509_free(fs->leaf);
	sk_X509_pop_free(fs->chain, X509_free);
	free(fs);
}

static int
file_open(const struct key_request *req, struct signer **out)
{
	struct pwctx pw = { req->key_ref, req->auth, NULL, 0, 0 };
	struct file_signer *fs;
	const unsigned char *p;
	PKCS12 *p12 = NULL;
	const uint8_t *in;
	uint8_t *data = NULL;	/* what we read; key_data is the caller's */
	size_t len = 0;
	int ret;

	*out = NULL;
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return ERR_NOMEM;
	fs->base.provider = &file_provider;
	if (req->key_data != NULL) {
		in = req->key_data;
		len = req->key_len;
	} else if ((ret = files_read(req->key_ref, "private key file", ERR_KEY,
	    FILES_MAX, &data, &len)) != ERR_OK)
		goto out;
	else
		in = data;
	p = in;
	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) != NULL)
		ret = open_pkcs12(p12, &pw, fs);
	else if ((ret = decode_key(in, len, &pw, &fs->pkey)) == ERR_KEY &&
	    !pw.asked)
		ret = explain_no_key(req, in, len, ret);
	ERR_clear_error();
	if (ret != ERR_OK)
		goto out;
	*out = &fs->base;
	fs = NULL;
out:
	file_close(fs ? &fs->base : NULL);
	PKCS12_free(p12);
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return ret;
}

static bool
file_claims(const char *key_ref)
{
	(void)key_ref;
	return true;
}

static int
file_certificate(struct signer *s, X509 **leaf, STACK_OF(X509) **chain)
{
	struct file_signer *fs = (struct file_signer *)s;

	return provider_share_certificate(fs->leaf, fs->chain, leaf, chain);
}

static int
file_public_key(struct signer *s, EVP_PKEY **out)
{
	struct file_signer *fs = (struct file_signer *)s;

	if (!EVP_PKEY_up_ref(fs->pkey))
		return ERR_INTERNAL;
	*out = fs->pkey;
	return ERR_OK;
}

static int
file_sign_digest(struct signer *s, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	struct file_signer *fs = (struct file_signer *)s;
	EVP_PKEY_CTX *ctx;
	const EVP_MD *md;
	int ret = ERR_KEY;

	if ((md = EVP_get_digestbynid(md_nid)) == NULL)
		return err_set(ERR_INTERNAL, "unknown digest %d", md_nid);
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, fs->pkey, NULL)) == NULL)
		return ERR_NOMEM;
	if (EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
	    (EVP_PKEY_is_a(fs->pkey, "RSA") &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) <= 0) {
		ret = err_ssl(ERR_KEY, "signing with the key file failed");
		goto out;
	}
	ret = ERR_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

const struct provider file_provider = {
	.name = "file",
	.caps = CAP_RSA | CAP_ECDSA | CAP_NEEDS_PIN | CAP_HAS_CERT,
	.claims = file_claims,
	.open = file_open,
	.certificate = file_certificate,
	.public_key = file_public_key,
	.sign_digest = file_sign_digest,
	.close = file_close,
};
