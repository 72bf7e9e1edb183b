/*
 * sign-string (spec §9): signs the fixed test string with the key, to check
 * that a key works without asking AWS anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "cmd.h"
#include "err.h"
#include "identity.h"
#include "log.h"
#include "options.h"
#include "provider.h"

static const char usage[] =
"usage: rasign sign-string [--certificate CERT] [--private-key KEY]\n"
"           [--format json|text|bin] [--digest SHA256|SHA384|SHA512]\n"
"           [--pkcs8-password SOURCE] [--pkcs11-lib PATH] [--pkcs11-pin SOURCE]\n"
"           [--pkcs11-context-pin SOURCE] [--reuse-pin]\n"
"           [--cert-selector SELECTOR] [--use-latest-expiring-certificate]\n"
"           [--tpm-tcti TCTI] [--tpm-key-password SOURCE]\n"
"           [--no-tpm-key-password] [--tpm-parent-password SOURCE] [--debug]\n"
"           [--spiffe-endpoint unix:///PATH|env] [--spiffe-id spiffe://ID]\n"
"\n"
"Signs the fixed test string \"AWS Roles Anywhere Credential Helper Signing\n"
"Test\" || \"1\" || SHA256(\"IAM RA\" || public key) and prints the signature\n"
"(json: a quoted hex string, the default; text: hex; bin: raw bytes).\n"
"The options are credential-process's; --system-store-name is accepted\n"
"and ignored.\n";

#define FIXED "AWS Roles Anywhere Credential Helper Signing Test"
#define FIXED_VERSION "1"

/* The key's public bytes: the uncompressed EC point or PKCS#1 RSAPublicKey. */
static int
public_bytes(EVP_PKEY *pk, unsigned char **out, size_t *len)
{
	unsigned char *p;
	int n;

	*out = NULL;
	if (EVP_PKEY_is_a(pk, "EC")) {
		*len = 0;
		if (!EVP_PKEY_get_octet_string_param(pk,
		    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0, len) ||
		    (*out = malloc(*len)) == NULL ||
		    !EVP_PKEY_get_octet_string_param(pk,
		    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, *out, *len, len))
			return ERR_KEY;
		return ERR_OK;
	}
	/* i2d_PublicKey writes RSAPublicKey for RSA keys. */
	if ((n = i2d_PublicKey(pk, NULL)) <= 0 || (*out = malloc((size_t)n)) ==
	    NULL)
		return ERR_KEY;
	p = *out;
	*len = (size_t)i2d_PublicKey(pk, &p);
	return ERR_OK;
}

/* FIXED || "1" || SHA256("IAM RA" || pub), then hashed with `md`. */
static int
fixed_digest(EVP_PKEY *pk, const EVP_MD *md, uint8_t *dgst, unsigned *dlen)
{
	unsigned char *pub = NULL, suffix[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t publen = 0;
	int ret = ERR_INTERNAL;

	if (c == NULL)
		return ERR_NOMEM;
	if (pk != NULL && public_bytes(pk, &pub, &publen) != ERR_OK) {
		ret = err_set(ERR_KEY, "cannot encode the public key");
		goto out;
	}
	if (pub != NULL && (!EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, "IAM RA", 6) ||
	    !EVP_DigestUpdate(c, pub, publen) ||
	    !EVP_DigestFinal_ex(c, suffix, NULL)))
		goto out;
	if (!EVP_DigestInit_ex(c, md, NULL) ||
	    !EVP_DigestUpdate(c, FIXED FIXED_VERSION,
	    strlen(FIXED FIXED_VERSION)) ||
	    (pub != NULL && !EVP_DigestUpdate(c, suffix, sizeof(suffix))) ||
	    !EVP_DigestFinal_ex(c, dgst, dlen))
		goto out;
	ret = ERR_OK;
out:
	free(pub);
	EVP_MD_CTX_free(c);
	return ret;
}

int
cmd_sign_string(int argc, char **argv)
{
	const char *format, *digest;
	struct identity id = { 0 };
	struct options o;
	EVP_PKEY *pub = NULL;
	const EVP_MD *md;
	uint8_t dgst[EVP_MAX_MD_SIZE], sig[SIGNATURE_MAX];
	size_t siglen = sizeof(sig);
	unsigned dlen = 0;
	int ret;

	if ((ret = options_parse(&o, CMD_SIGN_STRING, "sign-string", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK)
		goto out;
	format = o.format != NULL ? o.format : "json";
	digest = o.digest != NULL ? o.digest : "SHA256";
	if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0 &&
	    strcmp(format, "bin") != 0) {
		ret = err_set(ERR_USAGE, "--format must be json, text or bin, "
		    "not \"%s\"", format);
		goto out;
	}
	md = strcmp(digest, "SHA256") == 0 ? EVP_sha256() :
	    strcmp(digest, "SHA384") == 0 ? EVP_sha384() :
	    strcmp(digest, "SHA512") == 0 ? EVP_sha512() : NULL;
	if (md == NULL) {
		ret = err_set(ERR_USAGE, "--digest must be SHA256, SHA384 or "
		    "SHA512, not \"%s\"", digest);
		goto out;
	}
	if ((ret = identity_open_signer(&o, &id)) != ERR_OK)
		goto out;
	if (id.leaf != NULL) {
		pub = X509_get0_pubkey(id.leaf);
		if (pub != NULL && !EVP_PKEY_up_ref(pub))
			pub = NULL;
	} else if ((ret = signer_public_key(id.signer, &pub)) != ERR_OK)
		goto out;
	log_debug("signing the fixed string \"%s%s\" || SHA256(\"IAM RA\" || "
	    "public key)%s", FIXED, FIXED_VERSION, pub ? "" :
	    " (no public key known: without the suffix)");
	if ((ret = fixed_digest(pub, md, dgst, &dlen)) != ERR_OK ||
	    (ret = signer_sign_digest(id.signer, EVP_MD_get_type(md), dgst,
	    dlen, sig, &siglen)) != ERR_OK)
		goto out;
	if (strcmp(format, "bin") == 0) {
		fwrite(sig, 1, siglen, stdout);
	} else {
		if (strcmp(format, "json") == 0)
			putchar('"');
		for (size_t i = 0; i < siglen; i++)
			printf("%02x", sig[i]);
		if (strcmp(format, "json") == 0)
			putchar('"');
	}
	if (fflush(stdout) == EOF)
		ret = err_set(ERR_INTERNAL, "cannot write to standard output");
out:
	EVP_PKEY_free(pub);
	identity_close(&id);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
