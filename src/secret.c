#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "log.h"
#include "files.h"
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

/* A regular file only: a FIFO would hang us (fd: is for pipes). */
static int
from_file(const char *path, const char *what, char **out)
{
	char desc[128];
	int fd, ret;

	snprintf(desc, sizeof(desc), "%s source", what);
	if ((ret = secret_check_tilde(path, what)) != ERR_OK)
		return ret;
	if ((ret = files_open(AT_FDCWD, path, desc, ERR_PASSWORD, 0, &fd,
	    NULL)) != ERR_OK)
		return ret;
	ret = read_line_fd(fd, what, out);
	close(fd);
	return ret;
}

static int
parse_fd(const char *num, const char *what, int *fd)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(num, &end, 10);
	if (*num == '\0' || *end != '\0' || errno != 0 || n < 0 ||
	    n > INT_MAX)
		return err_set(ERR_USAGE, "%s: \"fd:%s\" is not a file "
		    "descriptor number", what, num);
	*fd = (int)n;
	return ERR_OK;
}

static int
from_fd(const char *num, const char *what, char **out)
{
	int fd, ret;

	if ((ret = parse_fd(num, what, &fd)) != ERR_OK)
		return ret;
	return read_line_fd(fd, what, out);
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

bool
secret_is_stream(const char *spec)
{
	return strncmp(spec, "env:", 4) == 0 || strncmp(spec, "fd:", 3) == 0;
}

const char *
secret_source_path(const char *spec)
{
	return strncmp(spec, "file:", 5) == 0 ? spec + 5 : spec;
}

/* Grows *p (wiping the old copy: it may hold a key) to at least `want`. */
static int
grow(uint8_t **p, size_t *cap, size_t used, size_t want)
{
	size_t ncap = *cap ? *cap : 4096;
	uint8_t *q;

	while (ncap < want)
		ncap *= 2;
	if (ncap == *cap)
		return ERR_OK;
	if ((q = OPENSSL_malloc(ncap)) == NULL)
		return ERR_NOMEM;
	if (*p != NULL) {
		memcpy(q, *p, used);
		OPENSSL_clear_free(*p, *cap);
	}
	*p = q;
	*cap = ncap;
	return ERR_OK;
}

/* Reads a pipe or file to its end: a pipe has no size to trust. */
static int
read_all_fd(int fd, const char *spec, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len)
{
	uint8_t *p = NULL;
	size_t cap = 0, got = 0;
	ssize_t n;
	int ret;

	if (fcntl(fd, F_GETFD) < 0)
		return err_set(err, "%s %s: file descriptor %d is not open "
		    "(give it to rasign, as in %d<file)", what, spec, fd, fd);
	for (;;) {
		if ((ret = grow(&p, &cap, got, got + 2)) != ERR_OK)
			goto out;
		n = read(fd, p + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(err, "%s %s: cannot read file descriptor "
			    "%d: %s", what, spec, fd, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((got += (size_t)n) > max) {
			ret = err_set(err, "%s %s is larger than %zu bytes",
			    what, spec, max);
			goto out;
		}
	}
	if (got == 0) {
		ret = err_set(err, "%s %s: nothing could be read from file "
		    "descriptor %d (it can be read only once)", what, spec, fd);
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
secret_read_all(const char *spec, const char *what, int err, size_t max,
    uint8_t **buf, size_t *len)
{
	const char *v;
	size_t n;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	if (strncmp(spec, "fd:", 3) == 0) {
		if ((ret = parse_fd(spec + 3, what, &fd)) != ERR_OK)
			return ret;
		ret = read_all_fd(fd, spec, what, err, max, buf, len);
		/* Read once: a command rasign runs later must not inherit it. */
		if (ret == ERR_OK && fd > STDERR_FILENO)
			close(fd);
		return ret;
	}
	if (strncmp(spec, "env:", 4) != 0 || spec[4] == '\0')
		return err_set(ERR_USAGE, "%s: \"%s\" is not env:VAR or fd:N",
		    what, spec);
	if ((v = getenv(spec + 4)) == NULL)
		return err_set(err, "%s %s: the environment variable %s is not "
		    "set", what, spec, spec + 4);
	if ((n = strlen(v)) == 0)
		return err_set(err, "%s %s: the environment variable %s is "
		    "empty", what, spec, spec + 4);
	if (n > max)
		return err_set(err, "%s %s is larger than %zu bytes", what,
		    spec, max);
	if ((*buf = OPENSSL_malloc(n + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(*buf, v, n + 1);
	*len = n;
	return ERR_OK;
}

int
secret_check_tilde(const char *path, const char *what)
{
	const struct passwd *pw = NULL;
	const char *rest, *home = NULL;
	char user[256];
	size_t n;

	if (path[0] != '~' || access(path, F_OK) == 0 || errno != ENOENT)
		return ERR_OK;
	rest = path + 1 + strcspn(path + 1, "/");
	n = (size_t)(rest - path) - 1;
	if (n == 0) {
		if ((home = getenv("HOME")) == NULL || *home != '/')
			home = (pw = getpwuid(geteuid())) ? pw->pw_dir : NULL;
	} else if (n < sizeof(user)) {
		memcpy(user, path + 1, n);
		user[n] = '\0';
		home = (pw = getpwnam(user)) ? pw->pw_dir : NULL;
	}
	if (home == NULL)
		return err_set(ERR_USAGE, "%s %s: no such file; nothing expands "
		    "'~' in a credential_process line of ~/.aws/config (no "
		    "shell runs it): write the full path", what, path);
	return err_set(ERR_USAGE, "%s %s: no such file; nothing expands '~' "
	    "in a credential_process line of ~/.aws/config (no shell runs "
	    "it): write %s%s", what, path, home, rest);
}

/*
 * While echo is off: a signal that ends the process (Ctrl-C, a kill) first
 * turns echo back on, as OpenSSH's readpassphrase does, or the shell or
 * the AWS CLI that ran rasign is left typing blind.
 */
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NPROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))
static volatile sig_atomic_t prompt_tty = -1;
static struct termios prompt_saved;

static void
prompt_on_signal(int sig)
{
	int saved = errno;

	if (prompt_tty >= 0) {
		(void)tcsetattr(prompt_tty, TCSAFLUSH, &prompt_saved);
		if (write(prompt_tty, "\n", 1) < 0)
			(void)0;
	}
	/* Default action, delivered when this handler returns. */
	signal(sig, SIG_DFL);
	raise(sig);
	errno = saved;
}

static void
prompt_catch(struct sigaction old[NPROMPT_SIGNALS])
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = prompt_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &sa, &old[i]);
}

static void
prompt_release(const struct sigaction old[NPROMPT_SIGNALS])
{
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &old[i], NULL);
}

int
secret_prompt(const char *prompt, char **out)
{
	struct sigaction oldsa[NPROMPT_SIGNALS];
	struct termios old, noecho;
	char shown[1024];
	int fd, ret = ERR_PASSWORD, restore = 0;

	*out = NULL;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return err_set(ERR_PASSWORD, "no terminal to ask for the "
		    "password on");
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		prompt_saved = old;
		prompt_tty = fd;
		prompt_catch(oldsa);
		if (!(restore = tcsetattr(fd, TCSAFLUSH, &noecho) == 0)) {
			prompt_tty = -1;
			prompt_release(oldsa);
		}
	}
	/* The prompt names a token label or key path: outside text. */
	log_escape(shown, sizeof(shown), prompt, strlen(prompt));
	if (dprintf(fd, "%s: ", shown) < 0) {
		ret = err_set(ERR_PASSWORD, "cannot write to the terminal: %s",
		    strerror(errno));
		goto out;
	}
	ret = read_line_fd(fd, "the password from the terminal", out);
out:
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &old);
		prompt_tty = -1;
		prompt_release(oldsa);
	}
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

/* RFC 3986 percent-decoding into a wiped-on-free buffer. */
static char *
pct_decode(const char *in, size_t len)
{
	char *out;
	size_t i, j = 0;
	int hi, lo;

	if ((out = OPENSSL_malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len &&
		    (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)in[i + 2])) >= 0) {
			out[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[j++] = in[i];
		}
	}
	out[j] = '\0';
	return out;
}

/*
 * RFC 7512 puts pin-value in the query, after '?', between '&'s. The value
 * is percent-decoded here: p11-kit would do it, but then its copy of the
 * PIN would outlive our control of it.
 */
int
secret_take_uri_pin(char *uri, char **pin)
{
	char *q, *attr, *end, *out;
	size_t len;

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
	if ((out = pct_decode(attr + 10, (size_t)(end - attr) - 10)) == NULL)
		return ERR_NOMEM;
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

int
secret_uri_query(const char *uri, const char *name, char **value)
{
	const char *q, *attr, *end;
	size_t n = strlen(name);

	*value = NULL;
	if (strncmp(uri, "pkcs11:", 7) != 0 || (q = strchr(uri, '?')) == NULL)
		return ERR_OK;
	for (attr = q + 1; *attr != '\0'; attr = *end ? end + 1 : end) {
		end = attr + strcspn(attr, "&");
		if (strncmp(attr, name, n) == 0 && attr[n] == '=') {
			*value = pct_decode(attr + n + 1,
			    (size_t)(end - attr) - n - 1);
			return *value != NULL ? ERR_OK : ERR_NOMEM;
		}
	}
	return ERR_OK;
}
