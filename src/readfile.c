#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "readfile.h"

int
readfile(const char *path, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, ret = err;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(err, "cannot open %s %s: %s", what, path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = err_set(err, "%s %s is not a regular file", what, path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		ret = err_set(err, "%s %s is larger than %zu bytes", what,
		    path, max);
		goto out;
	}
	/* Secure heap not needed, but wiped on free: the file may be a key. */
	if ((p = OPENSSL_malloc((size_t)st.st_size + 1)) == NULL) {
		ret = ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = err_set(err, "cannot read %s %s: %s", what, path,
			    n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	*buf = p;
	*len = got;
	p = NULL;
	ret = ERR_OK;
out:
	if (p != NULL)
		OPENSSL_clear_free(p, (size_t)st.st_size + 1);
	close(fd);
	return ret;
}
