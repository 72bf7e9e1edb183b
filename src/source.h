/*
 * A credential source for the long-running and wrapping subcommands (serve,
 * update, exec): the checked request and the open signer, kept for the
 * life of the process. Certificate and key files are re-read when they
 * change on disk (rotated certificates); a hardware signer stays open and
 * reopens itself after a failure.
 */
#ifndef RASIGN_SOURCE_H
#define RASIGN_SOURCE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "creds.h"
#include "identity.h"
#include "options.h"
#include "session.h"
#include "spiffe.h"

struct source {
	const struct options *o;
	struct session session;
	struct identity id;
	bool have_id;
	struct stat seen[3];		/* certificate, key, intermediates */
	bool reload;			/* forced by SIGHUP or a failure */
	struct spiffe_watch *watch;	/* --spiffe-endpoint's stream, or NULL */
	unsigned long svid_gen;		/* the watch's SVID in use; 0: none */
};

/* Checks the request and opens the signer: every pre-flight check runs. */
int source_init(struct source *, const struct options *);
/*
 * serve and update: with --spiffe-endpoint, keep the Workload API's stream
 * open, so that a rotated SVID is used from the next refresh on.
 */
int source_watch(struct source *);
/* CreateSession with the current identity, re-read first if files changed. */
int source_fetch(struct source *, struct creds *);
void source_free(struct source *);

#endif
