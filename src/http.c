#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------- proxies */

/*
 * Which proxy a request goes through is decided here, with the rules of
 * Go's golang.org/x/net/http/httpproxy (FromEnvironment, ProxyFunc), and
 * libcurl is told the answer: its own reading of the environment differs
 * (it proxies loopback addresses, prefers the lower-case variables, reads
 * ALL_PROXY and HTTP_PROXY), so a config line that works with the Go
 * helper would behave differently here.
 */

/* An IP address as Go's net.IP compares it: IPv4 also in IPv4-mapped form. */
struct ipaddr {
	int len;			/* 4 or 16 */
	unsigned char b[16];
};

static bool
parse_ip(const char *s, struct ipaddr *ip)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (inet_pton(AF_INET, s, ip->b) == 1) {
		ip->len = 4;
		return true;
	}
	if (inet_pton(AF_INET6, s, ip->b) != 1)
		return false;
	ip->len = 16;
	/* Go's To4(): ::ffff:a.b.c.d is the IPv4 address a.b.c.d. */
	if (memcmp(ip->b, mapped, sizeof(mapped)) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		ip->len = 4;
	}
	return true;
}

static bool
ip_loopback(const struct ipaddr *ip)
{
	static const unsigned char one[16] = { [15] = 1 };

	return ip->len == 4 ? ip->b[0] == 127 :
	    memcmp(ip->b, one, sizeof(one)) == 0;
}

/* Go's net.SplitHostPort: "[v6]:port", "host:port"; false when no port. */
static bool
split_host_port(const char *s, char *host, size_t hlen, char *port,
    size_t plen)
{
	const char *colon, *end;
	size_t n;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return false;
		s++;
		n = (size_t)(end - s);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return false;	/* no port, or too many colons */
		n = (size_t)(colon - s);
	}
	if (n >= hlen || strlen(colon + 1) >= plen)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", colon + 1);
	return true;
}

/* Go's net.ParseCIDR and IPNet.Contains, for one NO_PROXY entry. */
static bool
cidr_contains(const char *entry, const struct ipaddr *ip)
{
	char addr[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(entry, '/');
	struct ipaddr net;
	long bits;
	size_t n;

	if (slash == NULL || (n = (size_t)(slash - entry)) >= sizeof(addr))
		return false;
	memcpy(addr, entry, n);
	addr[n] = '\0';
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end != '\0' || errno != 0)
		return false;
	if (strchr(addr, ':') == NULL) {
		if (inet_pton(AF_INET, addr, net.b) != 1 || bits > 32)
			return false;
		net.len = 4;
	} else {
		if (!parse_ip(addr, &net) || bits > 128)
			return false;
		/* An IPv4-mapped network: Go keeps the last 32 bits of its mask. */
		if (net.len == 4 && (bits -= 96) < 0)
			return false;
	}
	if (ip->len != net.len)
		return false;
	for (long i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));

		if ((ip->b[i / 8] & m) != (net.b[i / 8] & m))
			return false;
	}
	return true;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * One NO_PROXY entry, already trimmed and lower-cased, against the host
 * (lower case, no brackets), its port and its address when it is one:
 * Go's config.init() and the ipMatch, cidrMatch and domainMatch types.
 */
static bool
no_proxy_entry(const char *e, const char *host, const char *port,
    const struct ipaddr *ip)
{
	char h[256], p[16], dom[258];
	struct ipaddr eip;
	bool match_host = false;

	size_t n = strlen(e);

	/* A CIDR block matches addresses only (a host has no '/'). */
	if (strchr(e, '/') != NULL)
		return ip != NULL && cidr_contains(e, ip);
	if (split_host_port(e, h, sizeof(h), p, sizeof(p))) {
		if (*h == '\0')
			return false;	/* ":80": malformed, ignored */
	} else {
		if (n >= sizeof(h))
			return false;
		memcpy(h, e, n + 1);
		*p = '\0';
	}
	if (parse_ip(h, &eip)) {
		/* An address matches addresses only (Go's ipMatchers). */
		return ip != NULL && ip->len == eip.len &&
		    memcmp(ip->b, eip.b, (size_t)ip->len) == 0 &&
		    (*p == '\0' || strcmp(p, port) == 0);
	}
	/* "foo.com": it and its subdomains; ".foo.com", "*.foo.com": these. */
	if (strncmp(h, "*.", 2) == 0)
		memmove(h, h + 1, strlen(h));
	if (*h != '.') {
		match_host = true;
		snprintf(dom, sizeof(dom), ".%s", h);
	} else
		snprintf(dom, sizeof(dom), "%s", h);
	if (ends_with(host, dom) || (match_host && strcmp(host, dom + 1) == 0))
		return *p == '\0' || strcmp(p, port) == 0;
	return false;
}

/* Go's useProxy: false for localhost, loopback addresses and NO_PROXY. */
static bool
use_proxy(const char *host, const char *port, const char *no_proxy)
{
	struct ipaddr ip;
	bool is_ip = parse_ip(host, &ip);
	const char *s = no_proxy != NULL ? no_proxy : "";
	char e[512];

	if (strcmp(host, "localhost") == 0 || (is_ip && ip_loopback(&ip)))
		return false;
	while (*s != '\0') {
		size_t n = strcspn(s, ","), a = 0, b = n, i;

		while (a < b && isspace((unsigned char)s[a]))
			a++;
		while (b > a && isspace((unsigned char)s[b - 1]))
			b--;
		if (b - a > 0 && b - a < sizeof(e)) {
			for (i = 0; i < b - a; i++)
				e[i] = (char)tolower((unsigned char)s[a + i]);
			e[i] = '\0';
			if (strcmp(e, "*") == 0 ||
			    no_proxy_entry(e, host, port, is_ip ? &ip : NULL))
				return false;
		}
		s += n + (s[n] == ',');
	}
	return true;
}

/* Go's getEnvAny: the first of the names that is set and not empty. */
static const char *
env_any(const char *(*env)(const char *), const char *upper,
    const char *lower)
{
	const char *v;

	if ((v = env(upper)) != NULL && *v != '\0')
		return v;
	if ((v = env(lower)) != NULL && *v != '\0')
		return v;
	return NULL;
}

/*
 * Go's parseProxy: a URL with scheme http, https or socks5, else
 * "http://" + the value. Go's SOCKS5 dialer sends the host name to the
 * proxy, which is what libcurl calls socks5h.
 */
static int
proxy_url(const char *v, char **out)
{
	const char *sep = strstr(v, "://");
	size_t n = sep != NULL ? (size_t)(sep - v) : 0;
	int r;

	if (sep != NULL && n == 6 && strncasecmp(v, "socks5", 6) == 0)
		r = asprintf(out, "socks5h%s", sep);
	else if (sep != NULL && ((n == 4 && strncasecmp(v, "http", 4) == 0) ||
	    (n == 5 && strncasecmp(v, "https", 5) == 0)))
		r = asprintf(out, "%s", v);
	else
		r = asprintf(out, "http://%s", v);
	if (r < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

int
http_proxy_for(const char *url, const char *(*env)(const char *),
    char **proxy)
{
	char *scheme = NULL, *host = NULL, *port = NULL, lhost[256];
	const char *value, *req;
	size_t n, i;
	CURLU *u;
	int ret = ERR_USAGE;

	*proxy = NULL;
	if ((u = curl_url()) == NULL)
		return ERR_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		ret = err_set(ERR_USAGE, "endpoint \"%.200s\" is not a URL", url);
		goto out;
	}
	if (strcmp(scheme, "https") == 0)
		value = env_any(env, "HTTPS_PROXY", "https_proxy");
	else if (strcmp(scheme, "http") == 0) {
		value = env_any(env, "HTTP_PROXY", "http_proxy");
		/* A CGI client can set HTTP_PROXY (the Proxy: header): Go refuses. */
		req = env("REQUEST_METHOD");
		if (value != NULL && req != NULL && *req != '\0') {
			ret = err_set(ERR_USAGE, "refusing to use HTTP_PROXY "
			    "in a CGI environment (REQUEST_METHOD is set), as "
			    "the Go helper does; see golang.org/s/cgihttpproxy");
			goto out;
		}
	} else
		value = NULL;
	ret = ERR_OK;
	if (value == NULL)
		goto out;
	/* Lower case, without the brackets of an IPv6 address. */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		memmove(host, host + 1, n -= 2);
	if (n >= sizeof(lhost))
		n = sizeof(lhost) - 1;
	for (i = 0; i < n; i++)
		lhost[i] = (char)tolower((unsigned char)host[i]);
	lhost[n] = '\0';
	if (use_proxy(lhost, port, env_any(env, "NO_PROXY", "no_proxy")))
		ret = proxy_url(value, proxy);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

/*
 * The proxy URL without its user and password, for --debug: rebuilt by
 * libcurl's parser, so that a password with a '/' or '@' in it cannot
 * fool a search for the '@'.
 */
static void
proxy_shown(const char *proxy, char *dst, size_t dstlen)
{
	CURLU *u = curl_url();
	char *shown = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, proxy, 0) ==
	    CURLUE_OK && curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &shown, 0) == CURLUE_OK)
		snprintf(dst, dstlen, "%s", shown);
	else
		snprintf(dst, dstlen, "(a proxy URL libcurl cannot parse)");
	curl_free(shown);
	curl_url_cleanup(u);
}

/* --------------------------------------------------------- trust store */

/*
 * The roots the endpoint's certificate is checked against, as the Go
 * helper has them on Linux. A CA bundle (--ca-bundle, else AWS_CA_BUNDLE)
 * is the whole store: the Go SDK puts it into a new, empty pool. Without
 * one, crypto/x509's root_unix.go: SSL_CERT_FILE replaces the default
 * files, SSL_CERT_DIR (colon-separated) the default directories, and every
 * file in those directories is read (not only OpenSSL's hashed names).
 * Without any of these libcurl's defaults are the same files.
 */
#define TRUST_MAX (16 * 1024 * 1024)

/* Go's certFiles (root_linux.go): the first one that can be read. */
static const char *const cert_files[] = {
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
};

struct pem {
	char *buf;
	size_t len, cap;
};

static int
pem_add(struct pem *p, const uint8_t *data, size_t len)
{
	char *n;

	if (len > TRUST_MAX - p->len)
		return err_set(ERR_USAGE, "the trusted certificates add up to "
		    "more than %d bytes", TRUST_MAX);
	if (p->len + len + 2 > p->cap) {
		size_t cap = (p->len + len + 2) * 2;

		if ((n = realloc(p->buf, cap)) == NULL)
			return ERR_NOMEM;
		p->buf = n;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
	/* A file may end without a newline before the next BEGIN line. */
	p->buf[p->len++] = '\n';
	p->buf[p->len] = '\0';
	return ERR_OK;
}

/* Adds the file at path; a missing or unreadable one is err with `what`. */
static int
pem_file(struct pem *p, const char *path, const char *what, int err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int ret;

	if ((ret = files_read(path, what, err, FILES_MAX, &data, &len)) ==
	    ERR_OK)
		ret = pem_add(p, data, len);
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return ret;
}

/* Go's readUniqueDirectoryEntries: links to a name in the same directory
 * (OpenSSL's hash links) are skipped; a missing directory is no error. */
static int
pem_dir(struct pem *p, const char *dir)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0;
	ssize_t n;
	DIR *d;
	int ret = ERR_OK;

	if ((d = opendir(dir)) == NULL)
		return ERR_OK;
	while (ret == ERR_OK && (de = readdir(d)) != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path) || lstat(path, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode) && (n = readlink(path, target,
		    sizeof(target) - 1)) > 0 && memchr(target, '/', (size_t)n)
		    == NULL)
			continue;
		/* Unreadable entries and subdirectories are skipped, as by Go. */
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (files_read(path, "SSL_CERT_DIR file", ERR_USAGE, FILES_MAX,
		    &data, &len) != ERR_OK) {
			err_clear();
			continue;
		}
		ret = pem_add(p, data, len);
		OPENSSL_clear_free(data, len + 1);
		data = NULL;
	}
	closedir(d);
	return ret;
}

/* The roots from SSL_CERT_FILE and SSL_CERT_DIR, as crypto/x509 reads them. */
static int
system_roots(const char *file, const char *dirs, struct pem *p)
{
	char *copy, *dir, *save = NULL;
	int ret = ERR_OK;

	if (file != NULL) {
		if ((ret = pem_file(p, file, "SSL_CERT_FILE file", ERR_USAGE)) !=
		    ERR_OK)
			return ret;
	} else {
		for (size_t i = 0; i < sizeof(cert_files) /
		    sizeof(cert_files[0]); i++)
			if (access(cert_files[i], R_OK) == 0 &&
			    pem_file(p, cert_files[i], "CA file", ERR_USAGE) ==
			    ERR_OK)
				break;
		err_clear();
	}
	if (dirs == NULL) {
		if ((ret = pem_dir(p, "/etc/ssl/certs")) == ERR_OK)
			ret = pem_dir(p, "/etc/pki/tls/certs");
		return ret;
	}
	if ((copy = strdup(dirs)) == NULL)
		return ERR_NOMEM;
	for (dir = strtok_r(copy, ":", &save); dir != NULL && ret == ERR_OK;
	    dir = strtok_r(NULL, ":", &save))
		ret = pem_dir(p, dir);
	free(copy);
	return ret;
}

/*
 * Sets CURLOPT_CAINFO_BLOB (and the same for an https proxy) when the
 * store is not libcurl's default; *pem keeps the bytes until the request
 * is done (libcurl copies them anyway).
 */
static int
trust_setup(CURL *c, const struct http_config *cfg, struct pem *p)
{
	const char *file = getenv("SSL_CERT_FILE"), *dirs =
	    getenv("SSL_CERT_DIR");
	const char *what = cfg->ca_bundle_from != NULL ? cfg->ca_bundle_from :
	    "AWS_CA_BUNDLE file";
	struct curl_blob blob;
	CURLcode rc = CURLE_OK;
	int ret;

	if (file != NULL && *file == '\0')
		file = NULL;
	if (dirs != NULL && *dirs == '\0')
		dirs = NULL;
	if (cfg->ca_bundle != NULL && *cfg->ca_bundle != '\0') {
		if ((ret = pem_file(p, cfg->ca_bundle, what, ERR_USAGE)) !=
		    ERR_OK)
			return ret;
		log_debug("trusting only the CAs in the %s %s", what,
		    cfg->ca_bundle);
	} else if (file != NULL || dirs != NULL) {
		if ((ret = system_roots(file, dirs, p)) != ERR_OK)
			return ret;
		log_debug("trusting the CAs of SSL_CERT_FILE=%s SSL_CERT_DIR=%s",
		    file ? file : "(default)", dirs ? dirs : "(default)");
	} else
		return ERR_OK;
	if (p->buf == NULL || strstr(p->buf, "-----BEGIN CERTIFICATE-----") ==
	    NULL)
		return err_set(ERR_USAGE, "%s holds no PEM certificate: name "
		    "a file of \"-----BEGIN CERTIFICATE-----\" blocks",
		    cfg->ca_bundle != NULL && *cfg->ca_bundle != '\0' ?
		    cfg->ca_bundle : file != NULL ? file : dirs);
	blob.data = p->buf;
	blob.len = p->len;
	blob.flags = CURL_BLOB_COPY;
	rc = curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	/* The blob is the whole store: no default directory on the side. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PROXY_CAINFO_BLOB, &blob);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PROXY_CAPATH, NULL);
	if (rc != CURLE_OK)
		return err_set(ERR_INTERNAL, "libcurl cannot take the trusted "
		    "certificates: %s", curl_easy_strerror(rc));
	return ERR_OK;
}

/* ------------------------------------------------------------ requests */

long
http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int
transport_error(CURLcode rc, const char *url, const char *detail,
    const struct http_config *cfg, long start, bool *retryable)
{
	long waited;
	const char *why = *detail ? detail : curl_easy_strerror(rc);
	/* The query only repeats the ARNs: name the URL up to it. */
	int ulen = (int)strcspn(url, "?");

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		*retryable = false;
		return err_set(ERR_NETWORK, "TLS certificate of %.*s not "
		    "trusted (%s): check --endpoint, or name its CA with "
		    "--ca-bundle or AWS_CA_BUNDLE", ulen, url, why);
	case CURLE_SSL_CONNECT_ERROR:
		*retryable = false;
		return err_set(ERR_NETWORK, "TLS handshake with %.*s failed "
		    "(%s)", ulen, url, why);
	case CURLE_OPERATION_TIMEDOUT:
		/* Not libcurl's detail: it counts this try's share alone. */
		*retryable = true;
		waited = http_now_ms() - (cfg->start_ms > 0 ? cfg->start_ms : start);
		return err_set(ERR_NETWORK, "request to %.*s timed out: no answer "
		    "in %ld.%ld s, %d %s in all: check the network or raise "
		    "--timeout", ulen, url, waited / 1000, waited % 1000 / 100,
		    cfg->attempt > 1 ? cfg->attempt : 1,
		    cfg->attempt > 1 ? "tries" : "try");
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
    const char *proxy, struct curl_slist *hdrs, const char *body,
    struct sink *sink, struct http_response *resp, char *errbuf)
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
	if (cfg->no_verify_ssl) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
		/* Go's transport uses its one TLS config for an https proxy too. */
		SET(CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
	}
	/*
	 * The proxy is decided by http_proxy_for (Go's rules), with or without
	 * --with-proxy (spec §1.2): "" turns libcurl's own reading of the
	 * environment off, and an empty NOPROXY keeps its no_proxy away from
	 * the proxy we name.
	 */
	SET(CURLOPT_PROXY, proxy != NULL ? proxy : "");
	SET(CURLOPT_NOPROXY, "");
#undef SET
	if (rc != CURLE_OK)
		return err_set(ERR_INTERNAL, "libcurl setup failed: %s",
		    curl_easy_strerror(rc));
	return ERR_OK;
}

static const char *
env_get(const char *name)
{
	return getenv(name);
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
	char errbuf[CURL_ERROR_SIZE] = "", *proxy = NULL, shown[256];
	struct curl_slist *hdrs = NULL, *tmp;
	struct sink sink = { NULL, 0, 0 };
	struct pem trust = { NULL, 0, 0 };
	long start = http_now_ms();
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
	if ((ret = http_proxy_for(url, env_get, &proxy)) != ERR_OK)
		goto out;
	if (proxy != NULL) {
		proxy_shown(proxy, shown, sizeof(shown));
		log_debug("proxy %s for %.*s", shown, (int)strcspn(url, "?"), url);
	} else
		log_debug("no proxy for %.*s", (int)strcspn(url, "?"), url);
	if ((ret = trust_setup(c, cfg, &trust)) != ERR_OK ||
	    (ret = setup(c, cfg, url, proxy, hdrs, body, &sink, resp, errbuf)) !=
	    ERR_OK)
		goto out;
	rc = curl_easy_perform(c);
	if (sink.too_big) {
		ret = err_set(ERR_RESPONSE, "the answer from %s is larger than "
		    "%d bytes", url, HTTP_BODY_MAX);
		goto out;
	}
	if (rc != CURLE_OK) {
		ret = transport_error(rc, url, errbuf, cfg, start, retryable);
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
	/* The proxy URL may hold a password. */
	if (proxy != NULL) {
		explicit_bzero(proxy, strlen(proxy));
		free(proxy);
	}
	free(trust.buf);
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
