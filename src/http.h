/* One HTTPS POST through libcurl: TLS, proxy, timeouts, bounded body. */
#ifndef RASIGN_HTTP_H
#define RASIGN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_BODY_MAX (256 * 1024)	/* a credential set is ~2 KiB */

struct http_config {
	bool no_verify_ssl;
	bool with_proxy;
	const char *ca_bundle;		/* added to the system store, or NULL */
	long timeout_ms;		/* the whole exchange */
};

struct http_response {
	long status;
	char *body;			/* NUL-terminated; may hold secrets */
	size_t len;
	char error_type[128];		/* X-Amzn-ErrorType, sanitised */
	char request_id[128];		/* X-Amzn-RequestId */
};

/*
 * POSTs body with the given "Name: value" headers (NULL-terminated).
 * ERR_OK means an HTTP answer arrived, whatever its status. ERR_NETWORK
 * otherwise; *retryable says whether trying again could help.
 */
int http_post(const struct http_config *, const char *url,
    const char *const *headers, const char *body,
    struct http_response *resp, bool *retryable);
/* Wipes and frees the body. */
void http_response_free(struct http_response *);

#endif
