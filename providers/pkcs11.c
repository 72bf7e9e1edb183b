/*
 * PKCS#11 tokens (YubiKey PIV, smart cards, HSMs) through p11-kit. URIs are
 * RFC 7512, parsed and matched by p11-kit; objects are found as
 * draft-woodhouse-cert-best-practice says: the certificate before login,
 * login only on the one token that holds it, the key by the URI and else by
 * the certificate's CKA_ID. The key never leaves the token: it signs the
 * digest the core computed (CKM_RSA_PKCS over a DigestInfo, CKM_ECDSA).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "log.h"
#include "p11.h"
#include "provider.h"

struct p11_signer {
	struct signer base;
	struct key_request req;		/* kept for reopening */
	char *key_uri_text;		/* without pin-value */
	char *cert_uri_text;		/* when the certificate is on a token */
	struct p11_modules mods;
	struct p11_token tokens[P11_MAX_TOKENS];
	struct p11_token token;		/* the one holding the key */
	CK_SESSION_HANDLE session;
	bool logged_in;
	CK_OBJECT_HANDLE key;
	char *key_found_uri;		/* the key object found, for messages */
	CK_KEY_TYPE key_type;
	CK_BBOOL always_auth;
	uint8_t key_id[256];
	size_t key_id_len;
	X509 *leaf;			/* from the token, or NULL */
	STACK_OF(X509) *chain;		/* found on the token, or NULL */
	EVP_PKEY *pub;			/* the key's public half, if known */
};

static int do_open(struct p11_signer *);

static bool
pkcs11_claims(const char *key_ref)
{
	return strncmp(key_ref, "pkcs11:", 7) == 0;
}

static void
token_name(const struct p11_token *t, char *buf, size_t len)
{
	snprintf(buf, len, "token \"%.*s\"", (int)p11_kit_space_strlen(
	    t->info.label, sizeof(t->info.label)), t->info.label);
}

/*
 * What the token says about its user PIN's retry counter, asked right
 * before a login: the flags change with every wrong PIN, anyone's.
 */
static enum auth_tries
pin_tries(struct p11_signer *ps)
{
	CK_TOKEN_INFO info;

	if (ps->token.module->C_GetTokenInfo(ps->token.slot, &info) == CKR_OK)
		ps->token.info.flags = info.flags;
	if (ps->token.info.flags & CKF_USER_PIN_LOCKED)
		return AUTH_TRIES_LOCKED;
	if (ps->token.info.flags & CKF_USER_PIN_FINAL_TRY)
		return AUTH_TRIES_FINAL;
	if (ps->token.info.flags & CKF_USER_PIN_COUNT_LOW)
		return AUTH_TRIES_LOW;
	return AUTH_TRIES_UNKNOWN;
}

/* The token counted this PIN as a wrong try. */
static bool
pin_refused(CK_RV rv)
{
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_LOCKED;
}

/* The user PIN comes from the key request's auth (auth.h), never asked here. */
static int
login(struct p11_signer *ps)
{
	CK_FUNCTION_LIST *f = ps->token.module;
	const char *pin;
	char what[128];
	CK_RV rv;
	int ret;

	token_name(&ps->token, what, sizeof(what));
	if (ps->logged_in || !(ps->token.info.flags & CKF_LOGIN_REQUIRED))
		return ERR_OK;
	if (ps->token.info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		if (pin_tries(ps) == AUTH_TRIES_LOCKED)
			return p11_err(CKR_PIN_LOCKED, what);
		log_warn("enter the PIN on the reader's PIN pad for %s", what);
		rv = f->C_Login(ps->session, CKU_USER, NULL, 0);
	} else {
		if ((ret = auth_get(ps->req.auth, AUTH_PIN, pin_tries(ps), what,
		    &pin)) != ERR_OK)
			return ret;
		rv = f->C_Login(ps->session, CKU_USER, (CK_UTF8CHAR *)pin,
		    strlen(pin));
		auth_result(ps->req.auth, AUTH_PIN, !pin_refused(rv));
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return p11_err(rv, what);
	ps->logged_in = true;
	return ERR_OK;
}

/* CKA_ALWAYS_AUTHENTICATE: a context-specific login after each C_SignInit. */
static int
context_login(struct p11_signer *ps)
{
	char what[160];
	const char *pin;
	CK_RV rv;
	int ret;

	token_name(&ps->token, what, sizeof(what));
	if ((ret = auth_get(ps->req.auth, AUTH_CONTEXT_PIN, pin_tries(ps),
	    what, &pin)) != ERR_OK)
		return ret;
	rv = ps->token.module->C_Login(ps->session, CKU_CONTEXT_SPECIFIC,
	    (CK_UTF8CHAR *)pin, strlen(pin));
	auth_result(ps->req.auth, AUTH_CONTEXT_PIN, !pin_refused(rv));
	if (rv != CKR_OK)
		return p11_err(rv, "signature PIN");
	return ERR_OK;
}

static void
release(struct p11_signer *ps)
{
	if (ps->session != CK_INVALID_HANDLE && ps->token.module != NULL)
		(void)ps->token.module->C_CloseSession(ps->session);
	ps->session = CK_INVALID_HANDLE;
	ps->logged_in = false;
	free(ps->key_found_uri);
	ps->key_found_uri = NULL;
	p11_modules_release(&ps->mods);
	EVP_PKEY_free(ps->pub);
	ps->pub = NULL;
	X509_free(ps->leaf);
	ps->leaf = NULL;
	sk_X509_pop_free(ps->chain, X509_free);
	ps->chain = NULL;
	/* Its module is gone with the list: nothing may call through it. */
	memset(&ps->token, 0, sizeof(ps->token));
}

static void
pkcs11_close(struct signer *s)
{
	struct p11_signer *ps = (struct p11_signer *)s;

	if (ps == NULL)
		return;
	release(ps);
	X509_free(ps->req.cert);
	free(ps->key_uri_text);
	free(ps->cert_uri_text);
	free(ps);
}

static int
open_session(struct p11_signer *ps)
{
	CK_RV rv;
	char what[128];

	if (ps->session != CK_INVALID_HANDLE)
		return ERR_OK;
	token_name(&ps->token, what, sizeof(what));
	rv = ps->token.module->C_OpenSession(ps->token.slot,
	    CKF_SERIAL_SESSION, NULL, NULL, &ps->session);
	if (rv != CKR_OK) {
		ps->session = CK_INVALID_HANDLE;
		return p11_err(rv, what);
	}
	return ERR_OK;
}

static int
parse_uri(const char *text, P11KitUri **out)
{
	int rc;

	if ((*out = p11_kit_uri_new()) == NULL)
		return ERR_NOMEM;
	if ((rc = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, *out)) !=
	    P11_KIT_URI_OK) {
		p11_kit_uri_free(*out);
		*out = NULL;
		return err_set(ERR_USAGE, "\"%.200s\" is not a valid pkcs11: "
		    "URI: %s", text, p11_kit_uri_message(rc));
	}
	return ERR_OK;
}

/* Every certificate on every matching token: searched before any login. */
static int
find_certificates(struct p11_signer *ps, P11KitUri *uri, size_t ntok,
    struct p11_object *certs, size_t *n)
{
	CK_SESSION_HANDLE s;
	size_t got;
	CK_RV rv;
	int ret = ERR_OK;

	*n = 0;
	for (size_t i = 0; i < ntok && ret == ERR_OK; i++) {
		const struct p11_token *t = &ps->tokens[i];

		if ((rv = t->module->C_OpenSession(t->slot, CKF_SERIAL_SESSION,
		    NULL, NULL, &s)) != CKR_OK)
			continue;	/* a token that won't talk can't match */
		ret = p11_find(t, s, uri, CKO_CERTIFICATE, NULL, 0,
		    certs + *n, P11_MAX_OBJECTS - *n, &got);
		*n += got;
		(void)t->module->C_CloseSession(s);
	}
	return ret;
}

static int
load_leaf(struct p11_signer *ps, const struct p11_object *cert)
{
	const unsigned char *p = cert->value;

	if ((ps->leaf = d2i_X509(NULL, &p, (long)cert->value_len)) == NULL) {
		ERR_clear_error();
		return err_set(ERR_CERT, "the certificate on the token is not "
		    "valid X.509 DER");
	}
	return ERR_OK;
}

/*
 * --cert-selector chose one certificate and passed it on with its URI: of
 * the certificates the URI matches, keep those with its DER. A renewal
 * written next to the certificate it replaces has the same CKA_ID and
 * label, hence the same URI; the DER tells them apart. The same DER twice
 * on one token is one certificate.
 */
static int
keep_selected(X509 *want, struct p11_object *certs, size_t *n)
{
	unsigned char *der = NULL;
	size_t kept = 0;
	int len;

	if ((len = i2d_X509(want, &der)) <= 0)
		return ERR_NOMEM;
	for (size_t i = 0; i < *n; i++) {
		if (certs[i].value_len == (size_t)len &&
		    memcmp(certs[i].value, der, (size_t)len) == 0 &&
		    (kept == 0 || certs[0].token != certs[i].token)) {
			certs[kept++] = certs[i];
			continue;
		}
		free(certs[i].value);
	}
	*n = kept;
	OPENSSL_free(der);
	return ERR_OK;
}

/* Several certificates that the URI cannot tell apart: their serials. */
static bool
same_uris(const struct p11_object *certs, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (certs[i].token != certs[0].token ||
		    certs[i].id_len != certs[0].id_len ||
		    memcmp(certs[i].id, certs[0].id, certs[0].id_len) != 0 ||
		    strcmp(certs[i].label, certs[0].label) != 0)
			return false;
	return true;
}

static int
ambiguous_same_uri(const char *uri, const struct p11_object *certs, size_t n)
{
	char list[1024] = "", *hex;
	const char *h;
	size_t used = 0;

	for (size_t i = 0; i < n && used + 40 < sizeof(list); i++) {
		const unsigned char *p = certs[i].value;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].value_len);
		BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x),
		    NULL) : NULL;

		hex = bn ? BN_bn2hex(bn) : NULL;
		for (h = hex ? hex : "?"; h[0] == '0' && h[1] != '\0'; h++)
			;
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i ? ", " : "", h);
		OPENSSL_free(hex);
		BN_free(bn);
		X509_free(x);
	}
	ERR_clear_error();
	return err_set(ERR_USAGE, "%zu certificates match %s with the same "
	    "id and label, so no URI can name one (a renewed certificate "
	    "next to the old one?): choose one with --cert-selector "
	    "Key=x509Serial,Value=SERIAL (serials %s; 'rasign "
	    "read-certificate-data' shows their dates), or delete the old one "
	    "from the token", n, uri, list);
}

/* The certificate named by the URI: exactly one, on exactly one token. */
static int
select_certificate(struct p11_signer *ps, P11KitUri *uri, size_t ntok,
    struct p11_object *cert)
{
	struct p11_object certs[P11_MAX_OBJECTS];
	size_t n = 0;
	int ret;

	if ((ret = find_certificates(ps, uri, ntok, certs, &n)) != ERR_OK)
		goto out;
	/* Some tokens show certificates only after login: one token only. */
	if (n == 0 && ntok == 1) {
		ps->token = ps->tokens[0];
		if ((ret = open_session(ps)) != ERR_OK ||
		    (ret = login(ps)) != ERR_OK ||
		    (ret = p11_find(&ps->tokens[0], ps->session, uri,
		    CKO_CERTIFICATE, NULL, 0, certs, P11_MAX_OBJECTS, &n)) !=
		    ERR_OK)
			goto out;
	}
	if (ps->req.cert != NULL && n > 0) {
		if ((ret = keep_selected(ps->req.cert, certs, &n)) != ERR_OK)
			goto out;
		if (n == 0) {
			ret = err_set(ERR_CERT, "the certificate --cert-selector "
			    "chose is no longer on the token (%s)",
			    ps->cert_uri_text);
			goto out;
		}
	}
	n = p11_skip_attestation(certs, n);
	if (n == 0) {
		ret = err_set(ERR_CERT, "no certificate on the token matches "
		    "%s: list them with 'p11tool --list-all-certs' or 'rasign "
		    "read-certificate-data --certificate pkcs11:'",
		    ps->cert_uri_text);
		goto out;
	}
	if (n > 1) {
		ret = same_uris(certs, n) ? ambiguous_same_uri(
		    ps->cert_uri_text, certs, n) :
		    p11_ambiguous("certificate", certs, n);
		goto out;
	}
	*cert = certs[0];
	cert->value = NULL;	/* load_leaf below took what it needs */
	ps->token = *certs[0].token;
	ret = load_leaf(ps, &certs[0]);
out:
	p11_objects_clear(certs, n);
	return ret;
}

/* The private key: by the URI, else by the certificate's CKA_ID. */
static int
select_key(struct p11_signer *ps, P11KitUri *uri, const struct p11_object *cert)
{
	struct p11_object keys[P11_MAX_OBJECTS];
	size_t n = 0;
	int ret;

	if ((ret = p11_find(&ps->token, ps->session, uri, CKO_PRIVATE_KEY,
	    NULL, 0, keys, P11_MAX_OBJECTS, &n)) != ERR_OK)
		return ret;
	if (n == 0 && cert != NULL && cert->id_len > 0) {
		log_debug("no key matches the URI; trying the certificate's "
		    "CKA_ID");
		if ((ret = p11_find(&ps->token, ps->session, uri,
		    CKO_PRIVATE_KEY, cert->id, cert->id_len, keys,
		    P11_MAX_OBJECTS, &n)) != ERR_OK)
			return ret;
	}
	if (n == 0)
		return err_set(ERR_KEY, "no private key on the token matches "
		    "%s: list the objects with 'p11tool --login --list-all'",
		    ps->key_uri_text);
	if (n > 1)
		return p11_ambiguous("private key", keys, n);
	ps->key = keys[0].handle;
	free(ps->key_found_uri);
	ps->key_found_uri = p11_uri_for(&keys[0]);
	memcpy(ps->key_id, keys[0].id, keys[0].id_len);
	ps->key_id_len = keys[0].id_len;
	return ERR_OK;
}

static int
key_attributes(struct p11_signer *ps)
{
	CK_BBOOL can_sign = CK_FALSE;
	CK_ATTRIBUTE a[3] = {
		{ CKA_KEY_TYPE, &ps->key_type, sizeof(ps->key_type) },
		{ CKA_SIGN, &can_sign, sizeof(can_sign) },
		{ CKA_ALWAYS_AUTHENTICATE, &ps->always_auth,
		    sizeof(ps->always_auth) },
	};
	CK_RV rv;

	ps->always_auth = CK_FALSE;
	rv = ps->token.module->C_GetAttributeValue(ps->session, ps->key, a, 3);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return p11_err(rv, "reading the key's attributes");
	if (a[2].ulValueLen == (CK_ULONG)-1)
		ps->always_auth = CK_FALSE;
	if (a[0].ulValueLen == (CK_ULONG)-1 ||
	    (ps->key_type != CKK_RSA && ps->key_type != CKK_EC))
		return err_set(ERR_KEY, "the private key found for %s is "
		    "neither RSA nor EC", ps->key_uri_text);
	if (a[1].ulValueLen == (CK_ULONG)-1 || !can_sign)
		return err_set(ERR_KEY, "the private key found for %s may not "
		    "sign (its CKA_SIGN is false): use a key made for signing",
		    ps->key_uri_text);
	return ERR_OK;
}

/* One attribute of the key, in a fresh buffer; NULL when not readable. */
static uint8_t *
key_attribute(struct p11_signer *ps, CK_ATTRIBUTE_TYPE type, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *v;

	if (ps->token.module->C_GetAttributeValue(ps->session, ps->key, &a, 1) !=
	    CKR_OK || a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen == 0 ||
	    a.ulValueLen > 4096 || (v = malloc(a.ulValueLen)) == NULL)
		return NULL;
	a.pValue = v;
	if (ps->token.module->C_GetAttributeValue(ps->session, ps->key, &a, 1) !=
	    CKR_OK) {
		free(v);
		return NULL;
	}
	*len = a.ulValueLen;
	return v;
}

/* "P-256", or OpenSSL's short name for a curve NIST did not name. */
static const char *
curve_name(int nid)
{
	const char *n = EC_curve_nid2nist(nid);

	if (n == NULL && nid != NID_undef)
		n = OBJ_nid2sn(nid);
	return n != NULL ? n : "unknown curve";
}

/* The key's curve from its CKA_EC_PARAMS; NID_undef when not shown. */
static int
key_curve(struct p11_signer *ps)
{
	const unsigned char *p;
	ASN1_OBJECT *oid;
	uint8_t *der;
	size_t len = 0;
	int nid = NID_undef;

	if ((der = key_attribute(ps, CKA_EC_PARAMS, &len)) == NULL)
		return NID_undef;
	p = der;
	/* Explicit parameters (not an OID) are left to the signature check. */
	if ((oid = d2i_ASN1_OBJECT(NULL, &p, (long)len)) != NULL)
		nid = OBJ_obj2nid(oid);
	ASN1_OBJECT_free(oid);
	free(der);
	ERR_clear_error();
	return nid;
}

static int
cert_curve(EVP_PKEY *pub)
{
	char group[80];
	int nid;

	if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL))
		return NID_undef;
	if ((nid = OBJ_txt2nid(group)) == NID_undef)
		nid = EC_curve_nist2nid(group);
	return nid;
}

/* The RSA key's modulus compared with the certificate's: 0 when unknown. */
static int
key_modulus_cmp(struct p11_signer *ps, EVP_PKEY *pub, int *key_bits)
{
	BIGNUM *kn = NULL, *cn = NULL;
	uint8_t *der;
	size_t len = 0;
	int cmp = 0;

	if ((der = key_attribute(ps, CKA_MODULUS, &len)) == NULL)
		return 0;
	if ((kn = BN_bin2bn(der, (int)len, NULL)) != NULL &&
	    EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &cn)) {
		cmp = BN_cmp(kn, cn);
		*key_bits = BN_num_bits(kn);
	}
	BN_free(kn);
	BN_free(cn);
	free(der);
	ERR_clear_error();
	return cmp;
}

#define WRONG_KEY_FIX "give the key that belongs to the certificate (on a " \
	"token: the same CKA_ID), or the certificate issued for this key"

/*
 * The key's type, and its RSA modulus or EC curve where the token shows
 * them, against the certificate's public key. All readable without
 * signing: a key of the wrong type is refused here, before any signature
 * or context login, on every path (with CKA_ALWAYS_AUTHENTICATE no test
 * signature is made, and without a public-key object nothing else could
 * tell; a signature of the wrong type would be sent and rejected).
 */
static int
check_key_type(struct p11_signer *ps)
{
	X509 *cert = ps->leaf != NULL ? ps->leaf : ps->req.cert;
	const char *key = ps->key_found_uri ? ps->key_found_uri :
	    ps->key_uri_text;
	EVP_PKEY *pub;
	CK_KEY_TYPE want;
	int knid, cnid, kbits = 0;

	if (cert == NULL || (pub = X509_get0_pubkey(cert)) == NULL) {
		ERR_clear_error();
		return ERR_OK;
	}
	if (EVP_PKEY_is_a(pub, "RSA"))
		want = CKK_RSA;
	else if (EVP_PKEY_is_a(pub, "EC"))
		want = CKK_EC;
	else
		return ERR_OK;	/* x509_algorithm() refuses it, by name */
	if (ps->key_type != want)
		return err_set(ERR_KEY, "the private key %s does not match the "
		    "certificate: it is an %s key, but the certificate's "
		    "public key is %s: " WRONG_KEY_FIX, key,
		    ps->key_type == CKK_RSA ? "RSA" : "EC",
		    want == CKK_RSA ? "RSA" : "EC");
	if (want == CKK_EC) {
		knid = key_curve(ps);
		cnid = cert_curve(pub);
		if (knid != NID_undef && cnid != NID_undef && knid != cnid)
			return err_set(ERR_KEY, "the private key %s does not "
			    "match the certificate: it is an EC %s key, but the "
			    "certificate's public key is EC %s: "
			    WRONG_KEY_FIX, key, curve_name(knid),
			    curve_name(cnid));
		return ERR_OK;
	}
	if (key_modulus_cmp(ps, pub, &kbits) == 0)
		return ERR_OK;
	if (kbits != EVP_PKEY_get_bits(pub))
		return err_set(ERR_KEY, "the private key %s does not match the "
		    "certificate: it is an RSA-%d key, but the certificate's "
		    "public key is RSA-%d: "
		    WRONG_KEY_FIX, key, kbits, EVP_PKEY_get_bits(pub));
	return err_set(ERR_KEY, "the private key %s does not match the "
	    "certificate: both are RSA-%d keys, but their moduli differ: " WRONG_KEY_FIX, key,
	    kbits);
}

/* Reads two attributes of one object into fresh buffers. */
static int
get_two(struct p11_signer *ps, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t1,
    CK_ATTRIBUTE_TYPE t2, CK_ATTRIBUTE a[2])
{
	a[0] = (CK_ATTRIBUTE){ t1, NULL, 0 };
	a[1] = (CK_ATTRIBUTE){ t2, NULL, 0 };
	if (ps->token.module->C_GetAttributeValue(ps->session, h, a, 2) !=
	    CKR_OK || a[0].ulValueLen > 4096 || a[1].ulValueLen > 4096 ||
	    (a[0].pValue = malloc(a[0].ulValueLen + 1)) == NULL ||
	    (a[1].pValue = malloc(a[1].ulValueLen + 1)) == NULL ||
	    ps->token.module->C_GetAttributeValue(ps->session, h, a, 2) !=
	    CKR_OK)
		return ERR_KEY;
	return ERR_OK;
}

static int
rsa_public(struct p11_signer *ps, CK_OBJECT_HANDLE h)
{
	CK_ATTRIBUTE a[2];
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int ret = ERR_KEY;

	if (get_two(ps, h, CKA_MODULUS, CKA_PUBLIC_EXPONENT, a) != ERR_OK)
		goto out;
	if ((n = BN_bin2bn(a[0].pValue, (int)a[0].ulValueLen, NULL)) == NULL ||
	    (e = BN_bin2bn(a[1].pValue, (int)a[1].ulValueLen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	ret = provider_public_from_params("RSA", bld, &ps->pub);
out:
	free(a[0].pValue);
	free(a[1].pValue);
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

static int
ec_public(struct p11_signer *ps, CK_OBJECT_HANDLE h)
{
	CK_ATTRIBUTE a[2];
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *pt = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	const unsigned char *p;
	int ret = ERR_KEY;

	if (get_two(ps, h, CKA_EC_PARAMS, CKA_EC_POINT, a) != ERR_OK)
		goto out;
	p = a[0].pValue;
	if ((oid = d2i_ASN1_OBJECT(NULL, &p, (long)a[0].ulValueLen)) == NULL)
		goto out;
	/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40 §2.3.3). */
	p = a[1].pValue;
	if ((pt = d2i_ASN1_OCTET_STRING(NULL, &p, (long)a[1].ulValueLen)) ==
	    NULL)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    OBJ_nid2sn(OBJ_obj2nid(oid)), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    ASN1_STRING_get0_data(pt), (size_t)ASN1_STRING_length(pt)))
		goto out;
	ret = provider_public_from_params("EC", bld, &ps->pub);
out:
	free(a[0].pValue);
	free(a[1].pValue);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(pt);
	OSSL_PARAM_BLD_free(bld);
	ERR_clear_error();
	return ret;
}

/* The key's public half: from the key object or its public-key object. */
static void
find_public_key(struct p11_signer *ps)
{
	struct p11_object pubs[2];
	size_t n = 0;

	if (ps->key_type == CKK_RSA && rsa_public(ps, ps->key) == ERR_OK)
		return;
	if (ps->key_id_len == 0 || p11_find(&ps->token, ps->session, NULL,
	    CKO_PUBLIC_KEY, ps->key_id, ps->key_id_len, pubs, 2, &n) !=
	    ERR_OK || n != 1) {
		err_clear();
		log_debug("the token has no public key object for the key");
		return;
	}
	if (ps->key_type == CKK_RSA)
		(void)rsa_public(ps, pubs[0].handle);
	else
		(void)ec_public(ps, pubs[0].handle);
}

/*
 * The chain from the token: each certificate's issuer, by CKA_SUBJECT,
 * upward from the leaf (the Go helper walks the wrong way, spec §5.9), up
 * to but not including a self-signed root, at most 5.
 */
static int
find_chain(struct p11_signer *ps)
{
	struct p11_object found[2];
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	X509 *cur = ps->leaf, *x;
	unsigned char *der;
	const unsigned char *p;
	CK_ATTRIBUTE t[2];
	CK_OBJECT_HANDLE h;
	CK_ULONG got;
	int len;

	for (int depth = 0; depth < 5; depth++) {
		if (X509_check_issued(cur, cur) == X509_V_OK)
			break;
		der = NULL;
		if ((len = i2d_X509_NAME(X509_get_issuer_name(cur), &der)) <= 0)
			break;
		t[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		t[1] = (CK_ATTRIBUTE){ CKA_SUBJECT, der, (CK_ULONG)len };
		got = 0;
		if (ps->token.module->C_FindObjectsInit(ps->session, t, 2) ==
		    CKR_OK) {
			(void)ps->token.module->C_FindObjects(ps->session, &h,
			    1, &got);
			(void)ps->token.module->C_FindObjectsFinal(ps->session);
		}
		OPENSSL_free(der);
		if (got == 0)
			break;
		memset(found, 0, sizeof(found));
		found[0] = (struct p11_object){ .token = &ps->token,
		    .handle = h, .class = CKO_CERTIFICATE };
		if (p11_read_object(&ps->token, ps->session, &found[0]) !=
		    ERR_OK)
			break;
		p = found[0].value;
		x = d2i_X509(NULL, &p, (long)found[0].value_len);
		p11_objects_clear(found, 1);
		if (x == NULL || X509_check_issued(x, cur) != X509_V_OK ||
		    X509_check_issued(x, x) == X509_V_OK) {
			X509_free(x);
			break;
		}
		if ((ps->chain == NULL && (ps->chain = sk_X509_new_null()) ==
		    NULL) || !sk_X509_push(ps->chain, x)) {
			X509_free(x);
			return ERR_NOMEM;
		}
		cur = x;
	}
	ERR_clear_error();
	return ERR_OK;
}

/* Signs a random digest and verifies it with the certificate's key. */
static int sign_digest(struct p11_signer *, int, const uint8_t *, size_t,
    uint8_t *, size_t *, CK_RV *);

static int
check_by_signature(struct p11_signer *ps, X509 *cert)
{
	uint8_t dgst[32], sig[SIGNATURE_MAX];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *ctx = NULL;
	CK_RV rv;
	int ret;

	if (RAND_bytes(dgst, sizeof(dgst)) != 1)
		return ERR_INTERNAL;
	if ((ret = sign_digest(ps, NID_sha256, dgst, sizeof(dgst), sig,
	    &siglen, &rv)) != ERR_OK)
		return ret;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, X509_get0_pubkey(cert),
	    NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_verify(ctx, sig, siglen, dgst, sizeof(dgst)) != 1)
		ret = err_set(ERR_KEY, "the key %s does not match the "
		    "certificate: its test signature does not verify",
		    ps->key_uri_text);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

static int
do_open(struct p11_signer *ps)
{
	P11KitUri *key_uri = NULL, *cert_uri = NULL;
	struct p11_object cert = { 0 };
	size_t ntok = 0;
	int ret;

	ps->session = CK_INVALID_HANDLE;
	if ((ret = parse_uri(ps->key_uri_text, &key_uri)) != ERR_OK ||
	    (ps->cert_uri_text != NULL &&
	    (ret = parse_uri(ps->cert_uri_text, &cert_uri)) != ERR_OK) ||
	    (ret = p11_modules_load(ps->req.pkcs11_lib, key_uri, &ps->mods)) !=
	    ERR_OK)
		goto out;
	if (cert_uri != NULL) {
		if ((ret = p11_tokens_match(&ps->mods, cert_uri, ps->tokens,
		    &ntok)) != ERR_OK)
			goto out;
		if (ntok == 0) {
			ret = p11_no_token(&ps->mods, ps->cert_uri_text);
			goto out;
		}
		if ((ret = select_certificate(ps, cert_uri, ntok, &cert)) !=
		    ERR_OK)
			goto out;
	} else {
		if ((ret = p11_tokens_match(&ps->mods, key_uri, ps->tokens,
		    &ntok)) != ERR_OK)
			goto out;
		if (ntok == 0) {
			ret = p11_no_token(&ps->mods, ps->key_uri_text);
			goto out;
		}
		/* Log in only where there is no doubt (woodhouse §8.2). */
		if (ntok > 1) {
			ret = p11_ambiguous_tokens(ps->tokens, ntok,
			    ps->key_uri_text);
			goto out;
		}
		ps->token = ps->tokens[0];
	}
	if ((ret = open_session(ps)) != ERR_OK ||
	    (ret = login(ps)) != ERR_OK ||
	    (ret = select_key(ps, key_uri, cert_uri ? &cert : NULL)) !=
	    ERR_OK ||
	    (ret = key_attributes(ps)) != ERR_OK ||
	    (ret = check_key_type(ps)) != ERR_OK)
		goto out;
	find_public_key(ps);
	if (ps->leaf != NULL && (ret = find_chain(ps)) != ERR_OK)
		goto out;
	/* Without a public key the only proof of a match is a signature. */
	if (ps->pub == NULL && !ps->always_auth &&
	    (ps->leaf != NULL || ps->req.cert != NULL))
		ret = check_by_signature(ps, ps->leaf ? ps->leaf : ps->req.cert);
out:
	p11_kit_uri_free(key_uri);
	p11_kit_uri_free(cert_uri);
	if (ret != ERR_OK)
		release(ps);
	return ret;
}

static int
pkcs11_open(const struct key_request *req, struct signer **out)
{
	struct p11_signer *ps;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return ERR_NOMEM;
	ps->base.provider = &pkcs11_provider;
	ps->req = *req;
	ps->session = CK_INVALID_HANDLE;
	/* Kept for a reopen, which checks the key against it again. */
	if (req->cert != NULL && !X509_up_ref(req->cert)) {
		ps->req.cert = NULL;
		goto out;
	}
	if ((ps->key_uri_text = strdup(req->key_ref)) == NULL)
		goto out;
	if (req->cert_ref != NULL && strncmp(req->cert_ref, "pkcs11:", 7) == 0 &&
	    (ps->cert_uri_text = strdup(req->cert_ref)) == NULL)
		goto out;
	/* The caller's strings need not outlive this call: ours do. */
	ps->req.key_ref = ps->key_uri_text;
	ps->req.cert_ref = ps->cert_uri_text;
	if ((ret = do_open(ps)) != ERR_OK)
		goto out;
	*out = &ps->base;
	ps = NULL;
out:
	pkcs11_close(ps ? &ps->base : NULL);
	return ret;
}

/* DigestInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING digest } */
static int
digest_info(int md_nid, const uint8_t *dgst, size_t dlen, unsigned char **der,
    int *len)
{
	X509_SIG *di;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *oct;
	int ok;

	*der = NULL;
	if ((di = X509_SIG_new()) == NULL)
		return ERR_NOMEM;
	X509_SIG_getm(di, &alg, &oct);
	ok = X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL) &&
	    ASN1_OCTET_STRING_set(oct, dgst, (int)dlen) &&
	    (*len = i2d_X509_SIG(di, der)) > 0;
	X509_SIG_free(di);
	return ok ? ERR_OK : ERR_NOMEM;
}

/* The key's size, from its public half or its certificate; 0 if unknown. */
static size_t
key_bytes(const struct p11_signer *ps)
{
	if (ps->pub != NULL)
		return provider_key_bytes(ps->pub);
	if (ps->leaf != NULL)
		return provider_key_bytes(X509_get0_pubkey(ps->leaf));
	if (ps->req.cert != NULL)
		return provider_key_bytes(X509_get0_pubkey(ps->req.cert));
	return 0;
}

static int
sign_digest(struct p11_signer *ps, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen, CK_RV *rv)
{
	CK_MECHANISM mech = { ps->key_type == CKK_RSA ? CKM_RSA_PKCS :
	    CKM_ECDSA, NULL, 0 };
	CK_FUNCTION_LIST *f = ps->token.module;
	unsigned char *in = NULL;
	uint8_t raw[SIGNATURE_MAX];
	CK_ULONG rawlen = sizeof(raw);
	int inlen = (int)dlen, ret;

	*rv = CKR_OK;
	if (ps->key_type == CKK_RSA) {
		if ((ret = digest_info(md_nid, dgst, dlen, &in, &inlen)) !=
		    ERR_OK)
			return ret;
	}
	if ((*rv = f->C_SignInit(ps->session, &mech, ps->key)) != CKR_OK) {
		ret = p11_err(*rv, "starting a signature on the token");
		goto out;
	}
	if (ps->always_auth && (ret = context_login(ps)) != ERR_OK) {
		/*
		 * A length query would not end the operation C_SignInit began
		 * (PKCS#11 §5.2): close the session; the next signature opens
		 * a new one.
		 */
		release(ps);
		goto out;
	}
	/* One call with room enough: a length query ends some operations. */
	*rv = f->C_Sign(ps->session, in ? in : (CK_BYTE_PTR)dgst,
	    (CK_ULONG)inlen, raw, &rawlen);
	if (*rv != CKR_OK) {
		ret = p11_err(*rv, "signing on the token");
		goto out;
	}
	if (rawlen > sizeof(raw)) {
		ret = err_set(ERR_DEVICE, "the token returned an oversized "
		    "signature");
		goto out;
	}
	/* CKM_RSA_PKCS and CKM_ECDSA give raw signatures: checked here. */
	ret = provider_finish_signature(ps->key_type == CKK_EC, key_bytes(ps),
	    raw, rawlen, sig, siglen);
out:
	OPENSSL_free(in);
	return ret;
}

static bool
token_went_away(CK_RV rv)
{
	return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_ERROR;
}

/* One session, one login for many signatures; reopened once if lost. */
static int
pkcs11_sign_digest(struct signer *s, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	struct p11_signer *ps = (struct p11_signer *)s;
	size_t room = *siglen;
	CK_RV rv;
	int ret;

	/* An earlier reopen failed (token still out): try again now. */
	if (ps->session == CK_INVALID_HANDLE && (ret = do_open(ps)) != ERR_OK)
		return ret;
	ret = sign_digest(ps, md_nid, dgst, dlen, sig, siglen, &rv);
	if (ret == ERR_OK || !token_went_away(rv))
		return ret;
	log_debug("the token session was lost (%s); reopening",
	    p11_kit_strerror(rv));
	err_clear();
	release(ps);
	if ((ret = do_open(ps)) != ERR_OK)
		return ret;
	*siglen = room;
	return sign_digest(ps, md_nid, dgst, dlen, sig, siglen, &rv);
}

static int
pkcs11_certificate(struct signer *s, X509 **leaf, STACK_OF(X509) **chain)
{
	struct p11_signer *ps = (struct p11_signer *)s;

	return provider_share_certificate(ps->leaf, ps->chain, leaf, chain);
}

/* Unknown (NULL) when the token shows no public half: see do_open. */
static int
pkcs11_public_key(struct signer *s, EVP_PKEY **out)
{
	struct p11_signer *ps = (struct p11_signer *)s;

	if (ps->pub == NULL)
		return ERR_OK;
	if (!EVP_PKEY_up_ref(ps->pub))
		return ERR_INTERNAL;
	*out = ps->pub;
	return ERR_OK;
}

/*
 * Lists the certificates a URI matches, on every matching token, before
 * any login; logs in (never with a prompt) only when nothing was found on
 * the only matching token and a PIN was given.
 */
static int
pkcs11_list(const struct key_request *req,
    int (*each)(void *arg, X509 *, const char *uri), void *arg)
{
	struct p11_object certs[P11_MAX_OBJECTS];
	struct p11_signer *ps;
	P11KitUri *uri = NULL;
	size_t ntok = 0, n = 0;
	int ret = ERR_NOMEM;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return ERR_NOMEM;
	ps->base.provider = &pkcs11_provider;
	ps->req = *req;
	ps->req.cert = NULL;	/* not ours: pkcs11_close would free it */
	ps->session = CK_INVALID_HANDLE;
	if ((ps->key_uri_text = strdup(req->key_ref)) == NULL)
		goto out;
	if ((ret = parse_uri(ps->key_uri_text, &uri)) != ERR_OK ||
	    (ret = p11_modules_load(req->pkcs11_lib, uri, &ps->mods)) !=
	    ERR_OK ||
	    (ret = p11_tokens_match(&ps->mods, uri, ps->tokens, &ntok)) !=
	    ERR_OK)
		goto out;
	/* As credential-process says it: "No matching identities" is for a token. */
	if (ntok == 0) {
		ret = p11_no_token(&ps->mods, ps->key_uri_text);
		goto out;
	}
	if ((ret = find_certificates(ps, uri, ntok, certs, &n)) != ERR_OK)
		goto out;
	if (n == 0 && ntok == 1 && auth_known(req->auth, AUTH_PIN)) {
		ps->token = ps->tokens[0];
		if ((ret = open_session(ps)) != ERR_OK ||
		    (ret = login(ps)) != ERR_OK ||
		    (ret = p11_find(&ps->token, ps->session, uri,
		    CKO_CERTIFICATE, NULL, 0, certs, P11_MAX_OBJECTS, &n)) !=
		    ERR_OK)
			goto out;
	}
	for (size_t i = 0; i < n && ret == ERR_OK; i++) {
		const unsigned char *p = certs[i].value;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].value_len);
		char *u = p11_uri_for(&certs[i]);

		if (x != NULL && u != NULL)
			ret = each(arg, x, u);
		X509_free(x);
		free(u);
	}
	ERR_clear_error();
out:
	p11_objects_clear(certs, n);
	p11_kit_uri_free(uri);
	pkcs11_close(&ps->base);
	return ret;
}

const struct provider pkcs11_provider = {
	.name = "pkcs11",
	.caps = CAP_RSA | CAP_ECDSA | CAP_NEEDS_PIN | CAP_HAS_CERT,
	.claims = pkcs11_claims,
	.open = pkcs11_open,
	.certificate = pkcs11_certificate,
	.public_key = pkcs11_public_key,
	.sign_digest = pkcs11_sign_digest,
	.close = pkcs11_close,
	.list_certificates = pkcs11_list,
};
