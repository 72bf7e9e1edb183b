#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "arn.h"
#include "endpoint.h"
#include "err.h"
#include "log.h"
#include "session.h"
#include "sigv4x509.h"

/* AWS's rule for role session names: [\w+=,.@-]{2,64}. */
static int
check_session_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return err_set(ERR_USAGE, "--role-session-name must be 2 to 64 "
		    "characters long");
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("_+=,.@-", *s) == NULL)
			return err_set(ERR_USAGE, "--role-session-name may "
			    "hold only letters, digits and _+=,.@- ('%c' is "
			    "not allowed)", *s);
	return ERR_OK;
}

int
session_prepare(const struct options *o, struct session *s)
{
	struct arn ta;
	int ret;

	memset(s, 0, sizeof(*s));
	/* The region, of the ARNs and --region alike, is checked there. */
	if ((ret = arn_check_request(o->trust_anchor_arn, o->profile_arn,
	    o->role_arn, o->region, &ta)) != ERR_OK)
		return ret;
	if (o->session_duration < 900 || o->session_duration > 43200)
		return err_set(ERR_USAGE, "--session-duration must be between "
		    "900 and 43200 seconds, not %ld", o->session_duration);
	if (o->role_session_name != NULL &&
	    (ret = check_session_name(o->role_session_name)) != ERR_OK)
		return ret;
	snprintf(s->region, sizeof(s->region), "%s", ta.region);
	s->role_session_name = o->role_session_name;
	s->http.no_verify_ssl = o->no_verify_ssl;
	s->http.with_proxy = o->with_proxy;
	/* The flag wins over the variable; either is the whole store. */
	s->http.ca_bundle = o->ca_bundle != NULL && *o->ca_bundle != '\0' ?
	    o->ca_bundle : getenv("AWS_CA_BUNDLE");
	s->http.ca_bundle_from = o->ca_bundle != NULL && *o->ca_bundle !=
	    '\0' ? "--ca-bundle file" : "AWS_CA_BUNDLE file";
	s->http.timeout_ms = o->timeout * 1000;
	if ((ret = sigv4_query(o->profile_arn, o->role_arn,
	    o->trust_anchor_arn, &s->query)) != ERR_OK ||
	    (ret = sigv4_body(o->session_duration, o->role_session_name,
	    &s->body)) != ERR_OK ||
	    (ret = endpoint_resolve(o->endpoint, s->region, s->query, &s->url,
	    &s->host, &s->path)) != ERR_OK) {
		session_free(s);
		return ret;
	}
	log_debug("endpoint %s, region %s", s->url, s->region);
	return ERR_OK;
}

void
session_free(struct session *s)
{
	free(s->url);
	free(s->host);
	free(s->path);
	free(s->query);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

/* Builds the signed headers of one try; a fresh date for every try. */
static int
sign_request(const struct session *s, const struct identity *id,
    char *headers[7])
{
	struct sigv4_params p;
	char date[SIGV4_DATE_LEN + 1], *cr = NULL, *sts = NULL, *auth = NULL;
	uint8_t digest[32], sig[SIGNATURE_MAX];
	size_t siglen = sizeof(sig);
	int ret;

	sigv4_format_date(time(NULL), date);
	p = (struct sigv4_params){ id->algorithm, date, s->region, s->host,
	    s->path, s->query, s->body, id->x509, id->x509_chain, id->serial };
	if ((ret = sigv4_canonical_request(&p, &cr)) != ERR_OK ||
	    (ret = sigv4_string_to_sign(&p, cr, &sts)) != ERR_OK ||
	    (ret = sigv4_digest(sts, digest)) != ERR_OK)
		goto out;
	log_debug_block("canonical request", cr);
	log_debug_block("string to sign", sts);
	if ((ret = signer_sign_digest(id->signer, NID_sha256, digest,
	    sizeof(digest), sig, &siglen)) != ERR_OK ||
	    (ret = sigv4_authorization(&p, sig, siglen, &auth)) != ERR_OK)
		goto out;
	ret = ERR_NOMEM;
	if (asprintf(&headers[0], "Content-Type: application/json") < 0 ||
	    asprintf(&headers[1], "Host: %s", s->host) < 0 ||
	    asprintf(&headers[2], "X-Amz-Date: %s", date) < 0 ||
	    asprintf(&headers[3], "X-Amz-X509: %s", id->x509) < 0 ||
	    asprintf(&headers[4], "Authorization: %s", auth) < 0 ||
	    (id->x509_chain != NULL && asprintf(&headers[5],
	    "X-Amz-X509-Chain: %s", id->x509_chain) < 0))
		goto out;
	ret = ERR_OK;
out:
	free(cr);
	free(sts);
	free(auth);
	return ret;
}

/* A hint at the likely cause of a rejection, for the one-line message. */
static const char *
hint(long status, const char *type, const char *msg)
{
	if (strcasestr(msg, "untrusted") != NULL)
		return "the certificate does not chain to the trust anchor: "
		    "check --trust-anchor-arn and --intermediates";
	if (strcasestr(msg, "expired") != NULL)
		return "renew the certificate, and check the system clock";
	if (strcasestr(msg, "signature") != NULL)
		return "check that the key belongs to the certificate and that "
		    "the system clock is right";
	if (strcmp(type, "ResourceNotFoundException") == 0 || status == 404)
		return "check --trust-anchor-arn, --profile-arn and --region";
	if (strcmp(type, "ValidationException") == 0 || status == 400)
		return "check --session-duration and --role-session-name";
	if (status == 403)
		return "check that the trust anchor and profile are enabled "
		    "and that the role trusts rolesanywhere.amazonaws.com";
	return "see the service's message";
}

/* Turns an AWS error answer into one line (spec §2.10). */
int
session_service_error(const struct http_response *r, int code, int tries)
{
	char type[128], msg[512] = "";
	const char *t;
	json_t *root = NULL, *v;

	snprintf(type, sizeof(type), "%s", r->error_type);
	if (r->body != NULL)
		root = json_loadb(r->body, r->len, 0, NULL);
	if ((v = json_object_get(root, "message")) != NULL ||
	    (v = json_object_get(root, "Message")) != NULL)
		snprintf(msg, sizeof(msg), "%s", json_string_value(v) ?
		    json_string_value(v) : "");
	if (*type == '\0' && ((t = json_string_value(json_object_get(root,
	    "__type"))) != NULL || (t = json_string_value(json_object_get(root,
	    "code"))) != NULL))
		snprintf(type, sizeof(type), "%s", strrchr(t, '#') ?
		    strrchr(t, '#') + 1 : t);
	json_decref(root);
	if (code == ERR_NETWORK)
		return err_set(code, "CreateSession failed with HTTP %ld%s%s%s%s "
		    "after %d tries: the service is busy or unavailable, try "
		    "again later", r->status, *type ? " " : "", type,
		    *msg ? ": " : "", msg, tries);
	return err_set(code, "CreateSession rejected with HTTP %ld %s%s%s%s: %s",
	    r->status, *type ? type : "error", *msg ? ": \"" : "", msg,
	    *msg ? "\"" : "", hint(r->status, type, msg));
}

static void
backoff(int attempt, long remaining_ms)
{
	unsigned char jitter = 0;
	long ms = 200L << (attempt - 1);
	struct timespec ts;

	(void)RAND_bytes(&jitter, 1);
	ms += jitter;
	if (ms > 2000)
		ms = 2000;
	if (ms > remaining_ms)
		ms = remaining_ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One try. *again: worth trying again (network error, 5xx, 429). */
static int
try_once(const struct session *s, const struct identity *id,
    struct http_config *http, int attempt, struct creds *c, bool *again)
{
	char *headers[7] = { NULL };
	struct http_response r;
	int ret;

	*again = false;
	memset(&r, 0, sizeof(r));
	if ((ret = sign_request(s, id, headers)) != ERR_OK)
		goto out;
	if ((ret = http_post(http, s->url, (const char *const *)headers,
	    s->body, &r, again)) != ERR_OK)
		goto out;
	log_debug("HTTP %ld from %s (try %d of %d)", r.status, s->host,
	    attempt, SESSION_TRIES);
	if (r.status >= 200 && r.status < 300) {
		ret = creds_parse(r.body, r.len, c);
		goto out;
	}
	/* Error answers hold no secret; they help in debugging. */
	log_debug("answer: %.*s", (int)(r.len > 1024 ? 1024 : r.len),
	    r.body ? r.body : "");
	*again = r.status == 429 || r.status >= 500;
	ret = session_service_error(&r, *again ? ERR_NETWORK : ERR_REJECTED,
	    attempt);
out:
	for (int i = 0; i < 7; i++)
		free(headers[i]);
	http_response_free(&r);
	return ret;
}

int
session_create(const struct session *s, const struct identity *id,
    struct creds *c)
{
	struct http_config http = s->http;
	long start = http_now_ms(), deadline = start + s->http.timeout_ms, left;
	bool again = false, told = false;
	int ret = ERR_INTERNAL;

	http.start_ms = start;
	for (int attempt = 1; attempt <= SESSION_TRIES; attempt++) {
		/* Report the last try's failure, not the first's. */
		err_clear();
		http.attempt = attempt;
		http.timeout_ms = deadline - http_now_ms();
		if (http.timeout_ms < 1)
			http.timeout_ms = 1;
		ret = try_once(s, id, &http, attempt, c, &again);
		left = deadline - http_now_ms();
		if (ret == ERR_OK || !again || attempt == SESSION_TRIES ||
		    left <= 0)
			break;
		log_debug("retrying: %s", err_message() ? err_message() : "");
		/* A person waiting at a terminal is told once why it takes long. */
		if (!told && !log_debug_enabled() && isatty(STDERR_FILENO)) {
			log_warn("retrying (up to %d tries in %ld s): %s",
			    SESSION_TRIES, s->http.timeout_ms / 1000,
			    err_message() ? err_message() : "no answer");
			told = true;
		}
		backoff(attempt, left);
	}
	return ret;
}
