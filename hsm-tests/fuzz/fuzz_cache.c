/*
 * A credential-cache entry as credential-process --cache reads it back
 * (cache_parse_entry, then the expiry check of cache_get). Invariant: an
 * accepted entry has the four fields, and what cache_put would write for
 * them reads back the same.
 */
#include "cache.h"
#include "creds.h"
#include "err.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds c, back;
	char *json = NULL;
	time_t t;

	err_clear();
	if (cache_parse_entry((const char *)data, size, &c) != ERR_OK) {
		FUZZ_CHECK(c.access_key_id == NULL && c.expiration == NULL);
		return 0;
	}
	FUZZ_CHECK(c.access_key_id && *c.access_key_id &&
	    c.secret_access_key && *c.secret_access_key &&
	    c.session_token && *c.session_token && c.expiration &&
	    *c.expiration);
	(void)creds_expiry(&c, &t);
	FUZZ_CHECK(creds_process_json(&c, &json) == ERR_OK);
	FUZZ_CHECK(cache_parse_entry(json, strlen(json), &back) == ERR_OK);
	FUZZ_CHECK(strcmp(c.access_key_id, back.access_key_id) == 0 &&
	    strcmp(c.secret_access_key, back.secret_access_key) == 0 &&
	    strcmp(c.session_token, back.session_token) == 0 &&
	    strcmp(c.expiration, back.expiration) == 0);
	creds_free_string(json);
	creds_free(&back);
	creds_free(&c);
	return 0;
}
