/*
 * TPM keys: the TSS2 PRIVATE KEY file (tpm2key_load, PEM or DER) and the
 * TPM public area to an OpenSSL key (Tss2_MU TPM2B_PUBLIC unmarshal, then
 * tpm2key_public). The first byte picks: even, the rest is a key file; odd,
 * the rest is a marshalled TPM2B_PUBLIC. Invariants: a loaded file is
 * recognised as a key file; a public key converts only from RSA or ECC,
 * and then is that type, of the area's curve or no larger than its modulus.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "fuzz.h"
#include "tpm2key.h"

static void
check_public(const TPMT_PUBLIC *p)
{
	EVP_PKEY *pk = NULL;
	char group[64] = "";
	int ret;

	err_clear();
	ret = tpm2key_public(p, &pk);
	ERR_clear_error();
	if (ret != ERR_OK) {
		FUZZ_CHECK(pk == NULL);
		return;
	}
	FUZZ_CHECK(pk != NULL);
	if (p->type == TPM2_ALG_RSA) {
		FUZZ_CHECK(EVP_PKEY_is_a(pk, "RSA"));
		FUZZ_CHECK(EVP_PKEY_get_bits(pk) <= 8 * p->unique.rsa.size);
	} else {
		FUZZ_CHECK(p->type == TPM2_ALG_ECC && EVP_PKEY_is_a(pk, "EC"));
		FUZZ_CHECK(EVP_PKEY_get_utf8_string_param(pk,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL));
		switch (p->parameters.eccDetail.curveID) {
		case TPM2_ECC_NIST_P256:
			FUZZ_CHECK(strcmp(group, "prime256v1") == 0);
			break;
		case TPM2_ECC_NIST_P384:
			FUZZ_CHECK(strcmp(group, "secp384r1") == 0);
			break;
		default:
			FUZZ_CHECK(p->parameters.eccDetail.curveID ==
			    TPM2_ECC_NIST_P521 &&
			    strcmp(group, "secp521r1") == 0);
		}
	}
	EVP_PKEY_free(pk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm2_keyfile kf;
	TPM2B_PUBLIC pub;
	const char *path;
	size_t off = 0;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		memset(&pub, 0, sizeof(pub));
		if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(data + 1, size - 1, &off,
		    &pub) == TSS2_RC_SUCCESS) {
			FUZZ_CHECK(off <= size - 1);
			check_public(&pub.publicArea);
		}
		return 0;
	}
	path = fuzz_file(data + 1, size - 1);
	err_clear();
	if (tpm2key_load(path, &kf) != ERR_OK) {
		FUZZ_CHECK(err_message() != NULL);
		return 0;
	}
	FUZZ_CHECK(tpm2key_is_keyfile(path));
	check_public(&kf.pub.publicArea);
	return 0;
}
