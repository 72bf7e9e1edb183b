/*
 * When to refresh credentials: one pure rule for serve and update, with
 * one set of constants. The SDKs re-fetch credentials that have less than
 * 15 minutes left (botocore's advisory window) and must under 10 minutes
 * (its mandatory window; the Go SDK's default is similar), so the default
 * lead keeps what is handed out outside both whenever the grant allows.
 */
#ifndef RASIGN_SCHEDULE_H
#define RASIGN_SCHEDULE_H

#include <time.h>

#define SCHED_LEAD_AUTO		(-1)	/* --refresh-before not given */
#define SCHED_DEFAULT_LEAD	1200	/* 20 min: outside the 15 min window */
#define SCHED_BACKOFF_FIRST	5	/* after a failed refresh, doubling ... */
#define SCHED_BACKOFF_MAX	300	/* ... up to this */
#define SCHED_MIN_LIFE		60	/* shorter-lived credentials: clock off? */

struct sched_state {
	time_t issued;		/* when the credentials held arrived; 0: none */
	time_t expiry;		/* when they expire; 0: none */
	long lead;		/* --refresh-before, or SCHED_LEAD_AUTO */
	long requested;		/* --session-duration */
	int failures;		/* failed refreshes since the last good one */
};

/*
 * How long before expiry to refresh credentials granted for `grant`
 * seconds when `requested` were asked for. An explicit lead is kept when
 * the grant is what was asked; the automatic one is SCHED_DEFAULT_LEAD but
 * at most three quarters of the grant. When the service grants less than
 * asked, the lead lies between a quarter and three quarters of the grant:
 * nothing served has less than a quarter of its life left, and refreshes
 * are at least a quarter of a grant apart (never back to back).
 */
long sched_lead(long lead, long requested, long grant);

/* The wall-clock time of the next refresh attempt, seen at `now`. */
time_t sched_next(const struct sched_state *, time_t now);

/* The delay before retry number `failures` (1, 2, ...). */
long sched_backoff(int failures);

#endif
