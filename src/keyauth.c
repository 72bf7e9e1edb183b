#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "files.h"
#include "keyauth.h"
#include "secret.h"

static int
prompt_tty(void *cls, const char *prompt, char **out)
{
	(void)cls;
	return secret_prompt(prompt, out);
}

/* Only an fd: source is gone once read; file: and env: are read again. */
static bool
rereadable(const char *source)
{
	return strncmp(source, "fd:", 3) != 0;
}

static int
copy_value(const struct auth_secret *from, struct auth_secret *to)
{
	if (from->value == NULL)
		return ERR_OK;
	if ((to->value = OPENSSL_strdup(from->value)) == NULL)
		return ERR_NOMEM;
	to->prompted = from->prompted;
	return ERR_OK;
}

/* One secret: from its source, or carried over from `prev`. */
static int
resolve(struct auth_secret *s, const char *source, const char *flag,
    const struct auth_secret *prev)
{
	if (prev != NULL && (source == NULL || !rereadable(source)))
		return copy_value(prev, s);
	if (source == NULL)
		return ERR_OK;
	return secret_from_source(source, flag, &s->value);
}

/*
 * The user PIN: a URI's pin-value (options.c took it out of argv), else a
 * URI's pin-source (RFC 7512: a file name or file: URI), else --pkcs11-pin.
 */
static int
resolve_pin(const struct options *o, struct auth_secret *s,
    const struct auth_secret *prev, char **pin_source)
{
	const char *uris[2] = { o->private_key, o->certificate };
	char *ps = NULL;
	int ret;

	*pin_source = NULL;
	if (o->uri_pin != NULL) {
		s->how = "pin-value in the pkcs11: URI";
		return (s->value = OPENSSL_strdup(o->uri_pin)) != NULL ?
		    ERR_OK : ERR_NOMEM;
	}
	for (int i = 0; i < 2 && ps == NULL; i++)
		if (uris[i] != NULL &&
		    (ret = secret_uri_query(uris[i], "pin-source", &ps)) != ERR_OK)
			return ret;
	if (ps != NULL) {
		s->how = "the pin-source file of the pkcs11: URI";
		if (asprintf(pin_source, "file:%s", strncmp(ps, "file:", 5) ==
		    0 ? ps + 5 : ps) < 0) {
			*pin_source = NULL;
			secret_free(ps);
			return ERR_NOMEM;
		}
		secret_free(ps);
		return resolve(s, *pin_source, "the URI's pin-source", prev);
	}
	return resolve(s, o->pkcs11_pin, "--pkcs11-pin", prev);
}

int
keyauth_init(const struct options *o, const struct auth *prev, struct auth *a)
{
	const struct auth_secret *p = prev != NULL ? prev->s : NULL;
	char *pin_source = NULL;
	int ret;

	memset(a, 0, sizeof(*a));
	a->reuse_pin = o->reuse_pin;
	if (prev == NULL)
		a->prompt = prompt_tty;
	a->s[AUTH_FILE_KEY].how = "--pkcs8-password";
	a->s[AUTH_PIN].how = "--pkcs11-pin or pin-value in the URI";
	a->s[AUTH_CONTEXT_PIN].how = "--pkcs11-context-pin, or --reuse-pin";
	a->s[AUTH_TPM_KEY].how = "--tpm-key-password, or "
	    "--no-tpm-key-password if it has none";
	a->s[AUTH_TPM_PARENT].how = "--tpm-parent-password";
	if ((ret = resolve(&a->s[AUTH_FILE_KEY], o->pkcs8_password,
	    "--pkcs8-password", p ? &p[AUTH_FILE_KEY] : NULL)) != ERR_OK ||
	    (ret = resolve_pin(o, &a->s[AUTH_PIN], p ? &p[AUTH_PIN] : NULL,
	    &pin_source)) != ERR_OK ||
	    (ret = resolve(&a->s[AUTH_CONTEXT_PIN], o->pkcs11_context_pin,
	    "--pkcs11-context-pin", p ? &p[AUTH_CONTEXT_PIN] : NULL)) !=
	    ERR_OK ||
	    (ret = resolve(&a->s[AUTH_TPM_KEY], o->tpm_key_password,
	    "--tpm-key-password", p ? &p[AUTH_TPM_KEY] : NULL)) != ERR_OK ||
	    (ret = resolve(&a->s[AUTH_TPM_PARENT], o->tpm_parent_password,
	    "--tpm-parent-password", p ? &p[AUTH_TPM_PARENT] : NULL)) !=
	    ERR_OK)
		auth_clear(a);
	free(pin_source);
	return ret;
}

void
keyauth_unattended(struct auth *a)
{
	a->prompt = NULL;
}

/* Handled by a device backend: nothing to read here. */
static bool
device_ref(const char *ref)
{
	return strncmp(ref, "pkcs11:", 7) == 0 || strncmp(ref, "handle:", 7) == 0;
}

const char *
keyfiles_path(const char *ref)
{
	if (ref == NULL || device_ref(ref) || secret_is_stream(ref))
		return NULL;
	return secret_source_path(ref);
}

/* Copies keep the terminating NUL that every reader adds. */
static int
dup_bytes(const struct keysrc *from, struct keysrc *to)
{
	if ((to->data = OPENSSL_malloc(from->len + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(to->data, from->data, from->len + 1);
	to->len = from->len;
	return ERR_OK;
}

/*
 * One source: env: and fd: are read (an fd: one taken from `prev` on a
 * reload); a path is checked for an unexpanded '~' and, when `what` is
 * given, read now.
 */
static int
src_init(struct keysrc *k, const char *ref, const char *flag,
    const char *what, int err, const struct keysrc *prev)
{
	memset(k, 0, sizeof(*k));
	if ((k->ref = ref) == NULL || device_ref(ref))
		return ERR_OK;
	if (secret_is_stream(ref)) {
		k->once = strncmp(ref, "fd:", 3) == 0;
		if (k->once && prev != NULL && prev->data != NULL)
			return dup_bytes(prev, k);
		return secret_read_all(ref, flag, err, FILES_MAX, &k->data,
		    &k->len);
	}
	k->path = secret_source_path(ref);
	if (*k->path == '\0')
		return err_set(ERR_USAGE, "%s %s names no file", flag, ref);
	if (secret_check_tilde(k->path, flag) != ERR_OK)
		return ERR_USAGE;
	if (what == NULL)
		return ERR_OK;
	return files_read(k->path, what, err, FILES_MAX, &k->data, &k->len);
}

int
keyfiles_init(const struct options *o, const struct keyfiles *prev,
    struct keyfiles *f)
{
	int ret;

	memset(f, 0, sizeof(*f));
	if ((ret = src_init(&f->cert, o->certificate, "--certificate",
	    "certificate file", ERR_CERT, prev ? &prev->cert : NULL)) != ERR_OK)
		goto out;
	/*
	 * Without --private-key the certificate's file holds the key too
	 * (PKCS#12, key+certificate PEM); so may one source given to both
	 * flags. An fd: can be read only once: the bytes are shared.
	 */
	if (o->private_key == NULL ||
	    (o->certificate != NULL && strcmp(o->private_key,
	    o->certificate) == 0 && f->cert.data != NULL &&
	    secret_is_stream(o->certificate))) {
		f->key.ref = f->cert.ref;
		f->key.path = f->cert.path;
		f->key.once = f->cert.once;
		if (f->cert.data != NULL && secret_is_stream(f->cert.ref) &&
		    (ret = dup_bytes(&f->cert, &f->key)) != ERR_OK)
			goto out;
	} else if ((ret = src_init(&f->key, o->private_key, "--private-key",
	    NULL, ERR_KEY, prev ? &prev->key : NULL)) != ERR_OK)
		goto out;
	ret = src_init(&f->chain, o->intermediates, "--intermediates",
	    "intermediates file", ERR_CERT, prev ? &prev->chain : NULL);
out:
	if (ret != ERR_OK)
		keyfiles_free(f);
	return ret;
}

static void
src_wipe(struct keysrc *k)
{
	if (k->data != NULL)
		OPENSSL_clear_free(k->data, k->len + 1);
	k->data = NULL;
	k->len = 0;
}

void
keyfiles_drop(struct keyfiles *f)
{
	struct keysrc *all[3] = { &f->cert, &f->key, &f->chain };

	for (int i = 0; i < 3; i++)
		if (!all[i]->once)
			src_wipe(all[i]);
}

void
keyfiles_free(struct keyfiles *f)
{
	src_wipe(&f->cert);
	src_wipe(&f->key);
	src_wipe(&f->chain);
	memset(f, 0, sizeof(*f));
}

void
keyfiles_unsetenv(const struct options *o)
{
	const char *ref = o->private_key ? o->private_key : o->certificate;

	if (ref != NULL && strncmp(ref, "env:", 4) == 0)
		unsetenv(ref + 4);
}
