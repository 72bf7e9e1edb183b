/*
 * X.509-SVIDs from the SPIFFE Workload API: FetchX509SVID over the
 * agent's unix socket (SPIFFE Workload API and Workload Endpoint
 * standards).
 *
 * Transport: the gRPC C core (libgrpc, grpc/grpc.h), not nghttp2 with a
 * hand-made gRPC framing. Debian 12 ships it as libgrpc-dev 1.51, its C
 * API does all this needs (an insecure channel to a unix: target, a call
 * with our metadata, op batches on a completion queue), and it is the
 * implementation the SPIFFE agents themselves speak to, so HTTP/2
 * settings, flow control, trailers-only answers and status codes are not
 * ours to get right. The messages are protobuf-c, generated at build time
 * from the standard's workload.proto (proto/spiffe/workload/).
 *
 * libgrpc is loaded with dlopen when --spiffe-endpoint is used, not linked:
 * its static constructors run at load time, and linked in they would run
 * in every rasign before main() (10-20 ms, and an eventfd that becomes
 * fd 0 when rasign is started with stdin closed, before harden() can put
 * /dev/null there).
 *
 * The key arrives in memory and stays there: it is copied out of gRPC's
 * buffers into ours, every other copy we can reach (the received slices,
 * the decoded message) is wiped, and ours is wiped by spiffe_svid_free.
 * Nothing here logs a message's content.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "err.h"
#include "log.h"
#include "spiffe.h"
#include "workload.pb-c.h"

#ifndef GRPC_SONAME
#define GRPC_SONAME "libgrpc.so"
#endif

/* The functions of libgrpc (and its libgpr) used here, found by dlsym. */
#define GRPC_FUNCS(X) \
	X(gpr_free) \
	X(gpr_inf_future) \
	X(gpr_now) \
	X(gpr_set_log_function) \
	X(gpr_time_add) \
	X(gpr_time_from_millis) \
	X(grpc_byte_buffer_destroy) \
	X(grpc_byte_buffer_length) \
	X(grpc_byte_buffer_reader_destroy) \
	X(grpc_byte_buffer_reader_init) \
	X(grpc_byte_buffer_reader_next) \
	X(grpc_call_cancel) \
	X(grpc_call_start_batch) \
	X(grpc_call_unref) \
	X(grpc_channel_create) \
	X(grpc_channel_create_call) \
	X(grpc_channel_credentials_release) \
	X(grpc_channel_destroy) \
	X(grpc_completion_queue_create_for_next) \
	X(grpc_completion_queue_destroy) \
	X(grpc_completion_queue_next) \
	X(grpc_completion_queue_shutdown) \
	X(grpc_empty_slice) \
	X(grpc_init) \
	X(grpc_insecure_credentials_create) \
	X(grpc_metadata_array_destroy) \
	X(grpc_metadata_array_init) \
	X(grpc_raw_byte_buffer_create) \
	X(grpc_shutdown_blocking) \
	X(grpc_slice_from_static_string) \
	X(grpc_slice_to_c_string) \
	X(grpc_slice_unref)

static struct {
#define FIELD(f) __typeof__(&f) f;
	GRPC_FUNCS(FIELD)
#undef FIELD
} G;
static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;
static char grpc_why[256] = "not loaded";	/* "" once loaded */

static void
grpc_load_once(void)
{
	void *h;

	if ((h = dlopen(GRPC_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(grpc_why, sizeof(grpc_why), "%s", dlerror());
		return;
	}
#define LOAD(f)								\
	if ((*(void **)&G.f = dlsym(h, #f)) == NULL) {			\
		snprintf(grpc_why, sizeof(grpc_why), "%s has no %s",	\
		    GRPC_SONAME, #f);					\
		return;							\
	}
	GRPC_FUNCS(LOAD)
#undef LOAD
	/* Stays loaded: gRPC's threads may outlive a grpc_shutdown. */
	grpc_why[0] = '\0';
}

static int
grpc_load(void)
{
	pthread_once(&grpc_once, grpc_load_once);
	if (grpc_why[0] != '\0')
		return err_set(ERR_DEVICE, "--spiffe-endpoint needs the gRPC "
		    "library: %s; install it (Debian: libgrpc29)", grpc_why);
	return ERR_OK;
}

/* From here on, every gRPC call goes through the table. */
#define gpr_free G.gpr_free
#define gpr_inf_future G.gpr_inf_future
#define gpr_now G.gpr_now
#define gpr_set_log_function G.gpr_set_log_function
#define gpr_time_add G.gpr_time_add
#define gpr_time_from_millis G.gpr_time_from_millis
#define grpc_byte_buffer_destroy G.grpc_byte_buffer_destroy
#define grpc_byte_buffer_length G.grpc_byte_buffer_length
#define grpc_byte_buffer_reader_destroy G.grpc_byte_buffer_reader_destroy
#define grpc_byte_buffer_reader_init G.grpc_byte_buffer_reader_init
#define grpc_byte_buffer_reader_next G.grpc_byte_buffer_reader_next
#define grpc_call_cancel G.grpc_call_cancel
#define grpc_call_start_batch G.grpc_call_start_batch
#define grpc_call_unref G.grpc_call_unref
#define grpc_channel_create G.grpc_channel_create
#define grpc_channel_create_call G.grpc_channel_create_call
#define grpc_channel_credentials_release G.grpc_channel_credentials_release
#define grpc_channel_destroy G.grpc_channel_destroy
#define grpc_completion_queue_create_for_next G.grpc_completion_queue_create_for_next
#define grpc_completion_queue_destroy G.grpc_completion_queue_destroy
#define grpc_completion_queue_next G.grpc_completion_queue_next
#define grpc_completion_queue_shutdown G.grpc_completion_queue_shutdown
#define grpc_empty_slice G.grpc_empty_slice
#define grpc_init G.grpc_init
#define grpc_insecure_credentials_create G.grpc_insecure_credentials_create
#define grpc_metadata_array_destroy G.grpc_metadata_array_destroy
#define grpc_metadata_array_init G.grpc_metadata_array_init
#define grpc_raw_byte_buffer_create G.grpc_raw_byte_buffer_create
#define grpc_shutdown_blocking G.grpc_shutdown_blocking
#define grpc_slice_from_static_string G.grpc_slice_from_static_string
#define grpc_slice_to_c_string G.grpc_slice_to_c_string
#define grpc_slice_unref G.grpc_slice_unref

#define METHOD "/SpiffeWorkloadAPI/FetchX509SVID"
#define MAX_RESPONSE (4 << 20)	/* bytes: many SVIDs with their bundles */
#define MAX_CHAIN 16		/* certificates in one x509_svid */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*
 * The socket path of an endpoint address: unix:///path or unix:/path
 * (the standard's forms; tcp: needs an attested TCP agent, not served here).
 */
static int
socket_path(const char *endpoint, const char **addr, const char **path)
{
	const char *a = endpoint, *p;

	if (strcmp(endpoint, "env") == 0) {
		a = getenv("SPIFFE_ENDPOINT_SOCKET");
		if (a == NULL || *a == '\0')
			return err_set(ERR_USAGE, "--spiffe-endpoint env: "
			    "SPIFFE_ENDPOINT_SOCKET is not set; set it to the "
			    "agent's socket (unix:///path) or give the path "
			    "to --spiffe-endpoint");
	}
	*addr = a;
	if (strncmp(a, "unix://", 7) == 0)
		p = a + 7;
	else if (strncmp(a, "unix:", 5) == 0)
		p = a + 5;
	else if (strncmp(a, "tcp:", 4) == 0)
		return err_set(ERR_USAGE, "SPIFFE endpoint %.128s: only unix: "
		    "sockets are supported; give unix:///path/to/agent.sock",
		    a);
	else
		return err_set(ERR_USAGE, "SPIFFE endpoint %.128s is not "
		    "unix:///path/to/agent.sock", a);
	if (*p != '/' || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return err_set(ERR_USAGE, "SPIFFE endpoint %.128s: the socket "
		    "path must be absolute and shorter than %zu bytes", a,
		    sizeof(((struct sockaddr_un *)0)->sun_path));
	*path = p;
	return ERR_OK;
}

/*
 * Connects to the socket ourselves first: gRPC reports a missing agent
 * as Unavailable, the same code an agent uses for "no identity yet", and
 * the two need different advice and exit codes.
 */
static int
probe(const char *addr, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret = ERR_OK;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(ERR_INTERNAL, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		ret = err_set(ERR_DEVICE, "cannot reach the SPIFFE Workload "
		    "API at %.128s: %s; is the agent (SPIRE agent, tbot) "
		    "running and its socket path right?", addr,
		    strerror(errno));
	close(fd);
	return ret;
}

/* The message's bytes, copied out of gRPC's slices, which are wiped. */
static int
read_message(grpc_byte_buffer *bb, uint8_t **out, size_t *outlen)
{
	grpc_byte_buffer_reader r;
	size_t len = grpc_byte_buffer_length(bb), off = 0, n;
	grpc_slice s;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (len > MAX_RESPONSE)
		return err_set(ERR_DEVICE, "the SPIFFE Workload API sent %zu "
		    "bytes, more than the %d accepted", len, MAX_RESPONSE);
	if ((buf = OPENSSL_zalloc(len + 1)) == NULL)
		return ERR_NOMEM;
	if (!grpc_byte_buffer_reader_init(&r, bb)) {
		OPENSSL_free(buf);
		return err_set(ERR_DEVICE, "the SPIFFE Workload API's answer "
		    "cannot be decompressed");
	}
	while (grpc_byte_buffer_reader_next(&r, &s)) {
		n = GRPC_SLICE_LENGTH(s);
		if (n > len - off)
			n = len - off;
		memcpy(buf + off, GRPC_SLICE_START_PTR(s), n);
		off += n;
		OPENSSL_cleanse(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&r);
	*out = buf;
	*outlen = off;
	return ERR_OK;
}

/* The leaf and intermediates of x509_svid: DER certificates, leaf first. */
static int
read_chain(const X509SVID *v, struct spiffe_svid *out)
{
	const unsigned char *p = v->x509_svid.data, *end;
	X509 *x;

	/* An empty field is NULL: no arithmetic on it (the fuzzer's find). */
	if (p == NULL || v->x509_svid.len == 0)
		return err_set(ERR_CERT, "the SVID %.200s from the SPIFFE "
		    "Workload API holds no certificate", v->spiffe_id);
	end = p + v->x509_svid.len;
	while (p < end) {
		if ((x = d2i_X509(NULL, &p, end - p)) == NULL)
			return err_ssl(ERR_CERT, "the SVID %.200s from the "
			    "SPIFFE Workload API holds a certificate that "
			    "cannot be read", v->spiffe_id);
		if (out->leaf == NULL) {
			out->leaf = x;
			continue;
		}
		if ((out->chain == NULL &&
		    (out->chain = sk_X509_new_null()) == NULL) ||
		    sk_X509_num(out->chain) >= MAX_CHAIN ||
		    !sk_X509_push(out->chain, x)) {
			X509_free(x);
			return err_set(ERR_CERT, "the SVID %.200s from the "
			    "SPIFFE Workload API has more than %d "
			    "certificates", v->spiffe_id, MAX_CHAIN);
		}
	}
	if (out->leaf == NULL)
		return err_set(ERR_CERT, "the SVID %.200s from the SPIFFE "
		    "Workload API holds no certificate", v->spiffe_id);
	return ERR_OK;
}

/* The SVID wanted (or the first), with copies of its parts. */
static int
pick(const X509SVIDResponse *resp, const char *want, struct spiffe_svid *out)
{
	const X509SVID *v = NULL;
	char ids[512] = "";

	for (size_t i = 0; i < resp->n_svids && v == NULL; i++)
		if (want == NULL || strcmp(resp->svids[i]->spiffe_id, want) == 0)
			v = resp->svids[i];
	if (resp->n_svids == 0)
		return err_set(ERR_CERT, "the SPIFFE Workload API sent no SVID "
		    "for this workload: register it with the agent");
	if (v == NULL) {
		for (size_t i = 0; i < resp->n_svids; i++)
			snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids),
			    "%s%.200s", i ? ", " : "", resp->svids[i]->spiffe_id);
		return err_set(ERR_CERT, "the SPIFFE Workload API serves no "
		    "SVID %.200s to this workload; it serves %s", want, ids);
	}
	if (v->x509_svid_key.len == 0)
		return err_set(ERR_CERT, "the SVID %.200s from the SPIFFE "
		    "Workload API comes without its private key", v->spiffe_id);
	if ((out->id = strdup(v->spiffe_id)) == NULL ||
	    (out->key = OPENSSL_malloc(v->x509_svid_key.len)) == NULL)
		return ERR_NOMEM;
	memcpy(out->key, v->x509_svid_key.data, v->x509_svid_key.len);
	out->key_len = v->x509_svid_key.len;
	return read_chain(v, out);
}

int
spiffe_parse_response(const uint8_t *buf, size_t len, const char *want,
    struct spiffe_svid *out)
{
	X509SVIDResponse *resp;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > MAX_RESPONSE ||
	    (resp = x509_svidresponse__unpack(NULL, len, buf)) == NULL)
		return err_set(ERR_DEVICE, "the SPIFFE Workload API sent an "
		    "X509SVIDResponse that cannot be decoded");
	ret = pick(resp, want, out);
	/* protobuf-c copied every key: wiped before the message is freed. */
	for (size_t i = 0; i < resp->n_svids; i++)
		if (resp->svids[i]->x509_svid_key.data != NULL)
			OPENSSL_cleanse(resp->svids[i]->x509_svid_key.data,
			    resp->svids[i]->x509_svid_key.len);
	x509_svidresponse__free_unpacked(resp, NULL);
	if (ret != ERR_OK)
		spiffe_svid_free(out);
	return ret;
}

/* Decodes the response and takes the SVID; every key in it is wiped. */
static int
take_svid(grpc_byte_buffer *bb, const char *want, struct spiffe_svid *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = read_message(bb, &buf, &len)) != ERR_OK)
		return ret;
	ret = spiffe_parse_response(buf, len, want, out);
	OPENSSL_clear_free(buf, len + 1);
	return ret;
}

/* The status the call ended with, as a one-line error; *retry when worth it. */
static int
status_error(const char *addr, grpc_status_code st, grpc_slice details,
    bool *retry)
{
	char *d = grpc_slice_to_c_string(details);
	int ret;

	switch (st) {
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAVAILABLE:
		/* The standard's "no identity issued (yet)": worth waiting. */
		ret = err_set(ERR_CERT, "the SPIFFE Workload API at %.128s issued no "
		    "identity to this process (%s: %.200s): register the "
		    "workload with the agent, or wait for it to attest",
		    addr, st == GRPC_STATUS_UNAVAILABLE ? "Unavailable" :
		    "PermissionDenied", d);
		*retry = true;
		break;
	case GRPC_STATUS_OK:
		ret = err_set(ERR_DEVICE, "the SPIFFE Workload API at %.128s "
		    "closed the stream without an SVID", addr);
		break;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		ret = err_set(ERR_DEVICE, "the SPIFFE Workload API at %.128s did not "
		    "answer within --timeout", addr);
		break;
	case GRPC_STATUS_INVALID_ARGUMENT:
		ret = err_set(ERR_DEVICE, "the SPIFFE Workload API at %.128s refused "
		    "the request (InvalidArgument: %.200s)", addr, d);
		break;
	default:
		ret = err_set(ERR_DEVICE, "the SPIFFE Workload API at %.128s failed "
		    "(gRPC status %d: %.200s)", addr, (int)st, d);
		break;
	}
	gpr_free(d);
	return ret;
}

/*
 * One FetchX509SVID call: the first response, then the call is cancelled
 * (these subcommands fetch once). Two batches, since the status of a
 * stream that goes on arrives only when it ends.
 */
static int
call_once(grpc_channel *ch, const char *addr, long ms, const char *want,
    struct spiffe_svid *out, bool *retry)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_millis(ms, GPR_TIMESPAN));
	grpc_metadata md = {
		.key = grpc_slice_from_static_string("workload.spiffe.io"),
		.value = grpc_slice_from_static_string("true"),
	};
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *req = grpc_raw_byte_buffer_create(NULL, 0);
	grpc_byte_buffer *resp = NULL;
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[5], sop;
	grpc_call *call;
	grpc_event ev;
	bool sent = false, ended = false, cancelled = false;
	int ret = ERR_INTERNAL;

	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	    grpc_slice_from_static_string(METHOD), NULL, deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp;
	memset(&sop, 0, sizeof(sop));
	sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	sop.data.recv_status_on_client.trailing_metadata = &trailing;
	sop.data.recv_status_on_client.status = &st;
	sop.data.recv_status_on_client.status_details = &details;
	if (call == NULL || req == NULL ||
	    grpc_call_start_batch(call, ops, 5, &ops[0], NULL) != GRPC_CALL_OK ||
	    grpc_call_start_batch(call, &sop, 1, &sop, NULL) != GRPC_CALL_OK) {
		ret = err_set(ERR_INTERNAL, "cannot start a gRPC call");
		if (call != NULL)
			grpc_call_cancel(call, NULL);
		goto drain;
	}
	/* The call's deadline ends both batches; no wait of our own needed. */
	while (!sent || !ended) {
		ev = grpc_completion_queue_next(cq,
		    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		if (ev.tag == &ops[0])
			sent = true;
		else
			ended = true;
		if (sent && resp != NULL && !cancelled) {
			grpc_call_cancel(call, NULL);
			cancelled = true;
		}
	}
	if (resp != NULL)
		ret = take_svid(resp, want, out);
	else
		ret = status_error(addr, st, details, retry);
drain:
	if (call != NULL)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(
	    GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_slice_unref(details);
	grpc_byte_buffer_destroy(req);
	if (resp != NULL)
		grpc_byte_buffer_destroy(resp);
	return ret;
}

/* gRPC's own log lines go to --debug, never to plain stderr. */
static void
log_grpc(gpr_log_func_args *a)
{
	if (a->severity == GPR_LOG_SEVERITY_ERROR)
		log_debug("grpc: %.300s", a->message);
}

/* One connection and one call; *retry when the error may pass. */
static int
attempt(const char *addr, const char *path, long ms, const char *want,
    struct spiffe_svid *out, bool *retry)
{
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	char target[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int ret;

	*retry = false;
	/* An agent still starting: its socket appears within --timeout. */
	if ((ret = probe(addr, path)) != ERR_OK) {
		*retry = ret == ERR_DEVICE;
		return ret;
	}
	snprintf(target, sizeof(target), "unix:%s", path);
	if ((creds = grpc_insecure_credentials_create()) == NULL)
		return err_set(ERR_INTERNAL, "gRPC: no insecure credentials");
	ch = grpc_channel_create(target, creds, NULL);
	ret = call_once(ch, addr, ms, want, out, retry);
	grpc_channel_destroy(ch);
	grpc_channel_credentials_release(creds);
	return ret;
}

int
spiffe_fetch(const char *endpoint, const char *want, long timeout,
    struct spiffe_svid *out)
{
	const char *addr = NULL, *path = NULL;
	long deadline, delay = BACKOFF_FIRST_MS, left;
	bool retry;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = socket_path(endpoint, &addr, &path)) != ERR_OK ||
	    (ret = grpc_load()) != ERR_OK)
		return ret;
	if (want != NULL && strncmp(want, "spiffe://", 9) != 0)
		return err_set(ERR_USAGE, "--spiffe-id %.200s is not a SPIFFE "
		    "ID (spiffe://trust-domain/path)", want);
	deadline = now_ms() + timeout * 1000L;
	gpr_set_log_function(log_grpc);
	grpc_init();
	for (;;) {
		err_clear();
		left = deadline - now_ms();
		ret = attempt(addr, path, left > 1 ? left : 1, want, out,
		    &retry);
		if (ret == ERR_OK || !retry)
			break;
		if ((left = deadline - now_ms()) <= delay)
			break;
		log_debug("%s; trying again in %ld ms", err_message(), delay);
		usleep((useconds_t)delay * 1000);
		delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
	}
	grpc_shutdown_blocking();
	if (ret != ERR_OK) {
		spiffe_svid_free(out);
		return ret;
	}
	log_debug("SPIFFE Workload API %s: SVID %s, %d intermediate(s)",
	    addr, out->id, out->chain ? sk_X509_num(out->chain) : 0);
	return ERR_OK;
}

/* ---------------------------------------------------------------- watch */

/* The standard's names of the codes a stream ends with. */
static const char *
status_name(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK:			return "closed by the agent";
	case GRPC_STATUS_CANCELLED:		return "Cancelled";
	case GRPC_STATUS_INVALID_ARGUMENT:	return "InvalidArgument";
	case GRPC_STATUS_DEADLINE_EXCEEDED:	return "DeadlineExceeded";
	case GRPC_STATUS_PERMISSION_DENIED:	return "PermissionDenied";
	case GRPC_STATUS_UNIMPLEMENTED:		return "Unimplemented";
	case GRPC_STATUS_INTERNAL:		return "Internal";
	case GRPC_STATUS_UNAVAILABLE:		return "Unavailable";
	default:				return "gRPC error";
	}
}

#define WATCH_POLL_MS 100	/* how soon a stop request is seen */

struct spiffe_watch {
	char *addr;		/* as shown in messages */
	char *path;		/* the socket */
	char *want;		/* --spiffe-id, or NULL */
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;	/* guards latest, gen and leaf */
	struct spiffe_svid latest;
	unsigned long gen;
	X509 *leaf;		/* the newest leaf seen, to tell news */
};

/* A response on the stream: kept when it brings another leaf. */
static void
watch_keep(struct spiffe_watch *w, grpc_byte_buffer *bb)
{
	struct spiffe_svid fresh, old;

	if (take_svid(bb, w->want, &fresh) != ERR_OK) {
		log_warn("%s; the SVID in use stays", err_message());
		err_clear();
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (w->leaf != NULL && X509_cmp(w->leaf, fresh.leaf) == 0) {
		pthread_mutex_unlock(&w->lock);
		spiffe_svid_free(&fresh);
		return;
	}
	X509_free(w->leaf);
	w->leaf = fresh.leaf;
	X509_up_ref(w->leaf);
	old = w->latest;
	w->latest = fresh;
	w->gen++;
	pthread_mutex_unlock(&w->lock);
	spiffe_svid_free(&old);
	log_debug("SPIFFE Workload API %s: a new SVID for %s", w->addr,
	    fresh.id);
}

/*
 * One stream, for as long as it lasts: every response is handed to
 * watch_keep. True when at least one response arrived (the backoff then
 * starts over).
 */
static bool
watch_stream(struct spiffe_watch *w)
{
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_metadata md = {
		.key = grpc_slice_from_static_string("workload.spiffe.io"),
		.value = grpc_slice_from_static_string("true"),
	};
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *req, *resp = NULL;
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	char target[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	grpc_op ops[4], rop, sop;
	grpc_call *call;
	grpc_event ev;
	bool started = false, ended = false, more = true, reading = false;
	bool got = false, cancelled = false;

	if (probe(w->addr, w->path) != ERR_OK)
		return false;
	snprintf(target, sizeof(target), "unix:%s", w->path);
	if ((creds = grpc_insecure_credentials_create()) == NULL)
		return false;
	ch = grpc_channel_create(target, creds, NULL);
	cq = grpc_completion_queue_create_for_next(NULL);
	req = grpc_raw_byte_buffer_create(NULL, 0);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	    grpc_slice_from_static_string(METHOD), NULL,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	memset(&sop, 0, sizeof(sop));
	sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	sop.data.recv_status_on_client.trailing_metadata = &trailing;
	sop.data.recv_status_on_client.status = &st;
	sop.data.recv_status_on_client.status_details = &details;
	memset(&rop, 0, sizeof(rop));
	rop.op = GRPC_OP_RECV_MESSAGE;
	rop.data.recv_message.recv_message = &resp;
	if (call == NULL || req == NULL ||
	    grpc_call_start_batch(call, ops, 4, &ops[0], NULL) != GRPC_CALL_OK ||
	    grpc_call_start_batch(call, &sop, 1, &sop, NULL) != GRPC_CALL_OK) {
		if (call != NULL)
			grpc_call_cancel(call, NULL);
		started = ended = true;
		more = false;
	}
	while (!started || !ended || reading) {
		if (more && !reading && !ended) {
			if (grpc_call_start_batch(call, &rop, 1, &rop, NULL) !=
			    GRPC_CALL_OK) {
				more = false;
				grpc_call_cancel(call, NULL);
			} else
				reading = true;
		}
		ev = grpc_completion_queue_next(cq, gpr_time_add(
		    gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(
		    WATCH_POLL_MS, GPR_TIMESPAN)), NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			if (atomic_load(&w->stop) && !cancelled) {
				grpc_call_cancel(call, NULL);
				cancelled = true;
			}
			continue;
		}
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		if (ev.tag == &ops[0])
			started = true;
		else if (ev.tag == &sop)
			ended = true;
		else {
			reading = false;
			if (resp == NULL)
				more = false;
			else {
				got = true;
				watch_keep(w, resp);
				grpc_byte_buffer_destroy(resp);
				resp = NULL;
			}
		}
	}
	if (!cancelled) {
		char *d = grpc_slice_to_c_string(details);

		err_set(ERR_DEVICE, "%s: %.200s", status_name(st), d);
		gpr_free(d);
	}
	if (call != NULL)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(
	    GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_slice_unref(details);
	grpc_byte_buffer_destroy(req);
	grpc_channel_destroy(ch);
	grpc_channel_credentials_release(creds);
	return got;
}

/* Sleeps ms, or less when asked to stop. */
static void
watch_nap(struct spiffe_watch *w, long ms)
{
	for (long t = 0; t < ms && !atomic_load(&w->stop); t += WATCH_POLL_MS)
		usleep(WATCH_POLL_MS * 1000);
}

static void *
watch_main(void *arg)
{
	struct spiffe_watch *w = arg;
	long delay = BACKOFF_FIRST_MS;
	bool was_up = true;

	grpc_init();
	while (!atomic_load(&w->stop)) {
		err_clear();
		if (watch_stream(w)) {
			delay = BACKOFF_FIRST_MS;
			was_up = true;
		}
		if (atomic_load(&w->stop))
			break;
		/* One line per outage, not one per try. */
		if (was_up)
			log_warn("the SPIFFE Workload API stream at %s broke "
			    "(%s); reconnecting, the SVID in use stays",
			    w->addr, err_message() ? err_message() : "closed");
		was_up = false;
		err_clear();
		watch_nap(w, delay);
		delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
	}
	grpc_shutdown_blocking();
	err_clear();
	return NULL;
}

static void
watch_free(struct spiffe_watch *w)
{
	if (w == NULL)
		return;
	free(w->addr);
	free(w->path);
	free(w->want);
	spiffe_svid_free(&w->latest);
	X509_free(w->leaf);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int
spiffe_watch_start(const char *endpoint, const char *want, X509 *current,
    struct spiffe_watch **out)
{
	struct spiffe_watch *w;
	const char *addr, *path;
	sigset_t all, old;
	int ret;

	*out = NULL;
	if ((ret = socket_path(endpoint, &addr, &path)) != ERR_OK ||
	    (ret = grpc_load()) != ERR_OK)
		return ret;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ERR_NOMEM;
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->stop, false);
	if ((w->addr = strdup(addr)) == NULL ||
	    (w->path = strdup(path)) == NULL ||
	    (want != NULL && (w->want = strdup(want)) == NULL) ||
	    (current != NULL && !X509_up_ref(current))) {
		watch_free(w);
		return ERR_NOMEM;
	}
	w->leaf = current;
	/*
	 * Signals are the main thread's (serve's SIGTERM, SIGHUP): this
	 * thread, and the gRPC threads it starts, block them all.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		watch_free(w);
		return err_set(ERR_INTERNAL, "cannot start a thread: %s",
		    strerror(ret));
	}
	*out = w;
	return ERR_OK;
}

unsigned long
spiffe_watch_generation(struct spiffe_watch *w)
{
	unsigned long gen;

	pthread_mutex_lock(&w->lock);
	gen = w->gen;
	pthread_mutex_unlock(&w->lock);
	return gen;
}

unsigned long
spiffe_watch_take(struct spiffe_watch *w, struct spiffe_svid *out)
{
	const struct spiffe_svid *l = &w->latest;
	unsigned long gen = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&w->lock);
	if (w->gen == 0 || l->leaf == NULL)
		goto out;
	if ((out->key = OPENSSL_memdup(l->key, l->key_len)) != NULL)
		out->key_len = l->key_len;
	if (X509_up_ref(l->leaf))
		out->leaf = l->leaf;
	if (l->chain != NULL)
		out->chain = X509_chain_up_ref(l->chain);
	if ((out->id = strdup(l->id)) == NULL || out->key == NULL ||
	    out->leaf == NULL || (l->chain != NULL && out->chain == NULL)) {
		spiffe_svid_free(out);
		goto out;
	}
	gen = w->gen;
out:
	pthread_mutex_unlock(&w->lock);
	return gen;
}

void
spiffe_watch_stop(struct spiffe_watch *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	watch_free(w);
}

void
spiffe_svid_free(struct spiffe_svid *s)
{
	free(s->id);
	X509_free(s->leaf);
	sk_X509_pop_free(s->chain, X509_free);
	OPENSSL_clear_free(s->key, s->key_len);
	memset(s, 0, sizeof(*s));
}
