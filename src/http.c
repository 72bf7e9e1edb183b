#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "err.h"
#include "files.h"
#include "http.h"
#include "log.h"
#include "version.h"

struct sink {
	char *buf;
	size_t len;
	int too_big;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *u)
{
	struct sink *s = u;
	size_t n = size * nmemb;
	char *p;

	if (n > HTTP_BODY_MAX - s->len) {
		s->too_big = 1;
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	}
	/* Grown by hand rather than realloc'd: the old copy may hold secrets. */
	if ((p = OPENSSL_malloc(s->len + n + 1)) == NULL)
		return 0;
	if (s->buf != NULL) {
		memcpy(p, s->buf, s->len);
		OPENSSL_clear_free(s->buf, s->len + 1);
	}
	memcpy(p + s->len, data, n);
	s->len += n;
	p[s->len] = '\0';
	s->buf = p;
	return n;
}

/* Keeps a header's value if printable; drops the rest of a hostile one. */
static void
copy_header(const char *line, size_t len, const char *name, char *dst,
    size_t dstlen)
{
	size_t nl = strlen(name), i, j = 0;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	for (i = nl + 1; i < len && line[i] == ' '; i++)
		;
	for (; i < len && j + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)line[i];

		/* AWS appends ":http://..." to the error type; keep the code. */
		if (c == '\r' || c == '\n' || c == ':' || !isprint(c))
			break;
		dst[j++] = (char)c;
	}
	dst[j] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *u)
{
	struct http_response *r = u;
	size_t n = size * nmemb;

	copy_header(line, n, "X-Amzn-ErrorType", r->error_type,
	    sizeof(r->error_type));
	copy_header(line, n, "X-Amzn-RequestId", r->request_id,
	    sizeof(r->request_id));
	return n;
}

static int
transport_error(CURLcode rc, const char *url, const char *detail,
    const struct http_config *cfg, bool *retryable)
{
	const char *why = *detail ? detail : curl_easy_strerror(rc);
	/* The query only repeats the ARNs: name the URL up to it. */
	int ulen = (int)strcspn(url, "?");

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		*retryable = false;
		return err_set(ERR_NETWORK, "TLS certificate of %.*s not "
		    "trusted (%s): check --endpoint, or add its CA with "
		    "AWS_CA_BUNDLE", ulen, url, why);
	case CURLE_SSL_CONNECT_ERROR:
		*retryable = false;
		return err_set(ERR_NETWORK, "TLS handshake with %.*s failed "
		    "(%s)", ulen, url, why);
	case CURLE_OPERATION_TIMEDOUT:
		*retryable = true;
		return err_set(ERR_NETWORK, "request to %.*s timed out after "
		    "%ld ms (%s): check the network or raise --timeout",
		    ulen, url, cfg->timeout_ms, why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		*retryable = true;
		return err_set(ERR_NETWORK, "cannot reach %.*s (%s): check the "
		    "network, proxy settings and --endpoint", ulen, url, why);
	default:
		*retryable = false;
		return err_set(ERR_NETWORK, "request to %.*s failed (%s)", ulen,
		    url, why);
	}
}

static int
setup(CURL *c, const struct http_config *cfg, const char *url,
    struct curl_slist *hdrs, const char *body, struct sink *sink,
    struct http_response *resp, char *errbuf)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https,http");
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, body);
	SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_USERAGENT, "rasign/" RASIGN_VERSION);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, sink);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, resp);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms < 10000 ?
	    cfg->timeout_ms : 10000L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cfg->ca_bundle != NULL && *cfg->ca_bundle != '\0')
		SET(CURLOPT_CAINFO, cfg->ca_bundle);
	if (cfg->no_verify_ssl) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/*
	 * Proxies: libcurl reads https_proxy/HTTPS_PROXY, http_proxy,
	 * no_proxy/NO_PROXY on its own, with or without --with-proxy, which
	 * is what the Go helper does too (spec §14.2 #8). The flag is kept
	 * for compatibility; --debug says which proxy applies.
	 */
#undef SET
	if (rc != CURLE_OK)
		return err_set(ERR_INTERNAL, "libcurl setup failed: %s",
		    curl_easy_strerror(rc));
	return ERR_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
http_post(const struct http_config *cfg, const char *url,
    const char *const *headers, const char *body, struct http_response *resp,
    bool *retryable)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *tmp;
	struct sink sink = { NULL, 0, 0 };
	CURL *c = NULL;
	CURLcode rc;
	int ret = ERR_NOMEM;

	memset(resp, 0, sizeof(*resp));
	*retryable = false;
	/* Once per process, on the first request, not at start-up. */
	(void)pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(ERR_INTERNAL, "cannot initialise libcurl: %s",
		    curl_easy_strerror(curl_init_rc));
	for (; *headers != NULL; headers++) {
		if ((tmp = curl_slist_append(hdrs, *headers)) == NULL)
			goto out;
		hdrs = tmp;
	}
	/* No "Expect: 100-continue" round trip for a small body. */
	if ((tmp = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto out;
	hdrs = tmp;
	if ((c = curl_easy_init()) == NULL)
		goto out;
	/* libcurl would block opening a FIFO: refuse anything but a file. */
	if ((ret = files_check_regular(cfg->ca_bundle, "AWS_CA_BUNDLE file",
	    ERR_USAGE)) != ERR_OK ||
	    (ret = setup(c, cfg, url, hdrs, body, &sink, resp, errbuf)) !=
	    ERR_OK)
		goto out;
	rc = curl_easy_perform(c);
	if (sink.too_big) {
		ret = err_set(ERR_RESPONSE, "the answer from %s is larger than "
		    "%d bytes", url, HTTP_BODY_MAX);
		goto out;
	}
	if (rc != CURLE_OK) {
		ret = transport_error(rc, url, errbuf, cfg, retryable);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = sink.buf;
	resp->len = sink.len;
	sink.buf = NULL;
	ret = ERR_OK;
out:
	if (sink.buf != NULL)
		OPENSSL_clear_free(sink.buf, sink.len + 1);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

void
http_response_free(struct http_response *r)
{
	if (r->body != NULL)
		OPENSSL_clear_free(r->body, r->len + 1);
	r->body = NULL;
	r->len = 0;
}
