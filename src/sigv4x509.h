/*
 * SigV4-X509: the canonical request, string to sign and Authorization header
 * of IAM Roles Anywhere CreateSession (spec §2.3-2.8). Pure functions: no
 * I/O, no clock, no key; the caller supplies the date and signs the digest.
 */
#ifndef RASIGN_SIGV4X509_H
#define RASIGN_SIGV4X509_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGV4_ALG_RSA "AWS4-X509-RSA-SHA256"
#define SIGV4_ALG_ECDSA "AWS4-X509-ECDSA-SHA256"
#define SIGV4_SERVICE "rolesanywhere"
#define SIGV4_DATE_LEN 16	/* YYYYMMDDTHHMMSSZ */

struct sigv4_params {
	const char *algorithm;	/* SIGV4_ALG_RSA or SIGV4_ALG_ECDSA */
	const char *amz_date;	/* YYYYMMDDTHHMMSSZ, UTC */
	const char *region;
	const char *host;	/* host[:port], exactly as the Host header */
	const char *path;	/* "/sessions", after any endpoint path prefix */
	const char *query;	/* from sigv4_query() */
	const char *body;
	const char *x509;	/* base64 DER of the leaf */
	const char *x509_chain;	/* comma-joined base64 DERs, or NULL */
	const char *serial;	/* the leaf's serial number in decimal */
};

/* The sorted, percent-encoded query: profileArn=…&roleArn=…&trustAnchorArn=… */
int sigv4_query(const char *profile_arn, const char *role_arn,
    const char *trust_anchor_arn, char **out);
/* The body: {"durationSeconds":N[,"roleSessionName":"…"]} */
int sigv4_body(long duration, const char *role_session_name, char **out);
void sigv4_format_date(time_t when, char out[SIGV4_DATE_LEN + 1]);
const char *sigv4_signed_headers(const struct sigv4_params *);
int sigv4_canonical_request(const struct sigv4_params *, char **out);
int sigv4_string_to_sign(const struct sigv4_params *, const char *canonical,
    char **out);
/* SHA-256 of the string to sign: what the backend signs. */
int sigv4_digest(const char *string_to_sign, uint8_t out[32]);
int sigv4_authorization(const struct sigv4_params *, const uint8_t *sig,
    size_t siglen, char **out);

#endif
