/* Certificates and chains: loading, encoding for headers, pre-flight checks. */
#ifndef RASIGN_X509_H
#define RASIGN_X509_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CHAIN_MAX 5		/* intermediates sent; AWS's own limit */

/* The first certificate in a PEM file (other blocks skipped) or a DER file. */
int x509_load_cert(const char *path, X509 **out);
/*
 * The same from bytes; `name` (a path or "env:VAR") is for messages. *more
 * (when not NULL) gets the number of further CERTIFICATE blocks, which
 * are not used.
 */
int x509_read_cert(const char *name, const uint8_t *data, size_t len,
    X509 **out, int *more);
/* Every CERTIFICATE block of a PEM bundle; at least one, at most CHAIN_MAX. */
int x509_load_bundle(const char *path, STACK_OF(X509) **out);
int x509_read_bundle(const char *name, const uint8_t *data, size_t len,
    STACK_OF(X509) **out);

/* What a certificate or key file holds, told without a password. */
enum x509_content {
	X509_HOLDS_OTHER,
	X509_HOLDS_CERT,		/* a certificate and no private key */
	X509_HOLDS_KEY,			/* a private key (any form, maybe encrypted) */
	X509_HOLDS_PKCS12,
	X509_HOLDS_TPM_KEY,		/* TSS2 PRIVATE KEY */
};
enum x509_content x509_sniff(const uint8_t *data, size_t len);
/* Base64 of the DER, no newlines; for X-Amz-X509. */
int x509_base64(X509 *, char **out);
/* Comma-joined base64 DERs, for X-Amz-X509-Chain; NULL for an empty chain. */
int x509_chain_base64(STACK_OF(X509) *, char **out);
/* The serial number in decimal, as the Credential carries it. */
int x509_serial_decimal(X509 *, char **out);
/* "Not yet valid" and "expired" errors name the dates. `what` names the cert. */
int x509_check_validity(X509 *, const char *what, time_t now);
/* The SigV4-X509 algorithm for the certificate's key, or ERR_KEY. */
int x509_algorithm(X509 *, const char *what, const char **alg);
/* The subject as one line, for messages. */
void x509_subject(X509 *, char *buf, size_t len);
/* A name as Go's pkix.Name.String() writes it (RFC 2253 order). */
void x509_name_string(const X509_NAME *, char *buf, size_t len);
/* "RSA" or "EC", as read-certificate-data reports it; "" otherwise. */
const char *x509_key_type(X509 *);

#endif
