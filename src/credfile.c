#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "credfile.h"
#include "err.h"

/* Another update holds the lock for milliseconds; a stuck one is an error. */
#define LOCK_WAIT_MS 10000
#define LOCK_POLL_MS 10

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

/*
 * The file to replace. A symlinked credentials file (dotfiles kept
 * elsewhere) is followed, as the Go helper's open() did, so that the link
 * survives; anything but a regular file is refused, since renaming over
 * /dev/null (the test harness's setting) or a FIFO would be a disaster.
 */
static int
resolve(const char *path, char **target)
{
	struct stat st;

	*target = NULL;
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return err_set(ERR_INTERNAL, "cannot use the credentials "
			    "file %s: %s", path, strerror(errno));
		return (*target = strdup(path)) != NULL ? ERR_OK : ERR_NOMEM;
	}
	if (S_ISLNK(st.st_mode)) {
		/*
		 * Only our own link to our own file: root following a user's
		 * link would replace whatever file the user pointed it at.
		 */
		if (st.st_uid != geteuid())
			return err_set(ERR_INTERNAL, "the credentials file %s is "
			    "a symbolic link that is not yours: not following "
			    "it", path);
		if ((*target = realpath(path, NULL)) == NULL)
			return err_set(ERR_INTERNAL, "the credentials file %s is "
			    "a symbolic link to nowhere: %s", path,
			    strerror(errno));
		if (stat(*target, &st) != 0)
			return err_set(ERR_INTERNAL, "cannot use the credentials "
			    "file %s: %s", *target, strerror(errno));
		if (st.st_uid != geteuid())
			return err_set(ERR_INTERNAL, "the credentials file %s "
			    "links to %s, which is not yours: not following it",
			    path, *target);
	} else if ((*target = strdup(path)) == NULL)
		return ERR_NOMEM;
	if (!S_ISREG(st.st_mode))
		return err_set(ERR_INTERNAL, "the credentials file %s is not a "
		    "regular file", *target);
	return ERR_OK;
}

/* mkdir -p with mode 0700 (the Go helper's 0600 had no search bit). */
static int
make_dirs(const char *dir)
{
	char *p = NULL, *s, c;
	int ret = ERR_INTERNAL;

	if (access(dir, F_OK) == 0)
		return ERR_OK;
	if ((p = strdup(dir)) == NULL)
		return ERR_NOMEM;
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			ret = err_set(ERR_INTERNAL, "cannot create the directory "
			    "%s: %s", p, strerror(errno));
			goto out;
		}
		if ((*s = c) == '\0')
			break;
	}
	ret = ERR_OK;
out:
	free(p);
	return ret;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Opens and exclusively locks the file itself (created empty if missing).
 * Why the file and not a PATH.lock beside it: no lock file is left behind
 * in ~/.aws for the SDKs and users to wonder about. The catch is that a
 * writer replaces the inode by rename, so a process that waited on the old
 * inode must notice (the path's inode is no longer the one it holds) and
 * start again on the new one; every writer renames while holding the lock,
 * so once the lock is ours and the inodes agree, nobody else is writing.
 */
static int
lock_file(const char *path, int *out, struct stat *st)
{
	struct stat now;
	long waited = 0;
	int fd = -1, ret = ERR_INTERNAL;

	*out = -1;
	for (;;) {
		/* O_NONBLOCK: a FIFO swapped in must not hang the open. */
		if ((fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK, 0600)) < 0) {
			ret = err_set(ERR_INTERNAL, "cannot open the credentials "
			    "file %s: %s", path, strerror(errno));
			goto out;
		}
		if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
			ret = err_set(ERR_INTERNAL, "the credentials file %s is "
			    "not a regular file", path);
			goto out;
		}
		while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if ((errno != EWOULDBLOCK && errno != EINTR) ||
			    waited >= LOCK_WAIT_MS) {
				ret = err_set(ERR_INTERNAL, "cannot lock the "
				    "credentials file %s: %s", path,
				    errno == EWOULDBLOCK ? "another process "
				    "holds it" : strerror(errno));
				goto out;
			}
			sleep_ms(LOCK_POLL_MS);
			waited += LOCK_POLL_MS;
		}
		if (stat(path, &now) == 0 && now.st_dev == st->st_dev &&
		    now.st_ino == st->st_ino)
			break;
		close(fd);
		fd = -1;
	}
	*out = fd;
	fd = -1;
	ret = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The whole file through the locked descriptor, at most CREDFILE_MAX bytes. */
static int
read_all(int fd, const char *path, char **buf, size_t *len)
{
	size_t cap = 0, got = 0;
	char *p = NULL;
	ssize_t n;
	struct stat st;
	int ret = ERR_INTERNAL;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size > CREDFILE_MAX) {
		ret = err_set(ERR_INTERNAL, "the credentials file %s is larger "
		    "than %u bytes: refusing to rewrite it", path,
		    CREDFILE_MAX);
		goto out;
	}
	/* Room for one byte more than the cap, to see a file that grew. */
	cap = (size_t)st.st_size + 2;
	if ((p = OPENSSL_malloc(cap)) == NULL) {
		ret = ERR_NOMEM;
		goto out;
	}
	while (got < cap - 1) {
		n = read(fd, p + got, cap - 1 - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ret = err_set(ERR_INTERNAL, "cannot read the credentials "
			    "file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)st.st_size) {
		ret = err_set(ERR_INTERNAL, "the credentials file %s changed "
		    "while it was read", path);
		goto out;
	}
	p[got] = '\0';
	*buf = p;
	*len = got;
	p = NULL;
	ret = ERR_OK;
out:
	if (p != NULL)
		OPENSSL_clear_free(p, cap);
	return ret;
}

static int
write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, data, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory part of path ("." for a bare name) and the base name. */
static int
split(const char *path, char **dir, const char **base)
{
	const char *slash = strrchr(path, '/');

	*base = slash != NULL ? slash + 1 : path;
	if (slash == NULL)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	return *dir != NULL ? ERR_OK : ERR_NOMEM;
}

/*
 * A crash at any moment leaves either the old file or the new one: the
 * data reaches the disk (fsync) before the rename, and the rename before
 * we report success (fsync of the directory).
 */
static int
replace(const char *path, const char *dir, const char *base,
    const struct stat *old, const char *data, size_t len)
{
	char *tmp = NULL;
	int fd = -1, dfd = -1, ret = ERR_INTERNAL;

	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
		tmp = NULL;
		ret = ERR_NOMEM;
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		ret = err_set(ERR_INTERNAL, "cannot create a temporary file in "
		    "%s: %s", dir, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* root updating a user's file must not hand it over to root. */
	if (fchmod(fd, 0600) != 0 ||
	    ((old->st_uid != geteuid() || old->st_gid != getegid()) &&
	    fchown(fd, old->st_uid, old->st_gid) != 0) ||
	    write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		ret = err_set(ERR_INTERNAL, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		ret = err_set(ERR_INTERNAL, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		ret = err_set(ERR_INTERNAL, "cannot replace the credentials "
		    "file %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* Some file systems cannot sync a directory (EINVAL): nothing to do. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fsync(dfd) != 0 && errno != EINVAL)) {
		ret = err_set(ERR_INTERNAL, "cannot sync the directory %s: %s",
		    dir, strerror(errno));
		goto out;
	}
	ret = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	return ret;
}

int
credfile_write(const char *path, const char *profile, const struct creds *c)
{
	char *target = NULL, *dir = NULL, *old = NULL, *new = NULL;
	size_t oldlen = 0, newlen = 0;
	const char *base;
	struct stat st;
	int fd = -1, ret = ERR_INTERNAL;

	if ((ret = check_input(profile, c)) != ERR_OK ||
	    (ret = resolve(path, &target)) != ERR_OK ||
	    (ret = split(target, &dir, &base)) != ERR_OK ||
	    (ret = make_dirs(dir)) != ERR_OK ||
	    (ret = lock_file(target, &fd, &st)) != ERR_OK ||
	    (ret = read_all(fd, target, &old, &oldlen)) != ERR_OK ||
	    (ret = credfile_rewrite(old, oldlen, profile, c, &new, &newlen)) !=
	    ERR_OK ||
	    (ret = replace(target, dir, base, &st, new, newlen)) != ERR_OK)
		goto out;
	ret = ERR_OK;
out:
	/* Closing drops the lock, only after the rename. */
	if (fd >= 0)
		close(fd);
	/* The old text holds the previous credentials, and maybe long-term keys. */
	if (old != NULL)
		OPENSSL_clear_free(old, oldlen + 1);
	if (new != NULL)
		OPENSSL_clear_free(new, newlen + 1);
	free(dir);
	free(target);
	return ret;
}
