/*
 * verify.c - the CreateSession checks of ra-endpoint, a TEST stand-in for
 * IAM Roles Anywhere (not a security boundary).
 *
 * ep_verify() runs the checks in the order AWS documents them for
 * SigV4-X509: header syntax, date and scope, signed headers, the
 * signature over the canonical request that we rebuild ourselves, the
 * certificate path to a trust anchor, then the ARNs and the body.  The
 * first failure decides the answer, as it would on the real service.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "endpoint.h"

#define ADE	"AccessDeniedException"
#define VALID	"ValidationException"

struct vstate {
	const struct ep_config	*cfg;
	const struct ep_request	*rq;
	time_t			 now;
	struct ep_verdict	*v;
	struct ep_auth		 auth;
	char			*amzdate;
	X509			*leaf;
	STACK_OF(X509)		*chain;
	struct ep_query		 query;
};

static int deny(struct ep_verdict *, int, const char *, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static int
deny(struct ep_verdict *v, int status, const char *type, const char *fmt, ...)
{
	va_list ap;

	v->status = status;
	v->type = type;
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------ header and scope */

static int
check_auth(struct vstate *st)
{
	char		*val = NULL;
	const char	*why = "Authorization header is missing or malformed";
	int		 ret = -1;

	if (ep_header_get(st->rq, "authorization", false, &val) != 1 ||
	    ep_auth_parse(val, &st->auth, &why) != 0) {
		deny(st->v, 403, ADE, "%s", why);
		goto out;
	}
	ret = 0;
out:
	free(val);
	return ret;
}

static int
check_date(struct vstate *st)
{
	time_t	t;
	double	skew;

	if (ep_header_get(st->rq, "x-amz-date", true, &st->amzdate) != 1 ||
	    ep_amz_date_parse(st->amzdate, &t) != 0)
		return deny(st->v, 403, ADE,
		    "X-Amz-Date header is missing or malformed");
	skew = difftime(st->now, t);
	if (skew > (double)st->cfg->max_skew ||
	    -skew > (double)st->cfg->max_skew)
		return deny(st->v, 403, ADE, "Signature expired or request "
		    "date out of range: %s is more than %ld seconds from the "
		    "server time", st->amzdate, st->cfg->max_skew);
	return 0;
}

/* Messages follow the ones AWS gives for SigV4 scope errors. */
static int
check_scope(struct vstate *st)
{
	const struct ep_auth *a = &st->auth;

	if (strncmp(a->date, st->amzdate, 8) != 0 || strlen(a->date) != 8)
		return deny(st->v, 403, ADE, "Date in Credential scope does "
		    "not match YYYYMMDD from X-Amz-Date: '%s' != '%.8s'",
		    a->date, st->amzdate);
	if (strcmp(a->region, st->cfg->region) != 0)
		return deny(st->v, 403, ADE, "Credential should be scoped to "
		    "a valid region, not '%s'", a->region);
	if (strcmp(a->service, "rolesanywhere") != 0)
		return deny(st->v, 403, ADE, "Credential should be scoped to "
		    "correct service: 'rolesanywhere'");
	if (strcmp(a->terminator, "aws4_request") != 0)
		return deny(st->v, 403, ADE, "Credential should be scoped "
		    "with a valid terminator: 'aws4_request', not '%s'",
		    a->terminator);
	return 0;
}

static int
check_signed_headers(struct vstate *st)
{
	char why[EP_MSG_MAX];

	if (ep_signed_headers_check(st->rq, st->auth.signed_headers, why,
	    sizeof(why)) != 0)
		return deny(st->v, 403, ADE, "%s", why);
	return 0;
}

static int
build_canonical(struct vstate *st)
{
	char	*cq = NULL;
	int	 ret = -1;

	if (ep_query_parse(st->rq->query, &st->query) != 0) {
		deny(st->v, 400, VALID, "Query string has too many "
		    "parameters or is too long");
		goto out;
	}
	if ((cq = ep_query_canonical(&st->query)) == NULL)
		goto out;
	st->v->canonical = ep_canonical_request(st->rq, cq,
	    st->auth.signed_headers);
	if (st->v->canonical == NULL)
		goto out;
	st->v->string_to_sign = ep_string_to_sign(&st->auth, st->amzdate,
	    st->v->canonical);
	if (st->v->string_to_sign == NULL)
		goto out;
	ret = 0;
out:
	free(cq);
	return ret;
}

/* ---------------------------------------------------------- certificates */

/* Strict base64 (RFC 4648 with padding): EVP_DecodeUpdate alone would
 * skip whitespace and stop quietly at '-'. */
static bool
b64_shape_ok(const char *s, size_t n)
{
	size_t i, pad = 0;

	if (n == 0 || n % 4 != 0)
		return false;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* One base64 DER certificate; NULL unless every byte is used. */
static X509 *
b64_cert(const char *s, size_t n)
{
	EVP_ENCODE_CTX		*ctx = NULL;
	unsigned char		*der = NULL;
	const unsigned char	*p;
	int			 l1 = 0, l2 = 0;
	X509			*x = NULL;

	if (!b64_shape_ok(s, n) || n > EP_HEADER_VALUE_MAX)
		goto out;
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL ||
	    (der = malloc(n / 4 * 3 + 3)) == NULL)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &l1, (const unsigned char *)s,
	    (int)n) < 0 || EVP_DecodeFinal(ctx, der + l1, &l2) < 0)
		goto out;
	p = der;
	x = d2i_X509(NULL, &p, (long)(l1 + l2));
	if (x != NULL && p != der + l1 + l2) {
		X509_free(x);
		x = NULL;
	}
out:
	ERR_clear_error();
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	return x;
}

/* X-Amz-X509-Chain: comma-separated, spaces around entries tolerated. */
static int
parse_chain(struct vstate *st, const char *val)
{
	const char	*p = val, *comma;
	size_t		 n;
	X509		*x;

	if ((st->chain = sk_X509_new_null()) == NULL)
		return -1;
	for (;;) {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (sk_X509_num(st->chain) == (int)EP_CHAIN_MAX ||
		    (x = b64_cert(p, n)) == NULL)
			return deny(st->v, 403, ADE, "X-Amz-X509-Chain is not "
			    "a list of at most %u base64 DER certificates",
			    EP_CHAIN_MAX);
		if (!sk_X509_push(st->chain, x)) {
			X509_free(x);
			return -1;
		}
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int
leaf_matches_credential(struct vstate *st)
{
	EVP_PKEY	*pk = X509_get0_pubkey(st->leaf);
	BIGNUM		*bn;
	char		*dec = NULL;
	bool		 rsa = strcmp(st->auth.alg, "AWS4-X509-RSA-SHA256") == 0;
	int		 ret = -1;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(st->leaf), NULL);
	if (bn == NULL || (dec = BN_bn2dec(bn)) == NULL)
		goto out;
	if (strcmp(dec, st->auth.serial) != 0) {
		deny(st->v, 403, ADE, "Credential serial number %s does not "
		    "match the X-Amz-X509 certificate", st->auth.serial);
		goto out;
	}
	if (pk == NULL || !(rsa ? EVP_PKEY_is_a(pk, "RSA") :
	    EVP_PKEY_is_a(pk, "EC"))) {
		deny(st->v, 403, ADE, "Signing algorithm %s does not match "
		    "the certificate's key type", st->auth.alg);
		goto out;
	}
	snprintf(st->v->serial, sizeof(st->v->serial), "%s", dec);
	ret = 0;
out:
	OPENSSL_free(dec);
	BN_free(bn);
	return ret;
}

static int
load_certs(struct vstate *st)
{
	char	*val = NULL;
	int	 ret = -1, have;

	if (ep_header_get(st->rq, "x-amz-x509", false, &val) != 1 ||
	    (st->leaf = b64_cert(val, strlen(val))) == NULL) {
		deny(st->v, 403, ADE, "X-Amz-X509 is not a base64 DER "
		    "certificate");
		goto out;
	}
	free(val);
	val = NULL;
	have = ep_header_get(st->rq, "x-amz-x509-chain", false, &val);
	if (have < 0 || (have == 1 && parse_chain(st, val) != 0))
		goto out;
	ret = leaf_matches_credential(st);
out:
	free(val);
	return ret;
}

/* RSA: PKCS#1 v1.5 over SHA-256; EC: DER ECDSA-Sig-Value over SHA-256. */
static int
check_signature(struct vstate *st)
{
	EVP_MD_CTX	*md = NULL;
	const char	*sts = st->v->string_to_sign;
	int		 ok = 0;

	if ((md = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL,
	    X509_get0_pubkey(st->leaf), NULL) == 1)
		ok = EVP_DigestVerify(md, st->auth.sig, st->auth.sig_len,
		    (const unsigned char *)sts, strlen(sts)) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : deny(st->v, 403, ADE, "Unable to verify signature");
}

/*
 * Path from the leaf through the sent intermediates to a configured trust
 * anchor.  PARTIAL_CHAIN lets an intermediate CA serve as trust anchor, as
 * Roles Anywhere allows.  The time is the caller's clock (the self-test
 * pins it to the vector's date).
 */
static int
check_chain(struct vstate *st)
{
	X509_STORE_CTX	*ctx = NULL;
	int		 err = X509_V_ERR_UNSPECIFIED, depth = -1, ret = -1;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, st->cfg->store, st->leaf, st->chain))
		goto out;
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), st->now);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
	    X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
	if (X509_verify_cert(ctx) == 1) {
		ret = 0;
		goto out;
	}
	err = X509_STORE_CTX_get_error(ctx);
	depth = X509_STORE_CTX_get_error_depth(ctx);
	fprintf(stderr, "ra-endpoint: certificate path: depth %d: %s\n",
	    depth, X509_verify_cert_error_string(err));
	if (err == X509_V_ERR_CERT_HAS_EXPIRED)
		deny(st->v, 403, ADE, "Certificate expired");
	else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
		deny(st->v, 403, ADE, "Certificate not yet valid");
	else
		deny(st->v, 403, ADE, "Untrusted signing certificate");
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

/* Roles Anywhere wants an end-entity certificate fit for signatures. */
static int
check_leaf_usage(struct vstate *st)
{
	uint32_t flags = X509_get_extension_flags(st->leaf);

	if ((flags & EXFLAG_CA) != 0 || ((flags & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(st->leaf) & KU_DIGITAL_SIGNATURE) == 0))
		return deny(st->v, 403, ADE, "Signing certificate must be an "
		    "end-entity certificate with the digitalSignature usage");
	return 0;
}

/* ----------------------------------------------------------- ARNs, body */

static int
query_arn(struct vstate *st, const char *key, const struct ep_qparam **qp)
{
	size_t n = ep_query_count(&st->query, key, qp);

	if (n == 0)
		return deny(st->v, 400, VALID, "1 validation error detected: "
		    "Value null at '%s' failed to satisfy constraint: Member "
		    "must not be null", key);
	if (n > 1)
		return deny(st->v, 400, VALID, "Query parameter '%s' must be "
		    "given once", key);
	return 0;
}

static bool
qp_equals(const struct ep_qparam *qp, const char *s)
{
	return qp->vlen == strlen(s) && memcmp(qp->val, s, qp->vlen) == 0;
}

static int
check_arns(struct vstate *st)
{
	const struct ep_qparam	*qp;
	size_t			 i;

	if (query_arn(st, "trustAnchorArn", &qp) != 0)
		return -1;
	if (!qp_equals(qp, st->cfg->trust_anchor_arn))
		return deny(st->v, 404, "ResourceNotFoundException",
		    "Trust anchor not found");
	if (query_arn(st, "profileArn", &qp) != 0)
		return -1;
	if (!qp_equals(qp, st->cfg->profile_arn))
		return deny(st->v, 404, "ResourceNotFoundException",
		    "Profile not found");
	if (query_arn(st, "roleArn", &qp) != 0)
		return -1;
	for (i = 0; i < st->cfg->nroles; i++) {
		if (qp_equals(qp, st->cfg->role_arns[i])) {
			st->v->role_arn = st->cfg->role_arns[i];
			return 0;
		}
	}
	return deny(st->v, 403, ADE, "Role is not in the profile");
}

static int
check_duration(struct vstate *st, json_t *d)
{
	static const char pre[] = "1 validation error detected: Value";
	json_int_t n;

	if (d == NULL || json_is_null(d))
		return deny(st->v, 400, VALID, "%s null at 'durationSeconds' "
		    "failed to satisfy constraint: Member must not be null",
		    pre);
	if (!json_is_integer(d))
		return deny(st->v, 400, VALID, "%s at 'durationSeconds' "
		    "failed to satisfy constraint: Member must be an integer",
		    pre);
	n = json_integer_value(d);
	if (n < 900)
		return deny(st->v, 400, VALID, "%s '%" JSON_INTEGER_FORMAT
		    "' at 'durationSeconds' failed to satisfy constraint: "
		    "Member must have value greater than or equal to 900",
		    pre, n);
	if (n > st->cfg->max_duration)
		return deny(st->v, 400, VALID, "%s '%" JSON_INTEGER_FORMAT
		    "' at 'durationSeconds' failed to satisfy constraint: "
		    "Member must have value less than or equal to %ld", pre, n,
		    st->cfg->max_duration);
	st->v->duration = (long)n;
	return 0;
}

static bool
session_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("_+=,.@-", c));
}

static int
check_session_name(struct vstate *st, json_t *s)
{
	const char	*p;
	size_t		 n, i;

	if (s == NULL || json_is_null(s))
		return 0;
	if (!json_is_string(s))
		return deny(st->v, 400, VALID, "1 validation error detected: "
		    "Value at 'roleSessionName' failed to satisfy constraint: "
		    "Member must be a string");
	p = json_string_value(s);
	n = json_string_length(s);
	for (i = 0; i < n; i++)
		if (!session_char((unsigned char)p[i]))
			break;
	if (n < 2 || n > 64 || i < n)
		return deny(st->v, 400, VALID, "1 validation error detected: "
		    "Value at 'roleSessionName' failed to satisfy constraint: "
		    "Member must satisfy regular expression pattern: "
		    "[\\w+=,.@-]{2,64}");
	memcpy(st->v->session_name, p, n);
	st->v->session_name[n] = '\0';
	return 0;
}

static int
check_body(struct vstate *st)
{
	json_error_t	 jerr;
	json_t		*root, *val;
	const char	*key;
	int		 ret = -1;

	root = json_loadb((const char *)st->rq->body, st->rq->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		deny(st->v, 400, "SerializationException", "Request body is "
		    "not a JSON object%s%s", root ? "" : ": ",
		    root ? "" : jerr.text);
		goto out;
	}
	json_object_foreach(root, key, val) {
		if (strcmp(key, "durationSeconds") != 0 &&
		    strcmp(key, "roleSessionName") != 0) {
			deny(st->v, 400, VALID, "1 validation error detected: "
			    "Unknown field '%.64s'", key);
			goto out;
		}
	}
	if (check_duration(st, json_object_get(root, "durationSeconds")) != 0 ||
	    check_session_name(st, json_object_get(root, "roleSessionName")))
		goto out;
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* What the success answer needs from the leaf: CN and a subject hash. */
static int
describe_leaf(struct vstate *st)
{
	X509_NAME	*subj = X509_get_subject_name(st->leaf);
	unsigned char	*der = NULL, *utf = NULL;
	int		 idx, len, n;
	unsigned int	 mdlen = 0;
	int		 ret = -1;

	if ((len = i2d_X509_NAME(subj, &der)) <= 0 ||
	    EVP_Digest(der, (size_t)len, st->v->subject_hash, &mdlen,
	    EVP_sha256(), NULL) != 1)
		goto out;
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx >= 0 && (n = ASN1_STRING_to_UTF8(&utf, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(subj, idx)))) >= 0)
		snprintf(st->v->cn, sizeof(st->v->cn), "%.*s", n,
		    (const char *)utf);
	ret = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(utf);
	ERR_clear_error();
	return ret;
}

/* -------------------------------------------------------------- pipeline */

int
ep_verify(const struct ep_config *cfg, const struct ep_request *rq,
    time_t now, struct ep_verdict *v)
{
	static int (*const steps[])(struct vstate *) = {
		check_auth, check_date, check_scope, check_signed_headers,
		build_canonical, load_certs, check_signature, check_chain,
		check_leaf_usage, check_arns, check_body, describe_leaf, NULL
	};
	struct vstate	st;
	size_t		i;

	memset(v, 0, sizeof(*v));
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.rq = rq;
	st.now = now;
	st.v = v;
	/* Fail closed: a step that returns an error without saying why
	 * (allocation failure) leaves this answer in place. */
	deny(v, 500, "InternalServerException", "Internal failure");
	for (i = 0; steps[i] != NULL; i++)
		if (steps[i](&st) != 0)
			goto out;
	v->status = 0;
	v->type = NULL;
	v->message[0] = '\0';
out:
	free(st.amzdate);
	X509_free(st.leaf);
	sk_X509_pop_free(st.chain, X509_free);
	ep_query_free(&st.query);
	return v->status;
}

void
ep_verdict_free(struct ep_verdict *v)
{
	free(v->canonical);
	free(v->string_to_sign);
	v->canonical = v->string_to_sign = NULL;
}

/* Add every certificate of a PEM buffer; returns how many, -1 on error. */
int
ep_store_add_pem(X509_STORE *store, const char *pem, size_t len)
{
	BIO	*bio = NULL;
	X509	*x;
	int	 n = 0, ret = -1;

	if (len > INT32_MAX ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_cert(store, x)) {
			X509_free(x);
			goto out;
		}
		X509_free(x);
		n++;
	}
	ret = n;
out:
	ERR_clear_error();	/* the loop ends on a "no start line" error */
	BIO_free(bio);
	return ret;
}
