/*
 * X.509-SVIDs from the SPIFFE Workload API (--spiffe-endpoint): the leaf,
 * its intermediates and the private key, held in memory only.
 */
#ifndef RASIGN_SPIFFE_H
#define RASIGN_SPIFFE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

struct spiffe_svid {
	char *id;			/* the SVID's SPIFFE ID */
	X509 *leaf;
	STACK_OF(X509) *chain;		/* intermediates; NULL when none */
	uint8_t *key;			/* PKCS#8 DER; wiped by spiffe_svid_free */
	size_t key_len;
};

/*
 * One FetchX509SVID from `endpoint` (unix:///path, or "env" for
 * SPIFFE_ENDPOINT_SOCKET): the SVID named `want`, or the first when NULL.
 * "No identity yet" (PermissionDenied, Unavailable) and an unreachable
 * socket are retried with backoff for up to `timeout` seconds. Errors:
 * ERR_USAGE (bad endpoint), ERR_DEVICE (unreachable or failing Workload
 * API), ERR_CERT (no usable SVID).
 */
int spiffe_fetch(const char *endpoint, const char *want, long timeout,
    struct spiffe_svid *);
void spiffe_svid_free(struct spiffe_svid *);
/*
 * One X509SVIDResponse message (protobuf): the SVID named `want`, or the
 * first; what fetch and the stream do with each response, and what the
 * fuzz target feeds.
 */
int spiffe_parse_response(const uint8_t *, size_t, const char *want,
    struct spiffe_svid *);

/*
 * serve and update: a FetchX509SVID stream kept open by a thread of its
 * own, reconnecting with backoff when it breaks, which keeps the newest
 * usable SVID the agent pushed. `current` is the leaf in use now: an SVID
 * with the same leaf is no news.
 */
struct spiffe_watch;
int spiffe_watch_start(const char *endpoint, const char *want,
    X509 *current, struct spiffe_watch **);
/* How many new SVIDs arrived so far (0: none since the start). */
unsigned long spiffe_watch_generation(struct spiffe_watch *);
/* A copy of the newest SVID and its generation; 0 and nothing if none. */
unsigned long spiffe_watch_take(struct spiffe_watch *, struct spiffe_svid *);
void spiffe_watch_stop(struct spiffe_watch *);

#endif
