#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "secret.h"

void
secret_free(char *s)
{
	if (s != NULL)
		OPENSSL_clear_free(s, strlen(s));
}

static int
dup_secret(const char *s, size_t len, char **out)
{
	char *p;

	if ((p = OPENSSL_malloc(len + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(p, s, len);
	p[len] = '\0';
	*out = p;
	return ERR_OK;
}

/* Reads the first line of fd into a wiped buffer; the newline is dropped. */
static int
read_line_fd(int fd, const char *what, char **out)
{
	char buf[SECRET_MAX + 2];
	size_t len = 0;
	ssize_t n;
	int ret = ERR_PASSWORD;

	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(ERR_PASSWORD, "cannot read %s: %s", what,
			    strerror(errno));
			goto out;
		}
		if (n == 0 || buf[len] == '\n')
			break;
		len++;
	}
	if (len > SECRET_MAX) {
		ret = err_set(ERR_PASSWORD, "%s is longer than %d bytes", what,
		    SECRET_MAX);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	ret = dup_secret(buf, len, out);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

static int
from_file(const char *path, const char *what, char **out)
{
	int fd, ret;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(ERR_PASSWORD, "cannot open %s source %s: %s",
		    what, path, strerror(errno));
	ret = read_line_fd(fd, what, out);
	close(fd);
	return ret;
}

static int
from_fd(const char *num, const char *what, char **out)
{
	char *end;
	long fd;

	errno = 0;
	fd = strtol(num, &end, 10);
	if (*num == '\0' || *end != '\0' || errno != 0 || fd < 0 ||
	    fd > INT_MAX)
		return err_set(ERR_USAGE, "%s: \"fd:%s\" is not a file "
		    "descriptor number", what, num);
	return read_line_fd((int)fd, what, out);
}

int
secret_from_source(const char *spec, const char *what, char **out)
{
	const char *v;

	*out = NULL;
	if (strncmp(spec, "pass:", 5) == 0)
		return dup_secret(spec + 5, strlen(spec + 5), out);
	if (strncmp(spec, "env:", 4) == 0) {
		if ((v = getenv(spec + 4)) == NULL)
			return err_set(ERR_PASSWORD, "%s: environment variable "
			    "%s is not set", what, spec + 4);
		return dup_secret(v, strlen(v), out);
	}
	if (strncmp(spec, "file:", 5) == 0)
		return from_file(spec + 5, what, out);
	if (strncmp(spec, "fd:", 3) == 0)
		return from_fd(spec + 3, what, out);
	return dup_secret(spec, strlen(spec), out);
}

int
secret_prompt(const char *prompt, char **out)
{
	struct termios old, noecho;
	int fd, ret = ERR_PASSWORD, restore = 0;

	*out = NULL;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return err_set(ERR_PASSWORD, "no terminal to ask for the "
		    "password on");
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		restore = tcsetattr(fd, TCSAFLUSH, &noecho) == 0;
	}
	if (dprintf(fd, "%s: ", prompt) < 0) {
		ret = err_set(ERR_PASSWORD, "cannot write to the terminal: %s",
		    strerror(errno));
		goto out;
	}
	ret = read_line_fd(fd, "the password from the terminal", out);
out:
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return ret;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * RFC 7512 puts pin-value in the query, after '?', between '&'s. The value
 * is percent-decoded here: p11-kit would do it, but then its copy of the
 * PIN would outlive our control of it.
 */
int
secret_take_uri_pin(char *uri, char **pin)
{
	char *q, *attr, *end, *out, *next;
	size_t len, i, j = 0;
	int hi, lo;

	*pin = NULL;
	q = strchr(uri, '?');
	if (strstr(uri, "pin-value=") != NULL &&
	    (q == NULL || strstr(uri, "pin-value=") < q))
		return err_set(ERR_USAGE, "pin-value belongs in the query part "
		    "of a pkcs11: URI, after '?' (RFC 7512)");
	if (q == NULL)
		return ERR_OK;
	for (attr = q + 1; *attr != '\0'; attr = *end ? end + 1 : end) {
		end = attr + strcspn(attr, "&");
		if (strncmp(attr, "pin-value=", 10) == 0)
			break;
	}
	if (*attr == '\0')
		return ERR_OK;
	/* A second pin-value would stay in argv and reach p11-kit. */
	for (next = end; *next == '&'; next += 1 + strcspn(next + 1, "&"))
		if (strncmp(next + 1, "pin-value=", 10) == 0)
			return err_set(ERR_USAGE, "pin-value is given twice in "
			    "a pkcs11: URI");
	len = (size_t)(end - attr) - 10;
	if ((out = OPENSSL_malloc(len + 1)) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < len; i++) {
		char c = attr[10 + i];

		if (c == '%' && i + 2 < len &&
		    (hi = hexval((unsigned char)attr[11 + i])) >= 0 &&
		    (lo = hexval((unsigned char)attr[12 + i])) >= 0) {
			out[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[j++] = c;
		}
	}
	out[j] = '\0';
	*pin = out;
	/* Cut "pin-value=…" and one adjoining separator, wiping the bytes. */
	if (*end == '&')
		end++;
	else if (attr > q + 1)
		attr--;
	len = strlen(end);
	OPENSSL_cleanse(attr, (size_t)(end - attr));
	memmove(attr, end, len + 1);
	if (attr == q + 1 && len == 0)
		*q = '\0';		/* nothing left in the query */
	return ERR_OK;
}
