/*
 * TSS2 PRIVATE KEY, read with OpenSSL ASN.1 templates as tpm2-openssl does:
 *   TPMKey ::= SEQUENCE {
 *     type        OBJECT IDENTIFIER (2.23.133.10.1.3, a loadable key),
 *     emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
 *     parent      INTEGER,
 *     pubkey      OCTET STRING (TPM2B_PUBLIC),
 *     privkey     OCTET STRING (TPM2B_PRIVATE) }
 * The TPM structures inside are unmarshalled with Tss2_MU.
 */
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "provider.h"
#include "files.h"
#include "tpm2key.h"

#define OID_LOADABLE_KEY "2.23.133.10.1.3"

typedef struct {
	ASN1_OBJECT *type;
	ASN1_BOOLEAN empty_auth;
	ASN1_INTEGER *parent;
	ASN1_OCTET_STRING *pubkey;
	ASN1_OCTET_STRING *privkey;
} TSSPRIVKEY;

ASN1_SEQUENCE(TSSPRIVKEY) = {
	ASN1_SIMPLE(TSSPRIVKEY, type, ASN1_OBJECT),
	ASN1_EXP_OPT(TSSPRIVKEY, empty_auth, ASN1_FBOOLEAN, 0),
	ASN1_SIMPLE(TSSPRIVKEY, parent, ASN1_INTEGER),
	ASN1_SIMPLE(TSSPRIVKEY, pubkey, ASN1_OCTET_STRING),
	ASN1_SIMPLE(TSSPRIVKEY, privkey, ASN1_OCTET_STRING)
} ASN1_SEQUENCE_END(TSSPRIVKEY)

DECLARE_ASN1_FUNCTIONS(TSSPRIVKEY)
IMPLEMENT_ASN1_FUNCTIONS(TSSPRIVKEY)
DECLARE_PEM_read_bio(TSSPRIVKEY, TSSPRIVKEY)
IMPLEMENT_PEM_read_bio(TSSPRIVKEY, TSSPRIVKEY, "TSS2 PRIVATE KEY", TSSPRIVKEY)

static TSSPRIVKEY *
parse(const uint8_t *data, size_t len)
{
	const unsigned char *p = data;
	TSSPRIVKEY *k = NULL;
	BIO *b;

	if (memmem(data, len, "-----BEGIN TSS2 PRIVATE KEY-----", 32) != NULL) {
		if ((b = BIO_new_mem_buf(data, (int)len)) != NULL) {
			k = PEM_read_bio_TSSPRIVKEY(b, NULL, NULL, NULL);
			BIO_free(b);
		}
	} else {
		k = d2i_TSSPRIVKEY(NULL, &p, (long)len);
	}
	if (k != NULL) {
		char oid[64];

		if (OBJ_obj2txt(oid, sizeof(oid), k->type, 1) <= 0 ||
		    strcmp(oid, OID_LOADABLE_KEY) != 0) {
			TSSPRIVKEY_free(k);
			k = NULL;
		}
	}
	ERR_clear_error();
	return k;
}

bool
tpm2key_is_keyfile(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	TSSPRIVKEY *k;

	if (files_read(path, "key file", ERR_KEY, FILES_MAX, &data, &len) !=
	    ERR_OK) {
		err_clear();
		return false;
	}
	k = parse(data, len);
	/* Any key file passes through here, plaintext ones too. */
	OPENSSL_clear_free(data, len + 1);
	TSSPRIVKEY_free(k);
	return k != NULL;
}

int
tpm2key_load(const char *path, struct tpm2_keyfile *kf)
{
	uint8_t *data = NULL;
	size_t len = 0, off;
	uint64_t parent;
	TSSPRIVKEY *k = NULL;
	int ret;

	memset(kf, 0, sizeof(*kf));
	if ((ret = files_read(path, "TPM key file", ERR_KEY, FILES_MAX,
	    &data, &len)) != ERR_OK)
		return ret;
	ret = ERR_KEY;
	if ((k = parse(data, len)) == NULL) {
		ret = err_set(ERR_KEY, "%s is not a TSS2 PRIVATE KEY", path);
		goto out;
	}
	if (!ASN1_INTEGER_get_uint64(&parent, k->parent) ||
	    parent > UINT32_MAX) {
		ret = err_set(ERR_KEY, "%s: bad parent handle", path);
		goto out;
	}
	kf->parent = (TPM2_HANDLE)parent;
	kf->empty_auth = k->empty_auth > 0;
	off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ASN1_STRING_get0_data(k->pubkey),
	    (size_t)ASN1_STRING_length(k->pubkey), &off, &kf->pub) !=
	    TSS2_RC_SUCCESS) {
		ret = err_set(ERR_KEY, "%s: the public part is corrupt", path);
		goto out;
	}
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(ASN1_STRING_get0_data(k->privkey),
	    (size_t)ASN1_STRING_length(k->privkey), &off, &kf->priv) !=
	    TSS2_RC_SUCCESS) {
		ret = err_set(ERR_KEY, "%s: the private part is corrupt", path);
		goto out;
	}
	ret = ERR_OK;
out:
	ERR_clear_error();
	TSSPRIVKEY_free(k);
	OPENSSL_clear_free(data, len + 1);
	return ret;
}

static int
rsa_public(const TPMT_PUBLIC *p, EVP_PKEY **out)
{
	const TPM2B_PUBLIC_KEY_RSA *m = &p->unique.rsa;
	uint32_t exp = p->parameters.rsaDetail.exponent;
	OSSL_PARAM_BLD *bld;
	BIGNUM *n, *e;
	int ret = ERR_KEY;

	/* An exponent of 0 means the default, 65537 (TPM 2.0 part 2). */
	n = BN_bin2bn(m->buffer, m->size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (n != NULL && e != NULL && bld != NULL &&
	    BN_set_word(e, exp ? exp : 65537) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		ret = provider_public_from_params("RSA", bld, out);
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

static int
ecc_public(const TPMT_PUBLIC *p, EVP_PKEY **out)
{
	const TPMS_ECC_POINT *pt = &p->unique.ecc;
	unsigned char point[1 + 2 * 66];
	OSSL_PARAM_BLD *bld;
	const char *group;
	size_t fl;
	int ret = ERR_KEY;

	switch (p->parameters.eccDetail.curveID) {
	case TPM2_ECC_NIST_P256: group = "prime256v1"; fl = 32; break;
	case TPM2_ECC_NIST_P384: group = "secp384r1"; fl = 48; break;
	case TPM2_ECC_NIST_P521: group = "secp521r1"; fl = 66; break;
	default:
		return err_set(ERR_KEY, "unsupported TPM ECC curve 0x%x",
		    p->parameters.eccDetail.curveID);
	}
	if (pt->x.size > fl || pt->y.size > fl)
		return err_set(ERR_KEY, "the TPM key's EC point is too long");
	/* Uncompressed point: 04 || X || Y, each left-padded to the field. */
	memset(point, 0, sizeof(point));
	point[0] = 0x04;
	memcpy(point + 1 + fl - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(point + 1 + 2 * fl - pt->y.size, pt->y.buffer, pt->y.size);
	if ((bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, 1 + 2 * fl))
		ret = provider_public_from_params("EC", bld, out);
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

int
tpm2key_public(const TPMT_PUBLIC *p, EVP_PKEY **out)
{
	*out = NULL;
	if (p->type == TPM2_ALG_RSA)
		return rsa_public(p, out);
	if (p->type == TPM2_ALG_ECC)
		return ecc_public(p, out);
	return err_set(ERR_KEY, "the TPM key is neither RSA nor ECC");
}
