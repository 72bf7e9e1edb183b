/*
 * selftest.c - "ra-endpoint --self-test VECTOR.json ..." checks the
 * verifier of this TEST stand-in against the known-answer vectors in
 * hsm-tests/vectors/ (computed by implementations independent of rasign).
 *
 * For each vector the request is replayed through ep_verify() with the
 * clock pinned to the vector's X-Amz-Date, and the rebuilt canonical
 * request and string to sign must match byte for byte.  With a trust
 * anchor the request must then be accepted with the vector's duration and
 * session name; without one (the captured Go-helper request) it must fail
 * exactly at the certificate path, which the signature check precedes.
 * A copy with one signature bit flipped must be refused.  Output is TAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "endpoint.h"

#define NHDR 16

struct vec {
	json_t			*root;
	const char		*name;
	char			 method[8];
	char			*path;
	char			*query;
	struct ep_header	 hdrs[NHDR];
	size_t			 nhdrs;
	struct ep_config	 cfg;
	const char		*role;
	time_t			 now;
};

static const char *
jstr(json_t *root, const char *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(
	    json_object_get(root, obj), key));

	return s ? s : "";
}

static int
add_header(struct vec *t, const char *name, const char *value)
{
	struct ep_header	*h;
	char			*p;

	if (t->nhdrs == NHDR)
		return -1;
	h = &t->hdrs[t->nhdrs];
	if ((h->name = strdup(name)) == NULL ||
	    (h->value = strdup(value)) == NULL)
		return -1;
	for (p = h->name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	t->nhdrs++;
	return 0;
}

/* Base64 of the DER of the first certificate in pem. */
static char *
pem_to_b64(const char *pem)
{
	BIO		*bio = BIO_new_mem_buf(pem, -1);
	X509		*x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char	*der = NULL, *out = NULL;
	int		 len = x ? i2d_X509(x, &der) : -1;

	if (len > 0 && (out = malloc((size_t)len / 3 * 4 + 8)) != NULL)
		EVP_EncodeBlock(out, der, len);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	return (char *)out;
}

/*
 * The captured Go-helper vector carries no header list: rebuild the
 * request the helper sent from its inputs (unencoded ARNs in the query
 * also exercise our decode-and-re-encode path).
 */
static int
synthesize(struct vec *t)
{
	const char	*ep = jstr(t->root, "inputs", "endpoint");
	const char	*host = strstr(ep, "://");
	char		*b64, q[2048];
	int		 ret;

	host = host ? host + 3 : ep;
	snprintf(q, sizeof(q), "profileArn=%s&roleArn=%s&trustAnchorArn=%s",
	    jstr(t->root, "inputs", "profile_arn"), t->role,
	    jstr(t->root, "inputs", "trust_anchor_arn"));
	t->path = strdup("/sessions");
	t->query = strdup(q);
	if ((b64 = pem_to_b64(jstr(t->root, "inputs", "certificate_pem")))
	    == NULL)
		return -1;
	ret = -1;
	if (add_header(t, "Host", host) == 0 &&
	    add_header(t, "Content-Type", "application/json") == 0 &&
	    add_header(t, "X-Amz-Date", jstr(t->root, "inputs", "amz_date"))
	    == 0 && add_header(t, "X-Amz-X509", b64) == 0 &&
	    add_header(t, "Authorization", jstr(t->root, "expected",
	    "authorization")) == 0)
		ret = 0;
	free(b64);
	return ret;
}

static int
from_request_line(struct vec *t, const char *line)
{
	const char	*sp = strchr(line, ' '), *target, *q;
	json_t		*h;
	size_t		 i;

	if (sp == NULL || (size_t)(sp - line) >= sizeof(t->method))
		return -1;
	memcpy(t->method, line, (size_t)(sp - line));
	t->method[sp - line] = '\0';
	target = sp + 1;
	q = strchr(target, '?');
	t->path = strndup(target, q ? (size_t)(q - target) : strlen(target));
	t->query = strdup(q ? q + 1 : "");
	json_array_foreach(json_object_get(json_object_get(t->root,
	    "expected"), "headers"), i, h) {
		if (add_header(t, json_string_value(json_array_get(h, 0)),
		    json_string_value(json_array_get(h, 1))) != 0)
			return -1;
	}
	return 0;
}

static int
vec_load(struct vec *t, const char *file)
{
	json_error_t	 err;
	const char	*line, *ta;

	memset(t, 0, sizeof(*t));
	if ((t->root = json_load_file(file, 0, &err)) == NULL)
		return -1;
	t->name = json_string_value(json_object_get(t->root, "name"));
	t->role = jstr(t->root, "inputs", "role_arn");
	t->cfg.region = jstr(t->root, "inputs", "region");
	t->cfg.trust_anchor_arn = jstr(t->root, "inputs", "trust_anchor_arn");
	t->cfg.profile_arn = jstr(t->root, "inputs", "profile_arn");
	t->cfg.role_arns = &t->role;
	t->cfg.nroles = 1;
	t->cfg.max_skew = 300;
	t->cfg.max_duration = 43200;
	if ((t->cfg.store = X509_STORE_new()) == NULL ||
	    ep_amz_date_parse(jstr(t->root, "inputs", "amz_date"), &t->now))
		return -1;
	ta = jstr(t->root, "inputs", "trust_anchor_pem");
	if (*ta != '\0' && ep_store_add_pem(t->cfg.store, ta, strlen(ta)) <= 0)
		return -1;
	snprintf(t->method, sizeof(t->method), "POST");
	line = jstr(t->root, "expected", "request_line");
	if (*line != '\0')
		return from_request_line(t, line);
	return synthesize(t);
}

static void
vec_free(struct vec *t)
{
	size_t i;

	for (i = 0; i < t->nhdrs; i++) {
		free(t->hdrs[i].name);
		free(t->hdrs[i].value);
	}
	free(t->path);
	free(t->query);
	X509_STORE_free(t->cfg.store);
	json_decref(t->root);
}

static const char *
check_accepted(struct vec *t, const struct ep_verdict *v)
{
	json_t *sn = json_object_get(json_object_get(t->root, "inputs"),
	    "role_session_name");

	if (*jstr(t->root, "inputs", "trust_anchor_pem") == '\0')
		return (v->status == 403 &&
		    strcmp(v->message, "Untrusted signing certificate") == 0) ?
		    NULL : "expected exactly 'Untrusted signing certificate'";
	if (v->status != 0)
		return v->message;
	if (v->duration != (long)json_integer_value(json_object_get(
	    json_object_get(t->root, "inputs"), "session_duration")))
		return "durationSeconds differs";
	if (strcmp(v->session_name, json_is_string(sn) ?
	    json_string_value(sn) : "") != 0)
		return "roleSessionName differs";
	return NULL;
}

/* The same request with the last signature hex digit changed. */
static const char *
check_tampered(struct vec *t)
{
	struct ep_request	 rq = { t->method, t->path, t->query, t->hdrs,
				    t->nhdrs, NULL, 0 };
	struct ep_verdict	 v;
	const char		*body = jstr(t->root, "expected", "body");
	char			*auth = NULL, *last, saved;
	const char		*why = NULL;
	size_t			 i;

	rq.body = (const unsigned char *)body;
	rq.body_len = strlen(body);
	for (i = 0; i < t->nhdrs; i++)
		if (strcmp(t->hdrs[i].name, "authorization") == 0)
			auth = t->hdrs[i].value;
	if (auth == NULL || *auth == '\0')
		return "no Authorization header";
	last = auth + strlen(auth) - 1;
	saved = *last;
	*last = saved == '0' ? '1' : '0';
	ep_verify(&t->cfg, &rq, t->now, &v);
	*last = saved;
	if (v.status != 403 || strcmp(v.message, "Unable to verify "
	    "signature") != 0)
		why = "tampered signature not refused";
	ep_verdict_free(&v);
	return why;
}

static const char *
run_one(struct vec *t)
{
	struct ep_request	 rq = { t->method, t->path, t->query, t->hdrs,
				    t->nhdrs, NULL, 0 };
	struct ep_verdict	 v;
	const char		*body = jstr(t->root, "expected", "body");
	const char		*why;
	static char		 msg[640];

	rq.body = (const unsigned char *)body;
	rq.body_len = strlen(body);
	ep_verify(&t->cfg, &rq, t->now, &v);
	if (v.canonical == NULL || strcmp(v.canonical,
	    jstr(t->root, "expected", "canonical_request")) != 0)
		why = "canonical request differs";
	else if (v.string_to_sign == NULL || strcmp(v.string_to_sign,
	    jstr(t->root, "expected", "string_to_sign")) != 0)
		why = "string to sign differs";
	else
		why = check_accepted(t, &v);
	if (why != NULL) {
		snprintf(msg, sizeof(msg), "%.200s (verdict %d %.300s)", why,
		    v.status, v.message);
		why = msg;
	}
	ep_verdict_free(&v);
	return why ? why : check_tampered(t);
}

int
ep_self_test(int argc, char **argv)
{
	struct vec	 t;
	const char	*why;
	int		 i, failed = 0;

	if (argc == 0) {
		fprintf(stderr, "ra-endpoint: --self-test needs vector files\n");
		return 2;
	}
	printf("1..%d\n", argc);
	for (i = 0; i < argc; i++) {
		why = vec_load(&t, argv[i]) != 0 ? "cannot load vector" :
		    run_one(&t);
		printf("%s %d - %s%s%s\n", why ? "not ok" : "ok", i + 1,
		    t.name ? t.name : argv[i], why ? ": " : "",
		    why ? why : "");
		failed += why != NULL;
		vec_free(&t);
	}
	ERR_clear_error();
	return failed ? 1 : 0;
}
