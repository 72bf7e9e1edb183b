/* CreateSession: validate the request, resolve the endpoint, sign, send, parse. */
#ifndef RASIGN_SESSION_H
#define RASIGN_SESSION_H

#include "creds.h"
#include "http.h"
#include "identity.h"
#include "options.h"

#define SESSION_TRIES 3

struct session {
	const char *role_session_name;
	char region[32];
	char *url;		/* https://host[:port]/prefix/sessions?query */
	char *host;		/* host[:port], the Host header */
	char *path;		/* the canonical URI */
	char *query;
	char *body;
	struct http_config http;
};

/* Checks ARNs, duration and session name; resolves region and endpoint. */
int session_prepare(const struct options *, struct session *);
void session_free(struct session *);
/* Signs and sends; up to SESSION_TRIES tries on network errors, 5xx, 429. */
int session_create(const struct session *, const struct identity *,
    struct creds *);
/* The one-line error for a non-2xx answer: code, after `tries` tries. */
int session_service_error(const struct http_response *, int code, int tries);

#endif
