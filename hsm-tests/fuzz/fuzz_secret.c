/*
 * Pass-phrase sources (secret_from_source). The first byte picks the form
 * and the rest is its text: pass:TEXT, env:VAR (VAR set to the text),
 * a bare literal, or fd:N and file:PATH whose line reader reads the text
 * from a memfd. The value must come back exactly: the text for pass: and
 * literals, the variable's value, and the first line less "\n" and a
 * trailing "\r" for fd: and file:, refused beyond SECRET_MAX bytes.
 */
#include <fcntl.h>

#include "err.h"
#include "fuzz.h"
#include "secret.h"

static void
check_line(const char *text, size_t len, int ret, const char *got)
{
	size_t n = strcspn(text, "\n");

	/* The reader stops at NUL like any C string user; the input has none. */
	if (n > len)
		n = len;
	if (n > SECRET_MAX) {
		FUZZ_CHECK(ret == ERR_PASSWORD && got == NULL);
		return;
	}
	FUZZ_CHECK(ret == ERR_OK && got != NULL);
	if (n > 0 && text[n - 1] == '\r')
		n--;
	FUZZ_CHECK(strlen(got) == n && memcmp(got, text, n) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *spec = NULL, *got = NULL;
	const char *path;
	size_t len;
	int ret, fd;

	if (size == 0)
		return 0;
	len = size - 1;
	/* Sources are C strings: a NUL ends them before we get here. */
	if (memchr(data + 1, '\0', len) != NULL)
		return 0;
	text = fuzz_strndup(data + 1, len);
	err_clear();
	switch (data[0] % 5) {
	case 0:
		if (asprintf(&spec, "pass:%s", text) < 0)
			abort();
		ret = secret_from_source(spec, "--fuzz", &got);
		FUZZ_CHECK(ret == ERR_OK && strcmp(got, text) == 0);
		break;
	case 1:
		if (setenv("RASIGN_FUZZ_SECRET", text, 1) != 0)
			abort();
		ret = secret_from_source("env:RASIGN_FUZZ_SECRET", "--fuzz",
		    &got);
		FUZZ_CHECK(ret == ERR_OK && strcmp(got, text) == 0);
		ret = secret_from_source("env:RASIGN_FUZZ_UNSET", "--fuzz",
		    &spec);
		FUZZ_CHECK(ret == ERR_PASSWORD && spec == NULL);
		break;
	case 2:
		/* A literal, unless it names a form (those are cases 3, 4). */
		if (strncmp(text, "fd:", 3) == 0 ||
		    strncmp(text, "file:", 5) == 0)
			break;
		ret = secret_from_source(text, "--fuzz", &got);
		if (strncmp(text, "pass:", 5) == 0)
			FUZZ_CHECK(ret == ERR_OK && strcmp(got, text + 5) == 0);
		else if (strncmp(text, "env:", 4) != 0)
			FUZZ_CHECK(ret == ERR_OK && strcmp(got, text) == 0);
		break;
	case 3:
		path = fuzz_file(data + 1, len);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			abort();
		if (asprintf(&spec, "fd:%d", fd) < 0)
			abort();
		ret = secret_from_source(spec, "--fuzz", &got);
		close(fd);
		check_line(text, len, ret, got);
		break;
	case 4:
		path = fuzz_file(data + 1, len);
		if (asprintf(&spec, "file:%s", path) < 0)
			abort();
		ret = secret_from_source(spec, "--fuzz", &got);
		check_line(text, len, ret, got);
		break;
	}
	secret_free(got);
	free(spec);
	free(text);
	return 0;
}
