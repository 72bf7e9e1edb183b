/*
 * secret_take_uri_pin: pin-value taken out of a pkcs11: URI in place. The
 * invariants: the URI never grows; it keeps every byte outside the
 * removed attribute; the PIN is no longer than the raw value; and once
 * options.c's loop has taken every pin-value out (the first is the one
 * used), none stays behind in the query, where argv would still show it.
 */
#include "err.h"
#include "fuzz.h"
#include "secret.h"

/* Does an attribute of the query (after '?', between '&'s) set pin-value? */
static int
query_has_pin(const char *uri)
{
	const char *a = strchr(uri, '?');

	for (; a != NULL; a = strchr(a + 1, '&'))
		if (strncmp(a + 1, "pin-value=", 10) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_strndup(data, size), *orig = strdup(uri), *pin = NULL;
	const char *q;
	size_t len = strlen(uri);
	int ret;

	if (orig == NULL)
		abort();
	err_clear();
	ret = secret_take_uri_pin(uri, &pin);
	FUZZ_CHECK(strlen(uri) <= len);
	if (ret != ERR_OK) {
		FUZZ_CHECK(pin == NULL && strcmp(uri, orig) == 0);
		goto out;
	}
	if (pin == NULL) {
		/* Nothing taken: nothing changed, and nothing to take. */
		FUZZ_CHECK(strcmp(uri, orig) == 0 && !query_has_pin(uri));
		goto out;
	}
	FUZZ_CHECK(strlen(pin) + strlen("pin-value=") <= len - strlen(uri));
	/* The part before the query is untouched. */
	q = strchr(orig, '?');
	FUZZ_CHECK(q != NULL && strncmp(uri, orig, (size_t)(q - orig)) == 0);
	/* As options.c does: the others out too, each making the URI shorter. */
	for (;;) {
		char *more = NULL;
		size_t before = strlen(uri);

		if (secret_take_uri_pin(uri, &more) != ERR_OK || more == NULL)
			break;
		FUZZ_CHECK(strlen(uri) < before);
		secret_free(more);
	}
	FUZZ_CHECK(!query_has_pin(uri));
out:
	secret_free(pin);
	free(orig);
	free(uri);
	return 0;
}
