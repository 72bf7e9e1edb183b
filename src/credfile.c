#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "credfile.h"
#include "err.h"
#include "files.h"

/* Another update holds the lock for milliseconds; a stuck one is an error. */
#define LOCK_WAIT_MS 10000

/* The three keys, in the order the Go helper appends missing ones. */
static const char *const keys[3] = {
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
};

/* ---------------------------------------------------------------- rewrite */

/* An output buffer that wipes every copy it leaves behind: it holds secrets. */
struct obuf {
	char *p;
	size_t len, cap;
	int err;
};

static void
put(struct obuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->err != ERR_OK)
		return;
	if (n > CREDFILE_MAX - b->len) {
		b->err = err_set(ERR_INTERNAL, "the credentials file would "
		    "grow beyond %u bytes", CREDFILE_MAX);
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap < 256 ? 256 : b->cap;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = OPENSSL_malloc(cap)) == NULL) {
			b->err = ERR_NOMEM;
			return;
		}
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			OPENSSL_clear_free(b->p, b->cap);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
put_str(struct obuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* One line of the input: its text, and the terminator kept apart from it. */
struct line {
	const char *s;
	size_t len;		/* without the terminator */
	const char *eol;	/* "\r\n", "\n", or at EOF "\r" or "" */
};

/* Splits at LF; a CR before it belongs to the terminator, as Go drops it. */
static size_t
next_line(const char *buf, size_t len, size_t pos, struct line *l)
{
	const char *nl = memchr(buf + pos, '\n', len - pos);
	size_t end = nl != NULL ? (size_t)(nl - buf) : len;

	l->s = buf + pos;
	l->len = end - pos;
	l->eol = nl != NULL ? "\n" : "";
	if (l->len > 0 && l->s[l->len - 1] == '\r') {
		l->len--;
		l->eol = nl != NULL ? "\r\n" : "\r";
	}
	return nl != NULL ? end + 1 : len;
}

static void
put_line(struct obuf *b, const struct line *l)
{
	put(b, l->s, l->len);
	put_str(b, l->eol);
}

/*
 * Before anything is added after the file's last line, that line gets the
 * terminator it lacks; lines the Go helper never touches keep their bytes.
 */
static void
terminate(struct obuf *b, const char *eol)
{
	if (b->len == 0 || b->p[b->len - 1] == '\n')
		return;
	put_str(b, b->p[b->len - 1] == '\r' ? "\n" : eol);
}

static void
put_key(struct obuf *b, int k, const struct creds *c, const char *eol)
{
	const char *v[3] = { c->access_key_id, c->secret_access_key,
	    c->session_token };

	put_str(b, keys[k]);
	put_str(b, " = ");
	put_str(b, v[k]);
	put_str(b, eol);
}

/*
 * Which of the three keys a line sets, or -1. The Go helper matches a
 * prefix, so it also overwrote "aws_session_token_x = ..." and lost that
 * line; here the key before '=' (or ':', as INI readers allow) must be the
 * whole name. Still at column 0 only: an indented line continues a value.
 */
static int
key_of(const struct line *l)
{
	size_t n = 0, want;

	while (n < l->len && l->s[n] != '=' && l->s[n] != ':')
		n++;
	while (n > 0 && (l->s[n - 1] == ' ' || l->s[n - 1] == '\t'))
		n--;
	for (int k = 0; k < 3; k++) {
		want = strlen(keys[k]);
		if (n == want && memcmp(l->s, keys[k], n) == 0)
			return k;
	}
	return -1;
}

static bool
is_header(const struct line *l, const char *profile)
{
	size_t n = strlen(profile);

	return l->len == n + 2 && l->s[0] == '[' && l->s[n + 1] == ']' &&
	    memcmp(l->s + 1, profile, n) == 0;
}

/* A value or name on one line: no byte an INI line could not carry. */
static int
check_value(const char *what, const char *v)
{
	if (v == NULL || *v == '\0')
		return err_set(ERR_RESPONSE, "no %s to write to the credentials "
		    "file", what);
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return err_set(ERR_RESPONSE, "the %s holds control "
			    "characters", what);
	return ERR_OK;
}

int
credfile_check_profile(const char *profile)
{
	if (profile == NULL || *profile == '\0')
		return err_set(ERR_USAGE, "--profile needs a non-empty name");
	for (const char *p = profile; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(ERR_USAGE, "--profile must not hold "
			    "control characters");
	return ERR_OK;
}

/*
 * Rewrites the section [profile] in place, from its header to the next
 * line that starts with '[' (or EOF), as GetNewCredentialsFileContents does
 * (spec §8.3): key lines replaced where they stand, missing keys appended
 * at the end of the section, a new section with a blank line after it when
 * none matched. Its bugs are gone: the file's last line is part of the
 * section like any other, a header on the last line is found, lines have
 * no length limit, and untouched lines keep their CR LF and a missing
 * final newline.
 */
static void
rewrite(struct obuf *b, const char *old, size_t len, const char *profile,
    const struct creds *c)
{
	const char *first_nl = old != NULL ? memchr(old, '\n', len) : NULL;
	/* Lines we add follow the file's own convention. */
	const char *eol = first_nl != NULL && first_nl > old &&
	    first_nl[-1] == '\r' ? "\r\n" : "\n";
	bool found = false, seen[3];
	struct line l;
	size_t pos = 0, next;
	int k;

	while (pos < len) {
		pos = next_line(old, len, pos, &l);
		put_line(b, &l);
		if (found || !is_header(&l, profile))
			continue;
		found = true;
		memset(seen, 0, sizeof(seen));
		for (; pos < len; pos = next) {
			next = next_line(old, len, pos, &l);
			if (l.len > 0 && l.s[0] == '[')
				break;
			if ((k = key_of(&l)) < 0) {
				put_line(b, &l);
				continue;
			}
			/* A replaced last line keeps lacking its newline. */
			put_key(b, k, c, l.eol);
			seen[k] = true;
		}
		for (k = 0; k < 3; k++) {
			if (seen[k])
				continue;
			terminate(b, eol);
			put_key(b, k, c, eol);
		}
	}
	if (found)
		return;
	terminate(b, eol);
	put_str(b, "[");
	put_str(b, profile);
	put_str(b, "]");
	put_str(b, eol);
	for (k = 0; k < 3; k++)
		put_key(b, k, c, eol);
	put_str(b, eol);
}

/* Values that would break the file are refused before it is touched. */
static int
check_input(const char *profile, const struct creds *c)
{
	int ret;

	if ((ret = credfile_check_profile(profile)) != ERR_OK ||
	    (ret = check_value("access key id", c->access_key_id)) != ERR_OK ||
	    (ret = check_value("secret access key", c->secret_access_key)) !=
	    ERR_OK ||
	    (ret = check_value("session token", c->session_token)) != ERR_OK)
		return ret;
	return ERR_OK;
}

int
credfile_rewrite(const char *old, size_t len, const char *profile,
    const struct creds *c, char **out, size_t *outlen)
{
	struct obuf b = { NULL, 0, 0, ERR_OK };
	int ret;

	*out = NULL;
	*outlen = 0;
	if (old == NULL)
		len = 0;
	if ((ret = check_input(profile, c)) != ERR_OK)
		goto out;
	if (len > CREDFILE_MAX) {
		ret = err_set(ERR_INTERNAL, "the credentials file is larger "
		    "than %u bytes", CREDFILE_MAX);
		goto out;
	}
	rewrite(&b, old, len, profile, c);
	if ((ret = b.err) != ERR_OK)
		goto out;
	*out = b.p;
	*outlen = b.len;
	b.p = NULL;
	ret = ERR_OK;
out:
	if (b.p != NULL)
		OPENSSL_clear_free(b.p, b.cap);
	return ret;
}

/* ---------------------------------------------------------------- path */

static int
join(const char *dir, const char *rest, char **out)
{
	if (asprintf(out, "%s%s", dir, rest) < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

/*
 * Unlike the Go helper (spec §14.2 #14), $HOME is not needed when the
 * file is named, and an unset $HOME falls back to the passwd entry.
 */
int
credfile_path(char **out)
{
	struct passwd pw, *res = NULL;
	const char *v;
	char *buf = NULL;
	long size;
	int ret = ERR_INTERNAL;

	*out = NULL;
	if ((v = getenv("AWS_SHARED_CREDENTIALS_FILE")) != NULL && *v != '\0')
		return (*out = strdup(v)) != NULL ? ERR_OK : ERR_NOMEM;
	if ((v = getenv("HOME")) != NULL && *v != '\0')
		return join(v, "/.aws/credentials", out);
	if ((size = sysconf(_SC_GETPW_R_SIZE_MAX)) < 0)
		size = 16384;
	if ((buf = malloc((size_t)size)) == NULL) {
		ret = ERR_NOMEM;
		goto out;
	}
	if (getpwuid_r(getuid(), &pw, buf, (size_t)size, &res) != 0 ||
	    res == NULL || pw.pw_dir == NULL || *pw.pw_dir == '\0') {
		ret = err_set(ERR_INTERNAL, "cannot find the credentials file: "
		    "neither AWS_SHARED_CREDENTIALS_FILE nor HOME is set, and "
		    "user %u has no home directory", (unsigned)getuid());
		goto out;
	}
	ret = join(pw.pw_dir, "/.aws/credentials", out);
out:
	free(buf);
	return ret;
}

/* ---------------------------------------------------------------- the file */

#define WHAT "credentials file"

/*
 * The file is found by files_locate: a symbolic link on the way, or the
 * file itself as a link (dotfiles kept elsewhere), is followed only when
 * it and what it leads to are ours (or root's), so that root updating a
 * user's file never writes where the user pointed it. What root creates
 * for a user (~/.aws, the file) belongs to that user. Anything but a
 * regular file is refused: renaming over /dev/null (the test harness's
 * setting) or a FIFO would be a disaster. The lock is on the file itself,
 * so that no lock file is left in ~/.aws for the SDKs and users to wonder
 * about; files_lock explains how that survives the rename.
 */
int
credfile_write(const char *path, const char *profile, const struct creds *c)
{
	const unsigned flags = FILES_CREATE | FILES_INHERIT;
	char *name = NULL, *new = NULL;
	uint8_t *old = NULL;
	size_t oldlen = 0, newlen = 0;
	struct stat st;
	int dfd = -1, fd = -1, ret = ERR_INTERNAL;

	if ((ret = check_input(profile, c)) != ERR_OK ||
	    (ret = files_locate(path, WHAT, ERR_INTERNAL, flags, &dfd,
	    &name)) != ERR_OK ||
	    (ret = files_lock(dfd, name, path, WHAT, ERR_INTERNAL, flags,
	    LOCK_WAIT_MS, &fd, &st)) != ERR_OK ||
	    (ret = files_read_fd(fd, path, WHAT, ERR_INTERNAL, CREDFILE_MAX,
	    &old, &oldlen)) != ERR_OK ||
	    (ret = credfile_rewrite((const char *)old, oldlen, profile, c,
	    &new, &newlen)) != ERR_OK ||
	    (ret = files_replace(dfd, name, path, WHAT, ERR_INTERNAL, new,
	    newlen, 0600, st.st_uid, st.st_gid)) != ERR_OK)
		goto out;
	ret = ERR_OK;
out:
	/* Closing drops the lock, only after the rename. */
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	/* The old text holds the previous credentials, and maybe long-term keys. */
	if (old != NULL)
		OPENSSL_clear_free(old, oldlen + 1);
	if (new != NULL)
		OPENSSL_clear_free(new, newlen + 1);
	free(name);
	return ret;
}
