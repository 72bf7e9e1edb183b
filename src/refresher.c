#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "refresher.h"
#include "systemd.h"

#define NAP_MAX_MS	60000	/* re-read the clock at least this often */

/*
 * Signals set flags and write to the pipe, so the sleeping loop wakes up
 * whichever thread (a PKCS#11 module's, libmicrohttpd's) ran the handler.
 */
static volatile sig_atomic_t stopping, reloading;
static int signal_fd = -1;

static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP)
		reloading = 1;
	else
		stopping = 1;
	/* A full pipe already holds a wake-up. */
	if (signal_fd >= 0 && write(signal_fd, "", 1) < 0)
		(void)0;
	errno = saved;
}

/* Installed after the start, so that ^C still ends a PIN prompt. */
static int
catch_signals(struct refresher *r)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/* Restart: a signal must not fail a request or a write half way. */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	signal_fd = r->wake[1];
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return err_set(ERR_INTERNAL, "cannot set up the signal "
		    "handlers: %s", strerror(errno));
	return ERR_OK;
}

int
refresher_init(struct refresher *r, struct source *src, long lead,
    long requested)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->src = src;
	r->sched.lead = lead;
	r->sched.requested = requested;
	r->wake[0] = r->wake[1] = r->timer = -1;
	if (pipe2(r->wake, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    (r->timer = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK |
	    TFD_CLOEXEC)) < 0)
		return err_set(ERR_INTERNAL, "cannot set up the refresh "
		    "timer: %s", strerror(errno));
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->done, &ca);
	pthread_condattr_destroy(&ca);
	return ERR_OK;
}

/* Credentials that arrive expired, or nearly: the clock or the service. */
static int
check_lifetime(time_t expiry, time_t now)
{
	if (expiry <= now)
		return err_set(ERR_RESPONSE, "the service sent credentials that "
		    "expired %lld s ago: is this machine's clock right?",
		    (long long)(now - expiry));
	if (expiry - now < SCHED_MIN_LIFE)
		return err_set(ERR_RESPONSE, "the service sent credentials that "
		    "expire in %lld s: is this machine's clock right?",
		    (long long)(expiry - now));
	return ERR_OK;
}

int
refresher_refresh(struct refresher *r)
{
	struct creds c = { 0 };
	time_t expiry = 0, now;
	int ret, life;

	pthread_mutex_lock(&r->lock);
	r->busy = true;
	pthread_mutex_unlock(&r->lock);
	err_clear();
	if ((ret = source_fetch(r->src, &c)) == ERR_OK &&
	    (ret = creds_expiry(&c, &expiry)) == ERR_OK) {
		now = time(NULL);
		life = check_lifetime(expiry, now);
		/* Nearly expired is still better than nothing to serve. */
		if (expiry > now && (ret = r->deliver(r->cls, &c, expiry)) ==
		    ERR_OK) {
			r->sched.issued = now;
			r->sched.expiry = expiry;
		}
		if (ret == ERR_OK)
			ret = life;
	}
	creds_free(&c);
	r->sched.failures = ret == ERR_OK ? 0 : r->sched.failures + 1;
	pthread_mutex_lock(&r->lock);
	r->next = sched_next(&r->sched, time(NULL));
	r->busy = false;
	r->attempts++;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void
drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Sleeps until `until` on the wall clock, a signal or a kick. The timer is
 * absolute on CLOCK_REALTIME, which goes on counting while the machine is
 * suspended and fires at resume; a clock step cancels it (re-armed here).
 */
static void
nap(struct refresher *r, time_t until)
{
	struct itimerspec its = { .it_value = { until, 0 } };
	struct pollfd p[2] = { { r->wake[0], POLLIN, 0 },
	    { r->timer, POLLIN, 0 } };
	time_t now;

	while (!stopping && !reloading && (now = time(NULL)) < until) {
		if (timerfd_settime(r->timer, TFD_TIMER_ABSTIME |
		    TFD_TIMER_CANCEL_ON_SET, &its, NULL) != 0)
			log_debug("timerfd_settime: %s", strerror(errno));
		if (poll(p, 2, (until - now) * 1000 < NAP_MAX_MS ?
		    (int)(until - now) * 1000 : NAP_MAX_MS) > 0) {
			drain(r->timer);
			if (p[0].revents & POLLIN) {
				drain(r->wake[0]);
				pthread_mutex_lock(&r->lock);
				until = r->next;	/* a kick: due now? */
				pthread_mutex_unlock(&r->lock);
			}
		}
	}
}

/* After refresher_warn's lines, the one that says they are over. */
static void
recovered(const struct refresher *r, int failed)
{
	char until[32] = "?";
	struct tm tm;

	if (gmtime_r(&r->sched.expiry, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("refresh succeeded after %d failed %s; the credentials are "
	    "valid until %s", failed, failed == 1 ? "try" : "tries", until);
}

int
refresher_run(struct refresher *r)
{
	int failed, ret;
	bool reload;

	if ((ret = catch_signals(r)) != ERR_OK)
		return ret;
	if (r->scheduled != NULL && r->sched.failures == 0)
		r->scheduled(r->cls, r->next);
	for (;;) {
		nap(r, r->next);
		if (stopping) {
			systemd_stopping();
			return ERR_OK;
		}
		if ((reload = reloading)) {
			reloading = 0;
			log_info("SIGHUP: reading the certificate and key "
			    "again");
			systemd_reloading();
			r->src->reload = true;
		}
		failed = r->sched.failures;
		ret = refresher_refresh(r);
		/* Never again after a wrong password or PIN: lockouts count. */
		if (ret == ERR_PASSWORD) {
			systemd_stopping();
			return ret;
		}
		/* After RELOADING=1, READY=1 either way: still serving. */
		if (reload || ret == ERR_OK)
			systemd_ready(r->sched.expiry, r->next);
		if (ret != ERR_OK) {
			systemd_failing(r->sched.expiry, r->next);
			refresher_warn(r, ret);
			continue;
		}
		if (failed > 0)
			recovered(r, failed);
		if (r->scheduled != NULL)
			r->scheduled(r->cls, r->next);
	}
}

void
refresher_warn(const struct refresher *r, int ret)
{
	log_warn("refresh failed, retrying in %lld s: %s",
	    (long long)(r->next - time(NULL)),
	    err_message() ? err_message() : err_strerror(ret));
}

void
refresher_wait_fresh(struct refresher *r, int seconds)
{
	struct timespec until;
	unsigned long seen;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&r->lock);
	if (r->busy || time(NULL) >= r->next) {
		seen = r->attempts;
		if (write(r->wake[1], "", 1) < 0)
			(void)0;	/* full: a wake-up is pending anyway */
		while (r->attempts == seen && pthread_cond_timedwait(&r->done,
		    &r->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&r->lock);
}

void
refresher_free(struct refresher *r)
{
	signal_fd = -1;
	if (r->wake[0] >= 0) {
		close(r->wake[0]);
		close(r->wake[1]);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->done);
	}
	if (r->timer >= 0)
		close(r->timer);
	memset(r, 0, sizeof(*r));
}
