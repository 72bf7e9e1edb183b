/*
 * TPM 2.0 keys through tpm2-tss ESAPI: TSS2 PRIVATE KEY files (loaded under
 * the owner hierarchy's standard ECC SRK, recreated, or under a persistent
 * parent) and persistent keys given as handle:0x81xxxxxx. The parent is
 * made and the key loaded once; the key object stays loaded for every
 * signature of the process and everything else is flushed at once, since
 * a TPM without a resource manager has three object slots. Auth values
 * travel in an HMAC session, salted with the parent where there is one;
 * an empty one needs no session.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "err.h"
#include "log.h"
#include "provider.h"
#include "tpm2key.h"

struct tpm2_signer {
	struct signer base;
	struct key_request req;
	char *key_ref;
	char tcti_conf[512];		/* what was used, for messages */
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR key;			/* loaded (or persistent) key */
	bool key_transient;		/* ours to flush */
	ESYS_TR session;		/* HMAC session for the key's auth */
	TPMT_PUBLIC pub;
	EVP_PKEY *pkey;
	TPM2_HANDLE handle;		/* for handle: keys */
};

/* handle:0x81xxxxxx, checked before any TPM is contacted. */
static int
parse_handle(const char *ref, TPM2_HANDLE *out)
{
	unsigned long h;
	char *end;

	errno = 0;
	h = strtoul(ref + 7, &end, 16);
	if (ref[7] == '\0' || *end != '\0' || errno != 0 || h > UINT32_MAX ||
	    (h >> TPM2_HR_SHIFT) != TPM2_HT_PERSISTENT)
		return err_set(ERR_USAGE, "%s is not a persistent TPM handle "
		    "(handle:0x81000000 to handle:0x81ffffff)", ref);
	*out = (TPM2_HANDLE)h;
	return ERR_OK;
}

static bool
tpm2_claims(const char *key_ref)
{
	return strncmp(key_ref, "handle:", 7) == 0 ||
	    tpm2key_is_keyfile(key_ref);
}

/* TPM_RC without the handle/session/parameter number, layer 0 only. */
static TSS2_RC
base_rc(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != 0)
		return rc;
	return (rc & TPM2_RC_FMT1) ? rc & (TPM2_RC_FMT1 | 0x3f) : rc;
}

/* The dictionary-attack state, as TPM2_GetCapability reports it. */
struct da_state {
	bool in_lockout;
	UINT32 count;		/* TPM2_PT_LOCKOUT_COUNTER */
	UINT32 max;		/* TPM2_PT_MAX_AUTH_FAIL */
	UINT32 interval;	/* TPM2_PT_LOCKOUT_INTERVAL, s per failure healed */
	UINT32 recovery;	/* TPM2_PT_LOCKOUT_RECOVERY, after a lockoutAuth failure */
};

static bool
read_da(struct tpm2_signer *ts, struct da_state *da)
{
	TPMS_CAPABILITY_DATA *cap = NULL;

	memset(da, 0, sizeof(*da));
	if (ts == NULL || ts->esys == NULL ||
	    Esys_GetCapability(ts->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT,
	    TPM2_PT_LOCKOUT_RECOVERY - TPM2_PT_PERMANENT + 1, NULL, &cap) !=
	    TSS2_RC_SUCCESS)
		return false;
	for (UINT32 i = 0; i < cap->data.tpmProperties.count &&
	    i < TPM2_MAX_TPM_PROPERTIES; i++) {
		const TPMS_TAGGED_PROPERTY *p =
		    &cap->data.tpmProperties.tpmProperty[i];

		switch (p->property) {
		case TPM2_PT_PERMANENT:
			da->in_lockout = (p->value & TPMA_PERMANENT_INLOCKOUT) != 0;
			break;
		case TPM2_PT_LOCKOUT_COUNTER: da->count = p->value; break;
		case TPM2_PT_MAX_AUTH_FAIL: da->max = p->value; break;
		case TPM2_PT_LOCKOUT_INTERVAL: da->interval = p->value; break;
		case TPM2_PT_LOCKOUT_RECOVERY: da->recovery = p->value; break;
		}
	}
	Esys_Free(cap);
	return true;
}

/* "45 s", "17 min", "3 h": a wait, rounded up, for people. */
static void
say_seconds(char *buf, size_t len, unsigned long long s)
{
	if (s < 120)
		snprintf(buf, len, "%llu s", s);
	else if (s < 2 * 3600)
		snprintf(buf, len, "%llu min", (s + 59) / 60);
	else
		snprintf(buf, len, "%llu h", (s + 3599) / 3600);
}

/*
 * In lockout, the TPM forgets one failure per lockout interval (while it is
 * powered) and takes passwords again once the counter is below the limit.
 */
static int
lockout_err(struct tpm2_signer *ts, const char *what)
{
	struct da_state da;
	char wait[32], rec[96] = "";

	if (!read_da(ts, &da) || da.max == 0)
		return err_set(ERR_PASSWORD, "%s: the TPM is in dictionary-"
		    "attack lockout: wait for it to recover, or reset it with "
		    "'tpm2_dictionarylockout -c' and the lockout password",
		    what);
	if (da.recovery > 0) {
		say_seconds(wait, sizeof(wait), da.recovery);
		snprintf(rec, sizeof(rec), "; after a wrong one, the next "
		    "try waits %s", wait);
	}
	if (da.interval == 0)
		return err_set(ERR_PASSWORD, "%s: the TPM is in dictionary-"
		    "attack lockout (failure count %u, limit %u) and does not "
		    "recover by itself (lockout interval 0): only "
		    "'tpm2_dictionarylockout -c' ends it, with the lockout "
		    "hierarchy's password (-p)%s", what, da.count, da.max, rec);
	say_seconds(wait, sizeof(wait), (unsigned long long)(da.count >=
	    da.max ? da.count - da.max + 1 : 1) * da.interval);
	return err_set(ERR_PASSWORD, "%s: the TPM is in dictionary-attack "
	    "lockout (failure count %u, limit %u; it forgets one every %u s "
	    "while powered on): wait about %s, or end it now with "
	    "'tpm2_dictionarylockout -c' and the lockout hierarchy's "
	    "password (-p)%s", what, da.count, da.max, da.interval, wait, rec);
}

/* Out of slots: something else left objects or sessions in the TPM. */
static bool
out_of_slots(TSS2_RC b)
{
	return b == TPM2_RC_OBJECT_MEMORY || b == TPM2_RC_OBJECT_HANDLES ||
	    b == TPM2_RC_SESSION_MEMORY || b == TPM2_RC_SESSION_HANDLES ||
	    b == TPM2_RC_MEMORY;
}

static int
tpm_err(struct tpm2_signer *ts, TSS2_RC rc, const char *what)
{
	TSS2_RC b = base_rc(rc);

	if (b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH)
		return err_set(ERR_PASSWORD, "%s: wrong password. It was not "
		    "retried: repeated failures lock the TPM out "
		    "(dictionary-attack protection)", what);
	if (b == TPM2_RC_LOCKOUT)
		return lockout_err(ts, what);
	if (out_of_slots(b))
		return err_set(ERR_DEVICE, "%s: the TPM has no free %s slot "
		    "(%s): other programs left theirs loaded, and nothing "
		    "manages them on this connection (\"%s\"); flush them with "
		    "'tpm2_flushcontext -t' (sessions: -s), or reach the TPM "
		    "through a resource manager (device:/dev/tpmrm0, tabrmd)",
		    what, b == TPM2_RC_SESSION_MEMORY ||
		    b == TPM2_RC_SESSION_HANDLES ? "session" : "object",
		    Tss2_RC_Decode(rc), ts != NULL ? ts->tcti_conf : "");
	return err_set(ERR_DEVICE, "%s: %s", what, Tss2_RC_Decode(rc));
}

/*
 * After --tpm-tcti: TPM2OPENSSL_TCTI first, since TSS2 PRIVATE KEY files
 * are tpm2-openssl's and its users set it to make the key; then
 * TPM2TOOLS_TCTI; then the Go helper's TPM_DEVICE. *from names the source.
 */
static const char *
tcti_from_env(char *buf, size_t len, const char **from)
{
	static const char *const vars[] = { "TPM2OPENSSL_TCTI",
	    "TPM2TOOLS_TCTI", NULL };
	const char *v;
	struct stat st;
	bool sock;

	for (size_t i = 0; vars[i] != NULL; i++)
		if ((v = getenv(vars[i])) != NULL && *v != '\0') {
			*from = vars[i];
			return v;
		}
	if ((v = getenv("TPM_DEVICE")) != NULL && *v != '\0') {
		/* A socket is swtpm's, anything else a character device. */
		sock = stat(v, &st) == 0 && S_ISSOCK(st.st_mode);
		snprintf(buf, len, "%s:%s%s", sock ? "swtpm" : "device",
		    sock ? "path=" : "", v);
		*from = "TPM_DEVICE";
		return buf;
	}
	return NULL;
}

static int
connect_tpm(struct tpm2_signer *ts)
{
	static const char *const fallbacks[] = { "device:/dev/tpmrm0",
	    "tabrmd", NULL };
	char envbuf[512];
	const char *conf = ts->req.tpm_tcti, *from = "--tpm-tcti";
	TSS2_RC rc = TSS2_RC_SUCCESS;

	if (conf == NULL)
		conf = tcti_from_env(envbuf, sizeof(envbuf), &from);
	/* tpm2-tss's own log lines: quieted by log_init(), never here. */
	for (size_t i = 0; ; i++) {
		const char *c = conf != NULL ? conf : fallbacks[i];

		if (c == NULL)
			break;
		rc = Tss2_TctiLdr_Initialize(c, &ts->tcti);
		if (rc == TSS2_RC_SUCCESS) {
			snprintf(ts->tcti_conf, sizeof(ts->tcti_conf), "%s", c);
			break;
		}
		if (conf != NULL)
			return err_set(ERR_DEVICE, "cannot reach the TPM through "
			    "TCTI \"%s\" (from %s): %s", c, from,
			    Tss2_RC_Decode(rc));
	}
	if (ts->tcti == NULL)
		return err_set(ERR_DEVICE, "no TPM reachable: tried "
		    "device:/dev/tpmrm0 and tabrmd; give --tpm-tcti or set "
		    "TPM2OPENSSL_TCTI or TPM2TOOLS_TCTI");
	if ((rc = Esys_Initialize(&ts->esys, ts->tcti, NULL)) !=
	    TSS2_RC_SUCCESS)
		return tpm_err(ts, rc, "cannot start a TPM context");
	log_debug("TPM through %s (from %s)", ts->tcti_conf,
	    conf != NULL ? from : "the defaults");
	return ERR_OK;
}

static int
set_auth(ESYS_CONTEXT *esys, ESYS_TR tr, const char *pw)
{
	TPM2B_AUTH auth = { 0 };
	size_t n = pw != NULL ? strlen(pw) : 0;

	if (n > sizeof(auth.buffer))
		return err_set(ERR_PASSWORD, "the TPM password is longer than "
		    "%zu bytes", sizeof(auth.buffer));
	auth.size = (UINT16)n;
	if (n > 0)
		memcpy(auth.buffer, pw, n);
	(void)Esys_TR_SetAuth(esys, tr, &auth);
	OPENSSL_cleanse(&auth, sizeof(auth));
	return ERR_OK;
}

/* The TPM counted this auth value as a wrong try. */
static bool
auth_refused(TSS2_RC rc)
{
	TSS2_RC b = base_rc(rc);

	return b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH;
}

/*
 * The dictionary-attack state, for an object it applies to (not noDA):
 * whether the next wrong value is the one that locks the TPM out.
 */
static enum auth_tries
da_tries(struct tpm2_signer *ts, bool noda)
{
	struct da_state da;

	if (noda || !read_da(ts, &da))
		return AUTH_TRIES_UNKNOWN;
	if (da.in_lockout)
		return AUTH_TRIES_LOCKED;
	if (da.max > 0 && da.count + 1 >= da.max)
		return AUTH_TRIES_FINAL;
	if (da.count > 0)
		return AUTH_TRIES_LOW;
	return AUTH_TRIES_UNKNOWN;
}

/* The parent's (or owner's) auth value: empty unless one was given. */
static int
parent_password(struct tpm2_signer *ts, const char **pw)
{
	*pw = "";
	if (!auth_known(ts->req.auth, AUTH_TPM_PARENT))
		return ERR_OK;
	return auth_get(ts->req.auth, AUTH_TPM_PARENT, AUTH_TRIES_UNKNOWN,
	    "the TPM's parent key or owner hierarchy", pw);
}

static int
start_session(struct tpm2_signer *ts, ESYS_TR salt)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES,
	    .keyBits = { .aes = 128 }, .mode = { .aes = TPM2_ALG_CFB } };
	TSS2_RC rc;

	rc = Esys_StartAuthSession(ts->esys, salt, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
	    TPM2_ALG_SHA256, &ts->session);
	if (rc != TSS2_RC_SUCCESS) {
		ts->session = ESYS_TR_NONE;
		return tpm_err(ts, rc, "cannot start a TPM session");
	}
	(void)Esys_TRSess_SetAttributes(ts->esys, ts->session,
	    TPMA_SESSION_CONTINUESESSION, 0xff);
	return ERR_OK;
}

/* The standard storage keys tpm2-openssl and tpm2-tools recreate. */
static TPM2B_PUBLIC
srk_template(bool ecc)
{
	TPM2B_PUBLIC t = { 0 };

	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA |
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN;
	if (ecc) {
		t.publicArea.type = TPM2_ALG_ECC;
		t.publicArea.parameters.eccDetail = (TPMS_ECC_PARMS){
		    .symmetric = { .algorithm = TPM2_ALG_AES,
		    .keyBits = { .aes = 128 }, .mode = { .aes = TPM2_ALG_CFB } },
		    .scheme = { .scheme = TPM2_ALG_NULL },
		    .curveID = TPM2_ECC_NIST_P256,
		    .kdf = { .scheme = TPM2_ALG_NULL } };
	} else {
		t.publicArea.type = TPM2_ALG_RSA;
		t.publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS){
		    .symmetric = { .algorithm = TPM2_ALG_AES,
		    .keyBits = { .aes = 128 }, .mode = { .aes = TPM2_ALG_CFB } },
		    .scheme = { .scheme = TPM2_ALG_NULL },
		    .keyBits = 2048, .exponent = 0 };
	}
	return t;
}

static int
create_srk(struct tpm2_signer *ts, const char *owner_pw, ESYS_TR *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int ret;

	if ((ret = set_auth(ts->esys, ESYS_TR_RH_OWNER, owner_pw)) != ERR_OK)
		return ret;
	/* ECC first, as tpm2-openssl does; RSA on a TPM without ECC. */
	for (int ecc = 1; ecc >= 0; ecc--) {
		tmpl = srk_template(ecc);
		rc = Esys_CreatePrimary(ts->esys, ESYS_TR_RH_OWNER,
		    ts->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
		    &outside, &pcrs, out, NULL, NULL, NULL, NULL);
		if (rc == TSS2_RC_SUCCESS || base_rc(rc) == TPM2_RC_AUTH_FAIL ||
		    base_rc(rc) == TPM2_RC_BAD_AUTH ||
		    base_rc(rc) == TPM2_RC_LOCKOUT || out_of_slots(base_rc(rc)))
			break;
	}
	if (auth_refused(rc))
		auth_result(ts->req.auth, AUTH_TPM_PARENT, false);
	/* The owner password is named only when it is what failed. */
	if (rc != TSS2_RC_SUCCESS)
		return tpm_err(ts, rc, out_of_slots(base_rc(rc)) ?
		    "cannot create the TPM's storage key under the owner "
		    "hierarchy" : "cannot create the TPM's storage key under "
		    "the owner hierarchy (owner password: "
		    "--tpm-parent-password)");
	return ERR_OK;
}

static int
open_parent(struct tpm2_signer *ts, TPM2_HANDLE handle, const char *pw,
    ESYS_TR *out, bool *transient)
{
	TSS2_RC rc;

	*transient = handle == TPM2_RH_OWNER;
	if (handle == TPM2_RH_OWNER)
		return create_srk(ts, pw, out);
	if ((handle >> TPM2_HR_SHIFT) != TPM2_HT_PERSISTENT)
		return err_set(ERR_KEY, "the key file's parent 0x%08x is neither "
		    "the owner hierarchy nor a persistent handle", handle);
	if ((rc = Esys_TR_FromTPMPublic(ts->esys, handle, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, out)) != TSS2_RC_SUCCESS)
		return tpm_err(ts, rc, "cannot open the key's parent");
	return set_auth(ts->esys, *out, pw);
}

/*
 * Whether TPM2_Sign would take an outside digest with this key, read from
 * its public area: before any password is asked for or any authorization
 * tried (each wrong one counts toward the dictionary-attack lockout).
 */
static int
check_signing_key(const struct tpm2_signer *ts)
{
	static const char fix[] = "make a signing key (openssl genpkey "
	    "-provider tpm2, or tpm2_create -a '...|sign') and a certificate "
	    "for it";
	TPMA_OBJECT a = ts->pub.objectAttributes;
	TPMI_ALG_ASYM_SCHEME sch;

	if (ts->pub.type != TPM2_ALG_RSA && ts->pub.type != TPM2_ALG_ECC)
		return err_set(ERR_KEY, "%s: this TPM key is not a signing "
		    "key: it is neither RSA nor ECC (type 0x%x); %s",
		    ts->key_ref, ts->pub.type, fix);
	if ((a & TPMA_OBJECT_SIGN_ENCRYPT) == 0)
		return err_set(ERR_KEY, "%s: this TPM key is not a signing "
		    "key: %s; %s", ts->key_ref,
		    (a & TPMA_OBJECT_DECRYPT) == 0 ? "it has neither the sign "
		    "nor the decrypt attribute" : (a & TPMA_OBJECT_RESTRICTED) ?
		    "it is a storage key (restricted, decrypt: a parent for "
		    "other keys), its sign attribute is clear" : "it is a "
		    "decryption key, its sign attribute is clear", fix);
	/* A restricted signing key signs only what the TPM hashed itself. */
	if (a & TPMA_OBJECT_RESTRICTED)
		return err_set(ERR_KEY, "%s: this TPM key is not a signing key "
		    "for outside data: it is restricted (an attestation key "
		    "signs only digests the TPM made itself); %s",
		    ts->key_ref, fix);
	sch = ts->pub.type == TPM2_ALG_RSA ?
	    ts->pub.parameters.rsaDetail.scheme.scheme :
	    ts->pub.parameters.eccDetail.scheme.scheme;
	if (sch != TPM2_ALG_NULL && sch != TPM2_ALG_RSASSA &&
	    sch != TPM2_ALG_ECDSA)
		return err_set(ERR_KEY, "%s: the TPM key signs only with scheme "
		    "0x%x, and Roles Anywhere takes RSASSA (PKCS#1 v1.5) or "
		    "ECDSA; %s", ts->key_ref, sch, fix);
	return ERR_OK;
}

/*
 * The key's auth value. A file's emptyAuth decides for files (so
 * --no-tpm-key-password never sends a wrong, empty, password that would
 * count against the dictionary-attack limit); for handles, the flags.
 */
static int
key_password(struct tpm2_signer *ts, bool is_file, bool file_empty_auth,
    const char **pw)
{
	enum auth_tries tries;
	char what[600];

	*pw = "";
	if (is_file ? file_empty_auth : ts->req.no_tpm_key_password)
		return ERR_OK;
	snprintf(what, sizeof(what), "the TPM key %s", ts->key_ref);
	tries = da_tries(ts, (ts->pub.objectAttributes & TPMA_OBJECT_NODA) != 0);
	/* auth_get() would refuse too; this says how a TPM recovers. */
	if (tries == AUTH_TRIES_LOCKED)
		return lockout_err(ts, what);
	return auth_get(ts->req.auth, AUTH_TPM_KEY, tries, what, pw);
}

/*
 * The session that carries an auth value: none needed for an empty one
 * (ESYS_TR_PASSWORD sends nothing secret, and saves the TPM commands that
 * tpm2-tss 3.2 makes slow: tpm2-software/tpm2-tss#2150); else HMAC, salted
 * with `salt` when there is one.
 */
static int
auth_session(struct tpm2_signer *ts, const char *pw, ESYS_TR salt)
{
	if (pw == NULL || *pw == '\0') {
		ts->session = ESYS_TR_PASSWORD;
		return ERR_OK;
	}
	return start_session(ts, salt);
}

static void
end_session(struct tpm2_signer *ts)
{
	if (ts->session != ESYS_TR_NONE && ts->session != ESYS_TR_PASSWORD)
		(void)Esys_FlushContext(ts->esys, ts->session);
	ts->session = ESYS_TR_NONE;
}

static int
load_keyfile(struct tpm2_signer *ts)
{
	struct tpm2_keyfile kf;
	ESYS_TR parent = ESYS_TR_NONE;
	const char *ppw, *kpw;
	bool transient = false;
	TSS2_RC rc;
	int ret;

	if ((ret = tpm2key_load(ts->key_ref, &kf)) != ERR_OK)
		return ret;
	ts->pub = kf.pub.publicArea;
	/*
	 * The key's password is asked for before anything is loaded: on a
	 * TPM without a resource manager, a Ctrl-C at the prompt would
	 * otherwise leave the parent and the key in two of its three slots.
	 */
	if ((ret = check_signing_key(ts)) != ERR_OK ||
	    (ret = key_password(ts, true, kf.empty_auth, &kpw)) != ERR_OK)
		goto out;
	/* The parent's auth: an unsalted HMAC session when there is one. */
	if ((ret = parent_password(ts, &ppw)) != ERR_OK ||
	    (ret = auth_session(ts, ppw, ESYS_TR_NONE)) != ERR_OK ||
	    (ret = open_parent(ts, kf.parent, ppw, &parent, &transient)) !=
	    ERR_OK)
		goto out;
	rc = Esys_Load(ts->esys, parent, ts->session, ESYS_TR_NONE,
	    ESYS_TR_NONE, &kf.priv, &kf.pub, &ts->key);
	if (rc != TSS2_RC_SUCCESS) {
		ts->key = ESYS_TR_NONE;
		if (auth_refused(rc))
			auth_result(ts->req.auth, AUTH_TPM_PARENT, false);
		ret = base_rc(rc) == TPM2_RC_INTEGRITY ||
		    base_rc(rc) == TPM2_RC_SIZE || base_rc(rc) == TPM2_RC_VALUE ?
		    err_set(ERR_KEY, "the TPM refuses to load %s: it belongs "
		    "to another TPM or parent, or is corrupt (%s)",
		    ts->key_ref, Tss2_RC_Decode(rc)) :
		    tpm_err(ts, rc, "cannot load the TPM key");
		goto out;
	}
	ts->key_transient = true;
	/* The rest of the signer's life needs only the key: free the slots. */
	end_session(ts);
	if ((ret = auth_session(ts, kpw, transient ? parent : ESYS_TR_NONE)) !=
	    ERR_OK || (ret = set_auth(ts->esys, ts->key, kpw)) != ERR_OK)
		goto out;
	ret = ERR_OK;
out:
	if (parent != ESYS_TR_NONE)
		(void)(transient ? Esys_FlushContext(ts->esys, parent) :
		    Esys_TR_Close(ts->esys, &parent));
	OPENSSL_cleanse(&kf, sizeof(kf));
	return ret;
}

static int
open_handle(struct tpm2_signer *ts)
{
	TPM2B_PUBLIC *out = NULL;
	const char *kpw;
	char what[64];
	TSS2_RC rc;
	int ret;

	if ((rc = Esys_TR_FromTPMPublic(ts->esys, ts->handle, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &ts->key)) != TSS2_RC_SUCCESS) {
		ts->key = ESYS_TR_NONE;
		if (base_rc(rc) == TPM2_RC_HANDLE)
			return err_set(ERR_DEVICE, "no key at TPM handle 0x%08x: "
			    "nothing is persisted there ('tpm2_getcap "
			    "handles-persistent' lists the handles in use)",
			    ts->handle);
		snprintf(what, sizeof(what), "cannot open TPM handle 0x%08x",
		    ts->handle);
		return tpm_err(ts, rc, what);
	}
	if ((rc = Esys_ReadPublic(ts->esys, ts->key, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &out, NULL, NULL)) != TSS2_RC_SUCCESS)
		return tpm_err(ts, rc, "cannot read the TPM key's public part");
	ts->pub = out->publicArea;
	Esys_Free(out);
	if ((ret = check_signing_key(ts)) != ERR_OK ||
	    (ret = key_password(ts, false, false, &kpw)) != ERR_OK ||
	    (ret = auth_session(ts, kpw, ESYS_TR_NONE)) != ERR_OK)
		goto out;
	ret = set_auth(ts->esys, ts->key, kpw);
out:
	return ret;
}

static void
release(struct tpm2_signer *ts)
{
	if (ts->esys != NULL) {
		end_session(ts);
		if (ts->key != ESYS_TR_NONE)
			(void)(ts->key_transient ? Esys_FlushContext(ts->esys,
			    ts->key) : Esys_TR_Close(ts->esys, &ts->key));
		Esys_Finalize(&ts->esys);
	}
	if (ts->tcti != NULL)
		Tss2_TctiLdr_Finalize(&ts->tcti);
	ts->session = ts->key = ESYS_TR_NONE;
	ts->key_transient = false;
	EVP_PKEY_free(ts->pkey);
	ts->pkey = NULL;
}

static int
do_open(struct tpm2_signer *ts)
{
	int ret;

	ts->session = ts->key = ESYS_TR_NONE;
	if ((ret = connect_tpm(ts)) != ERR_OK ||
	    (ret = strncmp(ts->key_ref, "handle:", 7) == 0 ? open_handle(ts) :
	    load_keyfile(ts)) != ERR_OK ||
	    (ret = tpm2key_public(&ts->pub, &ts->pkey)) != ERR_OK)
		release(ts);
	return ret;
}

static void
tpm2_close(struct signer *s)
{
	struct tpm2_signer *ts = (struct tpm2_signer *)s;

	if (ts == NULL)
		return;
	release(ts);
	free(ts->key_ref);
	free(ts);
}

static int
tpm2_open(const struct key_request *req, struct signer **out)
{
	struct tpm2_signer *ts;
	int ret;

	*out = NULL;
	/* A password for the wrong kind of key: say so, not "wrong password". */
	if (auth_known(req->auth, AUTH_FILE_KEY))
		return err_set(ERR_USAGE, "--pkcs8-password is for encrypted key "
		    "files, and %s is a TPM key: give its password with "
		    "--tpm-key-password", req->key_ref);
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return ERR_NOMEM;
	ts->base.provider = &tpm2_provider;
	ts->req = *req;
	ts->session = ts->key = ESYS_TR_NONE;
	if ((ts->key_ref = strdup(req->key_ref)) == NULL) {
		free(ts);
		return ERR_NOMEM;
	}
	ts->req.key_ref = ts->key_ref;
	ts->req.cert_ref = NULL;
	ts->req.cert = NULL;
	if ((strncmp(ts->key_ref, "handle:", 7) == 0 &&
	    (ret = parse_handle(ts->key_ref, &ts->handle)) != ERR_OK) ||
	    (ret = do_open(ts)) != ERR_OK) {
		tpm2_close(&ts->base);
		return ret;
	}
	*out = &ts->base;
	return ERR_OK;
}

static TPMI_ALG_HASH
tpm_hash(int md_nid)
{
	switch (md_nid) {
	case NID_sha256: return TPM2_ALG_SHA256;
	case NID_sha384: return TPM2_ALG_SHA384;
	case NID_sha512: return TPM2_ALG_SHA512;
	}
	return TPM2_ALG_NULL;
}

/*
 * The TPM gives r and s apart, each possibly without leading zero bytes:
 * r||s of the order's length, for the one conversion in registry.c.
 */
static int
ecdsa_der(const struct tpm2_signer *ts, const TPMS_SIGNATURE_ECC *e,
    uint8_t *sig, size_t *siglen)
{
	size_t n = provider_key_bytes(ts->pkey);
	uint8_t raw[2 * sizeof(e->signatureR.buffer)];

	if (n == 0 || n > sizeof(e->signatureR.buffer) ||
	    e->signatureR.size > n || e->signatureS.size > n)
		return err_set(ERR_DEVICE, "the TPM returned an ECDSA signature "
		    "with %u- and %u-byte numbers for a %zu-byte key",
		    e->signatureR.size, e->signatureS.size, n);
	memset(raw, 0, 2 * n);
	memcpy(raw + n - e->signatureR.size, e->signatureR.buffer,
	    e->signatureR.size);
	memcpy(raw + 2 * n - e->signatureS.size, e->signatureS.buffer,
	    e->signatureS.size);
	return provider_finish_signature(true, n, raw, 2 * n, sig, siglen);
}

static int
sign_once(struct tpm2_signer *ts, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen, TSS2_RC *rc)
{
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK,
	    .hierarchy = TPM2_RH_NULL };
	TPMT_SIG_SCHEME scheme = { 0 };
	TPM2B_DIGEST d = { 0 };
	TPMT_SIGNATURE *out = NULL;
	const TPMT_RSA_SCHEME *rs = &ts->pub.parameters.rsaDetail.scheme;
	const TPMT_ECC_SCHEME *es = &ts->pub.parameters.eccDetail.scheme;
	int ret;

	if (dlen > sizeof(d.buffer) || tpm_hash(md_nid) == TPM2_ALG_NULL)
		return err_set(ERR_INTERNAL, "unsupported digest for the TPM");
	d.size = (UINT16)dlen;
	memcpy(d.buffer, dgst, dlen);
	/* A key with a fixed scheme signs with it; others get ours. */
	if (ts->pub.type == TPM2_ALG_RSA) {
		scheme.scheme = TPM2_ALG_RSASSA;
		scheme.details.rsassa.hashAlg = tpm_hash(md_nid);
		if (rs->scheme != TPM2_ALG_NULL)
			scheme.scheme = TPM2_ALG_NULL;
	} else {
		scheme.scheme = TPM2_ALG_ECDSA;
		scheme.details.ecdsa.hashAlg = tpm_hash(md_nid);
		if (es->scheme != TPM2_ALG_NULL)
			scheme.scheme = TPM2_ALG_NULL;
	}
	*rc = Esys_Sign(ts->esys, ts->key, ts->session, ESYS_TR_NONE,
	    ESYS_TR_NONE, &d, &scheme, &check, &out);
	if (*rc != TSS2_RC_SUCCESS)
		return tpm_err(ts, *rc, "TPM signature failed");
	if (out->sigAlg == TPM2_ALG_RSASSA) {
		ret = provider_finish_signature(false,
		    provider_key_bytes(ts->pkey),
		    out->signature.rsassa.sig.buffer,
		    out->signature.rsassa.sig.size, sig, siglen);
	} else if (out->sigAlg == TPM2_ALG_ECDSA) {
		ret = ecdsa_der(ts, &out->signature.ecdsa, sig, siglen);
	} else {
		ret = err_set(ERR_KEY, "the TPM key signs with scheme 0x%x, not "
		    "RSASSA or ECDSA", out->sigAlg);
	}
	Esys_Free(out);
	return ret;
}

/* Signs; after a TPM restart or lost connection, reloads once. */
static int
tpm2_sign_digest(struct signer *s, int md_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	struct tpm2_signer *ts = (struct tpm2_signer *)s;
	size_t room = *siglen;
	TSS2_RC rc = TSS2_RC_SUCCESS, b;
	int ret;

	ret = sign_once(ts, md_nid, dgst, dlen, sig, siglen, &rc);
	if (auth_refused(rc))
		auth_result(ts->req.auth, AUTH_TPM_KEY, false);
	b = base_rc(rc);
	/* Never again after an auth failure: that would feed the DA counter. */
	if (ret == ERR_OK || rc == TSS2_RC_SUCCESS || b == TPM2_RC_AUTH_FAIL ||
	    b == TPM2_RC_BAD_AUTH || b == TPM2_RC_LOCKOUT)
		return ret;
	log_debug("TPM signature failed (%s); reconnecting",
	    Tss2_RC_Decode(rc));
	err_clear();
	release(ts);
	if ((ret = do_open(ts)) != ERR_OK)
		return ret;
	*siglen = room;
	return sign_once(ts, md_nid, dgst, dlen, sig, siglen, &rc);
}

static int
tpm2_public_key(struct signer *s, EVP_PKEY **out)
{
	struct tpm2_signer *ts = (struct tpm2_signer *)s;

	if (!EVP_PKEY_up_ref(ts->pkey))
		return ERR_INTERNAL;
	*out = ts->pkey;
	return ERR_OK;
}

const struct provider tpm2_provider = {
	.name = "tpm2",
	.caps = CAP_RSA | CAP_ECDSA | CAP_NEEDS_PIN,
	.claims = tpm2_claims,
	.open = tpm2_open,
	.public_key = tpm2_public_key,
	.sign_digest = tpm2_sign_digest,
	.close = tpm2_close,
};
