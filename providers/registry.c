/* The backends, in the order they are asked to claim a key reference. */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "err.h"
#include "files.h"
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

const struct provider *const *
provider_all(void)
{
	return providers;
}

static bool
pkcs11_form(const char *ref)
{
	return strncmp(ref, "pkcs11:", 7) == 0;
}

/*
 * A TPM key as tpm2.c would claim it, told without tpm2-tss: a handle, a
 * PEM "TSS2 PRIVATE KEY", or DER whose first element is one of the TPM 2.0
 * key OIDs (2.23.133.10.1.3 loadable, .4 importable, .5 sealed).
 */
static bool
tpm_form(const char *ref)
{
	const unsigned char *q;
	ASN1_SEQUENCE_ANY *seq = NULL;
	const ASN1_TYPE *t;
	uint8_t *data = NULL;
	size_t len = 0;
	char oid[32];
	bool yes = false;

	if (strncmp(ref, "handle:", 7) == 0)
		return true;
	if (files_read(ref, "key file", ERR_KEY, FILES_MAX, &data, &len) !=
	    ERR_OK) {
		err_clear();	/* the file backend says why, if it matters */
		return false;
	}
	q = data;
	if (strstr((const char *)data, "-----BEGIN TSS2 PRIVATE KEY-----"))
		yes = true;
	else if ((seq = d2i_ASN1_SEQUENCE_ANY(NULL, &q, (long)len)) != NULL &&
	    sk_ASN1_TYPE_num(seq) > 0 &&
	    (t = sk_ASN1_TYPE_value(seq, 0))->type == V_ASN1_OBJECT &&
	    OBJ_obj2txt(oid, sizeof(oid), t->value.object, 1) > 0)
		yes = strncmp(oid, "2.23.133.10.1.", 14) == 0;
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	ERR_clear_error();
	OPENSSL_clear_free(data, len + 1);
	return yes;
}

/*
 * The forms of the optional backends, for a build without one: its keys
 * are named as such, instead of being read as files that do not exist.
 */
static const struct {
	bool built;
	const char *what;
	const char *knob;
	bool (*form)(const char *ref);
} optional[] = {
#ifdef WITH_PKCS11
	{ true, "PKCS#11", "WITH_PKCS11=1", pkcs11_form },
#else
	{ false, "PKCS#11", "WITH_PKCS11=1", pkcs11_form },
#endif
#ifdef WITH_TPM2
	{ true, "TPM", "WITH_TPM2=1", tpm_form },
#else
	{ false, "TPM", "WITH_TPM2=1", tpm_form },
#endif
};

/* ERR_USAGE when the reference needs a backend this build lacks. */
static int
check_built(const char *ref)
{
	for (size_t i = 0; ref != NULL &&
	    i < sizeof(optional) / sizeof(optional[0]); i++)
		if (!optional[i].built && optional[i].form(ref))
			return err_set(ERR_USAGE, "this rasign was built "
			    "without %s support, which \"%.64s\" needs: "
			    "rebuild it with %s", optional[i].what, ref,
			    optional[i].knob);
	return ERR_OK;
}

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
	if (check_built(req->key_ref) != ERR_OK ||
	    (req->cert_ref != NULL && pkcs11_form(req->cert_ref) &&
	    check_built(req->cert_ref) != ERR_OK))
		return ERR_USAGE;
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
	const struct provider *p;

	if (check_built(req->key_ref) != ERR_OK)
		return ERR_USAGE;
	p = provider_find(req->key_ref);
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
