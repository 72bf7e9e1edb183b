/*
 * The local credential endpoint of `serve`: IMDSv2 (spec §7) and the ECS
 * container-credentials form, on libmicrohttpd. It only answers from the
 * credentials it is handed (serve_set_creds); refreshing is the caller's.
 *
 * serve_handle is the whole of the routing and answering, without any
 * socket: libmicrohttpd's callback and the fuzzer both drive it.
 */
#ifndef RASIGN_SERVE_H
#define RASIGN_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "creds.h"

#define SERVE_ECS_PATH "/ecs/credentials"
#define SERVE_TOKEN_LEN 100
#define SERVE_ECS_TOKEN_MAX 512
/* The IMDSv2 token TTL header and its range in seconds (spec §7.3). */
#define SERVE_TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
#define SERVE_TOKEN_HEADER "X-aws-ec2-metadata-token"
#define SERVE_MAX_TTL 21600
/* Seconds from accept to a complete request before a connection is cut. */
#define SERVE_REQUEST_DEADLINE 3

struct serve;

struct serve_config {
	const char *bind;	/* address; 127.0.0.1 by default */
	uint16_t port;		/* 0: any free port */
	bool activated;		/* listen on listen_fd (systemd's), not bind */
	int listen_fd;
	int hop_limit;		/* IP_TTL of every answer */
	const char *role_name;	/* the last part of the role ARN */
	const char *ecs_token;	/* the ECS authorization token */
	/*
	 * Optional (NULL: none). Called, without serve's lock, when a
	 * credentials GET finds none valid; serve looks once more when it
	 * returns. It should wait a bounded time for a refresh.
	 */
	void (*wait_fresh)(void *cls);
	void *wait_fresh_cls;
};

/* One request as serve_handle sees it. */
struct serve_request {
	const char *method;
	const char *url;
	/* The value of header NAME (case-insensitive), or NULL. */
	const char *(*header)(void *cls, const char *name);
	void *header_cls;
	time_t now;
};

/* serve_handle's answer; free with serve_reply_free. */
struct serve_reply {
	unsigned status;
	char *body;		/* NUL-terminated; may hold credentials */
	size_t len;
	char ttl[24];		/* SERVE_TTL_HEADER's value; "" for none */
};

/* Listens and answers (serve_new + libmicrohttpd). */
int serve_start(const struct serve_config *, struct serve **);
/* The state alone, listening nowhere: for serve_handle (the fuzzer). */
int serve_new(const struct serve_config *, struct serve **);
/* The port and the numeric address listened on. */
uint16_t serve_port(const struct serve *);
const char *serve_host(const struct serve *);
/* Takes the credentials over (and wipes the old ones). */
void serve_set_creds(struct serve *, struct creds *, time_t expiry);
/* When the credentials served expire, or 0 when there are none. */
time_t serve_expiry(struct serve *);
/* ERR_OK with *reply set, or ERR_NOMEM/ERR_INTERNAL (drop the request). */
int serve_handle(struct serve *, const struct serve_request *,
    struct serve_reply *);
void serve_reply_free(struct serve_reply *);
void serve_stop(struct serve *);

#endif
