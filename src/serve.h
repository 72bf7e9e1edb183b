/*
 * The local credential endpoint of `serve`: IMDSv2 (spec §7) and the ECS
 * container-credentials form, on libmicrohttpd. It only answers from the
 * credentials it is handed (serve_set_creds); refreshing is the caller's.
 */
#ifndef RASIGN_SERVE_H
#define RASIGN_SERVE_H

#include <stdint.h>
#include <time.h>

#include "creds.h"

#define SERVE_ECS_PATH "/ecs/credentials"
#define SERVE_MAX_TOKENS 256
#define SERVE_TOKEN_LEN 100
#define SERVE_ECS_TOKEN_MAX 512

struct serve;

struct serve_config {
	const char *bind;	/* address; 127.0.0.1 by default */
	uint16_t port;		/* 0: any free port */
	int hop_limit;		/* IP_TTL of every answer */
	const char *role_name;	/* the last part of the role ARN */
	const char *ecs_token;	/* the ECS authorization token */
	/*
	 * Optional: called (outside serve's lock) by a credentials request
	 * that finds none valid; may block briefly while a refresh is due.
	 */
	void (*wait_fresh)(void *cls);
	void *wait_fresh_cls;
};

int serve_start(const struct serve_config *, struct serve **);
uint16_t serve_port(const struct serve *);
/* Takes the credentials over (and wipes the old ones). */
void serve_set_creds(struct serve *, struct creds *, time_t expiry);
/* Seconds of validity left, or 0 when there are none. */
time_t serve_expiry(struct serve *);
void serve_stop(struct serve *);

#endif
