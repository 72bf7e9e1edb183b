/*
 * read-certificate-data (spec §10): what rasign sees in a certificate file,
 * or every certificate a pkcs11: URI matches, with the URI to use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "cmd.h"
#include "err.h"
#include "identity.h"
#include "keyauth.h"
#include "log.h"
#include "options.h"
#include "provider.h"
#include "selector.h"
#include "spiffe.h"
#include "x509.h"

static const char usage[] =
"usage: rasign read-certificate-data --certificate FILE|URI\n"
"           [--cert-selector SELECTOR] [--pkcs11-lib PATH]\n"
"           [--pkcs11-pin SOURCE] [--debug]\n"
"       rasign read-certificate-data --spiffe-endpoint unix:///PATH|env\n"
"           [--spiffe-id spiffe://ID] [--debug]\n"
"\n"
"For a file: prints its key type, base64 DER, serial number and\n"
"algorithms as JSON. For a pkcs11: URI: lists every matching certificate\n"
"on the tokens with the URI that names it and its validity dates.\n"
"--system-store-name is accepted and ignored.\n";

static int
print_cert(X509 *x)
{
	const char *kt;
	char *b64 = NULL, *serial = NULL, *out = NULL, alg[32];
	json_t *o = NULL, *algs;
	int ret;

	if ((ret = x509_base64(x, &b64)) != ERR_OK ||
	    (ret = x509_serial_decimal(x, &serial)) != ERR_OK)
		goto out;
	kt = x509_key_type(x);
	ret = ERR_NOMEM;
	if ((o = json_object()) == NULL || (algs = json_array()) == NULL)
		goto out;
	/* Field order as the Go helper's struct. */
	json_object_set_new(o, "keyType", json_string(kt));
	json_object_set_new(o, "certificateData", json_string(b64));
	json_object_set_new(o, "serialNumber", json_string(serial));
	for (int bits = 256; bits <= 512; bits += 128) {
		snprintf(alg, sizeof(alg), "%sSHA%d", kt, bits);
		json_array_append_new(algs, json_string(alg));
	}
	json_object_set_new(o, "supportedAlgorithms", algs);
	if ((out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	fputs(out, stdout);
	ret = ERR_OK;
out:
	free(out);
	json_decref(o);
	free(b64);
	free(serial);
	return ret;
}

static int
print_file(const char *path)
{
	X509 *x = NULL;
	int ret;

	if ((ret = x509_load_cert(path, &x)) == ERR_OK)
		ret = print_cert(x);
	X509_free(x);
	return ret;
}

/* The SVID's leaf, as a certificate file's. */
static int
print_spiffe(const struct options *o)
{
	struct spiffe_svid svid;
	int ret;

	if ((ret = spiffe_fetch(o->spiffe_endpoint, o->spiffe_id, o->timeout,
	    &svid)) == ERR_OK)
		ret = print_cert(svid.leaf);
	spiffe_svid_free(&svid);
	return ret;
}

/* RFC 3339 in UTC, as date -u -Iseconds and most parsers read it. */
static void
rfc3339(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
}

struct listing {
	int count;
	const struct selector *sel;	/* --cert-selector, or NULL */
};

static int
print_one(void *arg, X509 *x, const char *uri)
{
	struct listing *l = arg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char subj[512], iss[512], esubj[2048], eiss[2048], *hex = NULL;
	char nb[32], na[32];
	BIGNUM *bn;
	const char *h;

	if (l->sel != NULL && !selector_matches(l->sel, x))
		return ERR_OK;
	if (!X509_digest(x, EVP_sha1(), md, &mdlen) ||
	    (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL)
		return err_ssl(ERR_CERT, "cannot read a certificate");
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL)
		return ERR_NOMEM;
	x509_name_string(X509_get_subject_name(x), subj, sizeof(subj));
	x509_name_string(X509_get_issuer_name(x), iss, sizeof(iss));
	/* Names from a token are outside text, and stdout is a terminal here. */
	log_escape(esubj, sizeof(esubj), subj, sizeof(subj));
	log_escape(eiss, sizeof(eiss), iss, sizeof(iss));
	if (l->count++ == 0)
		fputs("Matching identities\n", stdout);
	printf("%d) Hex Fingerprint: ", l->count);
	for (unsigned i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	/* BN_bn2hex pads to whole bytes; Go prints no leading zeros. */
	for (h = hex; h[0] == '0' && h[1] != '\0'; h++)
		;
	/*
	 * The Go helper's lines, then the validity: after the URI, so that a
	 * parser of Go's output that takes lines by position or by key still
	 * finds what it knew where it was.
	 */
	rfc3339(X509_get0_notBefore(x), nb, sizeof(nb));
	rfc3339(X509_get0_notAfter(x), na, sizeof(na));
	printf("\nSubject: %s\nIssuer: %s\nSerial Number: %s\nURI: %s\n"
	    "Not Before: %s\nNot After: %s\n\n", esubj, eiss, h, uri, nb, na);
	OPENSSL_free(hex);
	return ERR_OK;
}

int
cmd_read_certificate_data(int argc, char **argv)
{
	struct listing l = { 0, NULL };
	struct selector sel = { 0 };
	struct key_request req;
	struct auth auth = { 0 };
	struct options o;
	int ret;

	if ((ret = options_parse(&o, CMD_READ_CERT, "read-certificate-data", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK)
		goto out;
	if (o.spiffe_endpoint != NULL) {
		ret = print_spiffe(&o);
		goto out;
	}
	if (o.certificate == NULL && o.cert_selector == NULL) {
		ret = err_set(ERR_USAGE, "give --certificate (a file or a "
		    "pkcs11: URI), --cert-selector or --spiffe-endpoint");
		goto out;
	}
	if (o.certificate != NULL && strncmp(o.certificate, "pkcs11:", 7)) {
		ret = print_file(o.certificate);
		goto out;
	}
	if ((ret = keyauth_init(&o, NULL, &auth)) != ERR_OK)
		goto out;
	identity_request(&o, &auth, &req);
	/* A selector searches every token's certificates (spec §11). */
	if (o.cert_selector != NULL) {
		if ((ret = selector_parse(o.cert_selector, &sel)) != ERR_OK)
			goto out;
		l.sel = &sel;
		req.key_ref = req.cert_ref = "pkcs11:";
	}
	if ((ret = provider_list_certificates(&req, print_one, &l)) != ERR_OK)
		goto out;
	if (l.count == 0)
		fputs("No matching identities\n", stdout);
	if (fflush(stdout) == EOF)
		ret = err_set(ERR_INTERNAL, "cannot write to standard output");
out:
	auth_clear(&auth);
	selector_free(&sel);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
