/*
 * --cert-selector in both forms. The first byte picks the form: even for
 * the string "Key=…,Value=… …" (the rest of the input), odd for
 * "file://PATH" with the rest of the input as the JSON file. A parsed
 * selector is matched against a certificate whose names it may select.
 */
#include <openssl/x509.h>

#include "err.h"
#include "fuzz.h"
#include "selector.h"
#include "x509.h"

int LLVMFuzzerInitialize(int *, char ***);

static X509 *cert;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	X509_NAME *n;

	(void)argc;
	(void)argv;
	/* Unsigned: selector_matches reads names and serial only. */
	if ((cert = X509_new()) == NULL || (n = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	    (const unsigned char *)"US", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"Example, Inc.", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"leaf", -1, -1, 0) ||
	    !X509_set_subject_name(cert, n) || !X509_set_issuer_name(cert, n) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x1234))
		abort();
	X509_NAME_free(n);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct selector s;
	char *text, path[80];
	int ret;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		snprintf(path, sizeof(path), "file://%s",
		    fuzz_file(data + 1, size - 1));
		text = strdup(path);
	} else {
		text = fuzz_strndup(data + 1, size - 1);
	}
	if (text == NULL)
		abort();
	err_clear();
	ret = selector_parse(text, &s);
	if (ret != ERR_OK) {
		FUZZ_CHECK(err_message() != NULL);
		FUZZ_CHECK(!s.subject && !s.issuer && !s.serial);
	} else {
		/* An accepted selector selects something, by input only. */
		FUZZ_CHECK(s.subject || s.issuer || s.serial);
		FUZZ_CHECK(!s.subject || strlen(s.subject) < size);
		FUZZ_CHECK(!s.issuer || strlen(s.issuer) < size);
		FUZZ_CHECK(!s.serial || !BN_is_negative(s.serial));
		(void)selector_matches(&s, cert);
		selector_free(&s);
	}
	free(text);
	return 0;
}
