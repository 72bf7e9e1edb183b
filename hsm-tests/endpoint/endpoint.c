/*
 * ra-endpoint - a local TEST stand-in for the IAM Roles Anywhere
 * CreateSession API (POST /sessions), used by rasign's tests and demo.
 *
 * It is NOT a security boundary and must never face a network: it binds
 * 127.0.0.1 only and issues random credentials that open nothing.  What
 * it does do is check each request the way AWS would (see verify.c), so a
 * client that passes here signs correctly, and it lets tests inject faults
 * (--faults) and inspect exactly what arrived (--record).
 *
 * It shares no code with rasign's src/ or providers/ on purpose: the
 * canonical request is rebuilt from the bytes on the wire.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "endpoint.h"

#define PEM_FILE_MAX	(1024u * 1024u)

struct app {
	struct ep_config cfg;
	struct ep_hooks	 hooks;
};

/* Per-request state, created by the URI callback, freed on completion. */
struct reqctx {
	char		*path;		/* raw, as received */
	char		*query;		/* raw, "" if none */
	bool		 uri_too_long;
	bool		 started;
	struct ep_fault	 fault;
	struct ep_sb	 body;		/* capped at EP_BODY_MAX */
};

/* ------------------------------------------------------------- answering */

static void
set_error(struct ep_outcome *o, int status, const char *type, const char *msg)
{
	o->status = status;
	o->type = type;
	snprintf(o->message, sizeof(o->message), "%s", msg);
	free(o->body);
	o->body = ep_error_body(msg);
}

/* Faults that replace the answer; false for ok, delay and drop. */
static bool
fault_answer(struct app *app, const struct ep_fault *f, time_t now,
    struct ep_outcome *o)
{
	json_t *j;

	switch (f->kind) {
	case EP_FAULT_STATUS:
		if (f->arg == 429)
			set_error(o, 429, "ThrottlingException", "Rate exceeded");
		else if (f->arg >= 500)
			set_error(o, (int)f->arg, "InternalServerException",
			    "Internal failure");
		else if (f->arg == 403)
			set_error(o, 403, "AccessDeniedException",
			    "Access denied by fault injection");
		else if (f->arg == 400)
			set_error(o, 400, "ValidationException",
			    "Validation failed by fault injection");
		else
			set_error(o, (int)f->arg, "UnknownError",
			    "Status set by fault injection");
		return true;
	case EP_FAULT_MALFORMED:
		o->status = 200;
		o->body = strdup("{\"credentialSet\":[{\"credentials\":"
		    "{\"accessKeyId\":");
		return true;
	case EP_FAULT_EMPTY_SET:
		o->status = 201;
		o->body = strdup("{\"credentialSet\":[],\"subjectArn\":\"x\"}");
		return true;
	case EP_FAULT_MISSING_FIELD:
		o->status = 201;
		o->body = ep_missing_field_body(&app->cfg, now, o->akid);
		return true;
	case EP_FAULT_HOSTILE:
		/*
		 * A 403 whose __type and message try to drive the terminal:
		 * ESC sequences (colour, title, clear screen), BEL, CR, DEL,
		 * a C1 CSI (U+009B) and a bidi override, beside UTF-8 text
		 * ("café", "日本") that must come through intact.
		 */
		o->status = 403;
		j = json_pack("{s:s,s:s}",
		    "__type", "com.amazon#Access\x1b[31mDenied\x07",
		    "message", "caf\xc3\xa9 \x1b]0;pwned\x07 \x1b[2J\rfake "
		    "line\x7f \xc2\x9b" "6n \xe2\x80\xae" "evil \xe6\x97\xa5\xe6"
		    "\x9c\xac \x1b[0m\x08\x0b\x0c end");
		o->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		return true;
	default:
		return false;
	}
}

static void
handle_normally(struct app *app, const struct reqctx *rc,
    const struct ep_request *rq, time_t now, struct ep_verdict *v,
    struct ep_outcome *o)
{
	char msg[EP_MSG_MAX];

	if (rc->uri_too_long) {
		set_error(o, 414, "ValidationException",
		    "Request URI is too long");
	} else if (strcmp(rq->method, "POST") != 0 ||
	    strcmp(rq->path, "/sessions") != 0) {
		snprintf(msg, sizeof(msg), "No operation for %.16s %.64s",
		    rq->method, rq->path);
		set_error(o, 404, "UnknownOperationException", msg);
	} else if (rc->body.err) {
		snprintf(msg, sizeof(msg), "Request body is larger than %u "
		    "bytes", EP_BODY_MAX);
		set_error(o, 413, "RequestEntityTooLargeException", msg);
	} else if (ep_verify(&app->cfg, rq, now, v) != 0) {
		o->canonical = v->canonical;
		set_error(o, v->status, v->type, v->message);
	} else {
		o->canonical = v->canonical;
		o->status = 201;
		/* Less than was asked (or a skewed clock): fault "grant N". */
		if (rc->fault.kind == EP_FAULT_GRANT)
			v->duration = rc->fault.arg;
		o->body = ep_credentials_body(&app->cfg, v, now, o->akid);
		if (o->body == NULL)
			set_error(o, 500, "InternalServerException",
			    "Internal failure");
	}
}

static enum MHD_Result
send_answer(struct MHD_Connection *conn, const struct ep_outcome *o)
{
	static const char fallback[] = "{\"message\":\"Internal failure\"}";
	struct MHD_Response	*resp;
	const char		*body = o->body ? o->body : fallback;
	char			 rid[37];
	enum MHD_Result		 ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (o->type != NULL)
		MHD_add_response_header(resp, "X-Amzn-ErrorType", o->type);
	if (ep_random_uuid(rid) == 0)
		MHD_add_response_header(resp, "x-amzn-RequestId", rid);
	ret = MHD_queue_response(conn, (unsigned int)o->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ------------------------------------------------------------- requests */

struct hdrlist {
	struct ep_header	*v;
	size_t			 n;
	bool			 overflow;
};

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct hdrlist	*hl = cls;
	struct ep_header *h;
	char		*p;

	(void)kind;
	if (hl->n == EP_HEADERS_MAX) {
		hl->overflow = true;
		return MHD_NO;
	}
	h = &hl->v[hl->n];
	if ((h->name = strdup(key)) == NULL ||
	    (h->value = strdup(value ? value : "")) == NULL) {
		free(h->name);
		hl->overflow = true;
		return MHD_NO;
	}
	for (p = h->name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	hl->n++;
	return MHD_YES;
}

static void
hdrlist_free(struct hdrlist *hl)
{
	size_t i;

	for (i = 0; hl->v != NULL && i < hl->n; i++) {
		free(hl->v[i].name);
		free(hl->v[i].value);
	}
	free(hl->v);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The whole request has arrived: apply the fault, answer, record. */
static enum MHD_Result
finish(struct app *app, struct MHD_Connection *conn, const char *method,
    struct reqctx *rc)
{
	struct hdrlist		 hl = { NULL, 0, false };
	struct ep_request	 rq;
	struct ep_verdict	 v;
	struct ep_outcome	 o;
	enum MHD_Result		 ret = MHD_NO;
	time_t			 now;

	memset(&v, 0, sizeof(v));
	memset(&o, 0, sizeof(o));
	if ((hl.v = calloc(EP_HEADERS_MAX, sizeof(*hl.v))) == NULL)
		goto out;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
	rq = (struct ep_request){ method, rc->path, rc->query, hl.v, hl.n,
	    (const unsigned char *)(rc->body.p ? rc->body.p : ""),
	    rc->body.len };
	if (rc->fault.kind == EP_FAULT_DROP) {
		ep_record(&app->hooks, &rq, &rc->fault, &o);
		goto out;	/* MHD_NO: close without an answer */
	}
	if (rc->fault.kind == EP_FAULT_DELAY)
		sleep_ms(rc->fault.arg);
	now = time(NULL);
	if (hl.overflow)
		set_error(&o, 431, "ValidationException", "Too many headers");
	else if (!fault_answer(app, &rc->fault, now, &o))
		handle_normally(app, rc, &rq, now, &v, &o);
	ret = send_answer(conn, &o);
	ep_record(&app->hooks, &rq, &rc->fault, &o);
out:
	free(o.body);
	ep_verdict_free(&v);
	hdrlist_free(&hl);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct app	*app = cls;
	struct reqctx	*rc = *req_cls;

	(void)url;	/* already unescaped by MHD; we use the raw one */
	(void)version;
	if (rc == NULL)
		return MHD_NO;
	if (!rc->started) {	/* headers are in; the body may follow */
		rc->started = true;
		ep_fault_take(&app->hooks, &rc->fault);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		/* Past EP_BODY_MAX ep_sb_add() keeps nothing more and sets
		 * err; the request is then answered 413 once fully read. */
		ep_sb_add(&rc->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return finish(app, conn, method, rc);
}

/* Called with the request target before MHD unescapes it. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct reqctx	*rc;
	const char	*q;
	size_t		 plen;

	(void)cls;
	(void)conn;
	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	ep_sb_init(&rc->body, EP_BODY_MAX);
	rc->uri_too_long = strlen(uri) > EP_URI_MAX;
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	if (rc->uri_too_long)
		plen = 0, q = NULL;
	rc->path = strndup(uri, plen);
	rc->query = strdup(q ? q + 1 : "");
	if (rc->path == NULL || rc->query == NULL) {
		free(rc->path);
		free(rc->query);
		free(rc);
		return NULL;
	}
	return rc;
}

static void
on_done(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct reqctx *rc = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rc == NULL)
		return;
	ep_sb_free(&rc->body);
	free(rc->path);
	free(rc->query);
	free(rc);
	*req_cls = NULL;
}

/* ------------------------------------------------------------------ main */

struct opts {
	const char	*tls_cert, *tls_key, *port_file, *pid_file;
	const char	**anchors;
	size_t		 nanchors;
	long		 port;
	bool		 self_test;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ra-endpoint --tls-cert FILE --tls-key FILE "
	    "--trust-anchor FILE [--trust-anchor FILE ...]\n"
	    "                   --region REGION --trust-anchor-arn ARN "
	    "--profile-arn ARN --role-arn ARN [--role-arn ARN ...]\n"
	    "                   [--port N] [--port-file FILE] "
	    "[--pid-file FILE] [--record FILE] [--faults FILE]\n"
	    "                   [--max-skew SECONDS] [--max-duration N]\n"
	    "       ra-endpoint --self-test VECTOR.json ...\n");
}

static int
parse_opt(int c, const char *arg, struct opts *o, struct app *app)
{
	struct ep_config *cfg = &app->cfg;

	switch (c) {
	case 'c': o->tls_cert = arg; return 0;
	case 'k': o->tls_key = arg; return 0;
	case 'a': o->anchors[o->nanchors++] = arg; return 0;
	case 'r': cfg->region = arg; return 0;
	case 't': cfg->trust_anchor_arn = arg; return 0;
	case 'P': cfg->profile_arn = arg; return 0;
	case 'R': cfg->role_arns[cfg->nroles++] = arg; return 0;
	case 'f': o->port_file = arg; return 0;
	case 'i': o->pid_file = arg; return 0;
	case 'o': app->hooks.record_path = arg; return 0;
	case 'F': app->hooks.faults_path = arg; return 0;
	case 'S': o->self_test = true; return 0;
	case 'p': return ep_parse_long(arg, 0, 65535, &o->port) ? 0 : -1;
	case 's': return ep_parse_long(arg, 1, 86400 * 365, &cfg->max_skew) ?
	    0 : -1;
	case 'd': return ep_parse_long(arg, 900, 43200, &cfg->max_duration) ?
	    0 : -1;
	default: return -1;
	}
}

static int
parse_args(int argc, char **argv, struct opts *o, struct app *app)
{
	static const struct option lo[] = {
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "trust-anchor", required_argument, NULL, 'a' },
		{ "region", required_argument, NULL, 'r' },
		{ "trust-anchor-arn", required_argument, NULL, 't' },
		{ "profile-arn", required_argument, NULL, 'P' },
		{ "role-arn", required_argument, NULL, 'R' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "pid-file", required_argument, NULL, 'i' },
		{ "record", required_argument, NULL, 'o' },
		{ "faults", required_argument, NULL, 'F' },
		{ "max-skew", required_argument, NULL, 's' },
		{ "max-duration", required_argument, NULL, 'd' },
		{ "self-test", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, li = 0;

	/* argc bounds how often a repeatable option can occur. */
	o->anchors = calloc((size_t)argc, sizeof(*o->anchors));
	app->cfg.role_arns = calloc((size_t)argc, sizeof(char *));
	if (o->anchors == NULL || app->cfg.role_arns == NULL)
		return -1;
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		if (parse_opt(c, optarg, o, app) != 0) {
			if (c != '?' && c != 'h')
				fprintf(stderr, "ra-endpoint: bad value for "
				    "--%s: %s\n", lo[li].name, optarg);
			return -1;
		}
	}
	if (o->self_test)
		return 0;
	if (optind != argc || !o->tls_cert || !o->tls_key || !o->nanchors ||
	    !app->cfg.region || !app->cfg.trust_anchor_arn ||
	    !app->cfg.profile_arn || !app->cfg.nroles) {
		fprintf(stderr, "ra-endpoint: missing or extra arguments\n");
		return -1;
	}
	return 0;
}

static int
load_config(const struct opts *o, struct app *app)
{
	char		 part[32], acct[16], *pem = NULL;
	const char	*name;
	size_t		 i, len;
	int		 n;

	for (i = 0; i < app->cfg.nroles; i++) {
		if (ep_role_arn_split(app->cfg.role_arns[i], part, acct,
		    &name) != 0) {
			fprintf(stderr, "ra-endpoint: not a role ARN: %s\n",
			    app->cfg.role_arns[i]);
			return -1;
		}
	}
	if ((app->cfg.store = X509_STORE_new()) == NULL)
		return -1;
	for (i = 0; i < o->nanchors; i++) {
		n = -1;
		if (ep_read_file(o->anchors[i], PEM_FILE_MAX, &pem, &len) == 0)
			n = ep_store_add_pem(app->cfg.store, pem, len);
		free(pem);
		pem = NULL;
		if (n <= 0) {
			fprintf(stderr, "ra-endpoint: %s: no PEM certificate "
			    "read\n", o->anchors[i]);
			return -1;
		}
	}
	return 0;
}

static struct MHD_Daemon *
start_daemon(struct app *app, const struct opts *o, const char *cert,
    const char *key)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A thread per connection, so a "delay" fault blocks nobody else. */
	return MHD_start_daemon(MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
	    (uint16_t)o->port, NULL, NULL, on_request, app,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_HTTPS_MEM_CERT, cert,
	    MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
	    /* Certificates travel in headers: room for a long chain. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    MHD_OPTION_END);
}

static int
announce(const struct opts *o, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo	*info;
	char				 buf[32];
	int				 n;

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (o->pid_file && ep_write_atomic(o->pid_file, buf, (size_t)n) != 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%u\n", (unsigned int)info->port);
	if (o->port_file && ep_write_atomic(o->port_file, buf, (size_t)n) != 0)
		return -1;
	fprintf(stderr, "ra-endpoint: listening on https://127.0.0.1:%u\n",
	    (unsigned int)info->port);
	return 0;
}

/* Serve until SIGTERM or SIGINT. */
static int
serve(struct app *app, const struct opts *o)
{
	struct MHD_Daemon	*d = NULL;
	char			*cert = NULL, *key = NULL;
	size_t			 clen = 0, klen = 0;
	sigset_t		 set;
	int			 sig, ret = 1;

	if (ep_read_file(o->tls_cert, PEM_FILE_MAX, &cert, &clen) != 0 ||
	    ep_read_file(o->tls_key, PEM_FILE_MAX, &key, &klen) != 0) {
		fprintf(stderr, "ra-endpoint: cannot read --tls-cert or "
		    "--tls-key\n");
		goto out;
	}
	/* Blocked before MHD starts, so its threads inherit the mask and
	 * only sigwait() below sees the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d = start_daemon(app, o, cert, key)) == NULL) {
		fprintf(stderr, "ra-endpoint: cannot start the HTTPS server on "
		    "127.0.0.1:%ld\n", o->port);
		goto out;
	}
	if (announce(o, d) != 0) {
		fprintf(stderr, "ra-endpoint: cannot write port or pid file\n");
		goto out;
	}
	while (sigwait(&set, &sig) != 0)
		;
	ret = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (key != NULL)
		OPENSSL_cleanse(key, klen);
	free(key);
	free(cert);
	return ret;
}

int
main(int argc, char **argv)
{
	struct app	app;
	struct opts	o;
	int		ret = 2;

	memset(&app, 0, sizeof(app));
	memset(&o, 0, sizeof(o));
	app.cfg.max_skew = 300;
	app.cfg.max_duration = 43200;
	pthread_mutex_init(&app.hooks.lock, NULL);
	if (parse_args(argc, argv, &o, &app) != 0) {
		usage();
		goto out;
	}
	if (o.self_test) {
		ret = ep_self_test(argc - optind, argv + optind);
		goto out;
	}
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		fprintf(stderr, "ra-endpoint: libmicrohttpd lacks TLS\n");
		goto out;
	}
	if (load_config(&o, &app) != 0)
		goto out;
	ret = serve(&app, &o);
out:
	X509_STORE_free(app.cfg.store);
	free(app.cfg.role_arns);
	free(o.anchors);
	pthread_mutex_destroy(&app.hooks.lock);
	return ret;
}
