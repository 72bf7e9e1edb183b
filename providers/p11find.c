#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "log.h"
#include "p11.h"

int
p11_err(CK_RV rv, const char *what)
{
	const char *why = p11_kit_strerror(rv);

	switch (rv) {
	case CKR_PIN_INCORRECT:
		return err_set(ERR_PASSWORD, "%s: PIN incorrect. It was not "
		    "retried: a few more wrong PINs lock the token", what);
	case CKR_PIN_LOCKED:
		return err_set(ERR_PASSWORD, "%s: the PIN is locked: unblock "
		    "it with the token's SO PIN or PUK", what);
	case CKR_PIN_EXPIRED:
		return err_set(ERR_PASSWORD, "%s: the PIN has expired: set a "
		    "new one with the token's tools", what);
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		return err_set(ERR_PASSWORD, "%s: the PIN is not valid for "
		    "this token (%s)", what, why);
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
		return err_set(ERR_DEVICE, "%s: the token is not present: "
		    "insert it", what);
	case CKR_HOST_MEMORY:
		return ERR_NOMEM;
	default:
		return err_set(ERR_DEVICE, "%s: %s (CK_RV 0x%lx)", what, why,
		    (unsigned long)rv);
	}
}

/* "not a PKCS#11 module" where p11-kit found no C_GetFunctionList. */
static int
load_error(const char *path)
{
	const char *msg = p11_kit_message();

	if (msg != NULL && strstr(msg, "C_GetFunctionList") != NULL)
		return err_set(ERR_DEVICE, "cannot load the PKCS#11 module %s: "
		    "it is not a PKCS#11 module (it has no C_GetFunctionList): "
		    "give the token's PKCS#11 library with --pkcs11-lib", path);
	return err_set(ERR_DEVICE, "cannot load the PKCS#11 module %s: %s",
	    path, msg != NULL ? msg : "unknown error");
}

static int
load_one(const char *path, struct p11_modules *m)
{
	CK_FUNCTION_LIST *mod;
	CK_RV rv;

	if ((m->list = calloc(2, sizeof(*m->list))) == NULL)
		return ERR_NOMEM;
	/* CRITICAL: a module that fails to initialise is an error, not skipped. */
	if ((mod = p11_kit_module_load(path, P11_KIT_MODULE_CRITICAL)) ==
	    NULL) {
		free(m->list);
		m->list = NULL;
		return load_error(path);
	}
	if ((rv = p11_kit_module_initialize(mod)) != CKR_OK) {
		p11_kit_module_release(mod);
		free(m->list);
		m->list = NULL;
		return err_set(ERR_DEVICE, "cannot initialise the PKCS#11 "
		    "module %s: C_Initialize returned %s (CK_RV 0x%lx)", path,
		    p11_kit_strerror(rv), (unsigned long)rv);
	}
	log_debug("PKCS#11 module %s loaded", path);
	m->list[0] = mod;
	return ERR_OK;
}

/*
 * Initialises p11-kit's registered modules one by one, where
 * p11_kit_modules_load_and_initialize() would drop a failing one without a
 * word: each failure is named under --debug and remembered for the "no
 * token" message, since the token the user looks for may be behind it. A
 * module configured as critical fails the whole load, as in p11-kit.
 */
static int
initialize_each(struct p11_modules *m)
{
	size_t kept = 0;
	int ret = ERR_OK;

	for (size_t i = 0; m->list[i] != NULL; i++) {
		CK_FUNCTION_LIST *mod = m->list[i];
		char *name = p11_kit_module_get_name(mod);
		char *file = p11_kit_module_get_filename(mod);
		const char *where = file ? file : name ? name : "?";
		bool critical = p11_kit_module_get_flags(mod) &
		    P11_KIT_MODULE_CRITICAL;
		CK_RV rv = p11_kit_module_initialize(mod);

		if (rv == CKR_OK) {
			log_debug("PKCS#11 module %s (%s) loaded",
			    name ? name : "?", where);
			m->list[kept++] = mod;
		} else {
			log_debug("the PKCS#11 module %s (%s) failed to "
			    "initialise: C_Initialize returned %s (CK_RV 0x%lx)"
			    "%s", name ? name : "?", where,
			    p11_kit_strerror(rv), (unsigned long)rv,
			    critical ? "" : "; skipping it");
			if (m->failed[0] == '\0')
				snprintf(m->failed, sizeof(m->failed), "the "
				    "PKCS#11 module %s failed to initialise "
				    "(C_Initialize: %s)", where,
				    p11_kit_strerror(rv));
			if (critical && ret == ERR_OK)
				ret = err_set(ERR_DEVICE, "cannot initialise "
				    "the PKCS#11 module %s: C_Initialize "
				    "returned %s (CK_RV 0x%lx)", where,
				    p11_kit_strerror(rv), (unsigned long)rv);
			p11_kit_module_release(mod);
		}
		free(name);
		free(file);
	}
	m->list[kept] = NULL;
	return ret;
}

int
p11_modules_load(const char *lib, P11KitUri *uri, struct p11_modules *m)
{
	const char *path = lib;
	int ret;

	memset(m, 0, sizeof(*m));
	/* p11-kit's own messages would add lines to stderr; we report. */
	p11_kit_be_quiet();
	if (path == NULL)
		path = p11_kit_uri_get_module_path(uri);
	if (path != NULL)
		return load_one(path, m);
	/*
	 * Under --debug p11-kit may speak while it loads: a configured module
	 * that cannot be loaded (not a PKCS#11 module, a wrong path) is named
	 * only by its message.
	 */
	if (log_debug_enabled())
		p11_kit_be_loud();
	m->list = p11_kit_modules_load(NULL, 0);
	p11_kit_be_quiet();
	m->from_p11kit = true;
	if (m->list != NULL && (ret = initialize_each(m)) != ERR_OK) {
		p11_modules_release(m);
		return ret;
	}
	if (m->list == NULL || m->list[0] == NULL) {
		if (m->failed[0] != '\0')
			ret = err_set(ERR_DEVICE, "no PKCS#11 module registered "
			    "with p11-kit can be used: %s; give one with "
			    "--pkcs11-lib", m->failed);
		else
			ret = err_set(ERR_DEVICE, "no PKCS#11 module is "
			    "registered with p11-kit%s%s: give one with "
			    "--pkcs11-lib", p11_kit_message() ? ": " : "",
			    p11_kit_message() ? p11_kit_message() : "");
		p11_modules_release(m);
		return ret;
	}
	return ERR_OK;
}

int
p11_no_token(const struct p11_modules *m, const char *uri)
{
	return err_set(ERR_DEVICE, "no token matches %s: is it inserted? "
	    "'p11tool --list-tokens' shows what p11-kit sees%s%s", uri,
	    m->failed[0] ? "; " : "", m->failed);
}

void
p11_modules_release(struct p11_modules *m)
{
	if (m->list == NULL)
		return;
	if (m->from_p11kit) {
		p11_kit_modules_finalize_and_release(m->list);
	} else {
		p11_kit_module_finalize(m->list[0]);
		p11_kit_module_release(m->list[0]);
		free(m->list);
	}
	m->list = NULL;
}

static bool
module_wanted(CK_FUNCTION_LIST *mod, P11KitUri *uri, CK_INFO *info)
{
	const char *name = p11_kit_uri_get_module_name(uri);
	char *mname;
	bool ok = true;

	if (name != NULL) {
		mname = p11_kit_module_get_name(mod);
		ok = mname != NULL && strcmp(mname, name) == 0;
		free(mname);
	}
	return ok && mod->C_GetInfo(info) == CKR_OK &&
	    p11_kit_uri_match_module_info(uri, info);
}

int
p11_tokens_match(const struct p11_modules *m, P11KitUri *uri,
    struct p11_token *out, size_t *n)
{
	CK_SLOT_ID slots[P11_MAX_TOKENS], want = p11_kit_uri_get_slot_id(uri);
	CK_SLOT_INFO sinfo;
	CK_INFO minfo;
	CK_ULONG count;

	*n = 0;
	for (size_t i = 0; m->list[i] != NULL; i++) {
		CK_FUNCTION_LIST *mod = m->list[i];

		if (!module_wanted(mod, uri, &minfo))
			continue;
		/* p11-kit-trust's CA list holds no keys: skip it unless named. */
		if (m->from_p11kit && p11_kit_uri_get_module_name(uri) == NULL &&
		    (p11_kit_module_get_flags(mod) & P11_KIT_MODULE_TRUSTED))
			continue;
		count = P11_MAX_TOKENS;
		if (mod->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK)
			continue;	/* e.g. too many slots: skip the module */
		for (CK_ULONG s = 0; s < count; s++) {
			struct p11_token *t = &out[*n];

			if (*n == P11_MAX_TOKENS)
				return err_set(ERR_DEVICE, "more than %d tokens "
				    "match: name one with token= in the URI",
				    P11_MAX_TOKENS);

			/* slot-id is "any" only when absent (spec §14.2 #20). */
			if (want != (CK_SLOT_ID)-1 && slots[s] != want)
				continue;
			/* An uninitialised token holds nothing to find. */
			if (mod->C_GetSlotInfo(slots[s], &sinfo) != CKR_OK ||
			    !p11_kit_uri_match_slot_info(uri, &sinfo) ||
			    mod->C_GetTokenInfo(slots[s], &t->info) != CKR_OK ||
			    !(t->info.flags & CKF_TOKEN_INITIALIZED) ||
			    !p11_kit_uri_match_token_info(uri, &t->info))
				continue;
			t->module = mod;
			t->slot = slots[s];
			t->module_info = minfo;
			(*n)++;
		}
	}
	return ERR_OK;
}

void
p11_objects_clear(struct p11_object *objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(objs[i].value);
		objs[i].value = NULL;
	}
}

/* Reads id, label and, for certificates, the DER value of one object. */
int
p11_read_object(const struct p11_token *t, CK_SESSION_HANDLE s,
    struct p11_object *o)
{
	CK_ATTRIBUTE a[3] = {
		{ CKA_ID, o->id, sizeof(o->id) },
		{ CKA_LABEL, o->label, sizeof(o->label) - 1 },
		{ CKA_VALUE, NULL, 0 },
	};
	CK_ULONG n = o->class == CKO_CERTIFICATE ? 3 : 2;
	CK_RV rv;

	/* Missing attributes come back as -1 lengths: treated as empty. */
	rv = t->module->C_GetAttributeValue(s, o->handle, a, n);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		return p11_err(rv, "reading a token object");
	o->id_len = a[0].ulValueLen <= sizeof(o->id) ? a[0].ulValueLen : 0;
	o->label[a[1].ulValueLen < sizeof(o->label) ? a[1].ulValueLen : 0] =
	    '\0';
	if (n < 3)
		return ERR_OK;
	if (a[2].ulValueLen == (CK_ULONG)-1 || a[2].ulValueLen == 0 ||
	    a[2].ulValueLen > 64 * 1024)
		return err_set(ERR_CERT, "a certificate on token has no "
		    "usable value");
	if ((o->value = malloc(a[2].ulValueLen)) == NULL)
		return ERR_NOMEM;
	a[2].pValue = o->value;
	if ((rv = t->module->C_GetAttributeValue(s, o->handle, &a[2], 1)) !=
	    CKR_OK)
		return p11_err(rv, "reading a certificate on the token");
	o->value_len = a[2].ulValueLen;
	return ERR_OK;
}

int
p11_find(const struct p11_token *t, CK_SESSION_HANDLE s, P11KitUri *uri,
    CK_OBJECT_CLASS class, const uint8_t *id, size_t id_len,
    struct p11_object *out, size_t max, size_t *n)
{
	CK_ATTRIBUTE tmpl[3], *a;
	CK_OBJECT_HANDLE h[P11_MAX_OBJECTS];
	CK_ULONG nt = 0, found = 0;
	CK_RV rv;
	int ret = ERR_OK;

	*n = 0;
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &class, sizeof(class) };
	if (id != NULL) {
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	} else if (uri != NULL) {
		/* The URI's attributes as p11-kit parsed them. */
		if ((a = p11_kit_uri_get_attribute(uri, CKA_ID)) != NULL)
			tmpl[nt++] = *a;
		if ((a = p11_kit_uri_get_attribute(uri, CKA_LABEL)) != NULL)
			tmpl[nt++] = *a;
	}
	if ((rv = t->module->C_FindObjectsInit(s, tmpl, nt)) != CKR_OK)
		return p11_err(rv, "searching the token");
	rv = t->module->C_FindObjects(s, h, P11_MAX_OBJECTS, &found);
	if (rv == CKR_OK && found == P11_MAX_OBJECTS) {
		CK_OBJECT_HANDLE more;
		CK_ULONG extra = 0;

		/* More than we keep: say so rather than pick among a part. */
		if (t->module->C_FindObjects(s, &more, 1, &extra) == CKR_OK &&
		    extra > 0) {
			(void)t->module->C_FindObjectsFinal(s);
			return err_set(ERR_USAGE, "more than %d objects match "
			    "on one token: make the URI more precise",
			    P11_MAX_OBJECTS);
		}
	}
	(void)t->module->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_err(rv, "searching the token");
	for (CK_ULONG i = 0; i < found && *n < max; i++) {
		struct p11_object *o = &out[*n];

		memset(o, 0, sizeof(*o));
		o->token = t;
		o->handle = h[i];
		o->class = class;
		(*n)++;
		if ((ret = p11_read_object(t, s, o)) != ERR_OK)
			break;
	}
	return ret;
}

size_t
p11_skip_attestation(struct p11_object *objs, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++)
		if (strncmp(objs[i].label, P11_ATTESTATION_LABEL,
		    strlen(P11_ATTESTATION_LABEL)) != 0)
			kept++;
	if (kept == 0 || kept == n)
		return n;
	kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(objs[i].label, P11_ATTESTATION_LABEL,
		    strlen(P11_ATTESTATION_LABEL)) == 0) {
			log_debug("skipping the PIV attestation certificate "
			    "\"%s\"", objs[i].label);
			free(objs[i].value);
			continue;
		}
		objs[kept++] = objs[i];
	}
	return kept;
}
