/*
 * bench/floor.c: what the hardware and the libraries cost without rasign.
 *
 * Times the pieces no credential helper can avoid, through the libraries
 * rasign uses (OpenSSL, p11-kit + the PKCS#11 module, tpm2-tss, libcurl),
 * each piece --runs times in this one process, and prints one CSV line per
 * piece on stdout:
 *	piece,n,median_us,min_us,max_us
 * Pieces, for each key given:
 *	file-KT.open	read and parse the PEM key file
 *	file-KT.sign	one EVP_PKEY_sign of a SHA-256 digest
 *	p11.init	p11_kit_module_load of the module + C_Initialize
 *	p11-KT.open	C_OpenSession + C_Login + C_FindObjects (CKA_ID)
 *	p11-KT.sign	C_SignInit + C_Sign (CKM_RSA_PKCS / CKM_ECDSA)
 *	tpm.init	Tss2_TctiLdr_Initialize + Esys_Initialize
 *	tpm-KT.open	CreatePrimary (the ECC SRK) + Load of the TSS2 key file
 *	tpm-KT.sign	TPM2_Sign
 *	https.post	a new curl easy handle, TLS handshake, POST, answer
 * (KT is rsa2048 or p256.) A piece's set-up and tear-down (C_Finalize,
 * flushing the TPM's objects) are outside the timed span.
 *
 * The in-process loop is warm after its first runs: OpenSSL's algorithm
 * fetches are cached, the libraries are loaded. A fresh process pays for
 * them too, so --once BACKEND does one pass of a backend's pieces (and the
 * POST, when --url is given) and exits: run from outside, its wall time and
 * peak RSS are those of a minimal helper doing the same work.
 *
 * Fixture secrets (the SoftHSM PIN) come on the command line: they belong
 * to a throw-away token in the benchmark's private directory.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm2key.h"

#define RUNS_DEFAULT	50
#define WARMUP		2

/* DER DigestInfo prefix of a SHA-256 digest (RFC 8017 §9.2, note 1). */
static const unsigned char sha256_prefix[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

struct ctx {
	unsigned char digest[32];
	/* file */
	EVP_PKEY *pkey;
	/* PKCS#11 */
	const char *p11_module, *p11_token, *p11_pin;
	CK_FUNCTION_LIST *mod;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE obj;
	bool p11_rsa;
	/* TPM */
	const char *tcti;
	TSS2_TCTI_CONTEXT *tctx;
	ESYS_CONTEXT *esys;
	ESYS_TR primary, key;
	TPMT_PUBLIC tpub;
	/* HTTPS */
	const char *url, *cainfo;
};

/* One backend: start-up (optional), a key opened and closed, a signature. */
struct backend {
	const char *prefix;		/* "file", "p11", "tpm" */
	int (*init)(struct ctx *);	/* NULL: nothing to start */
	void (*fini)(struct ctx *);
	int (*open)(struct ctx *, const char *key);
	void (*close)(struct ctx *);
	int (*sign)(struct ctx *);
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *piece, double *t, int n)
{
	double med;

	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	printf("%s,%d,%.1f,%.1f,%.1f\n", piece, n, med, t[0], t[n - 1]);
	fflush(stdout);
}

static int
fail(const char *what, const char *detail)
{
	fprintf(stderr, "floor: %s: %s\n", what, detail);
	return -1;
}

/* ---------------------------------------------------------------- file */

static int
file_open(struct ctx *c, const char *path)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return fail(path, "cannot open");
	c->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return c->pkey != NULL ? 0 : fail(path, "not a PEM private key");
}

static void
file_close(struct ctx *c)
{
	EVP_PKEY_free(c->pkey);
	c->pkey = NULL;
}

static int
file_sign(struct ctx *c)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, c->pkey, NULL);
	int ok;

	ok = pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	    (!EVP_PKEY_is_a(c->pkey, "RSA") ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1) &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(pc, sig, &siglen, c->digest, sizeof(c->digest)) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : fail("EVP_PKEY_sign", "failed");
}

/* ---------------------------------------------------------------- PKCS#11 */

static int
ckr(CK_RV rv, const char *what)
{
	return rv == CKR_OK ? 0 : fail(what, p11_kit_strerror(rv));
}

static int
p11_init(struct ctx *c)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;
	size_t len = strlen(c->p11_token);

	if ((c->mod = p11_kit_module_load(c->p11_module, 0)) == NULL)
		return fail(c->p11_module, p11_kit_message());
	if (ckr(p11_kit_module_initialize(c->mod), "C_Initialize") != 0 ||
	    ckr(c->mod->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList"))
		return -1;
	for (CK_ULONG i = 0; i < n; i++) {
		if (c->mod->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* Labels are blank-padded to 32 bytes. */
		if (len <= sizeof(ti.label) &&
		    memcmp(ti.label, c->p11_token, len) == 0 &&
		    (len == sizeof(ti.label) || ti.label[len] == ' ')) {
			c->slot = slots[i];
			return 0;
		}
	}
	return fail(c->p11_token, "no such token");
}

static void
p11_fini(struct ctx *c)
{
	if (c->mod == NULL)
		return;
	(void)p11_kit_module_finalize(c->mod);
	p11_kit_module_release(c->mod);
	c->mod = NULL;
}

static int
p11_open(struct ctx *c, const char *idhex)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = 0;
	unsigned char id[64];
	CK_ULONG idlen = 0, found = 0;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_ID, id, 0 } };
	CK_ATTRIBUTE kta = { CKA_KEY_TYPE, &kt, sizeof(kt) };

	for (const char *p = idhex; p[0] && p[1] && idlen < sizeof(id); p += 2)
		id[idlen++] = (unsigned char)strtoul((char[]){ p[0], p[1], 0 },
		    NULL, 16);
	tmpl[1].ulValueLen = idlen;
	if (ckr(c->mod->C_OpenSession(c->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &c->session), "C_OpenSession") ||
	    ckr(c->mod->C_Login(c->session, CKU_USER,
	    (CK_UTF8CHAR_PTR)c->p11_pin, strlen(c->p11_pin)), "C_Login") ||
	    ckr(c->mod->C_FindObjectsInit(c->session, tmpl, 2),
	    "C_FindObjectsInit") ||
	    ckr(c->mod->C_FindObjects(c->session, &c->obj, 1, &found),
	    "C_FindObjects") ||
	    ckr(c->mod->C_FindObjectsFinal(c->session), "C_FindObjectsFinal"))
		return -1;
	if (found != 1)
		return fail(idhex, "no private key with that CKA_ID");
	if (ckr(c->mod->C_GetAttributeValue(c->session, c->obj, &kta, 1),
	    "C_GetAttributeValue"))
		return -1;
	c->p11_rsa = kt == CKK_RSA;
	return 0;
}

static void
p11_close(struct ctx *c)
{
	(void)c->mod->C_Logout(c->session);
	(void)c->mod->C_CloseSession(c->session);
}

static int
p11_sign(struct ctx *c)
{
	CK_MECHANISM mech = { c->p11_rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	unsigned char in[sizeof(sha256_prefix) + 32], sig[1024];
	CK_ULONG inlen = 0, siglen = sizeof(sig);

	/* SoftHSM has no CKM_ECDSA_SHA256: both sign a prepared digest. */
	if (c->p11_rsa) {
		memcpy(in, sha256_prefix, sizeof(sha256_prefix));
		inlen = sizeof(sha256_prefix);
	}
	memcpy(in + inlen, c->digest, 32);
	inlen += 32;
	if (ckr(c->mod->C_SignInit(c->session, &mech, c->obj), "C_SignInit"))
		return -1;
	return ckr(c->mod->C_Sign(c->session, in, inlen, sig, &siglen),
	    "C_Sign");
}

/* ---------------------------------------------------------------- TPM */

static int
tss(TSS2_RC rc, const char *what)
{
	return rc == TSS2_RC_SUCCESS ? 0 : fail(what, Tss2_RC_Decode(rc));
}

static int
tpm_init(struct ctx *c)
{
	if (tss(Tss2_TctiLdr_Initialize(c->tcti, &c->tctx),
	    "Tss2_TctiLdr_Initialize"))
		return -1;
	return tss(Esys_Initialize(&c->esys, c->tctx, NULL), "Esys_Initialize");
}

static void
tpm_fini(struct ctx *c)
{
	if (c->esys != NULL)
		Esys_Finalize(&c->esys);
	if (c->tctx != NULL)
		Tss2_TctiLdr_Finalize(&c->tctx);
}

/* The ECC P-256 SRK that tpm2-openssl writes its key files under. */
static TPM2B_PUBLIC
srk_template(void)
{
	TPM2B_PUBLIC t = { 0 };

	t.publicArea.type = TPM2_ALG_ECC;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA |
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN;
	t.publicArea.parameters.eccDetail = (TPMS_ECC_PARMS){
	    .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits = { .aes = 128 },
	    .mode = { .aes = TPM2_ALG_CFB } },
	    .scheme = { .scheme = TPM2_ALG_NULL },
	    .curveID = TPM2_ECC_NIST_P256, .kdf = { .scheme = TPM2_ALG_NULL } };
	return t;
}

static int
tpm_open(struct ctx *c, const char *path)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl = srk_template();
	struct tpm2_keyfile kf;

	c->primary = c->key = ESYS_TR_NONE;
	/* The project's own TSS2 PRIVATE KEY parser (OpenSSL ASN.1 templates). */
	if (tpm2key_load(path, &kf) != 0)
		return fail(path, "not a TSS2 PRIVATE KEY");
	c->tpub = kf.pub.publicArea;
	if (tss(Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs,
	    &c->primary, NULL, NULL, NULL, NULL), "Esys_CreatePrimary"))
		return -1;
	return tss(Esys_Load(c->esys, c->primary, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &kf.priv, &kf.pub, &c->key),
	    "Esys_Load");
}

static void
tpm_close(struct ctx *c)
{
	/* A fresh swtpm has three object slots and no resource manager. */
	if (c->key != ESYS_TR_NONE)
		(void)Esys_FlushContext(c->esys, c->key);
	if (c->primary != ESYS_TR_NONE)
		(void)Esys_FlushContext(c->esys, c->primary);
	c->primary = c->key = ESYS_TR_NONE;
}

static int
tpm_sign(struct ctx *c)
{
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK,
	    .hierarchy = TPM2_RH_NULL };
	TPMT_SIG_SCHEME scheme = { 0 };
	TPM2B_DIGEST d = { .size = 32 };
	TPMT_SIGNATURE *out = NULL;
	int ret;

	memcpy(d.buffer, c->digest, 32);
	if (c->tpub.type == TPM2_ALG_RSA) {
		scheme.scheme = TPM2_ALG_RSASSA;
		scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	} else {
		scheme.scheme = TPM2_ALG_ECDSA;
		scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	}
	ret = tss(Esys_Sign(c->esys, c->key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &d, &scheme, &check, &out), "Esys_Sign");
	Esys_Free(out);
	return ret;
}

/* ---------------------------------------------------------------- HTTPS */

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

/* A new handle each time: DNS-free connect, TLS handshake, CA file read. */
static int
https_post(struct ctx *c)
{
	static const char body[] = "{\"durationSeconds\":3600}";
	struct curl_slist *h = curl_slist_append(NULL,
	    "Content-Type: application/json");
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	if (e != NULL && h != NULL) {
		curl_easy_setopt(e, CURLOPT_URL, c->url);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cainfo);
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_SSLVERSION,
		    (long)CURL_SSLVERSION_TLSv1_2);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		rc = curl_easy_perform(e);
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	/* The endpoint answers 4xx to an unsigned POST: still a full round trip. */
	return rc == CURLE_OK ? 0 : fail(c->url, curl_easy_strerror(rc));
}

/* ---------------------------------------------------------------- timing */

static const struct backend backends[] = {
	{ "file", NULL, NULL, file_open, file_close, file_sign },
	{ "p11", p11_init, p11_fini, p11_open, p11_close, p11_sign },
	{ "tpm", tpm_init, tpm_fini, tpm_open, tpm_close, tpm_sign },
};

enum { B_FILE, B_P11, B_TPM };

struct keyarg {
	const struct backend *b;
	const char *kt;		/* "rsa2048", "p256" */
	const char *key;	/* path or CKA_ID in hex */
};

/* Times one key's start-up (once per backend), open and sign. */
static int
time_key(struct ctx *c, const struct keyarg *k, int runs, bool do_init)
{
	double *t = calloc((size_t)runs, sizeof(*t)), t0;
	char name[64];
	int ret = -1;

	if (t == NULL)
		return fail("calloc", "out of memory");
	if (do_init && k->b->init != NULL) {
		for (int i = -WARMUP; i < runs; i++) {
			t0 = now_us();
			if (k->b->init(c) != 0)
				goto out;
			if (i >= 0)
				t[i] = now_us() - t0;
			k->b->fini(c);
		}
		snprintf(name, sizeof(name), "%s.init", k->b->prefix);
		report(name, t, runs);
	}
	if (k->b->init != NULL && k->b->init(c) != 0)
		goto out;
	for (int i = -WARMUP; i < runs; i++) {
		t0 = now_us();
		if (k->b->open(c, k->key) != 0)
			goto fini;
		if (i >= 0)
			t[i] = now_us() - t0;
		k->b->close(c);
	}
	snprintf(name, sizeof(name), "%s-%s.open", k->b->prefix, k->kt);
	report(name, t, runs);
	if (k->b->open(c, k->key) != 0)
		goto fini;
	for (int i = -WARMUP; i < runs; i++) {
		t0 = now_us();
		if (k->b->sign(c) != 0)
			goto close;
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	snprintf(name, sizeof(name), "%s-%s.sign", k->b->prefix, k->kt);
	report(name, t, runs);
	ret = 0;
close:
	k->b->close(c);
fini:
	if (k->b->fini != NULL)
		k->b->fini(c);
out:
	free(t);
	return ret;
}

static int
time_https(struct ctx *c, int runs)
{
	double *t = calloc((size_t)runs, sizeof(*t)), t0;
	int ret = -1;

	if (t == NULL)
		return fail("calloc", "out of memory");
	for (int i = -WARMUP; i < runs; i++) {
		t0 = now_us();
		if (https_post(c) != 0)
			goto out;
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	report("https.post", t, runs);
	ret = 0;
out:
	free(t);
	return ret;
}

/* One pass, as a minimal helper would do it in a fresh process. */
static int
once(struct ctx *c, const struct keyarg *k)
{
	int ret = -1;

	if (k->b->init != NULL && k->b->init(c) != 0)
		goto out;
	if (k->b->open(c, k->key) != 0)
		goto fini;
	ret = k->b->sign(c);
	k->b->close(c);
	if (ret == 0 && c->url != NULL)
		ret = https_post(c);
fini:
	if (k->b->fini != NULL)
		k->b->fini(c);
out:
	return ret;
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor [--runs N] [--file-rsa2048 PEM] "
	    "[--file-p256 PEM]\n"
	    "           [--p11-module SO --p11-token LABEL --p11-pin PIN]\n"
	    "           [--p11-rsa2048 IDHEX] [--p11-p256 IDHEX]\n"
	    "           [--tcti CONF] [--tpm-rsa2048 TSS2KEY] [--tpm-p256 TSS2KEY]\n"
	    "           [--url URL --cainfo PEM] [--once BACKEND-KT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "file-rsa2048", required_argument, NULL, 1 },
		{ "file-p256", required_argument, NULL, 2 },
		{ "p11-rsa2048", required_argument, NULL, 3 },
		{ "p11-p256", required_argument, NULL, 4 },
		{ "tpm-rsa2048", required_argument, NULL, 5 },
		{ "tpm-p256", required_argument, NULL, 6 },
		{ "p11-module", required_argument, NULL, 'm' },
		{ "p11-token", required_argument, NULL, 't' },
		{ "p11-pin", required_argument, NULL, 'p' },
		{ "tcti", required_argument, NULL, 'T' },
		{ "url", required_argument, NULL, 'u' },
		{ "cainfo", required_argument, NULL, 'c' },
		{ "once", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct keyarg keys[6];
	struct ctx c = { .primary = ESYS_TR_NONE, .key = ESYS_TR_NONE };
	const char *once_name = NULL;
	int nkeys = 0, runs = RUNS_DEFAULT, ch, ret = 0;
	bool inited[3] = { false };
	char name[64];

	while ((ch = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (ch) {
		case 1: case 2: case 3: case 4: case 5: case 6:
			keys[nkeys++] = (struct keyarg){
			    &backends[(ch - 1) / 2],
			    (ch - 1) % 2 ? "p256" : "rsa2048", optarg };
			break;
		case 'n': runs = atoi(optarg); break;
		case 'm': c.p11_module = optarg; break;
		case 't': c.p11_token = optarg; break;
		case 'p': c.p11_pin = optarg; break;
		case 'T': c.tcti = optarg; break;
		case 'u': c.url = optarg; break;
		case 'c': c.cainfo = optarg; break;
		case 'o': once_name = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || runs < 1 || runs > 100000)
		usage();
	for (int i = 0; i < nkeys; i++)
		if ((keys[i].b == &backends[B_P11] && (c.p11_module == NULL ||
		    c.p11_token == NULL || c.p11_pin == NULL)) ||
		    (keys[i].b == &backends[B_TPM] && c.tcti == NULL))
			usage();
	if (c.url != NULL && c.cainfo == NULL)
		usage();
	/* tpm2-tss would log its own warnings to stderr; this tool reports. */
	setenv("TSS2_LOG", "all+NONE", 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fail("curl_global_init", "failed"), 1;
	/* Any fixed digest: every backend signs the same 32 bytes. */
	EVP_Digest("rasign floor", 12, c.digest, NULL, EVP_sha256(), NULL);

	if (once_name != NULL) {
		for (int i = 0; i < nkeys; i++) {
			snprintf(name, sizeof(name), "%s-%s", keys[i].b->prefix,
			    keys[i].kt);
			if (strcmp(name, once_name) == 0) {
				ret = once(&c, &keys[i]) == 0 ? 0 : 1;
				goto out;
			}
		}
		fprintf(stderr, "floor: --once %s: no such key given\n",
		    once_name);
		ret = 2;
		goto out;
	}
	printf("piece,n,median_us,min_us,max_us\n");
	for (int i = 0; i < nkeys && ret == 0; i++) {
		int bi = (int)(keys[i].b - backends);

		ret = time_key(&c, &keys[i], runs, !inited[bi]) == 0 ? 0 : 1;
		inited[bi] = true;
	}
	if (ret == 0 && c.url != NULL)
		ret = time_https(&c, runs) == 0 ? 0 : 1;
out:
	curl_global_cleanup();
	return ret;
}
