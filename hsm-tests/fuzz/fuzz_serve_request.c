/*
 * serve's request handler (serve_handle), without sockets: a sequence of
 * requests against one serve that holds credentials.
 *
 * Input: requests separated by an empty line. A request is a line
 * "METHOD URL [+SECONDS]" (SECONDS moves the clock forward first), then
 * "Name: value" header lines. A value "$T" is the last token a PUT in this
 * input got, "$Tn" the n-th (from 0), "$T/k=c" or "$Tn/k=c" that token
 * with its character k (0..100) set to c, "$E" the ECS token; anything
 * else is taken as it is.
 *
 * Invariants: no crash; a known status; the body's length is its strlen;
 * the credentials' secrets appear only in a 200 to a GET of the ECS path
 * with the exact ECS token, or of the role's IMDS path with a token that a
 * PUT of this input got and that is live; a token PUT's 200 is 100 base64
 * characters with the TTL asked for; the wait_fresh hook runs only when
 * the credentials have expired.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "creds.h"
#include "err.h"
#include "fuzz.h"
#include "serve.h"

#define CHECK(cond) FUZZ_CHECK(cond)

#define T0 1700000000
#define CREDS_LIFE 3600
#define ROLE "fuzz-role"
#define ECS_TOKEN "0123456789abcdef0123456789abcdef"
#define SECRET "wJalrXUtnFEMIK7MDENGbPxRfiCYFUZZSECRETKY"
#define SESSION "FwoGZXIvYXdzEFUZZSESSIONTOKEN"
#define MAX_HEADERS 16
#define MAX_TOKENS 32

struct header {
	const char *name, *value;
};

struct req {
	struct header h[MAX_HEADERS];
	size_t n;
};

static struct serve *srv;
static time_t now;
static int hook_calls;

static struct {
	char value[SERVE_TOKEN_LEN + 1];
	time_t expiry;
} tokens[MAX_TOKENS];
static size_t ntokens;

static void
wait_fresh(void *cls)
{
	(void)cls;
	/* Only a request that found the credentials expired may wait. */
	CHECK(now >= T0 + CREDS_LIFE);
	hook_calls++;
}

static const char *
lookup(void *cls, const char *name)
{
	const struct req *r = cls;

	for (size_t i = 0; i < r->n; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

static void
setup(void)
{
	struct serve_config cfg = { .hop_limit = 64, .role_name = ROLE,
	    .ecs_token = ECS_TOKEN, .wait_fresh = wait_fresh };
	struct creds c = { strdup("ASIAFUZZFUZZFUZZFUZZ"), strdup(SECRET),
	    strdup(SESSION), strdup("2023-11-14T23:13:20Z") };

	CHECK(c.access_key_id && c.secret_access_key && c.session_token &&
	    c.expiration);
	CHECK(serve_new(&cfg, &srv) == ERR_OK);
	serve_set_creds(srv, &c, T0 + CREDS_LIFE);
}

/*
 * "$T", "$Tn" and "$E" stand for values this input cannot know; "$T/k=c"
 * (or "$Tn/k=c") is that token with its character k set to c, so that the
 * fuzzer can try tokens one character off a real one.
 */
static const char *
resolve(const char *v, char out[SERVE_TOKEN_LEN + 2])
{
	const char *tok;
	char *end;
	unsigned long i = ntokens - 1, k;

	if (strcmp(v, "$E") == 0)
		return ECS_TOKEN;
	if (strncmp(v, "$T", 2) != 0 || ntokens == 0)
		return v;
	end = (char *)v + 2;
	if (*end >= '0' && *end <= '9')
		i = strtoul(v + 2, &end, 10);
	if (i >= ntokens)
		return v;
	tok = tokens[i].value;
	if (*end == '\0')
		return tok;
	if (*end != '/' || (k = strtoul(end + 1, &end, 10)) > SERVE_TOKEN_LEN ||
	    *end != '=' || end[1] == '\0' || end[2] != '\0')
		return v;
	memcpy(out, tok, SERVE_TOKEN_LEN + 1);
	out[k] = end[1];
	out[SERVE_TOKEN_LEN + 1] = '\0';
	return out;
}

static bool
live_token(const char *v, time_t *expiry)
{
	for (size_t i = 0; i < ntokens; i++)
		if (strcmp(tokens[i].value, v) == 0 && tokens[i].expiry > now) {
			*expiry = tokens[i].expiry;
			return true;
		}
	return false;
}

static void
check_reply(const char *method, const char *url, struct req *q,
    const struct serve_reply *r)
{
	const char *ecs = lookup(q, "Authorization");
	const char *tok = lookup(q, SERVE_TOKEN_HEADER);
	const char *ttl = lookup(q, SERVE_TTL_HEADER);
	const char *creds_path = "/latest/meta-data/iam/security-credentials/"
	    ROLE;
	size_t n = strlen(creds_path);
	bool secret, get = strcmp(method, "GET") == 0;
	time_t exp;

	CHECK(r->body != NULL && strlen(r->body) == r->len);
	CHECK(r->status == 200 || r->status == 400 || r->status == 401 ||
	    r->status == 404 || r->status == 405 || r->status == 503);
	secret = strstr(r->body, SECRET) != NULL ||
	    strstr(r->body, SESSION) != NULL;
	if (secret) {
		CHECK(r->status == 200 && get && now < T0 + CREDS_LIFE);
		if (strcmp(url, SERVE_ECS_PATH) == 0) {
			CHECK(ecs != NULL && strcmp(ecs, ECS_TOKEN) == 0);
		} else {
			CHECK(strncmp(url, creds_path, n) == 0 &&
			    (url[n] == '\0' || strcmp(url + n, "/") == 0));
			CHECK(tok != NULL && live_token(tok, &exp));
			CHECK(strtoll(r->ttl, NULL, 10) == exp - now);
		}
	}
	/* Any 200 of the IMDS tree needs a live token of ours. */
	if (r->status == 200 && strncmp(url, "/latest/meta-data", 17) == 0)
		CHECK(tok != NULL && live_token(tok, &exp));
	if (r->status == 200 && strcmp(method, "PUT") == 0) {
		long secs = ttl != NULL ? strtol(ttl, NULL, 10) : 21600;

		CHECK(r->len == SERVE_TOKEN_LEN);
		for (size_t i = 0; i < r->len; i++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			    "qrstuvwxyz0123456789+/", r->body[i]) != NULL);
		CHECK(secs >= 1 && secs <= SERVE_MAX_TTL);
		CHECK(strcmp(r->ttl, ttl != NULL ? ttl : "21600") == 0);
		if (ntokens < MAX_TOKENS) {
			memcpy(tokens[ntokens].value, r->body,
			    SERVE_TOKEN_LEN + 1);
			tokens[ntokens++].expiry = now + secs;
		}
	}
}

/* One request: its lines in [line, end), NUL-terminated each. */
static void
run_one(char **lines, size_t nlines)
{
	struct serve_request sq;
	struct serve_reply r;
	struct req q = { .n = 0 };
	char vals[MAX_HEADERS][SERVE_TOKEN_LEN + 2];
	char *method = lines[0], *url, *adv;
	int hooks = hook_calls;

	if ((url = strchr(method, ' ')) == NULL)
		return;
	*url++ = '\0';
	if ((adv = strchr(url, ' ')) != NULL) {
		*adv++ = '\0';
		if (*adv == '+')
			now += strtol(adv + 1, NULL, 10) % 100000;
	}
	for (size_t i = 1; i < nlines && q.n < MAX_HEADERS; i++) {
		char *colon = strchr(lines[i], ':');

		if (colon == NULL)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		q.h[q.n].name = lines[i];
		q.h[q.n].value = resolve(colon, vals[q.n]);
		q.n++;
	}
	sq = (struct serve_request){ method, url, lookup, &q, now };
	CHECK(serve_handle(srv, &sq, &r) == ERR_OK);
	check_reply(method, url, &q, &r);
	/* The hook is for a request that would otherwise get the 503. */
	if (hook_calls != hooks)
		CHECK(r.status == 503);
	serve_reply_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *p, *lines[64];
	size_t nlines = 0;

	if (srv == NULL)
		setup();
	now = T0;
	ntokens = 0;
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* Lines up to an empty one make a request. */
	for (p = buf;;) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (*p == '\0' || nlines == 64) {
			if (nlines > 0)
				run_one(lines, nlines);
			nlines = 0;
		}
		if (*p != '\0' && nlines < 64)
			lines[nlines++] = p;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (nlines > 0)
		run_one(lines, nlines);
	free(buf);
	return 0;
}
