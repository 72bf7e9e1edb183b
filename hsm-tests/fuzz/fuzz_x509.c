/*
 * Certificate files (src/x509.c): the first byte picks x509_load_cert
 * (even: PEM or DER) or x509_load_bundle (odd: --intermediates), the rest
 * is the file; x509_sniff (the mistake messages) sees every input. Every
 * certificate read then goes through what a request
 * does with it. Invariants: the base64 for X-Amz-X509 decodes to the DER;
 * the decimal serial is the serial; names fit their buffer; a bundle has
 * 1 to CHAIN_MAX certificates, joined with one comma between each.
 */
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>

#include "err.h"
#include "fuzz.h"
#include "x509.h"

static void
check_cert(X509 *x)
{
	unsigned char *der = NULL, *dec;
	char *b64 = NULL, *serial = NULL, name[1024];
	const char *alg, *type;
	BIGNUM *bn = NULL, *want;
	int len, n;

	FUZZ_CHECK((len = i2d_X509(x, &der)) > 0);
	FUZZ_CHECK(x509_base64(x, &b64) == ERR_OK);
	FUZZ_CHECK((dec = malloc(strlen(b64) + 1)) != NULL);
	n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)strlen(b64));
	/* DecodeBlock keeps the padding's zero bytes: at most 2 more. */
	FUZZ_CHECK(n >= len && n <= len + 2 && memcmp(dec, der, len) == 0);
	free(dec);
	free(b64);
	OPENSSL_free(der);

	err_clear();
	if (x509_serial_decimal(x, &serial) == ERR_OK) {
		FUZZ_CHECK(BN_dec2bn(&bn, serial) > 0);
		want = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		FUZZ_CHECK(want != NULL && BN_cmp(bn, want) == 0);
		BN_free(want);
		BN_free(bn);
		free(serial);
	}
	x509_subject(x, name, sizeof(name));
	FUZZ_CHECK(strlen(name) < sizeof(name));
	x509_name_string(X509_get_issuer_name(x), name, 16);
	FUZZ_CHECK(strlen(name) < 16);
	type = x509_key_type(x);
	err_clear();
	if (x509_algorithm(x, "the certificate", &alg) == ERR_OK)
		FUZZ_CHECK(alg != NULL && *type != '\0');
	else
		FUZZ_CHECK(alg == NULL && err_message() != NULL);
	(void)x509_check_validity(x, "the certificate", time(NULL));
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = NULL;
	const char *path;
	char *joined = NULL;
	enum x509_content kind;
	X509 *x = NULL;
	int commas = 0, more;

	if (size == 0)
		return 0;
	path = fuzz_file(data + 1, size - 1);
	err_clear();
	/* Told without a password, from any input (the mistake messages). */
	kind = x509_sniff(data + 1, size - 1);
	if (!(data[0] & 1)) {
		if (x509_load_cert(path, &x) != ERR_OK) {
			FUZZ_CHECK(x == NULL && err_message() != NULL);
			return 0;
		}
		check_cert(x);
		X509_free(x);
		/* The same bytes from a source (env:, fd:) read the same. */
		err_clear();
		FUZZ_CHECK(x509_read_cert("fuzz", data + 1, size - 1, &x,
		    &more) == ERR_OK && x != NULL && more >= 0);
		X509_free(x);
		/* A file holding a certificate is never "something else". */
		FUZZ_CHECK(kind != X509_HOLDS_OTHER);
		return 0;
	}
	if (x509_load_bundle(path, &sk) != ERR_OK) {
		FUZZ_CHECK(sk == NULL && err_message() != NULL);
		return 0;
	}
	FUZZ_CHECK(sk_X509_num(sk) >= 1 && sk_X509_num(sk) <= CHAIN_MAX);
	for (int i = 0; i < sk_X509_num(sk); i++)
		check_cert(sk_X509_value(sk, i));
	FUZZ_CHECK(x509_chain_base64(sk, &joined) == ERR_OK && joined);
	for (const char *p = joined; (p = strchr(p, ',')) != NULL; p++)
		commas++;
	FUZZ_CHECK(commas == sk_X509_num(sk) - 1);
	free(joined);
	sk_X509_pop_free(sk, X509_free);
	return 0;
}
