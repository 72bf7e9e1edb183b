/* Who signs: the signer, its certificate and chain, checked before any request. */
#ifndef RASIGN_IDENTITY_H
#define RASIGN_IDENTITY_H

#include <time.h>

#include <openssl/x509.h>

#include "options.h"
#include "provider.h"

struct identity {
	struct signer *signer;
	X509 *leaf;
	STACK_OF(X509) *chain;		/* intermediates to send, or NULL */
	const char *algorithm;		/* SIGV4_ALG_* */
	char *x509;			/* base64 DER of the leaf */
	char *x509_chain;		/* comma-joined base64, or NULL */
	char *serial;			/* decimal */
	struct auth *auth;		/* the signer's PINs and passwords */
	struct keyfiles *files;		/* what was read from env:/fd: sources */
};

/*
 * Opens the key, finds the certificate and chain, and checks that the key
 * is the certificate's, of a supported type, and that every certificate is
 * valid at `now`. The PINs and passwords, and a certificate or key given
 * as env:, fd: or file:, are read from their sources now; `prev`, on a
 * reload, is the identity being replaced: what cannot be read again is
 * taken from it (keyauth.h).
 */
int identity_open(const struct options *, const struct identity *prev,
    time_t now, struct identity *);
struct spiffe_svid;
/*
 * identity_open for an SVID already at hand (serve and update: the newest
 * from the Workload API's stream); the SVID is consumed and wiped.
 */
int identity_open_svid(const struct options *, struct spiffe_svid *,
    time_t now, struct identity *);
/*
 * For sign-string: the signer, with the certificate when there is one; no
 * validity or chain checks (the Go helper does none there either).
 */
int identity_open_signer(const struct options *, struct identity *);
/* The key_request the options describe, with its secrets in `auth`. */
void identity_request(const struct options *, struct auth *,
    struct key_request *);
/* The leaf and every intermediate are valid at `now`. */
int identity_check_validity(const struct identity *, time_t now);
void identity_close(struct identity *);

#endif
