/* A build without the SPIFFE Workload API (WITH_SPIFFE=): the flag says so. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "spiffe.h"

int
spiffe_fetch(const char *endpoint, const char *want, long timeout,
    struct spiffe_svid *out)
{
	(void)endpoint;
	(void)want;
	(void)timeout;
	memset(out, 0, sizeof(*out));
	return err_set(ERR_USAGE, "this rasign was built without SPIFFE "
	    "support, which --spiffe-endpoint needs: rebuild it with "
	    "WITH_SPIFFE=1");
}

int
spiffe_parse_response(const uint8_t *buf, size_t len, const char *want,
    struct spiffe_svid *out)
{
	(void)buf;
	(void)len;
	(void)want;
	memset(out, 0, sizeof(*out));
	return err_set(ERR_USAGE, "this rasign was built without SPIFFE "
	    "support");
}

int
spiffe_watch_start(const char *endpoint, const char *want, X509 *current,
    struct spiffe_watch **out)
{
	(void)endpoint;
	(void)want;
	(void)current;
	*out = NULL;
	return err_set(ERR_USAGE, "this rasign was built without SPIFFE "
	    "support, which --spiffe-endpoint needs: rebuild it with "
	    "WITH_SPIFFE=1");
}

unsigned long
spiffe_watch_generation(struct spiffe_watch *w)
{
	(void)w;
	return 0;
}

unsigned long
spiffe_watch_take(struct spiffe_watch *w, struct spiffe_svid *out)
{
	(void)w;
	memset(out, 0, sizeof(*out));
	return 0;
}

void
spiffe_watch_stop(struct spiffe_watch *w)
{
	(void)w;
}

void
spiffe_svid_free(struct spiffe_svid *s)
{
	free(s->id);
	X509_free(s->leaf);
	sk_X509_pop_free(s->chain, X509_free);
	OPENSSL_clear_free(s->key, s->key_len);
	memset(s, 0, sizeof(*s));
}
