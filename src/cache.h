/*
 * The credential cache of `credential-process --cache`: one file per set of
 * inputs that decides the credentials, in a private per-user directory,
 * written atomically, with a lock so that concurrent calls on a cold cache
 * make one CreateSession between them.
 */
#ifndef RASIGN_CACHE_H
#define RASIGN_CACHE_H

#include <time.h>

#include "creds.h"
#include "options.h"
#include "session.h"

#define DEFAULT_CACHE_WINDOW 900	/* seconds of validity a hit needs */

struct cache {
	int dirfd;
	int lockfd;
	char name[65];		/* hex SHA-256 of the inputs */
};

/*
 * Finds the directory, derives the entry's name from everything that
 * decides the credentials, and takes the entry's lock (waiting for another
 * process that holds it). ERR_OK with dirfd < 0 means: no usable cache
 * (a warning was printed); go on without one.
 */
int cache_open(const struct options *, const struct session *, struct cache *);
/* ERR_OK and the credentials when an entry has more than `window` s left. */
int cache_get(struct cache *, long window, struct creds *);
int cache_put(struct cache *, const struct creds *);
/* An entry's bytes (cache_put's JSON) to credentials; for the fuzzer too. */
int cache_parse_entry(const char *buf, size_t len, struct creds *);
/* Releases the lock. */
void cache_close(struct cache *);

#endif
