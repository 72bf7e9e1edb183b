#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "err.h"
#include "files.h"

#define MAX_LINKS 40		/* the kernel's own limit before ELOOP */
#define LOCK_POLL_MS 10

/* ---------------------------------------------------------------- reads */

/* What a file is, for "... is a FIFO, not a regular file". */
static const char *
kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "a special file";
}

static int
not_regular(const char *what, const char *path, mode_t m, int err)
{
	return err_set(err, "the %s %s is %s, not a regular file", what, path,
	    kind(m));
}

/* Blocking again once we know it is a regular file: reads then just work. */
static int
set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* f, opened O_NONBLOCK: a regular file (else err), made blocking again. */
static int
regular_fd(int f, const char *what, const char *path, int err,
    struct stat *st)
{
	if (fstat(f, st) != 0 || set_blocking(f) != 0)
		return err_set(err, "cannot open the %s %s: %s", what, path,
		    strerror(errno));
	/* What was opened counts, not what was looked at before. */
	if (!S_ISREG(st->st_mode))
		return not_regular(what, path, st->st_mode, err);
	return ERR_OK;
}

int
files_open(int dirfd, const char *path, const char *what, int err,
    unsigned flags, int *fd, struct stat *st)
{
	struct stat sb, *s = st != NULL ? st : &sb;
	int nofollow = (flags & FILES_NOFOLLOW) ? O_NOFOLLOW : 0;
	int f, ret;

	*fd = -1;
	/* Look first, so that a device is never opened (a tape rewinds). */
	if (fstatat(dirfd, path, s, nofollow ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
	    !S_ISREG(s->st_mode))
		return not_regular(what, path, s->st_mode, err);
	/* O_NONBLOCK: a FIFO swapped in after the look cannot hang the open. */
	if ((f = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
	    nofollow)) < 0) {
		if (errno == ENOENT && (flags & FILES_MISSING_OK))
			return ERR_OK;
		return err_set(err, "cannot open the %s %s: %s", what, path,
		    strerror(errno));
	}
	if ((ret = regular_fd(f, what, path, err, s)) != ERR_OK) {
		close(f);
		return ret;
	}
	*fd = f;
	return ERR_OK;
}

int
files_read_fd(int fd, const char *path, const char *what, int err,
    size_t max, uint8_t **buf, size_t *len)
{
	size_t cap = 0, got = 0;
	uint8_t *p = NULL;
	struct stat st;
	ssize_t n;
	int ret = err;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return err_set(err, "cannot read the %s %s: %s", what, path,
		    strerror(errno));
	if (st.st_size < 0 || (unsigned long long)st.st_size > max)
		return err_set(err, "the %s %s is larger than %zu bytes", what,
		    path, max);
	/* Room for one byte more than the size, to see a file that grew. */
	cap = (size_t)st.st_size + 2;
	/* Not the secure heap, but wiped on free: the file may be a key. */
	if ((p = OPENSSL_malloc(cap)) == NULL)
		return ERR_NOMEM;
	while (got < cap - 1) {
		n = read(fd, p + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(err, "cannot read the %s %s: %s", what,
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)st.st_size) {
		ret = err_set(err, "the %s %s changed while it was read", what,
		    path);
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

int
files_read(const char *path, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len)
{
	int fd, ret;

	*buf = NULL;
	*len = 0;
	if ((ret = files_open(AT_FDCWD, path, what, err, 0, &fd, NULL)) !=
	    ERR_OK)
		return ret;
	ret = files_read_fd(fd, path, what, err, max, buf, len);
	close(fd);
	return ret;
}

int
files_check_regular(const char *path, const char *what, int err)
{
	struct stat st;

	if (path != NULL && *path != '\0' && stat(path, &st) == 0 &&
	    !S_ISREG(st.st_mode))
		return not_regular(what, path, st.st_mode, err);
	return ERR_OK;
}

/* ---------------------------------------------------------------- walks */

/*
 * Why walk the path ourselves instead of open(path): root running update
 * for a user (HOME=/home/u) would otherwise follow whatever links the user
 * put on the way (~/.aws -> /etc) and replace files there. Each component
 * is opened with O_NOFOLLOW from the directory before it, and the last
 * directory's fd is what every later operation is relative to, so nothing
 * renamed meanwhile can redirect us. A link is followed only when it is
 * ours or root's, and so is what it leads to: root's links are trusted
 * because root could write there anyway (/home -> /data/home), and a user's
 * links are trusted by that user alone. Dropping to the user's ids
 * (setfsuid) instead was not chosen: whose ids to take is itself a question
 * about the path, and the cache and credentials file would need different
 * answers.
 */
struct walk {
	const char *what;	/* "credentials file", for messages */
	const char *path;	/* as the caller gave it, for messages */
	int err;
	unsigned flags;
	int links;		/* followed so far */
};

static bool
trusted(uid_t uid)
{
	return uid == geteuid() || uid == 0;
}

/*
 * When root makes a file or directory in someone else's directory, the
 * owner of that directory gets it: a user's ~/.aws stays the user's.
 */
static int
inherit(int dirfd, int fd)
{
	struct stat d, st;

	if (geteuid() != 0 || fstat(dirfd, &d) != 0 || d.st_uid == geteuid())
		return 0;
	/* Only what we made: a root-owned object nobody else could plant. */
	if (fstat(fd, &st) != 0 || st.st_uid != 0)
		return 0;
	return fchownat(fd, "", d.st_uid, d.st_gid, AT_EMPTY_PATH);
}

static int walk(struct walk *, int start, const char *dir, int *out);

/* "cannot use the credentials file P: C: why", C left out when it is P. */
static int
walk_error(struct walk *w, const char *shown, int shownlen, int e)
{
	if ((size_t)shownlen == strlen(w->path) &&
	    strncmp(shown, w->path, (size_t)shownlen) == 0)
		return err_set(w->err, "cannot use the %s %s: %s", w->what,
		    w->path, strerror(e));
	return err_set(w->err, "cannot use the %s %s: %.*s: %s", w->what,
	    w->path, shownlen, shown, strerror(e));
}

/* The link `name` in dfd, to a directory: *out is that directory. */
static int
follow_dir(struct walk *w, int dfd, const char *name, const struct stat *lst,
    const char *shown, int shownlen, int *out)
{
	char target[PATH_MAX];
	unsigned saved = w->flags;
	struct stat st;
	ssize_t n;
	int fd = -1, ret = w->err;

	*out = -1;
	if (++w->links > MAX_LINKS)
		return err_set(w->err, "cannot use the %s %s: too many levels "
		    "of symbolic links", w->what, w->path);
	if (!trusted(lst->st_uid))
		return err_set(w->err, "cannot use the %s %s: %.*s is a "
		    "symbolic link that is not yours (owner uid %u): not "
		    "following it", w->what, w->path, shownlen, shown,
		    (unsigned)lst->st_uid);
	if ((n = readlinkat(dfd, name, target, sizeof(target) - 1)) < 0)
		return walk_error(w, shown, shownlen, errno);
	target[n] = '\0';
	/* Nothing is made inside a link's target: mkdir -p would not either. */
	w->flags &= ~(unsigned)FILES_CREATE;
	ret = walk(w, dfd, target, &fd);
	w->flags = saved;
	if (ret != ERR_OK)
		goto out;
	if (fstat(fd, &st) != 0) {
		ret = walk_error(w, shown, shownlen, errno);
		goto out;
	}
	if (!trusted(st.st_uid)) {
		ret = err_set(w->err, "cannot use the %s %s: %.*s links to %s, "
		    "which is not yours (owner uid %u): not following it",
		    w->what, w->path, shownlen, shown, target,
		    (unsigned)st.st_uid);
		goto out;
	}
	*out = fd;
	fd = -1;
	ret = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* One component: the directory `name` in dfd, made when missing. */
static int
step(struct walk *w, int dfd, const char *name, const char *shown,
    int shownlen, int *out)
{
	struct stat lst;
	bool made = false;
	int fd, e = 0;

	*out = -1;
	for (int tries = 0; tries < 3; tries++) {
		/* O_PATH: search permission is enough, as for open(path). */
		fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd >= 0) {
			if (made && (w->flags & FILES_INHERIT) &&
			    inherit(dfd, fd) != 0) {
				e = errno;
				close(fd);
				return err_set(w->err, "cannot give the new "
				    "directory %.*s to its parent's owner: %s",
				    shownlen, shown, strerror(e));
			}
			*out = fd;
			return ERR_OK;
		}
		e = errno;
		if (e == ENOENT && (w->flags & FILES_CREATE)) {
			/* The Go helper's 0600 had no search bit. */
			if (mkdirat(dfd, name, 0700) == 0)
				made = true;
			else if (errno != EEXIST)
				return err_set(w->err, "cannot create the "
				    "directory %.*s: %s", shownlen, shown,
				    strerror(errno));
			continue;
		}
		if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(lst.st_mode))
			return follow_dir(w, dfd, name, &lst, shown, shownlen,
			    out);
		break;
	}
	return walk_error(w, shown, shownlen, e);
}

/*
 * Walks dir from start (an absolute dir from "/") into *out, an O_PATH
 * descriptor of the last directory.
 */
static int
walk(struct walk *w, int start, const char *dir, int *out)
{
	char name[NAME_MAX + 1];
	const char *p = dir;
	size_t n;
	int dfd = -1, next = -1, ret = w->err;

	*out = -1;
	if ((dfd = openat(*dir == '/' ? AT_FDCWD : start, *dir == '/' ? "/" :
	    ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set(w->err, "cannot use the %s %s: %s", w->what,
		    w->path, strerror(errno));
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		if ((n = strcspn(p, "/")) > NAME_MAX) {
			ret = err_set(w->err, "cannot use the %s %s: %s",
			    w->what, w->path, strerror(ENAMETOOLONG));
			goto out;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if ((ret = step(w, dfd, name, dir, (int)(p - dir), &next)) !=
		    ERR_OK)
			goto out;
		close(dfd);
		dfd = next;
	}
	*out = dfd;
	dfd = -1;
	ret = ERR_OK;
out:
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* An O_PATH directory reopened for real: fsync and fchmod need that. */
static int
reopen_dir(struct walk *w, int pathfd, int *out)
{
	if ((*out = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	    0)
		return err_set(w->err, "cannot open the directory of the %s %s: "
		    "%s", w->what, w->path, strerror(errno));
	return ERR_OK;
}

int
files_dir(const char *path, const char *what, int err, unsigned flags,
    int *dirfd)
{
	struct walk w = { what, path, err, flags, 0 };
	struct stat st;
	int pfd = -1, fd = -1, ret = err;

	*dirfd = -1;
	if ((ret = walk(&w, AT_FDCWD, path, &pfd)) != ERR_OK ||
	    (ret = reopen_dir(&w, pfd, &fd)) != ERR_OK)
		goto out;
	if (flags & FILES_PRIVATE) {
		if (fstat(fd, &st) != 0) {
			ret = err_set(err, "cannot use the %s %s: %s", what,
			    path, strerror(errno));
			goto out;
		}
		if (st.st_uid != geteuid()) {
			ret = err_set(err, "the %s %s is not yours (owner uid "
			    "%u)", what, path, (unsigned)st.st_uid);
			goto out;
		}
		if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0) {
			ret = err_set(err, "cannot make the %s %s private: %s",
			    what, path, strerror(errno));
			goto out;
		}
	}
	*dirfd = fd;
	fd = -1;
	ret = ERR_OK;
out:
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The directory part of path ("" for a bare name) and its last name. */
static int
split(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');

	*dir = slash != NULL ? strndup(path, (size_t)(slash - path + 1)) :
	    strdup("");
	*base = strdup(slash != NULL ? slash + 1 : path);
	if (*dir == NULL || *base == NULL) {
		free(*dir);
		free(*base);
		*dir = *base = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

/* The last component of path: a link of ours followed, else left alone. */
static int
last(struct walk *w, int *dfd, char **base)
{
	char target[PATH_MAX], *tdir = NULL, *tbase = NULL;
	bool via_link = false;
	struct stat st;
	ssize_t n;
	int next = -1, ret = w->err;

	for (;;) {
		if (fstatat(*dfd, *base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT && !via_link)
				break;
			return err_set(w->err, "cannot use the %s %s%s: %s",
			    w->what, w->path, via_link ? " (a symbolic link)" :
			    "", strerror(errno));
		}
		if (!S_ISLNK(st.st_mode)) {
			if (via_link && !trusted(st.st_uid))
				return err_set(w->err, "the %s %s links to %s, "
				    "which is not yours: not following it",
				    w->what, w->path, target);
			if (!S_ISREG(st.st_mode))
				return not_regular(w->what, w->path,
				    st.st_mode, w->err);
			break;
		}
		if (w->flags & FILES_NOFOLLOW)
			return err_set(w->err, "the %s %s is a symbolic link: "
			    "not following it", w->what, w->path);
		if (++w->links > MAX_LINKS)
			return err_set(w->err, "cannot use the %s %s: too many "
			    "levels of symbolic links", w->what, w->path);
		/* Dotfiles kept elsewhere: ours, to a file of ours. */
		if (!trusted(st.st_uid))
			return err_set(w->err, "the %s %s is a symbolic link "
			    "that is not yours (owner uid %u): not following it",
			    w->what, w->path, (unsigned)st.st_uid);
		if ((n = readlinkat(*dfd, *base, target, sizeof(target) - 1)) <
		    0)
			return err_set(w->err, "cannot use the %s %s: %s",
			    w->what, w->path, strerror(errno));
		target[n] = '\0';
		if ((ret = split(target, &tdir, &tbase)) != ERR_OK)
			return ret;
		w->flags &= ~(unsigned)FILES_CREATE;
		ret = walk(w, *dfd, tdir, &next);
		free(tdir);
		if (ret != ERR_OK) {
			free(tbase);
			return ret;
		}
		close(*dfd);
		*dfd = next;
		free(*base);
		*base = tbase;
		via_link = true;
	}
	return ERR_OK;
}

int
files_locate(const char *path, const char *what, int err, unsigned flags,
    int *dirfd, char **name)
{
	struct walk w = { what, path, err, flags, 0 };
	char *dir = NULL, *base = NULL;
	int pfd = -1, ret = err;

	*dirfd = -1;
	*name = NULL;
	if ((ret = split(path, &dir, &base)) != ERR_OK)
		goto out;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		ret = err_set(err, "the %s %s names a directory, not a file",
		    what, path);
		goto out;
	}
	if ((ret = walk(&w, AT_FDCWD, dir, &pfd)) != ERR_OK ||
	    (ret = last(&w, &pfd, &base)) != ERR_OK ||
	    (ret = reopen_dir(&w, pfd, dirfd)) != ERR_OK)
		goto out;
	*name = base;
	base = NULL;
	ret = ERR_OK;
out:
	if (pfd >= 0)
		close(pfd);
	free(dir);
	free(base);
	return ret;
}

/* ---------------------------------------------------------------- locks */

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* name in dirfd, a regular file, made 0600 when missing and asked to. */
static int
open_lockable(int dirfd, const char *name, const char *shown,
    const char *what, int err, unsigned flags, int *out, struct stat *st)
{
	int fd = -1, ret;

	*out = -1;
	for (int tries = 0; tries < 3 && fd < 0; tries++) {
		fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || !(flags & FILES_CREATE))
			break;
		/* O_EXCL: we know whether we made it, and so whom it is for. */
		fd = openat(dirfd, name, O_RDONLY | O_CREAT | O_EXCL |
		    O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 && (flags & FILES_INHERIT) &&
		    inherit(dirfd, fd) != 0) {
			ret = err_set(err, "cannot give the new %s %s to its "
			    "directory's owner: %s", what, shown,
			    strerror(errno));
			close(fd);
			return ret;
		}
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return err_set(err, "cannot open the %s %s: %s", what, shown,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
	if ((ret = regular_fd(fd, what, shown, err, st)) != ERR_OK) {
		close(fd);
		return ret;
	}
	*out = fd;
	return ERR_OK;
}

static int
take_lock(int fd, const char *shown, const char *what, int err, long wait_ms)
{
	long waited = 0;
	int op = wait_ms < 0 ? LOCK_EX : LOCK_EX | LOCK_NB;

	while (flock(fd, op) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= wait_ms)
			return err_set(err, "cannot lock the %s %s: %s", what,
			    shown, errno == EWOULDBLOCK ? "another process "
			    "holds it" : strerror(errno));
		sleep_ms(LOCK_POLL_MS);
		waited += LOCK_POLL_MS;
	}
	return ERR_OK;
}

/*
 * Why the inode check: a writer replaces the file by rename, so a process
 * that waited on the old inode must notice (the name no longer leads to
 * the inode it holds) and start again on the new one. Every writer renames
 * while holding the lock, so once the lock is ours and the inodes agree,
 * nobody else is writing.
 */
int
files_lock(int dirfd, const char *name, const char *shown, const char *what,
    int err, unsigned flags, long wait_ms, int *out, struct stat *st)
{
	struct stat now, sb, *s = st != NULL ? st : &sb;
	int fd = -1, ret = err;

	*out = -1;
	for (;;) {
		if ((ret = open_lockable(dirfd, name, shown, what, err, flags,
		    &fd, s)) != ERR_OK ||
		    (ret = take_lock(fd, shown, what, err, wait_ms)) != ERR_OK)
			goto out;
		if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.st_dev == s->st_dev && now.st_ino == s->st_ino)
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

/* ---------------------------------------------------------------- replace */

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A new name ".NAME.XXXXXX" in dirfd, created with O_EXCL. */
static int
temp_file(int dirfd, const char *name, char *tmp, size_t size)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	int fd = -1;

	if (snprintf(tmp, size, ".%s.XXXXXX", name) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (int i = 0; i < 100 && fd < 0; i++) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			errno = EIO;
			return -1;
		}
		for (size_t k = 0; k < sizeof(rnd); k++)
			tmp[strlen(tmp) - 6 + k] = chars[rnd[k] % 36];
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	return fd;
}

int
files_replace(int dirfd, const char *name, const char *shown,
    const char *what, int err, const void *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid)
{
	char tmp[NAME_MAX + 1];
	bool made = false;
	int fd = -1, ret = err;

	if ((fd = temp_file(dirfd, name, tmp, sizeof(tmp))) < 0) {
		ret = err_set(err, "cannot create a temporary file beside the "
		    "%s %s: %s", what, shown, strerror(errno));
		goto out;
	}
	made = true;
	/* root updating a user's file must not hand it over to root. */
	if (fchmod(fd, mode) != 0 ||
	    ((uid != geteuid() || gid != getegid()) &&
	    fchown(fd, uid, gid) != 0) ||
	    write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		ret = err_set(err, "cannot write the new %s %s: %s", what,
		    shown, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		ret = err_set(err, "cannot write the new %s %s: %s", what,
		    shown, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		ret = err_set(err, "cannot replace the %s %s: %s", what, shown,
		    strerror(errno));
		goto out;
	}
	made = false;
	/* Some file systems cannot sync a directory (EINVAL): nothing to do. */
	if (fsync(dirfd) != 0 && errno != EINVAL) {
		ret = err_set(err, "cannot sync the directory of the %s %s: %s",
		    what, shown, strerror(errno));
		goto out;
	}
	ret = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	if (made)
		(void)unlinkat(dirfd, tmp, 0);
	return ret;
}
