#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "sigv4x509.h"

static const char hexdigits[] = "0123456789abcdef";

static void
to_hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
sha256_hex(const char *s, char out[65])
{
	uint8_t md[32];
	unsigned int len = 0;

	if (!EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) ||
	    len != sizeof(md))
		return err_ssl(ERR_INTERNAL, "SHA-256 failed");
	to_hex(md, sizeof(md), out);
	return ERR_OK;
}

/* SigV4 URI encoding: RFC 3986 unreserved characters stay, the rest is %XX. */
static char *
uri_encode(const char *s)
{
	static const char upper[] = "0123456789ABCDEF";
	char *out, *p;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (p = out; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = upper[c >> 4];
			*p++ = upper[c & 0xf];
		}
	}
	*p = '\0';
	return out;
}

int
sigv4_query(const char *profile_arn, const char *role_arn,
    const char *trust_anchor_arn, char **out)
{
	char *p = NULL, *r = NULL, *t = NULL;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((p = uri_encode(profile_arn)) == NULL ||
	    (r = uri_encode(role_arn)) == NULL ||
	    (t = uri_encode(trust_anchor_arn)) == NULL)
		goto out;
	/* Already in sorted key order, as the canonical query requires. */
	if (asprintf(out, "profileArn=%s&roleArn=%s&trustAnchorArn=%s", p, r,
	    t) < 0) {
		*out = NULL;
		goto out;
	}
	ret = ERR_OK;
out:
	free(p);
	free(r);
	free(t);
	return ret;
}

int
sigv4_body(long duration, const char *role_session_name, char **out)
{
	json_t *o;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((o = json_object()) == NULL)
		return ERR_NOMEM;
	if (json_object_set_new(o, "durationSeconds",
	    json_integer(duration)) != 0)
		goto out;
	if (role_session_name != NULL && *role_session_name != '\0' &&
	    json_object_set_new(o, "roleSessionName",
	    json_string(role_session_name)) != 0)
		goto out;
	if ((*out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	ret = ERR_OK;
out:
	json_decref(o);
	return ret;
}

void
sigv4_format_date(time_t when, char out[SIGV4_DATE_LEN + 1])
{
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

const char *
sigv4_signed_headers(const struct sigv4_params *p)
{
	return p->x509_chain != NULL ?
	    "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain" :
	    "content-type;host;x-amz-date;x-amz-x509";
}

int
sigv4_canonical_request(const struct sigv4_params *p, char **out)
{
	char body_hash[65];
	int ret;

	*out = NULL;
	if ((ret = sha256_hex(p->body, body_hash)) != ERR_OK)
		return ret;
	/*
	 * Header values need no trimming: none of them can hold spaces (the
	 * host comes from a parsed URL, the rest is base64 or fixed text).
	 */
	if (asprintf(out,
	    "POST\n%s\n%s\n"
	    "content-type:application/json\n"
	    "host:%s\n"
	    "x-amz-date:%s\n"
	    "x-amz-x509:%s\n"
	    "%s%s%s"
	    "\n%s\n%s",
	    p->path, p->query, p->host, p->amz_date, p->x509,
	    p->x509_chain != NULL ? "x-amz-x509-chain:" : "",
	    p->x509_chain != NULL ? p->x509_chain : "",
	    p->x509_chain != NULL ? "\n" : "",
	    sigv4_signed_headers(p), body_hash) < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

int
sigv4_string_to_sign(const struct sigv4_params *p, const char *canonical,
    char **out)
{
	char cr_hash[65];
	int ret;

	*out = NULL;
	if ((ret = sha256_hex(canonical, cr_hash)) != ERR_OK)
		return ret;
	if (asprintf(out, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", p->algorithm,
	    p->amz_date, p->amz_date, p->region, SIGV4_SERVICE, cr_hash) < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

int
sigv4_digest(const char *string_to_sign, uint8_t out[32])
{
	unsigned int len = 0;

	if (!EVP_Digest(string_to_sign, strlen(string_to_sign), out, &len,
	    EVP_sha256(), NULL) || len != 32)
		return err_ssl(ERR_INTERNAL, "SHA-256 failed");
	return ERR_OK;
}

int
sigv4_authorization(const struct sigv4_params *p, const uint8_t *sig,
    size_t siglen, char **out)
{
	char *hex;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((hex = malloc(siglen * 2 + 1)) == NULL)
		return ERR_NOMEM;
	to_hex(sig, siglen, hex);
	if (asprintf(out, "%s Credential=%s/%.8s/%s/%s/aws4_request, "
	    "SignedHeaders=%s, Signature=%s", p->algorithm, p->serial,
	    p->amz_date, p->region, SIGV4_SERVICE, sigv4_signed_headers(p),
	    hex) < 0) {
		*out = NULL;
		goto out;
	}
	ret = ERR_OK;
out:
	free(hex);
	return ret;
}
