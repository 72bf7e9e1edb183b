#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cache.h"
#include "err.h"
#include "files.h"
#include "log.h"
#include "secret.h"
#include "x509.h"

#define ENTRY_MAX (64 * 1024)

/* $XDG_RUNTIME_DIR/rasign (tmpfs, per user), else ~/.cache/rasign. */
static int
cache_dir(char *buf, size_t len)
{
	const char *base = getenv("XDG_RUNTIME_DIR"), *sub = "rasign";
	struct passwd *pw;

	if (base == NULL || *base != '/') {
		sub = ".cache/rasign";
		if ((base = getenv("HOME")) == NULL || *base != '/')
			base = (pw = getpwuid(geteuid())) ? pw->pw_dir : NULL;
	}
	if (base == NULL || snprintf(buf, len, "%s/%s", base, sub) >= (int)len)
		return -1;
	return 0;
}

/*
 * What the certificate is: a new certificate, a new entry. A file's or a
 * variable's certificate by its leaf's SHA-256 (or, when that cannot be
 * read without a password, as from a PKCS#12 file, the whole content's),
 * a token's by its reference, hashed with the others below.
 */
static void
cert_digest(const struct options *o, EVP_MD_CTX *md)
{
	const char *ref = o->certificate, *v;
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	X509 *x = NULL;

	if (ref == NULL || strncmp(ref, "pkcs11:", 7) == 0)
		return;
	if (strncmp(ref, "env:", 4) == 0) {
		if ((v = getenv(ref + 4)) != NULL) {
			buf = (uint8_t *)OPENSSL_strdup(v);
			len = strlen(v);
		}
	} else if (files_read(secret_source_path(ref), "--certificate",
	    ERR_CERT, FILES_MAX, &buf, &len) != ERR_OK) {
		buf = NULL;
	}
	if (buf != NULL) {
		if (x509_read_cert(ref, buf, len, &x, NULL) == ERR_OK &&
		    X509_digest(x, EVP_sha256(), fp, &n))
			EVP_DigestUpdate(md, fp, n);
		else
			EVP_DigestUpdate(md, buf, len);
		OPENSSL_clear_free(buf, len + 1);
	}
	err_clear();
	X509_free(x);
}

/*
 * Everything that decides the credentials, each field ended by a NUL so
 * that no two inputs run together: the certificate (its fingerprint, or
 * the references as given for token certificates), the ARNs, region,
 * endpoint, duration and session name.
 */
static int
entry_name(const struct options *o, const struct session *s, char out[65])
{
	const char *f[] = { o->certificate, o->private_key, o->intermediates,
	    o->pkcs11_lib, o->cert_selector, o->trust_anchor_arn,
	    o->profile_arn, o->role_arn, s->region, s->url, s->body };
	unsigned char d[32];
	EVP_MD_CTX *md;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return ERR_NOMEM;
	}
	EVP_DigestUpdate(md, "rasign-cache-1", 15);
	cert_digest(o, md);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		EVP_DigestUpdate(md, f[i] ? f[i] : "", f[i] ? strlen(f[i]) + 1 :
		    1);
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return ERR_OK;
}

int
cache_open(const struct options *o, const struct session *s, struct cache *c)
{
	char dir[4096], lock[80], shown[4200];
	int ret;

	c->dirfd = c->lockfd = -1;
	/* The entry is named by the certificate, and an fd reads only once. */
	if (o->certificate != NULL && strncmp(o->certificate, "fd:", 3) == 0)
		return err_set(ERR_USAGE, "--cache needs a certificate it can "
		    "read on every call: give --certificate as a path, env: or "
		    "file:, not fd:");
	if ((ret = entry_name(o, s, c->name)) != ERR_OK)
		return ret;
	if (cache_dir(dir, sizeof(dir)) != 0) {
		log_warn("not caching: no directory for the cache (neither "
		    "XDG_RUNTIME_DIR nor HOME is usable)");
		return ERR_OK;
	}
	if (files_dir(dir, "cache directory", ERR_INTERNAL, FILES_CREATE |
	    FILES_PRIVATE, &c->dirfd) != ERR_OK) {
		log_warn("not caching: %s", err_message());
		err_clear();
		return ERR_OK;
	}
	snprintf(lock, sizeof(lock), "%s.lock", c->name);
	snprintf(shown, sizeof(shown), "%s/%s", dir, lock);
	/* Held until the entry is fresh: one CreateSession for a crowd. */
	if (files_lock(c->dirfd, lock, shown, "cache lock", ERR_INTERNAL,
	    FILES_CREATE, -1, &c->lockfd, NULL) != ERR_OK) {
		log_warn("not caching: %s", err_message());
		err_clear();
		cache_close(c);
	}
	return ERR_OK;
}

/*
 * An entry we may trust: a regular file of ours that nobody else can read.
 * 1: there is none; -1: there is one we must not use (err_message says why).
 */
static int
read_entry(struct cache *c, uint8_t **buf, size_t *n)
{
	struct stat st;
	int fd = -1, ret;

	if (files_open(c->dirfd, c->name, "cache entry", ERR_RESPONSE,
	    FILES_NOFOLLOW | FILES_MISSING_OK, &fd, &st) != ERR_OK)
		return -1;
	if (fd < 0)
		return 1;
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		close(fd);
		err_set(ERR_RESPONSE, "the cache entry %s is not ours or is "
		    "readable by others", c->name);
		return -1;
	}
	ret = files_read_fd(fd, c->name, "cache entry", ERR_RESPONSE,
	    ENTRY_MAX, buf, n);
	close(fd);
	return ret == ERR_OK ? 0 : -1;
}

int
cache_parse_entry(const char *buf, size_t n, struct creds *cr)
{
	static const char *const keys[] = { "AccessKeyId", "SecretAccessKey",
	    "SessionToken", "Expiration" };
	char **dst[] = { &cr->access_key_id, &cr->secret_access_key,
	    &cr->session_token, &cr->expiration };
	json_t *o = json_loadb(buf, n, 0, NULL);
	const char *v;
	int ret = ERR_OK;

	memset(cr, 0, sizeof(*cr));
	for (size_t i = 0; i < 4 && ret == ERR_OK; i++) {
		if ((v = json_string_value(json_object_get(o, keys[i]))) ==
		    NULL || *v == '\0')
			ret = ERR_RESPONSE;
		else if ((*dst[i] = strdup(v)) == NULL)
			ret = ERR_NOMEM;
	}
	if (o != NULL) {
		const char *k;
		json_t *e;

		json_object_foreach(o, k, e)
			if (json_is_string(e))
				OPENSSL_cleanse((char *)json_string_value(e),
				    json_string_length(e));
	}
	json_decref(o);
	if (ret != ERR_OK)
		creds_free(cr);
	return ret;
}

int
cache_get(struct cache *c, long window, struct creds *cr)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	time_t exp;
	int r, ret = ERR_RESPONSE;

	memset(cr, 0, sizeof(*cr));
	if (c->dirfd < 0 || (r = read_entry(c, &buf, &n)) == 1)
		return ERR_RESPONSE;	/* a miss */
	if (r != 0) {
		log_warn("ignoring the cache entry: %s; replacing it",
		    err_message());
		goto bad;
	}
	if (cache_parse_entry((const char *)buf, n, cr) != ERR_OK ||
	    creds_expiry(cr, &exp) != ERR_OK) {
		log_warn("ignoring the cache entry %s: it is corrupt; replacing "
		    "it", c->name);
		goto bad;
	}
	if (exp - time(NULL) > window) {
		log_debug("cache hit: %lld s of validity left",
		    (long long)(exp - time(NULL)));
		ret = ERR_OK;
	} else {
		creds_free(cr);
	}
	goto out;
bad:
	err_clear();
	creds_free(cr);
	(void)unlinkat(c->dirfd, c->name, 0);
out:
	if (buf != NULL)
		OPENSSL_clear_free(buf, n + 1);
	return ret;
}

int
cache_put(struct cache *c, const struct creds *cr)
{
	char *json = NULL;

	if (c->dirfd < 0)
		return ERR_OK;
	if (creds_process_json(cr, &json) != ERR_OK)
		return ERR_NOMEM;
	if (files_replace(c->dirfd, c->name, c->name, "cache entry",
	    ERR_INTERNAL, json, strlen(json), 0600, geteuid(), getegid()) !=
	    ERR_OK) {
		log_warn("not caching: %s", err_message());
		err_clear();
	}
	creds_free_string(json);
	return ERR_OK;
}

void
cache_close(struct cache *c)
{
	if (c->lockfd >= 0)
		close(c->lockfd);	/* releases the flock */
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->lockfd = c->dirfd = -1;
}
