/*
 * Every file rasign reads or writes goes through here: bounded reads that
 * refuse anything but a regular file (a FIFO must never hang us), directory
 * walks that follow no symbolic link the caller does not own, private
 * directories, flock(2) locks and atomic replacement. The callers keep only
 * their formats (credfile.c: INI; cache.c: JSON entries).
 */
#ifndef RASIGN_FILES_H
#define RASIGN_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define FILES_MAX (1024 * 1024)	/* keys, certificates, bundles */

/* Flags; each function says which it takes. */
#define FILES_NOFOLLOW	0x01	/* the last component may not be a link */
#define FILES_CREATE	0x02	/* make missing directories 0700, a file 0600 */
#define FILES_PRIVATE	0x04	/* the directory is ours: owner checked, 0700 */
#define FILES_INHERIT	0x08	/* what root creates belongs to the parent's owner */
#define FILES_MISSING_OK 0x10	/* a missing file is ERR_OK with *fd = -1 */

/*
 * Opens path (relative to dirfd, AT_FDCWD for the working directory) for
 * reading: O_NONBLOCK while it is opened, so that a FIFO cannot hang the
 * open, then anything but a regular file is refused with err and a message
 * naming `what`, the path and what it is. Flags: FILES_NOFOLLOW,
 * FILES_MISSING_OK. *st is filled when not NULL.
 */
int files_open(int dirfd, const char *path, const char *what, int err,
    unsigned flags, int *fd, struct stat *st);

/*
 * Reads the whole of an fd from files_open or files_lock, at most max
 * bytes, into a NUL-terminated buffer that is wiped when freed:
 * OPENSSL_clear_free(*buf, *len + 1). A file that grows past its size
 * while it is read is an error.
 */
int files_read_fd(int fd, const char *path, const char *what, int err,
    size_t max, uint8_t **buf, size_t *len);

/* files_open + files_read_fd on a path, following links. */
int files_read(const char *path, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len);

/*
 * For paths a library opens itself (AWS_CA_BUNDLE, read by libcurl): err
 * when path exists and is not a regular file. A missing file is left for
 * the library to report.
 */
int files_check_regular(const char *path, const char *what, int err);

/*
 * Opens the directory at path, walking it one component at a time from a
 * directory opened once, with O_NOFOLLOW: a symbolic link on the way is
 * followed only when it and the directory it leads to belong to us (the
 * effective uid) or to root. Flags: FILES_CREATE, FILES_PRIVATE (owned by
 * us, made 0700), FILES_INHERIT (see files_locate).
 */
int files_dir(const char *path, const char *what, int err, unsigned flags,
    int *dirfd);

/*
 * Where the file at path lives: *dirfd, its directory walked as files_dir
 * does, and *name, its name there (free() it). A final symbolic link is
 * followed under the same rule (ours or root's, to a file of ours or
 * root's), unless FILES_NOFOLLOW; an existing file that is not regular is
 * refused. With FILES_INHERIT, the directories that root creates belong to
 * the owner of the directory they are made in: root writing a user's
 * ~/.aws/credentials leaves a ~/.aws the user owns.
 */
int files_locate(const char *path, const char *what, int err, unsigned flags,
    int *dirfd, char **name);

/*
 * Opens name in dirfd (never through a link) and takes an exclusive
 * flock(2) on it, waiting at most wait_ms (< 0: as long as it takes).
 * The lock is on the inode: when the name was renamed over meanwhile,
 * the new file is opened and locked instead, so a caller that then
 * replaces the file by files_replace holds the lock of the file it reads.
 * Flags: FILES_CREATE (0600; with FILES_INHERIT, owned by the directory's
 * owner when root creates it). `shown` is the path in messages.
 */
int files_lock(int dirfd, const char *name, const char *shown,
    const char *what, int err, unsigned flags, long wait_ms, int *fd,
    struct stat *st);

/*
 * Replaces name in dirfd with data, atomically: a temporary file in the
 * same directory with `mode`, owned by uid:gid (changed only when they
 * are not ours), fsync, renameat over name, fsync of the directory. A
 * crash leaves either the old file or the new one.
 */
int files_replace(int dirfd, const char *name, const char *shown,
    const char *what, int err, const void *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid);

#endif
