/*
 * Key files through the file backend (providers/file.c): PEM or DER,
 * PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, legacy encrypted PEM and PKCS#12
 * (password "test-password", as softhsm-fixtures/make-pki.sh uses).
 * Invariants: an opened key has a public key, and the certificate hook
 * gives a leaf exactly when the file is PKCS#12.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "err.h"
#include "fuzz.h"
#include "provider.h"

/*
 * Password-based keys cost what their iteration count says, and OpenSSL
 * has no ceiling: an input that asks for 2^31 PBKDF2 rounds is a hang, not
 * a finding. So inputs with a DER INTEGER of 2-8 bytes above 5000 (but the
 * RSA exponent 65537) are skipped, and scrypt (memory and time in p) too.
 */
static int
costly_der(const unsigned char *d, size_t n)
{
	static const unsigned char scrypt[] = { 0x06, 0x09, 0x2b, 0x06, 0x01,
	    0x04, 0x01, 0xda, 0x47, 0x04, 0x0b };

	if (memmem(d, n, scrypt, sizeof(scrypt)) != NULL)
		return 1;
	for (size_t i = 0; i + 2 < n; i++) {
		size_t len = d[i + 1];
		unsigned long long v = 0;

		if (d[i] != 0x02 || len < 2 || len > 8 || i + 2 + len > n)
			continue;
		for (size_t k = 0; k < len; k++)
			v = v << 8 | d[i + 2 + k];
		if (v > 5000 && v != 65537)
			return 1;
	}
	return 0;
}

static int
costly(const uint8_t *data, size_t size)
{
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long len = 0;
	BIO *b;
	int ret = costly_der(data, size);

	if (ret || memmem(data, size, "-----BEGIN", 10) == NULL)
		return ret;
	if ((b = BIO_new_mem_buf(data, (int)size)) == NULL)
		abort();
	while (!ret && PEM_read_bio(b, &name, &header, &der, &len)) {
		ret = costly_der(der, (size_t)len);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
	}
	BIO_free(b);
	ERR_clear_error();
	return ret;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth auth = { .s[AUTH_FILE_KEY].how = "fuzz" };
	struct key_request req = { .auth = &auth };
	const unsigned char *p = data;
	struct signer *s = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pk = NULL;
	X509 *leaf = NULL;
	PKCS12 *p12;
	int is_p12;

	if (costly(data, size))
		return 0;
	p12 = d2i_PKCS12(NULL, &p, (long)size);
	is_p12 = p12 != NULL;
	PKCS12_free(p12);
	ERR_clear_error();
	/* The password of every encrypted seed, resolved as keyauth.c does. */
	if ((auth.s[AUTH_FILE_KEY].value = OPENSSL_strdup("test-password")) ==
	    NULL)
		abort();
	req.key_ref = fuzz_file(data, size);
	err_clear();
	if (file_provider.open(&req, &s) != ERR_OK) {
		FUZZ_CHECK(s == NULL && err_message() != NULL);
		auth_clear(&auth);
		return 0;
	}
	auth_clear(&auth);
	FUZZ_CHECK(file_provider.public_key(s, &pk) == ERR_OK && pk != NULL);
	FUZZ_CHECK(file_provider.certificate(s, &leaf, &chain) == ERR_OK);
	FUZZ_CHECK((leaf != NULL) == is_p12);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pk);
	file_provider.close(s);
	return 0;
}
