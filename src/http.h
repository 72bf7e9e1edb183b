/* One HTTPS POST through libcurl: TLS, proxy, timeouts, bounded body. */
#ifndef RASIGN_HTTP_H
#define RASIGN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_BODY_MAX (256 * 1024)	/* a credential set is ~2 KiB */

struct http_config {
	bool no_verify_ssl;
	bool with_proxy;		/* accepted, changes nothing (spec §1.2) */
	const char *ca_bundle;		/* the whole trust store, or NULL */
	const char *ca_bundle_from;	/* "--ca-bundle file", for messages */
	long timeout_ms;		/* this try's share of the exchange */
	long start_ms;			/* http_now_ms() at the first try, or 0 */
	int attempt;			/* this try's number, from 1 */
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
/*
 * The proxy for url by the rules of Go's httpproxy package (FromEnvironment,
 * ProxyFunc), with env as getenv: *proxy is a URL to free, or NULL to go
 * direct. HTTPS_PROXY/https_proxy for https, HTTP_PROXY/http_proxy for
 * http (the upper case wins; refused when REQUEST_METHOD is set),
 * NO_PROXY/no_proxy; localhost and loopback addresses never.
 */
int http_proxy_for(const char *url, const char *(*env)(const char *),
    char **proxy);
/* CLOCK_MONOTONIC in milliseconds. */
long http_now_ms(void);
/* Wipes and frees the body. */
void http_response_free(struct http_response *);

#endif
