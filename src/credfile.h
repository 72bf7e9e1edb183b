/*
 * The AWS shared credentials file, as `update` keeps one profile of it
 * fresh (spec §8). The Go helper's rewrite is followed line for line, less
 * its bugs (spec §14.2 #14): every line it does not own is kept byte for
 * byte, the write is atomic, and concurrent writers are serialised.
 */
#ifndef RASIGN_CREDFILE_H
#define RASIGN_CREDFILE_H

#include <stddef.h>

#include "creds.h"

/* Larger files are refused: a credentials file is a few kilobytes. */
#define CREDFILE_MAX (16u * 1024 * 1024)

/*
 * The file update writes: $AWS_SHARED_CREDENTIALS_FILE if set, else
 * $HOME/.aws/credentials, else the passwd entry's home. Free with free().
 */
int credfile_path(char **out);

/* A profile name a section header can carry: non-empty, one line. */
int credfile_check_profile(const char *profile);

/*
 * The pure text transformation: `old` (len bytes, may be empty or NULL)
 * with the section [profile] given c's three keys. *out is NUL-terminated
 * and holds secrets: free it with OPENSSL_clear_free(*out, *outlen + 1).
 */
int credfile_rewrite(const char *old, size_t len, const char *profile,
    const struct creds *c, char **out, size_t *outlen);

/*
 * Rewrites the profile in the file at path under an exclusive lock, by
 * writing a 0600 temporary file beside it and renaming it over the file
 * (files.h does the walking, locking and replacing). A missing file is
 * created, and missing directories with mode 0700, both owned by the
 * owner of the directory they are made in when root makes them.
 */
int credfile_write(const char *path, const char *profile,
    const struct creds *c);

#endif
