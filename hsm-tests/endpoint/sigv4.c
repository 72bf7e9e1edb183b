/*
 * sigv4.c - SigV4-X509 request canonicalisation for ra-endpoint (a TEST
 * stand-in for IAM Roles Anywhere, not a security boundary).
 *
 * Everything here is rebuilt from the bytes that arrived on the wire, the
 * way the AWS side has to do it; nothing is taken from the client's idea of
 * what it signed.  The rules follow the SigV4 documentation and
 * go-helper-spec.md section 2.6.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"

/* ------------------------------------------------------ percent encoding */

static bool
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '~';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode.  With form set, '+' is a space, as Go's url.ParseQuery
 * (and the AWS front end) read a query.  A broken escape is kept
 * literally: it then re-encodes differently from what the client signed
 * and fails the signature, which is the outcome AWS gives.
 */
static void
pct_decode(struct ep_sb *out, const char *s, size_t n, bool form)
{
	size_t	i;
	char	c;
	int	hi, lo;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '+' && form)
			c = ' ';
		else if (c == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		ep_sb_add(out, &c, 1);
	}
}

static void
pct_encode(struct ep_sb *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char		  esc[3];
	size_t		  i;
	unsigned char	  c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (unreserved(c)) {
			ep_sb_add(out, &s[i], 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		ep_sb_add(out, esc, 3);
	}
}

/* ----------------------------------------------------------------- query */

static int
qparam_set(struct ep_qparam *qp, const char *s, size_t n)
{
	const char	*eq = memchr(s, '=', n);
	size_t		 kn = eq ? (size_t)(eq - s) : n;
	struct ep_sb	 k, v;

	ep_sb_init(&k, EP_URI_MAX);
	ep_sb_init(&v, EP_URI_MAX);
	pct_decode(&k, s, kn, true);
	if (eq != NULL)
		pct_decode(&v, eq + 1, n - kn - 1, true);
	qp->klen = k.len;
	qp->vlen = v.len;
	qp->key = ep_sb_take(&k);
	qp->val = ep_sb_take(&v);
	return (qp->key && qp->val) ? 0 : -1;
}

int
ep_query_parse(const char *raw, struct ep_query *q)
{
	const char	*p = raw, *amp;
	size_t		 n;
	int		 ret = -1;

	memset(q, 0, sizeof(*q));
	if ((q->v = calloc(EP_QUERY_PARAMS_MAX, sizeof(*q->v))) == NULL)
		goto out;
	while (*p != '\0') {
		amp = strchr(p, '&');
		n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > 0) {	/* "a=1&&b=2": empty pieces carry nothing */
			if (q->n == EP_QUERY_PARAMS_MAX)
				goto out;
			if (qparam_set(&q->v[q->n++], p, n) != 0)
				goto out;
		}
		p += n + (amp ? 1 : 0);
	}
	ret = 0;
out:
	if (ret != 0)
		ep_query_free(q);
	return ret;
}

void
ep_query_free(struct ep_query *q)
{
	size_t i;

	for (i = 0; q->v != NULL && i < q->n; i++) {
		free(q->v[i].key);
		free(q->v[i].val);
	}
	free(q->v);
	memset(q, 0, sizeof(*q));
}

static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct ep_qparam *x = *(const struct ep_qparam *const *)a;
	const struct ep_qparam *y = *(const struct ep_qparam *const *)b;
	int c = bytes_cmp(x->key, x->klen, y->key, y->klen);

	return c != 0 ? c : bytes_cmp(x->val, x->vlen, y->val, y->vlen);
}

/*
 * Canonical query: parameters sorted by key then value, both re-encoded
 * with only RFC 3986 unreserved characters left bare (so a space is %20).
 */
char *
ep_query_canonical(const struct ep_query *q)
{
	const struct ep_qparam	**sorted = NULL;
	struct ep_sb		  sb;
	size_t			  i;
	char			 *ret = NULL;

	ep_sb_init(&sb, EP_URI_MAX * 3);
	if (q->n > 0 && (sorted = calloc(q->n, sizeof(*sorted))) == NULL)
		goto out;
	for (i = 0; i < q->n; i++)
		sorted[i] = &q->v[i];
	if (q->n > 1)
		qsort(sorted, q->n, sizeof(*sorted), qparam_cmp);
	for (i = 0; i < q->n; i++) {
		if (i > 0)
			ep_sb_add(&sb, "&", 1);
		pct_encode(&sb, sorted[i]->key, sorted[i]->klen);
		ep_sb_add(&sb, "=", 1);
		pct_encode(&sb, sorted[i]->val, sorted[i]->vlen);
	}
	ret = ep_sb_take(&sb);
out:
	ep_sb_free(&sb);
	free(sorted);
	return ret;
}

/* How many times key occurs; *first gets the first occurrence. */
size_t
ep_query_count(const struct ep_query *q, const char *key,
    const struct ep_qparam **first)
{
	size_t i, n = 0, klen = strlen(key);

	*first = NULL;
	for (i = 0; i < q->n; i++) {
		if (bytes_cmp(q->v[i].key, q->v[i].klen, key, klen) != 0)
			continue;
		if (n++ == 0)
			*first = &q->v[i];
	}
	return n;
}

/* --------------------------------------------------------------- headers */

/*
 * SigV4 "trimall": drop leading and trailing whitespace (SP and HTAB, the
 * HTTP OWS that no HTTP layer in front of AWS would pass on) and squeeze
 * inner runs of spaces to one, as the Go helper's stripExcessSpaces does.
 */
static void
add_trimmed(struct ep_sb *sb, const char *v)
{
	size_t	n, i;

	v += strspn(v, " \t");
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	for (i = 0; i < n; i++) {
		if (v[i] == ' ' && i > 0 && v[i - 1] == ' ')
			continue;
		ep_sb_add(sb, &v[i], 1);
	}
}

/*
 * All values of header lname joined with ',' in arrival order, as HTTP
 * defines for repeated fields; with canonical set each value is trimmed
 * first.  Returns 1 and *out, 0 if absent, -1 on error or over the cap.
 */
int
ep_header_get(const struct ep_request *rq, const char *lname, bool canonical,
    char **out)
{
	struct ep_sb	sb;
	size_t		i, found = 0;

	*out = NULL;
	ep_sb_init(&sb, EP_HEADER_VALUE_MAX);
	for (i = 0; i < rq->nhdrs; i++) {
		if (strcmp(rq->hdrs[i].name, lname) != 0)
			continue;
		if (found++ > 0)
			ep_sb_add(&sb, ",", 1);
		if (canonical)
			add_trimmed(&sb, rq->hdrs[i].value);
		else
			ep_sb_str(&sb, rq->hdrs[i].value);
	}
	if (found == 0) {
		ep_sb_free(&sb);
		return 0;
	}
	*out = ep_sb_take(&sb);
	return *out ? 1 : -1;
}

/* --------------------------------------------------------- Authorization */

/* Copy [s, s+n) into dst[dstlen] if it fits and is non-empty. */
static int
copy_field(char *dst, size_t dstlen, const char *s, size_t n)
{
	if (n == 0 || n >= dstlen || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int
parse_credential(const char *v, size_t n, struct ep_auth *a)
{
	char		*dst[5] = { a->serial, a->date, a->region, a->service,
			    a->terminator };
	const size_t	 len[5] = { sizeof(a->serial), sizeof(a->date),
			    sizeof(a->region), sizeof(a->service),
			    sizeof(a->terminator) };
	const char	*end = v + n, *slash, *num;
	size_t		 i;

	for (i = 0; i < 5; i++) {
		slash = memchr(v, '/', (size_t)(end - v));
		if ((i < 4) != (slash != NULL))
			return -1;
		if (slash == NULL)
			slash = end;
		if (copy_field(dst[i], len[i], v, (size_t)(slash - v)) != 0)
			return -1;
		v = slash + (slash < end ? 1 : 0);
	}
	/* The serial is a big integer in decimal (Go big.Int.String()). */
	num = a->serial + (a->serial[0] == '-' ? 1 : 0);
	if (*num == '\0' || strspn(num, "0123456789") != strlen(num))
		return -1;
	snprintf(a->scope, sizeof(a->scope), "%s/%s/%s/%s", a->date,
	    a->region, a->service, a->terminator);
	return 0;
}

static int
parse_signature(const char *v, size_t n, struct ep_auth *a)
{
	size_t	i;
	int	hi, lo;

	/* Lower-case hex only, as the helper writes it (hex.EncodeToString). */
	if (n == 0 || n % 2 != 0 || n / 2 > sizeof(a->sig))
		return -1;
	for (i = 0; i < n; i += 2) {
		if ((v[i] >= 'A' && v[i] <= 'F') ||
		    (v[i + 1] >= 'A' && v[i + 1] <= 'F'))
			return -1;
		hi = hexval((unsigned char)v[i]);
		lo = hexval((unsigned char)v[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		a->sig[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	a->sig_len = n / 2;
	return 0;
}

/* One "Key=value" component; seen[] rejects repeats. */
static int
parse_component(const char *s, size_t n, struct ep_auth *a, bool seen[3])
{
	static const char *const keys[3] = { "Credential", "SignedHeaders",
	    "Signature" };
	const char	*eq = memchr(s, '=', n);
	size_t		 kn, vn, i;

	if (eq == NULL)
		return -1;
	kn = (size_t)(eq - s);
	vn = n - kn - 1;
	for (i = 0; i < 3; i++)
		if (strlen(keys[i]) == kn && memcmp(s, keys[i], kn) == 0)
			break;
	if (i == 3 || seen[i])
		return -1;
	seen[i] = true;
	if (i == 0)
		return parse_credential(eq + 1, vn, a);
	if (i == 1)
		return copy_field(a->signed_headers, sizeof(a->signed_headers),
		    eq + 1, vn);
	return parse_signature(eq + 1, vn, a);
}

/*
 * "<ALG> Credential=<serial>/<scope>, SignedHeaders=<list>,
 * Signature=<hex>".  Like AWS, the three components may come in any order
 * and with any spaces after the commas, but each exactly once.
 */
int
ep_auth_parse(const char *value, struct ep_auth *a, const char **why)
{
	const char	*p, *comma;
	bool		 seen[3] = { false, false, false };
	size_t		 n;

	memset(a, 0, sizeof(*a));
	*why = "Authorization header is missing or malformed";
	if ((p = strchr(value, ' ')) == NULL ||
	    copy_field(a->alg, sizeof(a->alg), value, (size_t)(p - value)) != 0)
		return -1;
	if (strcmp(a->alg, "AWS4-X509-RSA-SHA256") != 0 &&
	    strcmp(a->alg, "AWS4-X509-ECDSA-SHA256") != 0) {
		*why = "Unsupported signing algorithm in Authorization header";
		return -1;
	}
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (parse_component(p, n, a, seen) != 0)
			return -1;
		p = comma ? comma + 1 : p + strlen(p);
	}
	if (!seen[0] || !seen[1] || !seen[2])
		return -1;
	return 0;
}

/* ------------------------------------------------------------ X-Amz-Date */

static int
digits(const char *s, size_t n)
{
	int	v = 0;
	size_t	i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Strict YYYYMMDDTHHMMSSZ; rejects 20240230 by round-tripping. */
int
ep_amz_date_parse(const char *s, time_t *t)
{
	struct tm	tm, back;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 4, 2) - 1;
	tm.tm_mday = digits(s + 6, 2);
	tm.tm_hour = digits(s + 9, 2);
	tm.tm_min = digits(s + 11, 2);
	tm.tm_sec = digits(s + 13, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mday < 1 ||
	    tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return -1;
	back = tm;
	if ((*t = timegm(&back)) == (time_t)-1)
		return -1;
	if (back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon)
		return -1;
	return 0;
}

/* --------------------------------------------------------- SignedHeaders */

static bool
token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
list_has(const char *list, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ';') && (p[n] == ';' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static bool
header_present(const struct ep_request *rq, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < rq->nhdrs; i++)
		if (strlen(rq->hdrs[i].name) == n &&
		    memcmp(rq->hdrs[i].name, name, n) == 0)
			return true;
	return false;
}

/* Sorted, lower-case, no repeats, every name present in the request. */
static int
check_list_shape(const struct ep_request *rq, const char *list, char *why,
    size_t whylen)
{
	const char	*p = list, *prev = NULL, *semi;
	size_t		 n, prevn = 0, i;

	while (*p != '\0') {
		semi = strchr(p, ';');
		n = semi ? (size_t)(semi - p) : strlen(p);
		for (i = 0; i < n; i++)
			if (!token_char((unsigned char)p[i]))
				break;
		if (n == 0 || i < n || (prev != NULL &&
		    bytes_cmp(prev, prevn, p, n) >= 0)) {
			snprintf(why, whylen, "SignedHeaders must be a sorted "
			    "list of distinct lower-case header names");
			return -1;
		}
		if (!header_present(rq, p, n)) {
			snprintf(why, whylen, "Signed header %.*s is missing "
			    "from the request", (int)(n > 64 ? 64 : n), p);
			return -1;
		}
		prev = p;
		prevn = n;
		p += n + (semi ? 1 : 0);
		if (semi != NULL && *p == '\0') {
			snprintf(why, whylen, "SignedHeaders must not end "
			    "with ';'");
			return -1;
		}
	}
	return 0;
}

int
ep_signed_headers_check(const struct ep_request *rq, const char *list,
    char *why, size_t whylen)
{
	static const char *const required[] = { "content-type", "host",
	    "x-amz-date", "x-amz-x509", NULL };
	size_t i;

	if (check_list_shape(rq, list, why, whylen) != 0)
		return -1;
	for (i = 0; required[i] != NULL; i++) {
		if (!list_has(list, required[i])) {
			snprintf(why, whylen, "SignedHeaders must include %s",
			    required[i]);
			return -1;
		}
	}
	/* A chain that was not signed could be swapped in transit. */
	if (header_present(rq, "x-amz-x509-chain", 16) &&
	    !list_has(list, "x-amz-x509-chain")) {
		snprintf(why, whylen, "SignedHeaders must include "
		    "x-amz-x509-chain when that header is sent");
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------- canonical request */

/* Path as received, each byte outside unreserved and '/' percent-encoded. */
static void
add_canonical_path(struct ep_sb *sb, const char *raw)
{
	struct ep_sb	dec;
	size_t		i, start = 0;

	ep_sb_init(&dec, EP_URI_MAX);
	pct_decode(&dec, raw, strlen(raw), false);
	if (dec.err || dec.p == NULL) {
		sb->err = true;
		goto out;
	}
	for (i = 0; i <= dec.len; i++) {
		if (i < dec.len && dec.p[i] != '/')
			continue;
		pct_encode(sb, dec.p + start, i - start);
		if (i < dec.len)
			ep_sb_add(sb, "/", 1);
		start = i + 1;
	}
out:
	ep_sb_free(&dec);
}

static int
add_canonical_headers(struct ep_sb *sb, const struct ep_request *rq,
    const char *list)
{
	char		 name[128], *val = NULL;
	const char	*p = list, *semi;
	size_t		 n;

	while (*p != '\0') {
		semi = strchr(p, ';');
		n = semi ? (size_t)(semi - p) : strlen(p);
		if (n >= sizeof(name))
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (ep_header_get(rq, name, true, &val) != 1)
			return -1;
		ep_sb_str(sb, name);
		ep_sb_add(sb, ":", 1);
		ep_sb_str(sb, val);
		ep_sb_add(sb, "\n", 1);
		free(val);
		val = NULL;
		p += n + (semi ? 1 : 0);
	}
	return 0;
}

char *
ep_canonical_request(const struct ep_request *rq, const char *cquery,
    const char *signed_headers)
{
	struct ep_sb	sb;
	char		hash[65];

	ep_sb_init(&sb, EP_CANON_MAX);
	ep_sb_str(&sb, rq->method);
	ep_sb_add(&sb, "\n", 1);
	add_canonical_path(&sb, rq->path);
	ep_sb_add(&sb, "\n", 1);
	ep_sb_str(&sb, cquery);
	ep_sb_add(&sb, "\n", 1);
	if (add_canonical_headers(&sb, rq, signed_headers) != 0)
		sb.err = true;
	ep_sb_add(&sb, "\n", 1);
	ep_sb_str(&sb, signed_headers);
	ep_sb_add(&sb, "\n", 1);
	ep_sha256_hex(rq->body, rq->body_len, hash);
	ep_sb_str(&sb, hash);
	return ep_sb_take(&sb);
}

char *
ep_string_to_sign(const struct ep_auth *a, const char *amzdate,
    const char *canonical)
{
	struct ep_sb	sb;
	char		hash[65];

	ep_sha256_hex(canonical, strlen(canonical), hash);
	ep_sb_init(&sb, 1024);
	ep_sb_str(&sb, a->alg);
	ep_sb_add(&sb, "\n", 1);
	ep_sb_str(&sb, amzdate);
	ep_sb_add(&sb, "\n", 1);
	ep_sb_str(&sb, a->scope);
	ep_sb_add(&sb, "\n", 1);
	ep_sb_str(&sb, hash);
	return ep_sb_take(&sb);
}
