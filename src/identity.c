#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "identity.h"
#include "keyauth.h"
#include "log.h"
#include "selector.h"
#include "sigv4x509.h"
#include "spiffe.h"
#include "x509.h"

static bool
is_uri(const char *ref)
{
	return strncmp(ref, "pkcs11:", 7) == 0;
}

/* A source by the name to show: the path, or "env:VAR" as given. */
static const char *
src_name(const struct keysrc *k)
{
	return k->path != NULL ? k->path : k->ref;
}

/*
 * No certificate in the --certificate file: name the likely mistake from
 * what it holds instead, else keep `ret` and its message.
 */
static int
explain_no_cert(const struct options *o, const struct keysrc *c, int ret)
{
	switch (x509_sniff(c->data, c->len)) {
	case X509_HOLDS_KEY:
	case X509_HOLDS_TPM_KEY:
		if (o->private_key != NULL)
			return err_replace(ERR_USAGE, "--certificate %s holds a "
			    "private key, not a certificate: are --certificate "
			    "and --private-key swapped?", src_name(c));
		return err_replace(ERR_USAGE, "--certificate %s holds a private "
		    "key but no certificate: give it as --private-key, and "
		    "the certificate as --certificate", src_name(c));
	case X509_HOLDS_PKCS12:
		return err_replace(ERR_USAGE, "--certificate %s is a PKCS#12 file, "
		    "which holds the key too: give it as --certificate alone, "
		    "without --private-key", src_name(c));
	default:
		return ret;
	}
}

/*
 * The leaf from the --certificate file or source (keyfiles_init read it).
 * Like the Go helper, the first certificate is the leaf; the others of a
 * fullchain.pem are not sent, which breaks a chain that needs them, so
 * that is said once per (re)load when no --intermediates is given.
 */
static int
read_cert(const struct options *o, struct identity *id)
{
	const struct keysrc *c = &id->files->cert;
	int more = 0, ret;

	if ((ret = x509_read_cert(src_name(c), c->data, c->len, &id->leaf,
	    &more)) != ERR_OK)
		return ret == ERR_CERT ? explain_no_cert(o, c, ret) : ret;
	if (more > 0 && o->intermediates == NULL)
		log_warn("%s holds %d more certificate%s after the first, "
		    "which %s not sent: intermediates belong in --intermediates "
		    "(with the leaf alone in --certificate)", src_name(c), more,
		    more > 1 ? "s" : "", more > 1 ? "are" : "is");
	else if (more > 0)
		log_debug("%s: %d more certificate(s) after the first ignored; "
		    "the chain is --intermediates", src_name(c), more);
	return ERR_OK;
}

/* The certificate from --certificate, unless the key brought its own. */
static int
find_certificate(const struct options *o, struct identity *id)
{
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	int ret;

	if ((ret = signer_certificate(id->signer, &leaf, &chain)) != ERR_OK)
		return ret;
	if (leaf != NULL) {
		id->leaf = leaf;
		id->chain = chain;
		return ERR_OK;
	}
	sk_X509_pop_free(chain, X509_free);
	if (o->certificate == NULL || is_uri(o->certificate))
		return err_set(ERR_USAGE, "no certificate: give --certificate "
		    "(the key %s does not come with one)", o->private_key);
	return read_cert(o, id);
}

static int
check_key_matches(const struct options *o, struct identity *id)
{
	EVP_PKEY *pub = NULL;
	int ret;

	if ((ret = signer_public_key(id->signer, &pub)) != ERR_OK)
		return ret;
	/* A backend that cannot tell checked with a test signature itself. */
	if (pub == NULL) {
		log_debug("the backend does not show the public key; not "
		    "compared with the certificate here");
		return ERR_OK;
	}
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(id->leaf)) != 1)
		ret = err_set(ERR_KEY, "the private key %s does not match the "
		    "certificate %s: give the key that belongs to it",
		    o->private_key ? o->private_key : o->certificate,
		    o->certificate ? o->certificate : "");
	EVP_PKEY_free(pub);
	return ret;
}

int
identity_check_validity(const struct identity *id, time_t now)
{
	int ret;

	if ((ret = x509_check_validity(id->leaf, "certificate", now)) !=
	    ERR_OK)
		return ret;
	for (int i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++)
		if ((ret = x509_check_validity(sk_X509_value(id->chain, i),
		    "intermediate certificate", now)) != ERR_OK)
			return ret;
	return ERR_OK;
}

void
identity_request(const struct options *o, struct auth *auth,
    struct key_request *req)
{
	memset(req, 0, sizeof(*req));
	req->key_ref = o->private_key != NULL ? o->private_key : o->certificate;
	req->cert_ref = o->certificate;
	req->auth = auth;
	req->pkcs11_lib = o->pkcs11_lib;
	req->tpm_tcti = o->tpm_tcti;
	req->no_tpm_key_password = o->no_tpm_key_password;
}

/* The identity's secrets, read from their sources now (keyauth.h). */
static int
open_auth(const struct options *o, const struct auth *prev,
    struct identity *id)
{
	int ret;

	if ((id->auth = calloc(1, sizeof(*id->auth))) == NULL)
		return ERR_NOMEM;
	if ((ret = keyauth_init(o, prev, id->auth)) != ERR_OK) {
		free(id->auth);
		id->auth = NULL;
	}
	return ret;
}

/*
 * The certificate, key and intermediates sources read now (keyauth.h),
 * and the key request pointed at them.
 */
static int
open_files(const struct options *o, const struct identity *prev,
    struct identity *id, struct key_request *req)
{
	int ret;

	if ((id->files = calloc(1, sizeof(*id->files))) == NULL)
		return ERR_NOMEM;
	if ((ret = keyfiles_init(o, prev ? prev->files : NULL, id->files)) !=
	    ERR_OK) {
		free(id->files);
		id->files = NULL;
		return ret;
	}
	identity_request(o, id->auth, req);
	if (id->files->key.ref != NULL)
		req->key_ref = src_name(&id->files->key);
	req->key_data = id->files->key.data;
	req->key_len = id->files->key.len;
	req->key_is_cert = o->private_key == NULL;
	return ERR_OK;
}

/*
 * --spiffe-endpoint: the SVID's leaf and intermediates, and its key handed
 * to the file backend from memory, as an env: key is. The file backend is
 * asked directly: the key is PKCS#8 DER by the standard, and no other
 * backend reads keys from memory (asking the registry would probe the
 * SPIFFE ID as a TPM key file name).
 */
static int
open_svid(const struct options *o, struct spiffe_svid *svid,
    struct identity *id)
{
	struct key_request req;
	int ret;

	identity_request(o, id->auth, &req);
	req.key_ref = req.cert_ref = svid->id;
	req.key_data = svid->key;
	req.key_len = svid->key_len;
	req.cert = svid->leaf;
	if ((ret = file_provider.open(&req, &id->signer)) != ERR_OK)
		goto out;
	id->leaf = svid->leaf;
	id->chain = svid->chain;
	svid->leaf = NULL;
	svid->chain = NULL;
	ret = check_key_matches(o, id);
out:
	spiffe_svid_free(svid);
	return ret;
}

static int
open_spiffe(const struct options *o, struct identity *id)
{
	struct spiffe_svid svid;
	int ret;

	if ((ret = spiffe_fetch(o->spiffe_endpoint, o->spiffe_id, o->timeout,
	    &svid)) != ERR_OK)
		return ret;
	return open_svid(o, &svid, id);
}

struct pick {
	const struct selector *sel;
	bool latest;
	int count;
	char *uri;
	X509 *cert;
};

static int
pick_one(void *arg, X509 *x, const char *uri)
{
	struct pick *p = arg;

	if (!selector_matches(p->sel, x))
		return ERR_OK;
	p->count++;
	/* --use-latest-expiring-certificate: the one valid longest. */
	if (p->cert != NULL && (!p->latest || ASN1_TIME_compare(
	    X509_get0_notAfter(x), X509_get0_notAfter(p->cert)) <= 0))
		return ERR_OK;
	X509_free(p->cert);
	free(p->uri);
	p->uri = strdup(uri);
	p->cert = x;
	return p->uri != NULL && X509_up_ref(x) ? ERR_OK : ERR_NOMEM;
}

/*
 * --cert-selector: the Go helper searches the Windows and macOS stores and
 * fails on Linux; here it searches the certificates of the PKCS#11 tokens.
 */
static int
select_certificate(const struct options *o, struct auth *auth, char **uri,
    X509 **cert)
{
	struct selector sel;
	struct key_request req;
	struct pick p = { &sel, o->use_latest_expiring, 0, NULL, NULL };
	int ret;

	*uri = NULL;
	if ((ret = selector_parse(o->cert_selector, &sel)) != ERR_OK)
		return ret;
	identity_request(o, auth, &req);
	req.key_ref = req.cert_ref = "pkcs11:";
	if ((ret = provider_list_certificates(&req, pick_one, &p)) != ERR_OK)
		goto out;
	if (p.count == 0)
		ret = err_set(ERR_CERT, "no certificate on the PKCS#11 tokens "
		    "matches --cert-selector: 'rasign read-certificate-data "
		    "--certificate pkcs11:' lists them");
	else if (p.count > 1 && !p.latest)
		ret = err_set(ERR_USAGE, "%d certificates match "
		    "--cert-selector: narrow it, or add "
		    "--use-latest-expiring-certificate", p.count);
	else {
		log_debug("--cert-selector chose %s", p.uri);
		*uri = p.uri;
		p.uri = NULL;
		*cert = p.cert;
		p.cert = NULL;
	}
out:
	free(p.uri);
	X509_free(p.cert);
	selector_free(&sel);
	return ret;
}

/*
 * With --cert-selector: the options, with the URI it chose as certificate,
 * and the certificate itself, which the backend takes among those the URI
 * matches (a renewal shares the URI of the certificate it replaces).
 */
static int
apply_selector(struct options **o, struct auth *auth, struct options *copy,
    char **uri, X509 **cert)
{
	int ret;

	*uri = NULL;
	*cert = NULL;
	if ((*o)->cert_selector == NULL)
		return ERR_OK;
	if ((ret = select_certificate(*o, auth, uri, cert)) != ERR_OK)
		return ret;
	*copy = **o;
	copy->certificate = *uri;
	*o = copy;
	return ERR_OK;
}

int
identity_open_signer(const struct options *opts, struct identity *id)
{
	struct options sel_opts, *o = (struct options *)opts;
	STACK_OF(X509) *chain = NULL;
	struct key_request req;
	char *sel_uri = NULL;
	X509 *sel_cert = NULL;
	int ret;

	memset(id, 0, sizeof(*id));
	if ((ret = open_auth(opts, NULL, id)) != ERR_OK)
		goto out;
	if (o->spiffe_endpoint != NULL) {
		ret = open_spiffe(o, id);
		goto out;
	}
	if ((ret = apply_selector(&o, id->auth, &sel_opts, &sel_uri,
	    &sel_cert)) != ERR_OK)
		goto out;
	if (o->certificate == NULL && o->private_key == NULL) {
		ret = err_set(ERR_USAGE, "give --private-key (or "
		    "--certificate, or --cert-selector)");
		goto out;
	}
	if ((ret = open_files(o, NULL, id, &req)) != ERR_OK)
		goto out;
	req.cert = sel_cert;
	if (o->private_key != NULL && o->certificate != NULL &&
	    !is_uri(o->certificate)) {
		if ((ret = read_cert(o, id)) != ERR_OK)
			goto out;
		req.cert = id->leaf;
	}
	if ((ret = signer_open(&req, &id->signer)) != ERR_OK)
		goto out;
	if (id->leaf == NULL && (ret = signer_certificate(id->signer,
	    &id->leaf, &chain)) != ERR_OK)
		goto out;
	sk_X509_pop_free(chain, X509_free);
	if (id->leaf == NULL && o->private_key == NULL &&
	    (ret = read_cert(o, id)) != ERR_OK)
		goto out;
	if (id->leaf != NULL)
		ret = check_key_matches(o, id);
	keyfiles_drop(id->files);
out:
	free(sel_uri);
	X509_free(sel_cert);
	if (ret != ERR_OK)
		identity_close(id);
	return ret;
}

/* What every identity needs before a request: checked and encoded. */
static int
finish(struct identity *id, time_t now)
{
	int ret;

	if ((ret = x509_algorithm(id->leaf, "the certificate",
	    &id->algorithm)) != ERR_OK ||
	    (ret = identity_check_validity(id, now)) != ERR_OK ||
	    (ret = x509_base64(id->leaf, &id->x509)) != ERR_OK ||
	    (ret = x509_chain_base64(id->chain, &id->x509_chain)) != ERR_OK ||
	    (ret = x509_serial_decimal(id->leaf, &id->serial)) != ERR_OK)
		return ret;
	log_debug("signing with the %s backend, %s, serial %s, %d "
	    "intermediate(s)", id->signer->provider->name, id->algorithm,
	    id->serial, id->chain ? sk_X509_num(id->chain) : 0);
	return ERR_OK;
}

int
identity_open_svid(const struct options *o, struct spiffe_svid *svid,
    time_t now, struct identity *id)
{
	int ret;

	memset(id, 0, sizeof(*id));
	if ((ret = open_auth(o, NULL, id)) != ERR_OK) {
		spiffe_svid_free(svid);
		goto out;
	}
	if ((ret = open_svid(o, svid, id)) == ERR_OK)
		ret = finish(id, now);
out:
	if (ret != ERR_OK)
		identity_close(id);
	return ret;
}

int
identity_open(const struct options *opts, const struct identity *prev,
    time_t now, struct identity *id)
{
	struct options sel_opts, *o = (struct options *)opts;
	char *sel_uri = NULL;
	X509 *sel_cert = NULL;
	struct key_request req;
	bool cert_file;
	int ret;

	memset(id, 0, sizeof(*id));
	memset(&req, 0, sizeof(req));
	if ((ret = open_auth(opts, prev ? prev->auth : NULL, id)) != ERR_OK)
		goto out;
	if (o->spiffe_endpoint != NULL) {
		if ((ret = open_spiffe(o, id)) != ERR_OK)
			goto out;
		goto checks;
	}
	if ((ret = apply_selector(&o, id->auth, &sel_opts, &sel_uri,
	    &sel_cert)) != ERR_OK)
		goto out;
	if (o->certificate == NULL && o->private_key == NULL) {
		ret = err_set(ERR_USAGE, "give --certificate (and "
		    "--private-key), or --cert-selector");
		goto out;
	}
	cert_file = o->certificate != NULL && !is_uri(o->certificate);
	/*
	 * The certificate and intermediates files are read first (by
	 * open_files) so that a bad path fails before anyone is asked for a
	 * password.
	 */
	if ((ret = open_files(o, prev, id, &req)) != ERR_OK)
		goto out;
	req.cert = sel_cert;
	if (o->private_key != NULL && cert_file) {
		if ((ret = read_cert(o, id)) != ERR_OK)
			goto out;
		req.cert = id->leaf;
	}
	if ((ret = signer_open(&req, &id->signer)) != ERR_OK)
		goto out;
	if (id->leaf == NULL && (ret = find_certificate(o, id)) != ERR_OK)
		goto out;
	if (o->intermediates != NULL) {
		sk_X509_pop_free(id->chain, X509_free);
		id->chain = NULL;
		if ((ret = x509_read_bundle(src_name(&id->files->chain),
		    id->files->chain.data, id->files->chain.len, &id->chain)) !=
		    ERR_OK)
			goto out;
	}
	keyfiles_drop(id->files);
	if ((ret = check_key_matches(o, id)) != ERR_OK)
		goto out;
	/* An SVID's key was compared with its leaf by open_svid. */
checks:
	ret = finish(id, now);
out:
	free(sel_uri);
	X509_free(sel_cert);
	if (ret != ERR_OK)
		identity_close(id);
	return ret;
}

void
identity_close(struct identity *id)
{
	signer_close(id->signer);
	X509_free(id->leaf);
	sk_X509_pop_free(id->chain, X509_free);
	free(id->x509);
	free(id->x509_chain);
	free(id->serial);
	if (id->auth != NULL)
		auth_clear(id->auth);
	free(id->auth);
	if (id->files != NULL)
		keyfiles_free(id->files);
	free(id->files);
	memset(id, 0, sizeof(*id));
}
