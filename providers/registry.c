/* The backends, in the order they are asked to claim a key reference. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "err.h"
#include "provider.h"

static const struct provider *const providers[] = {
	/* Backends that claim by form come first. */
#ifdef WITH_PKCS11
	&pkcs11_provider,	/* pkcs11: URIs */
#endif
#ifdef WITH_TPM2
	&tpm2_provider,		/* handle:0x81…, TSS2 PRIVATE KEY files */
#endif
	&file_provider,		/* last: any other reference is a path */
	NULL,
};

const struct provider *
provider_find(const char *key_ref)
{
	for (size_t i = 0; providers[i] != NULL; i++)
		if (providers[i]->claims(key_ref))
			return providers[i];
	return NULL;
}

int
signer_open(const struct key_request *req, struct signer **out)
{
	const struct provider *p;

	*out = NULL;
	if ((p = provider_find(req->key_ref)) == NULL)
		return err_set(ERR_USAGE, "no backend in this build handles "
		    "the key reference \"%.64s\"", req->key_ref);
	return p->open(req, out);
}

int
signer_certificate(struct signer *s, X509 **leaf, STACK_OF(X509) **chain)
{
	*leaf = NULL;
	*chain = NULL;
	if (s->provider->certificate == NULL)
		return ERR_OK;
	return s->provider->certificate(s, leaf, chain);
}

int
signer_public_key(struct signer *s, EVP_PKEY **out)
{
	*out = NULL;
	return s->provider->public_key(s, out);
}

int
signer_sign_digest(struct signer *s, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	return s->provider->sign_digest(s, md_nid, dgst, dlen, sig, siglen);
}

size_t
provider_key_bytes(const EVP_PKEY *pub)
{
	int bits = pub != NULL ? EVP_PKEY_get_bits(pub) : 0;

	return bits > 0 ? ((size_t)bits + 7) / 8 : 0;
}

/* ECDSA_SIG from r||s, DER-encoded into sig. */
static int
ecdsa_der(const uint8_t *raw, size_t half, uint8_t *sig, size_t *siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
	unsigned char *p = sig;
	int n, ret = ERR_NOMEM;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	if (BN_is_zero(r) || BN_is_zero(s)) {
		ret = err_set(ERR_DEVICE, "the device returned an ECDSA "
		    "signature with r or s zero");
		goto out;
	}
	if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 || (size_t)n > *siglen ||
	    i2d_ECDSA_SIG(es, &p) != n) {
		ret = err_set(ERR_INTERNAL, "the ECDSA signature does not fit");
		goto out;
	}
	*siglen = (size_t)n;
	ret = ERR_OK;
out:
	ECDSA_SIG_free(es);
	return ret;
}

/*
 * A token's answer is checked as OpenSSH checks it (ssh-pkcs11.c). Some
 * tokens drop an RSA signature's leading zero bytes, and a verifier must
 * refuse a signature shorter than the modulus (RFC 8017 §8.2.2 step 1):
 * pad it. A short or odd ECDSA r||s cannot be split right: refuse it.
 */
int
provider_finish_signature(bool ec, size_t keybytes, const uint8_t *raw,
    size_t rawlen, uint8_t *sig, size_t *siglen)
{
	size_t half = rawlen / 2;

	if (!ec) {
		if (keybytes == 0)
			keybytes = rawlen;	/* modulus unknown: as given */
		if (rawlen == 0 || rawlen > keybytes)
			return err_set(ERR_DEVICE, "the device returned a "
			    "%zu-byte RSA signature for a %zu-byte modulus",
			    rawlen, keybytes);
		if (keybytes > *siglen)
			return err_set(ERR_INTERNAL, "the RSA signature does "
			    "not fit");
		memmove(sig + (keybytes - rawlen), raw, rawlen);
		memset(sig, 0, keybytes - rawlen);
		*siglen = keybytes;
		return ERR_OK;
	}
	/* Order unknown: P-256's 2 x 32 bytes is the least we take. */
	if (rawlen % 2 != 0 || (keybytes != 0 && half != keybytes) ||
	    (keybytes == 0 && (half < 32 || half > 66)))
		return err_set(ERR_DEVICE, "the device returned a %zu-byte "
		    "ECDSA signature, which is not r||s of %zu-byte numbers",
		    rawlen, keybytes);
	return ecdsa_der(raw, half, sig, siglen);
}

void
signer_close(struct signer *s)
{
	if (s != NULL)
		s->provider->close(s);
}

int
provider_list_certificates(const struct key_request *req,
    int (*each)(void *arg, X509 *, const char *uri), void *arg)
{
	const struct provider *p = provider_find(req->key_ref);

	if (p == NULL || p->list_certificates == NULL)
		return err_set(ERR_USAGE, "cannot list certificates at "
		    "\"%.64s\": only pkcs11: URIs can be listed", req->key_ref);
	return p->list_certificates(req, each, arg);
}

int
provider_share_certificate(X509 *leaf, STACK_OF(X509) *chain, X509 **out_leaf,
    STACK_OF(X509) **out_chain)
{
	if (leaf == NULL)
		return ERR_OK;
	if (!X509_up_ref(leaf))
		return ERR_INTERNAL;
	*out_leaf = leaf;
	if (chain != NULL && (*out_chain = X509_chain_up_ref(chain)) == NULL) {
		X509_free(*out_leaf);
		*out_leaf = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

int
provider_public_from_params(const char *type, OSSL_PARAM_BLD *bld,
    EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	int ok;

	ok = (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) > 0;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok ? ERR_OK : ERR_KEY;
}
