/*
 * Known-answer tests: every case in hsm-tests/vectors/ (computed by an
 * independent implementation, or captured from the Go helper) must come out
 * byte for byte: query, body, canonical request, string to sign,
 * Authorization; for RSA the signature too, for ECDSA a signature that
 * verifies. The request goes through the real file backend and x509 code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "err.h"
#include "options.h"
#include "provider.h"
#include "session.h"
#include "sigv4x509.h"
#include "x509.h"

#define VECTORS_DIR "hsm-tests/vectors"

static const char *const vectors[] = {
	"rsa2048-basic.json",
	"rsa2048-local-port.json",
	"rsa3072-chain-session-name.json",
	"ecdsa-p256-basic.json",
	"ecdsa-p384-chain.json",
	"captured-go-helper-1.1.1.json",
};

static const char *
str(json_t *root, const char *sect, const char *key)
{
	json_t *v = json_object_get(json_object_get(root, sect), key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Writes text to a private temporary file; the caller unlinks it. */
static char *
temp_file(const char *text)
{
	char *path = strdup("/tmp/rasign-unit-XXXXXX");
	int fd;

	assert_non_null(path);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int
verify(X509 *cert, const char *string_to_sign, const char *sighex)
{
	size_t n = strlen(sighex) / 2;
	unsigned char *sig = malloc(n);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	for (size_t i = 0; i < n; i++)
		sscanf(sighex + 2 * i, "%2hhx", &sig[i]);
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    X509_get0_pubkey(cert)) == 1 &&
	    EVP_DigestVerify(md, sig, n, (const unsigned char *)string_to_sign,
	    strlen(string_to_sign)) == 1;
	EVP_MD_CTX_free(md);
	free(sig);
	return ok;
}

/* The session the CLI would build from the vector's inputs. */
static void
prepare(json_t *v, struct session *s)
{
	json_t *in = json_object_get(v, "inputs");
	struct options o;

	memset(&o, 0, sizeof(o));
	o.trust_anchor_arn = str(v, "inputs", "trust_anchor_arn");
	o.profile_arn = str(v, "inputs", "profile_arn");
	o.role_arn = str(v, "inputs", "role_arn");
	o.region = str(v, "inputs", "region");
	o.endpoint = str(v, "inputs", "endpoint");
	o.role_session_name = str(v, "inputs", "role_session_name");
	o.session_duration = json_integer_value(json_object_get(in,
	    "session_duration"));
	o.timeout = 30;
	assert_int_equal(session_prepare(&o, s), ERR_OK);
}

static void
test_vector(void **state)
{
	const char *name = *state;
	char path[512], *certf, *chainf = NULL, *keyf = NULL;
	char *cr, *sts, *auth, *x509b64, *chainb64, *serial, sighex[2 * SIGNATURE_MAX + 1];
	const char *alg, *inter, *keypem, *req_line;
	struct key_request kr = { .key_ref = NULL };
	struct sigv4_params p;
	struct signer *sg;
	STACK_OF(X509) *chain = NULL;
	struct session s;
	uint8_t digest[32], sig[SIGNATURE_MAX];
	size_t siglen = sizeof(sig);
	X509 *cert;
	json_t *v;

	snprintf(path, sizeof(path), "%s/%s", getenv("VECTORS_DIR") ?
	    getenv("VECTORS_DIR") : VECTORS_DIR, name);
	assert_non_null(v = json_load_file(path, 0, NULL));
	prepare(v, &s);
	certf = temp_file(str(v, "inputs", "certificate_pem"));
	assert_int_equal(x509_load_cert(certf, &cert), ERR_OK);
	inter = str(v, "inputs", "intermediates_pem");
	if (inter != NULL && *inter != '\0') {
		chainf = temp_file(inter);
		assert_int_equal(x509_load_bundle(chainf, &chain), ERR_OK);
	}
	assert_int_equal(x509_algorithm(cert, "vector", &alg), ERR_OK);
	assert_int_equal(x509_base64(cert, &x509b64), ERR_OK);
	assert_int_equal(x509_chain_base64(chain, &chainb64), ERR_OK);
	assert_int_equal(x509_serial_decimal(cert, &serial), ERR_OK);

	p = (struct sigv4_params){ alg, str(v, "inputs", "amz_date"), s.region,
	    s.host, s.path, s.query, s.body, x509b64, chainb64, serial };
	assert_string_equal(s.body, str(v, "expected", "body"));
	if ((req_line = str(v, "expected", "request_line")) != NULL) {
		char line[4096];

		snprintf(line, sizeof(line), "POST %s?%s", s.path,
		    s.query);
		assert_string_equal(line, req_line);
	}
	assert_string_equal(sigv4_signed_headers(&p),
	    str(v, "expected", "signed_headers"));
	assert_int_equal(sigv4_canonical_request(&p, &cr), ERR_OK);
	assert_string_equal(cr, str(v, "expected", "canonical_request"));
	assert_int_equal(sigv4_string_to_sign(&p, cr, &sts), ERR_OK);
	assert_string_equal(sts, str(v, "expected", "string_to_sign"));
	/* The expected signature verifies with the certificate, always. */
	assert_true(verify(cert, sts, str(v, "expected", "signature_hex")));

	if ((keypem = str(v, "inputs", "private_key_pem")) != NULL) {
		keyf = temp_file(keypem);
		kr.key_ref = keyf;
		assert_int_equal(signer_open(&kr, &sg), ERR_OK);
		assert_int_equal(sigv4_digest(sts, digest), ERR_OK);
		assert_int_equal(signer_sign_digest(sg, NID_sha256, digest, 32,
		    sig, &siglen), ERR_OK);
		signer_close(sg);
		hex(sig, siglen, sighex);
		assert_true(verify(cert, sts, sighex));
		/* PKCS#1 v1.5 is deterministic: the exact bytes must match. */
		if (json_is_true(json_object_get(v, "deterministic_signature")))
			assert_string_equal(sighex,
			    str(v, "expected", "signature_hex"));
	} else {
		siglen = strlen(str(v, "expected", "signature_hex")) / 2;
		for (size_t i = 0; i < siglen; i++)
			sscanf(str(v, "expected", "signature_hex") + 2 * i,
			    "%2hhx", &sig[i]);
	}
	if (json_is_true(json_object_get(v, "deterministic_signature")) ||
	    keypem == NULL) {
		assert_int_equal(sigv4_authorization(&p, sig, siglen, &auth),
		    ERR_OK);
		assert_string_equal(auth, str(v, "expected", "authorization"));
		free(auth);
	}
	unlink(certf);
	if (chainf)
		unlink(chainf);
	if (keyf)
		unlink(keyf);
	free(certf);
	free(chainf);
	free(keyf);
	free(cr);
	free(sts);
	free(x509b64);
	free(chainb64);
	free(serial);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	session_free(&s);
	json_decref(v);
}

int
main(void)
{
	struct CMUnitTest tests[sizeof(vectors) / sizeof(vectors[0])];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		tests[i] = (struct CMUnitTest){ vectors[i], test_vector, NULL,
		    NULL, (void *)vectors[i] };
	return cmocka_run_group_tests_name("sigv4x509 vectors", tests, NULL,
	    NULL);
}
