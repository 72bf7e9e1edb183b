#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cache.h"
#include "err.h"
#include "log.h"
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

/* Creates the path's missing directories 0700; the last must be ours alone. */
static int
private_dir(char *path)
{
	struct stat st;
	int fd;

	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(path, 0700);
		*p = '/';
	}
	(void)mkdir(path, 0700);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() ||
	    ((st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* The leaf's SHA-256 when it is a file: a new certificate, a new entry. */
static void
cert_digest(const struct options *o, EVP_MD_CTX *md)
{
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	X509 *x = NULL;

	if (o->certificate != NULL &&
	    strncmp(o->certificate, "pkcs11:", 7) != 0 &&
	    x509_load_cert(o->certificate, &x) == ERR_OK &&
	    X509_digest(x, EVP_sha256(), fp, &n))
		EVP_DigestUpdate(md, fp, n);
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
	char dir[4096], lock[80];
	int ret;

	c->dirfd = c->lockfd = -1;
	if ((ret = entry_name(o, s, c->name)) != ERR_OK)
		return ret;
	if (cache_dir(dir, sizeof(dir)) != 0 ||
	    (c->dirfd = private_dir(dir)) < 0) {
		log_warn("not caching: no private cache directory (%s)", dir);
		return ERR_OK;
	}
	snprintf(lock, sizeof(lock), "%s.lock", c->name);
	/* Held until the entry is fresh: one CreateSession for a crowd. */
	if ((c->lockfd = openat(c->dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0 || flock(c->lockfd, LOCK_EX) != 0) {
		log_warn("not caching: cannot lock %s/%s: %s", dir, lock,
		    strerror(errno));
		cache_close(c);
	}
	return ERR_OK;
}

/* An entry we may trust: a regular file of ours that nobody else can read. */
static int
read_entry(struct cache *c, char *buf, size_t len, size_t *n)
{
	struct stat st;
	ssize_t r;
	int fd;

	if ((fd = openat(c->dirfd, c->name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
	    st.st_size >= (off_t)len) {
		close(fd);
		return -1;
	}
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -1;
	*n = (size_t)r;
	buf[*n] = '\0';
	return 0;
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
	char buf[ENTRY_MAX];
	size_t n = 0;
	time_t exp;
	int r, ret = ERR_RESPONSE;

	memset(cr, 0, sizeof(*cr));
	if (c->dirfd < 0 || (r = read_entry(c, buf, sizeof(buf), &n)) == 1)
		return ERR_RESPONSE;	/* a miss */
	if (r != 0 || cache_parse_entry(buf, n, cr) != ERR_OK ||
	    creds_expiry(cr, &exp) != ERR_OK) {
		err_clear();
		creds_free(cr);
		log_warn("ignoring the cache entry %s: corrupt, not ours, or "
		    "readable by others; replacing it", c->name);
		(void)unlinkat(c->dirfd, c->name, 0);
		goto out;
	}
	if (exp - time(NULL) > window) {
		log_debug("cache hit: %lld s of validity left",
		    (long long)(exp - time(NULL)));
		ret = ERR_OK;
	} else {
		creds_free(cr);
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

int
cache_put(struct cache *c, const struct creds *cr)
{
	char tmp[96], *json = NULL;
	size_t len;
	int fd = -1, ret = ERR_OK;

	if (c->dirfd < 0)
		return ERR_OK;
	if (creds_process_json(cr, &json) != ERR_OK)
		return ERR_NOMEM;
	len = strlen(json);
	snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", c->name);
	/* mkstemp needs a path: the directory is ours, so build it there. */
	for (int i = 0; i < 10 && fd < 0; i++) {
		char *x = tmp + strlen(tmp) - 6;
		unsigned char rnd[6];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			break;
		for (int k = 0; k < 6; k++)
			x[k] = "abcdefghijklmnopqrstuvwxyz0123456789"[rnd[k] % 36];
		fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0 || write(fd, json, len) != (ssize_t)len || fsync(fd) != 0 ||
	    renameat(c->dirfd, tmp, c->dirfd, c->name) != 0) {
		log_warn("cannot write the cache entry: %s", strerror(errno));
		if (fd >= 0)
			(void)unlinkat(c->dirfd, tmp, 0);
	}
	if (fd >= 0)
		close(fd);
	creds_free_string(json);
	return ret;
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
