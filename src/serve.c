/*
 * Hostile clients (issue 10). serve shares 127.0.0.1 with whatever runs on
 * the machine, so a per-IP limit cannot tell an attacker from an SDK, and
 * libmicrohttpd 0.9.75's MHD_OPTION_CONNECTION_TIMEOUT counts idle time
 * only: a client that sends one byte every few seconds, or enough clients
 * that send nothing, used to hold every slot while new ones queued in the
 * kernel's backlog. What holds now:
 *
 *  - A connection has SERVE_REQUEST_DEADLINE seconds from accept to a
 *    complete request (headers and body); a reaper thread shuts it down
 *    after that, whatever it trickles. Clients of this endpoint send their
 *    whole request at once.
 *  - Connections that have not yet been answered ("pending") form one list
 *    in accept order. When a new one would exceed max_pending, the oldest
 *    is shut down: an attacker's flood evicts the attacker's own stale
 *    connections, never a fresh client whose request is already on the
 *    wire (libmicrohttpd reads a new socket in the loop that accepts it).
 *  - Every answer carries "Connection: close": an answered client holds no
 *    slot. SDKs open one connection per IMDS call anyway.
 *  - libmicrohttpd must keep accepting under a flood, else a client's SYN
 *    waits in the kernel's backlog or is dropped there (a 1 s retry). Its
 *    connection limit (when reached, 0.9.75 stops polling the listening
 *    socket) is kept above max_pending, so that it never gets there:
 *    eviction makes room as fast as connections arrive. Both fit in
 *    RLIMIT_NOFILE, whose soft limit serve_start raises toward the hard one
 *    (nothing in this process uses select(), so descriptors above 1024 are
 *    safe). MAX_CONNECTIONS bounds the memory a flood costs (about 10 kB a
 *    connection); more would not serve a valid client faster: with 1024
 *    descriptors, 11,100 reconnecting attackers still left PUT-then-GET
 *    under 20 ms.
 *
 * Eviction is shutdown(2) on the connection's socket, under conn_lock:
 * libmicrohttpd's epoll loop then sees the hang-up and closes it itself
 * (0.9.75 has no call to close a connection from outside its callbacks).
 * The socket cannot have been closed under us: a connection leaves our
 * list in MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd calls before
 * it closes the socket, and which takes conn_lock.
 *
 * IMDSv2 tokens are stateless, so that no flood of PUTs can evict a
 * client's token: 8 bytes of expiry, 35 random bytes and an HMAC-SHA256 of
 * both under a key drawn at start, 75 bytes in 100 base64 characters (the
 * Go helper's length and alphabet). Checking re-encodes the expected token
 * and compares all 100 characters in constant time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "err.h"
#include "log.h"
#include "serve.h"

#define IMDS_CREDS "/latest/meta-data/iam/security-credentials"
#define IMDS_TOKEN "/latest/api/token"

/* The token: expiry (big-endian) || nonce || HMAC-SHA256 of the two. */
#define TOKEN_EXPIRY 8
#define TOKEN_NONCE 35
#define TOKEN_MAC 32
#define TOKEN_RAW (TOKEN_EXPIRY + TOKEN_NONCE + TOKEN_MAC)
#if TOKEN_RAW * 4 / 3 != SERVE_TOKEN_LEN || TOKEN_RAW % 3 != 0
#error "the token's bytes must fill its base64 characters exactly"
#endif

/*
 * Connections: at most MAX_CONNECTIONS, fewer if the descriptors do not
 * allow it (FD_RESERVE stay for the credential source: token, TPM, HTTPS).
 */
#define MAX_CONNECTIONS 4096
#define MIN_CONNECTIONS 64
#define FD_RESERVE 64
/* A connection's memory pool; requests here are well under 2 KB. */
#define CONN_MEMORY (8 * 1024)

/* One accepted connection (its socket context) until it is answered. */
struct conn {
	struct conn *prev, *next;	/* the pending list, oldest first */
	int fd;
	bool pending;			/* in the list */
	struct timespec deadline;	/* CLOCK_MONOTONIC */
};

struct serve {
	struct MHD_Daemon *mhd;
	struct serve_config cfg;
	char role_name[256];
	char ecs_token[SERVE_ECS_TOKEN_MAX + 1];
	unsigned char key[32];		/* the tokens' HMAC key */
	EVP_MAC *hmac;
	pthread_mutex_t lock;		/* guards the credentials below */
	struct creds creds;
	time_t expiry;			/* 0: no credentials */
	time_t updated;
	char *doc[2];			/* rendered once per refresh: ECS, IMDS */

	pthread_mutex_t conn_lock;	/* guards the connections below */
	pthread_cond_t conn_cond;	/* wakes the reaper */
	struct conn *head, *tail;
	size_t npending, max_pending;
	bool reaper_running, stopping;
	pthread_t reaper;
	uint16_t port;			/* listened on */
	char host[INET6_ADDRSTRLEN];
};

/* ------------------------------------------------------------ answers */

/* A reply body that is wiped when it is freed. */
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

static int
reply(struct serve_reply *r, unsigned status, const char *text,
    const char *ttl)
{
	size_t n = strlen(text);
	struct body *b;

	if ((b = malloc(sizeof(*b) + n + 1)) == NULL)
		return ERR_NOMEM;
	b->len = n;
	memcpy(b->data, text, n + 1);
	r->status = status;
	r->body = b->data;
	r->len = n;
	snprintf(r->ttl, sizeof(r->ttl), "%s", ttl != NULL ? ttl : "");
	return ERR_OK;
}

void
serve_reply_free(struct serve_reply *r)
{
	if (r->body != NULL)
		wipe_body((char *)r->body - offsetof(struct body, data));
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ tokens */

static int
token_mac(struct serve *s, const unsigned char *msg, size_t n,
    unsigned char mac[TOKEN_MAC])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    "SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int ret = ERR_INTERNAL;

	/* A context per call: the handler runs on several threads. */
	if ((ctx = EVP_MAC_CTX_new(s->hmac)) == NULL)
		goto out;
	if (EVP_MAC_init(ctx, s->key, sizeof(s->key), params) != 1 ||
	    EVP_MAC_update(ctx, msg, n) != 1 ||
	    EVP_MAC_final(ctx, mac, &len, TOKEN_MAC) != 1 || len != TOKEN_MAC)
		goto out;
	ret = ERR_OK;
out:
	EVP_MAC_CTX_free(ctx);
	return ret;
}

/* raw's expiry and nonce are set; adds the MAC and encodes the token. */
static int
token_seal(struct serve *s, unsigned char raw[TOKEN_RAW],
    char out[SERVE_TOKEN_LEN + 1])
{
	unsigned char b64[SERVE_TOKEN_LEN + 1];
	int ret;

	if ((ret = token_mac(s, raw, TOKEN_EXPIRY + TOKEN_NONCE,
	    raw + TOKEN_EXPIRY + TOKEN_NONCE)) != ERR_OK)
		return ret;
	if (EVP_EncodeBlock(b64, raw, TOKEN_RAW) != SERVE_TOKEN_LEN)
		return ERR_INTERNAL;
	memcpy(out, b64, SERVE_TOKEN_LEN + 1);
	return ERR_OK;
}

static int
token_new(struct serve *s, time_t expiry, char out[SERVE_TOKEN_LEN + 1])
{
	unsigned char raw[TOKEN_RAW];
	uint64_t e = (uint64_t)expiry;

	for (int i = TOKEN_EXPIRY - 1; i >= 0; i--, e >>= 8)
		raw[i] = (unsigned char)e;
	if (RAND_bytes(raw + TOKEN_EXPIRY, TOKEN_NONCE) != 1)
		return ERR_INTERNAL;
	return token_seal(s, raw, out);
}

/* The token's expiry if it is ours and live at now, else 0. */
static time_t
token_expiry(struct serve *s, const char *tok, time_t now)
{
	unsigned char raw[TOKEN_RAW + 3];
	char want[SERVE_TOKEN_LEN + 1];
	uint64_t e = 0;

	if (strnlen(tok, SERVE_TOKEN_LEN + 1) != SERVE_TOKEN_LEN ||
	    EVP_DecodeBlock(raw, (const unsigned char *)tok,
	    SERVE_TOKEN_LEN) != TOKEN_RAW)
		return 0;
	/*
	 * The whole expected token, compared in constant time: a client
	 * learns nothing from the timing about how much of its MAC was right,
	 * and any other spelling of the same bytes is refused.
	 */
	if (token_seal(s, raw, want) != ERR_OK ||
	    CRYPTO_memcmp(want, tok, SERVE_TOKEN_LEN) != 0)
		return 0;
	for (int i = 0; i < TOKEN_EXPIRY; i++)
		e = e << 8 | raw[i];
	return e > (uint64_t)now ? (time_t)e : 0;
}

/* ------------------------------------------------------------ routes */

static const char *
header(const struct serve_request *q, const char *name)
{
	return q->header != NULL ? q->header(q->header_cls, name) : NULL;
}

static int
put_token(struct serve *s, const struct serve_request *q,
    struct serve_reply *r)
{
	const char *ttl = header(q, SERVE_TTL_HEADER);
	char token[SERVE_TOKEN_LEN + 1], *end;
	long secs;
	int ret;

	/* IMDSv2's defence against forwarded requests (spec §7.3). */
	if (header(q, "X-Forwarded-For") != NULL)
		return reply(r, 400, "unable to process requests with "
		    "X-Forwarded-For header", NULL);
	if (ttl == NULL)
		ttl = "21600";
	/*
	 * Go's strconv.Atoi: a sign and digits, no spaces. The answer echoes
	 * the TTL as sent, so one longer than its buffer (leading zeros) is
	 * refused too.
	 */
	errno = 0;
	secs = strtol(ttl, &end, 10);
	if ((*ttl != '+' && *ttl != '-' && (*ttl < '0' || *ttl > '9')) ||
	    *end != '\0' || errno != 0 || secs < 1 || secs > SERVE_MAX_TTL ||
	    strlen(ttl) >= sizeof(r->ttl))
		return reply(r, 400, "invalid token TTL", NULL);
	if (token_new(s, q->now + secs, token) != ERR_OK)
		return reply(r, 500, "cannot make a token", NULL);
	ret = reply(r, 200, token, ttl);
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
	if (s->creds.secret_access_key != NULL)
		OPENSSL_cleanse((char *)json_string_value(json_object_get(o,
		    "SecretAccessKey")), strlen(s->creds.secret_access_key));
	if (s->creds.session_token != NULL)
		OPENSSL_cleanse((char *)json_string_value(json_object_get(o,
		    "Token")), strlen(s->creds.session_token));
	json_decref(o);
	return out;
}

/* A copy of the document when the credentials are valid at now. */
static int
copy_doc(struct serve *s, int imds, time_t now, char **line)
{
	int ret = ERR_OK;

	*line = NULL;
	/* Rendered at refresh time: a GET only copies (under the lock). */
	pthread_mutex_lock(&s->lock);
	if (s->expiry > now && s->doc[imds] != NULL &&
	    asprintf(line, "%s\n", s->doc[imds]) < 0) {
		*line = NULL;
		ret = ERR_NOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int
get_creds(struct serve *s, int imds, time_t now, const char *ttl,
    struct serve_reply *r)
{
	char *line = NULL;
	int ret;

	if ((ret = copy_doc(s, imds, now, &line)) != ERR_OK)
		return ret;
	/* None valid (asleep past expiry?): let the refresher try, once. */
	if (line == NULL && s->cfg.wait_fresh != NULL) {
		s->cfg.wait_fresh(s->cfg.wait_fresh_cls);
		if ((ret = copy_doc(s, imds, now, &line)) != ERR_OK)
			return ret;
	}
	/* Never empty credentials with a 200 (spec §14.2 #13). */
	if (line == NULL)
		return reply(r, 503, "no valid credentials: the last refresh "
		    "failed; see rasign serve's log", ttl);
	ret = reply(r, 200, line, ttl);
	creds_free_string(line);
	return ret;
}

/* IMDS GETs need a live token; the TTL header gives its time left. */
static int
imds_get(struct serve *s, const struct serve_request *q, const char *rest,
    struct serve_reply *r)
{
	const char *tok = header(q, SERVE_TOKEN_HEADER);
	size_t n = strlen(s->role_name);
	char ttl[24];
	time_t exp;

	if (tok == NULL)
		return reply(r, 401, "no token provided", NULL);
	if ((exp = token_expiry(s, tok, q->now)) == 0)
		return reply(r, 401, "invalid token provided", NULL);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)(exp - q->now));
	if (*rest == '\0' || strcmp(rest, "/") == 0)
		return reply(r, 200, s->role_name, ttl);
	/* Only our role, with or without one trailing slash (§14.2 #13). */
	if (rest[0] == '/' && n > 0 && strncmp(rest + 1, s->role_name, n) == 0 &&
	    (rest[1 + n] == '\0' || strcmp(rest + 1 + n, "/") == 0))
		return get_creds(s, 1, q->now, ttl, r);
	return reply(r, 404, "404 page not found\n", NULL);
}

static int
ecs_get(struct serve *s, const struct serve_request *q,
    struct serve_reply *r)
{
	const char *auth = header(q, "Authorization");
	size_t n = strlen(s->ecs_token);

	if (auth == NULL || strnlen(auth, n + 1) != n ||
	    CRYPTO_memcmp(auth, s->ecs_token, n) != 0)
		return reply(r, 401, "invalid or missing Authorization token",
		    NULL);
	return get_creds(s, 0, q->now, NULL, r);
}

int
serve_handle(struct serve *s, const struct serve_request *q,
    struct serve_reply *r)
{
	const char *url = q->url, *method = q->method;
	size_t n = strlen(IMDS_CREDS);

	memset(r, 0, sizeof(*r));
	if (url == NULL || method == NULL)
		return reply(r, 400, "", NULL);
	/* The Go helper's mux also serves the token at its subtree root. */
	if (strcmp(url, IMDS_TOKEN) == 0 || strcmp(url, IMDS_TOKEN "/") == 0)
		return strcmp(method, "PUT") == 0 ? put_token(s, q, r) :
		    reply(r, 405, "", NULL);
	if (strncmp(url, IMDS_CREDS, n) == 0 &&
	    (url[n] == '\0' || url[n] == '/'))
		return strcmp(method, "GET") == 0 ? imds_get(s, q, url + n, r) :
		    reply(r, 405, "", NULL);
	if (strcmp(url, SERVE_ECS_PATH) == 0 && s->ecs_token[0] != '\0')
		return strcmp(method, "GET") == 0 ? ecs_get(s, q, r) :
		    reply(r, 405, "", NULL);
	return reply(r, 404, "404 page not found\n", NULL);
}

/* ------------------------------------------------------------ connections */

static void
unlink_conn(struct serve *s, struct conn *c)
{
	if (!c->pending)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	c->prev = c->next = NULL;
	c->pending = false;
	s->npending--;
}

/* Under conn_lock; libmicrohttpd closes it when it sees the hang-up. */
static void
evict(struct serve *s, struct conn *c)
{
	(void)shutdown(c->fd, SHUT_RDWR);
	unlink_conn(s, c);
}

static bool
before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/* Cuts every pending connection past its deadline. */
static void *
reaper(void *cls)
{
	struct serve *s = cls;
	struct timespec now, wake;

	pthread_mutex_lock(&s->conn_lock);
	while (!s->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		while (s->head != NULL && before(&s->head->deadline, &now))
			evict(s, s->head);
		if (s->head != NULL) {
			wake = s->head->deadline;
		} else {
			wake = now;
			wake.tv_sec += SERVE_REQUEST_DEADLINE;
		}
		(void)pthread_cond_timedwait(&s->conn_cond, &s->conn_lock,
		    &wake);
	}
	pthread_mutex_unlock(&s->conn_lock);
	return NULL;
}

/* --hop-limit on every connection; a failure drops that one only. */
static void
set_hop_limit(struct serve *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int ttl = s->cfg.hop_limit, v6;

	/* IP_TTL also "works" on an IPv6 socket: ask for the right one. */
	v6 = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_INET6;
	if ((v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl,
	    sizeof(ttl)) : setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl,
	    sizeof(ttl))) != 0)
		log_debug("cannot set the hop limit %d on a connection", ttl);
}

static void
conn_started(struct serve *s, int fd, void **socket_context)
{
	struct conn *c;

	set_hop_limit(s, fd);
	/* An untracked connection could never be evicted: refuse it. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)shutdown(fd, SHUT_RDWR);
		return;
	}
	c->fd = fd;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += SERVE_REQUEST_DEADLINE;
	pthread_mutex_lock(&s->conn_lock);
	c->pending = true;
	c->prev = s->tail;
	if (s->tail != NULL)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->npending++;
	/* Full: the oldest unanswered connection makes room. */
	while (s->npending > s->max_pending)
		evict(s, s->head);
	if (s->head == c)
		pthread_cond_signal(&s->conn_cond);
	pthread_mutex_unlock(&s->conn_lock);
	*socket_context = c;
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct serve *s = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL)
			conn_started(s, ci->connect_fd, socket_context);
		return;
	}
	/* Closed: before libmicrohttpd closes the socket (see the top). */
	if (c == NULL)
		return;
	pthread_mutex_lock(&s->conn_lock);
	unlink_conn(s, c);
	pthread_mutex_unlock(&s->conn_lock);
	free(c);
	*socket_context = NULL;
}

/* The request is complete: its connection is no longer pending. */
static void
conn_answered(struct serve *s, struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (ci == NULL || ci->socket_context == NULL)
		return;
	pthread_mutex_lock(&s->conn_lock);
	unlink_conn(s, ci->socket_context);
	pthread_mutex_unlock(&s->conn_lock);
}

static const char *
mhd_header(void *cls, const char *name)
{
	return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, name);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_len, void **req_cls)
{
	struct serve *s = cls;
	struct serve_request q = { method, url, mhd_header, mc, time(NULL) };
	struct serve_reply r;
	struct MHD_Response *resp;
	struct body *b;
	enum MHD_Result ret;

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
	conn_answered(s, mc);
	if (serve_handle(s, &q, &r) != ERR_OK)
		return MHD_NO;
	b = (struct body *)(r.body - offsetof(struct body, data));
	resp = MHD_create_response_from_buffer_with_free_callback_cls(r.len,
	    r.body, wipe_body, b);
	if (resp == NULL) {
		serve_reply_free(&r);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type",
	    "text/plain; charset=utf-8");
	if (r.ttl[0] != '\0')
		(void)MHD_add_response_header(resp, SERVE_TTL_HEADER, r.ttl);
	/* An answered client keeps no slot (see the top). */
	(void)MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(mc, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ------------------------------------------------------------ lifetime */

int
serve_new(const struct serve_config *cfg, struct serve **out)
{
	struct serve *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->conn_lock, NULL);
	s->max_pending = MAX_CONNECTIONS;
	snprintf(s->role_name, sizeof(s->role_name), "%s",
	    cfg->role_name != NULL ? cfg->role_name : "");
	if (cfg->ecs_token != NULL)
		snprintf(s->ecs_token, sizeof(s->ecs_token), "%s",
		    cfg->ecs_token);
	/* The tokens die with the process, as the Go helper's. */
	if (RAND_priv_bytes(s->key, sizeof(s->key)) != 1 ||
	    (s->hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
		serve_stop(s);
		return err_ssl(ERR_INTERNAL, "cannot set up the IMDS token key");
	}
	*out = s;
	return ERR_OK;
}

/* How many connections the descriptors allow (see the top). */
static unsigned
connection_limit(void)
{
	struct rlimit rl;
	rlim_t want = MAX_CONNECTIONS + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return MIN_CONNECTIONS;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return MAX_CONNECTIONS;
	return rl.rlim_cur > MIN_CONNECTIONS + FD_RESERVE ?
	    (unsigned)(rl.rlim_cur - FD_RESERVE) : MIN_CONNECTIONS;
}

static int
start_reaper(struct serve *s)
{
	pthread_condattr_t ca;
	int ok;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ok = pthread_cond_init(&s->conn_cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return ERR_INTERNAL;
	if (pthread_create(&s->reaper, NULL, reaper, s) != 0) {
		pthread_cond_destroy(&s->conn_cond);
		return ERR_INTERNAL;
	}
	s->reaper_running = true;
	return ERR_OK;
}

/*
 * The listening socket, made here rather than by libmicrohttpd so that a
 * failed bind says why: a port in use, an address not on this machine, a
 * port that needs privileges.
 */
static int
listen_on(const struct sockaddr *sa, socklen_t salen, const char *addr,
    unsigned port, int *fd)
{
	int s, one = 1, e;

	*fd = -1;
	if ((s = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0)
		return err_set(ERR_INTERNAL, "cannot make a socket: %s",
		    strerror(errno));
	/* As libmicrohttpd would: a restart may bind while old ones linger. */
	(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(s, sa, salen) == 0 && listen(s, SOMAXCONN) == 0) {
		*fd = s;
		return ERR_OK;
	}
	e = errno;
	close(s);
	if (e == EADDRINUSE)
		return err_set(ERR_USAGE, "port %u on %s is in use (another "
		    "rasign serve?): stop that one or choose another port "
		    "with --port", port, addr);
	if (e == EADDRNOTAVAIL)
		return err_set(ERR_USAGE, "--bind %s is not an address of this "
		    "machine", addr);
	if (e == EACCES)
		return err_set(ERR_USAGE, "port %u needs privileges: choose "
		    "one above 1023 with --port", port);
	return err_set(ERR_USAGE, "cannot listen on %s port %u: %s", addr,
	    port, strerror(e));
}

/* The address a socket listens on, and whether it is a loopback one. */
static bool
local_name(int fd, char *host, size_t hostlen, uint16_t *port, int *family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;

	snprintf(host, hostlen, "?");
	*port = 0;
	*family = AF_UNSPEC;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	*family = ss.ss_family;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &a4->sin_addr, host, hostlen);
		*port = ntohs(a4->sin_port);
		return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, host, hostlen);
		*port = ntohs(a6->sin6_port);
		return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) &&
		    a6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

/* The socket systemd passed, made ready for libmicrohttpd's epoll loop. */
static int
take_socket(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return err_set(ERR_USAGE, "cannot use the socket systemd "
		    "passed: %s", strerror(errno));
	return ERR_OK;
}

int
serve_start(const struct serve_config *cfg, struct serve **out)
{
	struct sockaddr_in6 a6 = { 0 };
	struct sockaddr_in a4 = { 0 };
	struct sockaddr *sa;
	struct serve *s;
	const char *bind = cfg->bind ? cfg->bind : "127.0.0.1";
	char host[INET6_ADDRSTRLEN];
	unsigned limit;
	uint16_t port;
	int ret, fd, family;
	bool loopback;

	*out = NULL;
	if (cfg->hop_limit < 1 || cfg->hop_limit > 255)
		return err_set(ERR_USAGE, "--hop-limit must be between 1 and "
		    "255");
	if (cfg->activated) {
		/* Socket activation: the address is the .socket unit's. */
		if ((ret = take_socket(cfg->listen_fd)) != ERR_OK)
			return ret;
		fd = cfg->listen_fd;
	} else {
		if (inet_pton(AF_INET, bind, &a4.sin_addr) == 1) {
			a4.sin_family = AF_INET;
			a4.sin_port = htons(cfg->port);
			sa = (struct sockaddr *)&a4;
		} else if (inet_pton(AF_INET6, bind, &a6.sin6_addr) == 1) {
			a6.sin6_family = AF_INET6;
			a6.sin6_port = htons(cfg->port);
			sa = (struct sockaddr *)&a6;
		} else {
			return err_set(ERR_USAGE, "--bind \"%s\" is not an IPv4 "
			    "or IPv6 address", bind);
		}
		if ((ret = listen_on(sa, sa->sa_family == AF_INET6 ?
		    sizeof(a6) : sizeof(a4), bind, cfg->port, &fd)) != ERR_OK)
			return ret;
	}
	loopback = local_name(fd, host, sizeof(host), &port, &family);
	if (!loopback)
		log_warn("serving credentials on %s: anyone who can reach this "
		    "address and port can take them", host);
	if ((ret = serve_new(cfg, &s)) != ERR_OK) {
		close(fd);
		return ret;
	}
	/*
	 * Evict at 7/8 of libmicrohttpd's limit: evicted sockets close a loop
	 * later, and each of its 2 threads takes up to 10 in one go.
	 */
	limit = connection_limit();
	s->max_pending = limit - limit / 8;
	if ((ret = start_reaper(s)) != ERR_OK) {
		close(fd);
		serve_stop(s);
		return err_set(ret, "cannot start serve's connection reaper");
	}
	/* epoll with a small thread pool: requests are short and never block. */
	s->port = port;
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
	    (family == AF_INET6 ? MHD_USE_IPv6 : 0), port, NULL,
	    NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_THREAD_POOL_SIZE, 2u,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    /* Only for answers a client will not read: requests have less. */
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
	if (s->mhd == NULL) {
		/* Not closed: whether libmicrohttpd did is not documented. */
		serve_stop(s);
		return err_set(ERR_INTERNAL, "cannot start the HTTP server on "
		    "%s port %u", host, port);
	}
	*out = s;
	return ERR_OK;
}

uint16_t
serve_port(const struct serve *s)
{
	return s->port;
}

const char *
serve_host(const struct serve *s)
{
	return s->host;
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
	/* Closes every connection: each leaves the list as it goes. */
	if (s->mhd != NULL)
		MHD_stop_daemon(s->mhd);
	if (s->reaper_running) {
		pthread_mutex_lock(&s->conn_lock);
		s->stopping = true;
		pthread_cond_signal(&s->conn_cond);
		pthread_mutex_unlock(&s->conn_lock);
		pthread_join(s->reaper, NULL);
		pthread_cond_destroy(&s->conn_cond);
	}
	creds_free(&s->creds);
	creds_free_string(s->doc[0]);
	creds_free_string(s->doc[1]);
	EVP_MAC_free(s->hmac);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	OPENSSL_cleanse(s->ecs_token, sizeof(s->ecs_token));
	pthread_mutex_destroy(&s->conn_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
