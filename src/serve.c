#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "err.h"
#include "log.h"
#include "serve.h"

#define IMDS_CREDS "/latest/meta-data/iam/security-credentials"
#define IMDS_TOKEN "/latest/api/token"
#define TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
#define TOKEN_HEADER "X-aws-ec2-metadata-token"
#define MAX_TTL 21600

struct token {
	char value[SERVE_TOKEN_LEN + 1];
	time_t expiry;
};

struct serve {
	struct MHD_Daemon *mhd;
	struct serve_config cfg;
	char role_name[256];
	char ecs_token[SERVE_ECS_TOKEN_MAX + 1];
	pthread_mutex_t lock;		/* guards everything below */
	struct creds creds;
	time_t expiry;			/* 0: no credentials */
	time_t updated;
	char *doc[2];			/* rendered once per refresh: ECS, IMDS */
	struct token tokens[SERVE_MAX_TOKENS];
};

/* A response body that is wiped when libmicrohttpd is done with it. */
struct body {
	size_t len;
	char data[];
};

static void
wipe_body(void *cls)
{
	struct body *b = cls;

	OPENSSL_cleanse(b->data, b->len);
	free(b);
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *text,
    const char *ttl)
{
	size_t n = strlen(text);
	struct MHD_Response *r;
	struct body *b;
	enum MHD_Result ret;

	if ((b = malloc(sizeof(*b) + n + 1)) == NULL)
		return MHD_NO;
	b->len = n;
	memcpy(b->data, text, n + 1);
	r = MHD_create_response_from_buffer_with_free_callback_cls(n, b->data,
	    wipe_body, b);
	if (r == NULL) {
		wipe_body(b);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/plain; charset=utf-8");
	if (ttl != NULL)
		(void)MHD_add_response_header(r, TTL_HEADER, ttl);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* 100 characters of base64 from 128 random bytes, as the Go helper. */
static int
new_token(char out[SERVE_TOKEN_LEN + 1])
{
	unsigned char raw[128], b64[4 * (128 + 2) / 3 + 1];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ERR_INTERNAL;
	EVP_EncodeBlock(b64, raw, sizeof(raw));
	memcpy(out, b64, SERVE_TOKEN_LEN);
	out[SERVE_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return ERR_OK;
}

/* A full table drops the token closest to expiring; never logged. */
static void
store_token(struct serve *s, const char *value, time_t expiry)
{
	struct token *slot = &s->tokens[0];
	time_t now = time(NULL);

	for (size_t i = 0; i < SERVE_MAX_TOKENS; i++) {
		struct token *t = &s->tokens[i];

		if (t->expiry <= now) {
			slot = t;
			break;
		}
		if (t->expiry < slot->expiry)
			slot = t;
	}
	memcpy(slot->value, value, sizeof(slot->value));
	slot->expiry = expiry;
}

/* Constant time over the whole table: no early exit on a match. */
static time_t
token_expiry(struct serve *s, const char *value)
{
	char padded[SERVE_TOKEN_LEN + 1] = { 0 };
	time_t now = time(NULL), found = 0;
	size_t n = strlen(value);

	if (n != SERVE_TOKEN_LEN)
		return 0;
	memcpy(padded, value, n);
	/*
	 * Every live slot is compared in full, whatever matches: the time
	 * tells how many tokens exist, never which bytes of one were right.
	 */
	for (size_t i = 0; i < SERVE_MAX_TOKENS; i++) {
		struct token *t = &s->tokens[i];

		if (t->expiry == 0)
			continue;	/* never used */
		if (CRYPTO_memcmp(t->value, padded, SERVE_TOKEN_LEN) == 0 &&
		    t->expiry > now)
			found = t->expiry;
	}
	return found;
}

static enum MHD_Result
put_token(struct serve *s, struct MHD_Connection *c)
{
	const char *ttl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    TTL_HEADER);
	char token[SERVE_TOKEN_LEN + 1], *end;
	enum MHD_Result ret;
	long secs;

	/* IMDSv2's defence against forwarded requests (spec §7.3). */
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Forwarded-For") != NULL)
		return answer(c, 400, "unable to process requests with "
		    "X-Forwarded-For header", NULL);
	if (ttl == NULL)
		ttl = "21600";
	secs = strtol(ttl, &end, 10);
	if (*ttl == '\0' || *end != '\0' || secs < 1 || secs > MAX_TTL)
		return answer(c, 400, "invalid token TTL", NULL);
	if (new_token(token) != ERR_OK)
		return answer(c, 500, "cannot make a token", NULL);
	pthread_mutex_lock(&s->lock);
	store_token(s, token, time(NULL) + secs);
	pthread_mutex_unlock(&s->lock);
	ret = answer(c, 200, token, ttl);
	OPENSSL_cleanse(token, sizeof(token));
	return ret;
}

/* The credentials as IMDS (imds != 0) or the ECS endpoint words them. */
static char *
creds_document(struct serve *s, int imds)
{
	char exp[32], upd[32];
	struct tm tm;
	json_t *o;
	char *out = NULL;

	gmtime_r(&s->expiry, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&s->updated, &tm);
	strftime(upd, sizeof(upd), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((o = json_object()) == NULL)
		return NULL;
	/* Field order as the Go helper's IMDS document (spec §7.6). */
	json_object_set_new(o, "AccessKeyId",
	    json_string(s->creds.access_key_id));
	json_object_set_new(o, "SecretAccessKey",
	    json_string(s->creds.secret_access_key));
	json_object_set_new(o, "Token", json_string(s->creds.session_token));
	if (imds) {
		json_object_set_new(o, "Code", json_string("Success"));
		json_object_set_new(o, "Type", json_string("AWS-HMAC"));
	}
	json_object_set_new(o, "Expiration", json_string(exp));
	if (imds)
		json_object_set_new(o, "LastUpdated", json_string(upd));
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	/* The document's strings are copies of secrets. */
	OPENSSL_cleanse((char *)json_string_value(json_object_get(o,
	    "SecretAccessKey")), strlen(s->creds.secret_access_key));
	OPENSSL_cleanse((char *)json_string_value(json_object_get(o, "Token")),
	    strlen(s->creds.session_token));
	json_decref(o);
	return out;
}

static enum MHD_Result
get_creds(struct serve *s, struct MHD_Connection *c, int imds,
    const char *ttl)
{
	enum MHD_Result ret;
	char *line = NULL;

	/* Rendered at refresh time: a GET only copies (under the lock). */
	for (int tries = 0; tries < 2 && line == NULL; tries++) {
		/* None valid (a resume, say): the refresh is waited for once. */
		if (tries == 1 && s->cfg.wait_fresh != NULL)
			s->cfg.wait_fresh(s->cfg.wait_fresh_cls);
		else if (tries == 1)
			break;
		pthread_mutex_lock(&s->lock);
		if (s->expiry > time(NULL) && s->doc[imds] != NULL &&
		    asprintf(&line, "%s\n", s->doc[imds]) < 0)
			line = NULL;
		pthread_mutex_unlock(&s->lock);
	}
	/* Never empty credentials with a 200 (spec §14.2 #13). */
	if (line == NULL)
		return answer(c, 503, "no valid credentials: the last refresh "
		    "failed; see rasign serve's log", ttl);
	ret = answer(c, 200, line, ttl);
	creds_free_string(line);
	return ret;
}

/* IMDS GETs need a live token; the TTL header gives its time left. */
static enum MHD_Result
imds_get(struct serve *s, struct MHD_Connection *c, const char *rest)
{
	const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    TOKEN_HEADER);
	char ttl[32];
	size_t n = strlen(s->role_name);
	time_t exp;

	if (tok == NULL)
		return answer(c, 401, "no token provided", NULL);
	pthread_mutex_lock(&s->lock);
	exp = token_expiry(s, tok);
	pthread_mutex_unlock(&s->lock);
	if (exp == 0)
		return answer(c, 401, "invalid token provided", NULL);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)(exp - time(NULL)));
	if (*rest == '\0' || strcmp(rest, "/") == 0)
		return answer(c, 200, s->role_name, ttl);
	/* Only our role, with or without one trailing slash (§14.2 #13). */
	if (rest[0] == '/' && strncmp(rest + 1, s->role_name, n) == 0 &&
	    (rest[1 + n] == '\0' || strcmp(rest + 1 + n, "/") == 0))
		return get_creds(s, c, 1, ttl);
	return answer(c, 404, "404 page not found\n", NULL);
}

static enum MHD_Result
ecs_get(struct serve *s, struct MHD_Connection *c)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Authorization");

	if (auth == NULL || strlen(auth) != strlen(s->ecs_token) ||
	    CRYPTO_memcmp(auth, s->ecs_token, strlen(s->ecs_token)) != 0)
		return answer(c, 401, "invalid or missing Authorization token",
		    NULL);
	return get_creds(s, c, 0, NULL);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_len, void **req_cls)
{
	struct serve *s = cls;
	size_t n = strlen(IMDS_CREDS);

	(void)version;
	(void)data;
	/* The first call only announces the request; bodies are ignored. */
	if (*req_cls == NULL) {
		*req_cls = s;
		return MHD_YES;
	}
	if (*data_len != 0) {
		*data_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, IMDS_TOKEN) == 0)
		return strcmp(method, "PUT") == 0 ? put_token(s, c) :
		    answer(c, 405, "", NULL);
	if (strncmp(url, IMDS_CREDS, n) == 0 &&
	    (url[n] == '\0' || url[n] == '/'))
		return strcmp(method, "GET") == 0 ? imds_get(s, c, url + n) :
		    answer(c, 405, "", NULL);
	if (strcmp(url, SERVE_ECS_PATH) == 0 && s->ecs_token[0] != '\0')
		return strcmp(method, "GET") == 0 ? ecs_get(s, c) :
		    answer(c, 405, "", NULL);
	return answer(c, 404, "404 page not found\n", NULL);
}

/* --hop-limit on every connection; a failure drops that one only. */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct serve *s = cls;
	const union MHD_ConnectionInfo *ci;
	int ttl = s->cfg.hop_limit;

	(void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_STARTED ||
	    (ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
		return;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int v6;

	/* IP_TTL also "works" on an IPv6 socket: ask for the right one. */
	v6 = getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_INET6;
	if ((v6 ? setsockopt(ci->connect_fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS,
	    &ttl, sizeof(ttl)) : setsockopt(ci->connect_fd, IPPROTO_IP, IP_TTL,
	    &ttl, sizeof(ttl))) != 0)
		log_debug("cannot set the hop limit %d on a connection", ttl);
}

int
serve_start(const struct serve_config *cfg, struct serve **out)
{
	struct sockaddr_in6 a6 = { 0 };
	struct sockaddr_in a4 = { 0 };
	struct sockaddr *sa;
	struct serve *s;
	const char *bind = cfg->bind ? cfg->bind : "127.0.0.1";

	*out = NULL;
	if (cfg->hop_limit < 1 || cfg->hop_limit > 255)
		return err_set(ERR_USAGE, "--hop-limit must be between 1 and "
		    "255");
	if (inet_pton(AF_INET, bind, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons(cfg->port);
		sa = (struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, bind, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons(cfg->port);
		sa = (struct sockaddr *)&a6;
	} else {
		return err_set(ERR_USAGE, "--bind \"%s\" is not an IPv4 or IPv6 "
		    "address", bind);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->role_name, sizeof(s->role_name), "%s", cfg->role_name);
	if (cfg->ecs_token != NULL)
		snprintf(s->ecs_token, sizeof(s->ecs_token), "%s",
		    cfg->ecs_token);
	/* epoll with a small thread pool: requests are short and never block. */
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
	    (sa->sa_family == AF_INET6 ? MHD_USE_IPv6 : 0), cfg->port, NULL,
	    NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_THREAD_POOL_SIZE, 2u,
	    MHD_OPTION_CONNECTION_LIMIT, 1024u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
	if (s->mhd == NULL) {
		serve_stop(s);
		return err_set(ERR_USAGE, "cannot listen on %s port %u: in use, "
		    "or not an address of this machine", bind, cfg->port);
	}
	*out = s;
	return ERR_OK;
}

uint16_t
serve_port(const struct serve *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->mhd,
	    MHD_DAEMON_INFO_BIND_PORT);

	return i != NULL ? i->port : 0;
}

void
serve_set_creds(struct serve *s, struct creds *c, time_t expiry)
{
	pthread_mutex_lock(&s->lock);
	creds_free(&s->creds);
	s->creds = *c;
	s->expiry = expiry;
	s->updated = time(NULL);
	for (int imds = 0; imds < 2; imds++) {
		creds_free_string(s->doc[imds]);
		s->doc[imds] = creds_document(s, imds);
	}
	pthread_mutex_unlock(&s->lock);
	memset(c, 0, sizeof(*c));
}

time_t
serve_expiry(struct serve *s)
{
	time_t e;

	pthread_mutex_lock(&s->lock);
	e = s->expiry;
	pthread_mutex_unlock(&s->lock);
	return e;
}

void
serve_stop(struct serve *s)
{
	if (s == NULL)
		return;
	if (s->mhd != NULL)
		MHD_stop_daemon(s->mhd);
	creds_free(&s->creds);
	creds_free_string(s->doc[0]);
	creds_free_string(s->doc[1]);
	OPENSSL_cleanse(s->tokens, sizeof(s->tokens));
	OPENSSL_cleanse(s->ecs_token, sizeof(s->ecs_token));
	pthread_mutex_destroy(&s->lock);
	free(s);
}
