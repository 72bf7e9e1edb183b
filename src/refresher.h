/*
 * The one refresh loop of serve and update around sched_next(): it fetches
 * credentials from a source, hands them over, and sleeps until the next
 * refresh on the wall clock, so that a suspended laptop, a resume and a
 * clock step are noticed at once (a monotonic sleep stops while the
 * machine sleeps and would wake long after the credentials expired).
 * SIGTERM and SIGINT stop it, SIGHUP reloads the certificate and key.
 */
#ifndef RASIGN_REFRESHER_H
#define RASIGN_REFRESHER_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "creds.h"
#include "schedule.h"
#include "source.h"

struct refresher {
	struct source *src;
	/* Takes the credentials over (and wipes them in *c) or fails. */
	int (*deliver)(void *cls, struct creds *c, time_t expiry);
	/* Optional: told when the next refresh is due, after a good one. */
	void (*scheduled)(void *cls, time_t next);
	void *cls;
	struct sched_state sched;
	/* Shared with other threads (serve's request handlers). */
	pthread_mutex_t lock;
	pthread_cond_t done;
	time_t next;			/* when the next refresh is due */
	unsigned long attempts;		/* refreshes finished, good or not */
	bool busy;			/* a refresh is running */
	int wake[2];			/* signals and kicks write here */
	int timer;			/* timerfd on CLOCK_REALTIME */
};

/* lead: --refresh-before or SCHED_LEAD_AUTO; requested: the duration. */
int refresher_init(struct refresher *, struct source *, long lead,
    long requested);
/*
 * One refresh now; for the first credentials of a process (a failure
 * there is the caller's to report).
 */
int refresher_refresh(struct refresher *);
/*
 * Catches SIGTERM, SIGINT, SIGHUP and refreshes on schedule until told to
 * stop (ERR_OK). Stops with ERR_PASSWORD when a device refused a PIN or
 * password: every try counts toward a lockout, so none is made again.
 */
int refresher_run(struct refresher *);
/* The one line a failed refresh gets: when the next try is, and why. */
void refresher_warn(const struct refresher *, int ret);
/*
 * From another thread, when what it holds has expired: if a refresh is due
 * or running (after a resume, say), wakes the loop and waits for it, at
 * most `seconds`. Returns at once when none is due (a failing service is
 * not called more often because clients ask).
 */
void refresher_wait_fresh(struct refresher *, int seconds);
void refresher_free(struct refresher *);

#endif
