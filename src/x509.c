#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "err.h"
#include "files.h"
#include "sigv4x509.h"
#include "x509.h"

/* The number of PEM blocks of a type ("CERTIFICATE") in data. */
static int
count_blocks(const uint8_t *data, size_t len, const char *type)
{
	char marker[64];
	const uint8_t *p = data, *end = data + len, *hit;
	size_t mlen;
	int n = 0;

	mlen = (size_t)snprintf(marker, sizeof(marker), "-----BEGIN %s-----",
	    type);
	while (p < end && (hit = memmem(p, (size_t)(end - p), marker, mlen)) !=
	    NULL) {
		n++;
		p = hit + mlen;
	}
	return n;
}

/* The blocks PEM_read_bio_X509 reads: "CERTIFICATE", "X509 CERTIFICATE". */
static int
cert_blocks(const uint8_t *data, size_t len)
{
	return count_blocks(data, len, "CERTIFICATE") +
	    count_blocks(data, len, "X509 CERTIFICATE");
}

int
x509_read_cert(const char *name, const uint8_t *data, size_t len, X509 **out,
    int *more)
{
	const unsigned char *p;
	BIO *bio = NULL;
	int ret = ERR_CERT;

	*out = NULL;
	if (more != NULL)
		*more = 0;
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
			return ERR_NOMEM;
		*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (*out != NULL && more != NULL && (*more = cert_blocks(data,
		    len) - 1) < 0)
			*more = 0;
	} else {
		p = data;
		/* Strict DER: trailing bytes mean this is something else. */
		if ((*out = d2i_X509(NULL, &p, (long)len)) != NULL &&
		    p != data + len) {
			X509_free(*out);
			*out = NULL;
		}
	}
	if (*out == NULL) {
		ret = err_set(ERR_CERT, "no certificate found in %s: expected "
		    "a PEM or DER X.509 certificate", name);
		goto out;
	}
	ret = ERR_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	return ret;
}

int
x509_load_cert(const char *path, X509 **out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if ((ret = files_read(path, "certificate file", ERR_CERT, FILES_MAX,
	    &data, &len)) != ERR_OK)
		return ret;
	ret = x509_read_cert(path, data, len, out, NULL);
	OPENSSL_clear_free(data, len + 1);
	return ret;
}

int
x509_read_bundle(const char *name, const uint8_t *data, size_t len,
    STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	X509 *x;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) == CHAIN_MAX) {
			X509_free(x);
			ret = err_set(ERR_CERT, "%s holds more than %d "
			    "certificates; Roles Anywhere accepts at most %d "
			    "intermediates", name, CHAIN_MAX, CHAIN_MAX);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	}
	/* The loop ends at end of input (expected) or on a broken block. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		ret = err_ssl(ERR_CERT, "cannot parse the intermediates in %s",
		    name);
		goto out;
	}
	if (sk_X509_num(sk) == 0) {
		ret = err_set(ERR_CERT, "no certificate found in the "
		    "intermediates file %s: expected a PEM bundle", name);
		goto out;
	}
	*out = sk;
	sk = NULL;
	ret = ERR_OK;
out:
	ERR_clear_error();
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return ret;
}

int
x509_load_bundle(const char *path, STACK_OF(X509) **out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if ((ret = files_read(path, "intermediates file", ERR_CERT, FILES_MAX,
	    &data, &len)) != ERR_OK)
		return ret;
	ret = x509_read_bundle(path, data, len, out);
	OPENSSL_free(data);
	return ret;
}

/* A DER private key of any form, told apart without decrypting it. */
static bool
der_is_key(const uint8_t *data, size_t len)
{
	const unsigned char *p;
	PKCS8_PRIV_KEY_INFO *p8;
	X509_SIG *enc;
	EVP_PKEY *pk;

	p = data;
	if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len)) != NULL) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		return true;
	}
	p = data;
	if ((enc = d2i_X509_SIG(NULL, &p, (long)len)) != NULL) {
		X509_SIG_free(enc);
		return true;
	}
	/* PKCS#1 and SEC1: the decoder needs no password for these. */
	p = data;
	if ((pk = d2i_AutoPrivateKey_ex(NULL, &p, (long)len, NULL, NULL)) !=
	    NULL) {
		EVP_PKEY_free(pk);
		return true;
	}
	return false;
}

enum x509_content
x509_sniff(const uint8_t *data, size_t len)
{
	const unsigned char *p = data;
	enum x509_content c = X509_HOLDS_OTHER;
	PKCS12 *p12;
	X509 *x;

	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		if (memmem(data, len, "-----BEGIN TSS2 PRIVATE KEY-----", 32))
			c = X509_HOLDS_TPM_KEY;
		else if (memmem(data, len, " PRIVATE KEY-----", 17))
			c = X509_HOLDS_KEY;
		else if (cert_blocks(data, len) > 0)
			c = X509_HOLDS_CERT;
		return c;
	}
	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) != NULL) {
		PKCS12_free(p12);
		c = X509_HOLDS_PKCS12;
	} else if (der_is_key(data, len))
		c = X509_HOLDS_KEY;
	else {
		p = data;
		if ((x = d2i_X509(NULL, &p, (long)len)) != NULL)
			c = X509_HOLDS_CERT;
		X509_free(x);
	}
	ERR_clear_error();
	return c;
}

int
x509_base64(X509 *x, char **out)
{
	unsigned char *der = NULL;
	int len, ret = ERR_NOMEM;

	*out = NULL;
	if ((len = i2d_X509(x, &der)) <= 0)
		return err_ssl(ERR_CERT, "cannot encode the certificate");
	if ((*out = malloc(4 * (((size_t)len + 2) / 3) + 1)) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)*out, der, len);
	ret = ERR_OK;
out:
	OPENSSL_free(der);
	return ret;
}

int
x509_chain_base64(STACK_OF(X509) *chain, char **out)
{
	char *joined = NULL, *one = NULL, *tmp;
	size_t total = 0, n;
	int i, ret;

	*out = NULL;
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		if ((ret = x509_base64(sk_X509_value(chain, i), &one)) != ERR_OK)
			goto out;
		n = strlen(one);
		if ((tmp = realloc(joined, total + n + 2)) == NULL) {
			ret = ERR_NOMEM;
			goto out;
		}
		joined = tmp;
		if (total > 0)
			joined[total++] = ',';
		memcpy(joined + total, one, n + 1);
		total += n;
		free(one);
		one = NULL;
	}
	*out = joined;
	joined = NULL;
	ret = ERR_OK;
out:
	free(one);
	free(joined);
	return ret;
}

int
x509_serial_decimal(X509 *x, char **out)
{
	BIGNUM *bn;
	char *dec;

	*out = NULL;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL)
		return err_ssl(ERR_CERT, "cannot read the certificate's serial");
	dec = BN_bn2dec(bn);
	BN_free(bn);
	if (dec == NULL)
		return ERR_NOMEM;
	/* Ours to free with free(), not OPENSSL_free(). */
	*out = strdup(dec);
	OPENSSL_free(dec);
	return *out != NULL ? ERR_OK : ERR_NOMEM;
}

static void
format_time(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(buf, len, "(unreadable date)");
}

/* Go's escaping in pkix.Name.String (RFC 2253 §2.4, as Go does it). */
static void
append_escaped(char *buf, size_t len, size_t *n, const unsigned char *v,
    int vlen)
{
	for (int i = 0; i < vlen && *n + 3 < len; i++) {
		unsigned char c = v[i];

		if (strchr(",+\"\\<>;", c) != NULL || (i == 0 &&
		    (c == '#' || c == ' ')) || (i == vlen - 1 && c == ' '))
			buf[(*n)++] = '\\';
		buf[(*n)++] = (char)c;
	}
	buf[*n] = '\0';
}

static void
append_attr(char *buf, size_t len, size_t *n, const X509_NAME_ENTRY *e,
    const char *key)
{
	const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
	unsigned char *utf8 = NULL, *der = NULL;
	char oid[80];
	int ulen, dlen;

	if (*n > 0 && *n + 1 < len)
		buf[(*n)++] = ',';
	if (key != NULL) {
		*n += (size_t)snprintf(buf + *n, len - *n, "%s=", key);
		if (*n < len && (ulen = ASN1_STRING_to_UTF8(&utf8, v)) >= 0)
			append_escaped(buf, len, n, utf8, ulen);
		OPENSSL_free(utf8);
	} else {
		/* Unknown types: dotted OID and the value's DER in hex. */
		OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
		*n += (size_t)snprintf(buf + *n, len - *n, "%s=#", oid);
		if ((dlen = i2d_ASN1_TYPE(NULL, NULL)) >= 0 && *n < len) {
			ASN1_TYPE *t = ASN1_TYPE_new();

			if (t != NULL && ASN1_TYPE_set1(t, ASN1_STRING_type(v),
			    v) && (dlen = i2d_ASN1_TYPE(t, &der)) > 0)
				for (int i = 0; i < dlen && *n + 3 < len; i++)
					*n += (size_t)snprintf(buf + *n,
					    len - *n, "%02x", der[i]);
			ASN1_TYPE_free(t);
			OPENSSL_free(der);
		}
	}
	if (*n >= len)
		*n = len - 1;
}

/*
 * As Go's pkix.Name.String() (spec §10), which --cert-selector compares
 * with: Go rebuilds the sequence in the order C, ST, L, STREET,
 * POSTALCODE, O, OU, CN, SERIALNUMBER, with other attributes first, and
 * prints it reversed: "CN=leaf,O=Example,C=US", other attributes last.
 */
void
x509_name_string(const X509_NAME *name, char *buf, size_t len)
{
	static const struct { int nid; const char *key; } order[] = {
		{ NID_serialNumber, "SERIALNUMBER" }, { NID_commonName, "CN" },
		{ NID_organizationalUnitName, "OU" },
		{ NID_organizationName, "O" }, { NID_postalCode, "POSTALCODE" },
		{ NID_streetAddress, "STREET" }, { NID_localityName, "L" },
		{ NID_stateOrProvinceName, "ST" }, { NID_countryName, "C" },
	};
	int count = X509_NAME_entry_count(name);
	size_t n = 0, k;

	buf[0] = '\0';
	/* Reversed: the last type of Go's order first, later values first. */
	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++)
		for (int i = count - 1; i >= 0; i--) {
			const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);

			if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) ==
			    order[k].nid)
				append_attr(buf, len, &n, e, order[k].key);
		}
	for (int i = count - 1; i >= 0; i--) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));

		for (k = 0; k < sizeof(order) / sizeof(order[0]); k++)
			if (order[k].nid == nid)
				break;
		if (k == sizeof(order) / sizeof(order[0]))
			append_attr(buf, len, &n, e, NULL);
	}
}

void
x509_subject(X509 *x, char *buf, size_t len)
{
	x509_name_string(X509_get_subject_name(x), buf, len);
}

const char *
x509_key_type(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pk != NULL && EVP_PKEY_is_a(pk, "RSA"))
		return "RSA";
	if (pk != NULL && EVP_PKEY_is_a(pk, "EC"))
		return "EC";
	return "";
}

int
x509_check_validity(X509 *x, const char *what, time_t now)
{
	char from[64], to[64], subj[256];

	format_time(X509_get0_notBefore(x), from, sizeof(from));
	format_time(X509_get0_notAfter(x), to, sizeof(to));
	x509_subject(x, subj, sizeof(subj));
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0)
		return err_set(ERR_CERT, "%s %s is not yet valid: valid from "
		    "%s to %s (check the system clock)", what, subj, from, to);
	if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0)
		return err_set(ERR_CERT, "%s %s expired on %s (valid from %s): "
		    "renew it", what, subj, to, from);
	return ERR_OK;
}

int
x509_algorithm(X509 *x, const char *what, const char **alg)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64] = "";

	*alg = NULL;
	if (pk == NULL)
		return err_ssl(ERR_CERT, "cannot read the public key of %s",
		    what);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		if (EVP_PKEY_get_bits(pk) < 2048)
			return err_set(ERR_KEY, "unsupported key in %s: "
			    "RSA-%d; Roles Anywhere needs RSA of 2048 bits or "
			    "more, or EC P-256/P-384", what,
			    EVP_PKEY_get_bits(pk));
		*alg = SIGV4_ALG_RSA;
		return ERR_OK;
	}
	if (EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) &&
	    (strcmp(group, "prime256v1") == 0 ||
	    strcmp(group, "secp384r1") == 0 ||
	    strcmp(group, "secp521r1") == 0)) {
		*alg = SIGV4_ALG_ECDSA;
		return ERR_OK;
	}
	ERR_clear_error();
	return err_set(ERR_KEY, "unsupported key in %s: %s%s%s; Roles Anywhere "
	    "needs RSA (2048 bits or more) or EC P-256/P-384", what,
	    EVP_PKEY_get0_type_name(pk), *group ? " " : "", group);
}
