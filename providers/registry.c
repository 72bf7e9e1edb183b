/* The backends, in the order they are asked to claim a key reference. */
#include <string.h>

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
