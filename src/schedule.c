#include "schedule.h"

long
sched_backoff(int failures)
{
	long d = SCHED_BACKOFF_FIRST;

	for (int i = 1; i < failures && d < SCHED_BACKOFF_MAX; i++)
		d *= 2;
	return d < SCHED_BACKOFF_MAX ? d : SCHED_BACKOFF_MAX;
}

long
sched_lead(long lead, long requested, long grant)
{
	long lo = grant / 4, hi = grant - grant / 4;

	if (lead == SCHED_LEAD_AUTO)
		lead = SCHED_DEFAULT_LEAD < hi ? SCHED_DEFAULT_LEAD : hi;
	if (grant < requested) {
		if (lead > hi)
			lead = hi;
		if (lead < lo)
			lead = lo;
	}
	/* Never at or past the moment the credentials arrived. */
	if (lead >= grant)
		lead = hi;
	return lead;
}

time_t
sched_next(const struct sched_state *s, time_t now)
{
	time_t next;

	if (s->failures > 0) {
		next = now + sched_backoff(s->failures);
		/* Try again before what is held runs out, not after. */
		if (s->expiry > now && next > s->expiry)
			next = s->expiry;
		return next;
	}
	if (s->expiry == 0)
		return now;
	next = s->expiry - sched_lead(s->lead, s->requested,
	    (long)(s->expiry - s->issued));
	return next > now ? next : now;
}
