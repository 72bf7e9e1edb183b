/*
 * The CreateSession answer: creds_parse on a 2xx body and, on the same
 * bytes, the one-line error of a non-2xx answer. The first byte picks the
 * HTTP status and the X-Amzn-ErrorType header (none, or the input's tail);
 * the whole input is the body.
 */
#include <jansson.h>

#include "creds.h"
#include "err.h"
#include "fuzz.h"
#include "http.h"
#include "session.h"

static const long statuses[] = { 400, 403, 404, 429, 500, 503, 418, 299 };

static void
check_no_control(const char *s)
{
	FUZZ_CHECK(s != NULL && *s != '\0');
	for (; *s != '\0'; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20);
}

/* What credential-process and the cache print reads back the same. */
static void
check_creds(const struct creds *c)
{
	json_t *o;
	char *out = NULL;
	time_t t;
	int lines = 0;

	check_no_control(c->access_key_id);
	check_no_control(c->secret_access_key);
	check_no_control(c->session_token);
	check_no_control(c->expiration);
	FUZZ_CHECK(creds_process_json(c, &out) == ERR_OK);
	FUZZ_CHECK((o = json_loads(out, 0, NULL)) != NULL);
	FUZZ_CHECK(json_integer_value(json_object_get(o, "Version")) == 1);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(o,
	    "AccessKeyId")), c->access_key_id) == 0);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(o,
	    "SecretAccessKey")), c->secret_access_key) == 0);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(o,
	    "SessionToken")), c->session_token) == 0);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(o,
	    "Expiration")), c->expiration) == 0);
	json_decref(o);
	creds_free_string(out);
	/* Four export lines, whatever quotes the values hold. */
	FUZZ_CHECK(creds_env_lines(c, &out) == ERR_OK);
	for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	FUZZ_CHECK(lines == 4 && strncmp(out, "export AWS_ACCESS_KEY_ID='",
	    26) == 0);
	creds_free_string(out);
	err_clear();
	if (creds_expiry(c, &t) != ERR_OK)
		FUZZ_CHECK(err_message() != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response r;
	struct creds c;
	const char *msg;
	int code;

	err_clear();
	if (creds_parse((const char *)data, size, &c) == ERR_OK) {
		check_creds(&c);
		creds_free(&c);
	} else {
		FUZZ_CHECK(err_message() != NULL);
		FUZZ_CHECK(c.access_key_id == NULL && c.session_token == NULL);
	}

	memset(&r, 0, sizeof(r));
	r.status = size > 0 ? statuses[data[0] % 8] : 400;
	if (size > 0 && (data[0] & 0x80))
		snprintf(r.error_type, sizeof(r.error_type), "%.*s",
		    (int)(size > 60 ? 60 : size), (const char *)data + size -
		    (size > 60 ? 60 : size));
	r.body = fuzz_strndup(data, size);
	r.len = size;
	code = r.status == 429 || r.status >= 500 ? ERR_NETWORK : ERR_REJECTED;
	err_clear();
	FUZZ_CHECK(session_service_error(&r, code, 3) == code);
	/* One line on stderr, whatever the service sent. */
	FUZZ_CHECK((msg = err_message()) != NULL);
	FUZZ_CHECK(strpbrk(msg, "\r\n") == NULL);
	FUZZ_CHECK(strncmp(msg, "CreateSession ", 14) == 0);
	free(r.body);
	return 0;
}
