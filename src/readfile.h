#ifndef RASIGN_READFILE_H
#define RASIGN_READFILE_H

#include <stddef.h>
#include <stdint.h>

#define READFILE_MAX (1024 * 1024)	/* keys, certificates, bundles */

/*
 * Reads a whole regular file of at most `max` bytes into a NUL-terminated
 * buffer. `what` names the file's role in messages ("certificate", ...).
 * err is the code to fail with. Free with OPENSSL_clear_free(*buf, *len + 1).
 */
int readfile(const char *path, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len);

#endif
