/*
 * rasign update: keeps one profile of the shared credentials file fresh
 * (spec §8), or writes it once with --once. Unlike the Go helper, a failed
 * refresh does not end the process: the file keeps the last good
 * credentials and the request is retried with a growing delay.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "credfile.h"
#include "creds.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "source.h"

#define MIN_INTERVAL	60	/* no faster than this, whatever the expiry */
#define BACKOFF_FIRST	5	/* after a failed refresh, doubling ... */
#define BACKOFF_MAX	300	/* ... up to this */
#define NAP_MAX		60	/* re-read the clock this often while asleep */

static const char usage[] =
"usage: rasign update --certificate FILE|URI [--private-key KEY]\n"
"           [--intermediates FILE] --trust-anchor-arn ARN --profile-arn ARN\n"
"           --role-arn ARN [--session-duration SECONDS]\n"
"           [--role-session-name NAME] [--region REGION] [--endpoint URL]\n"
"           [--pkcs8-password SOURCE] [--pkcs11-lib PATH] [--pkcs11-pin SOURCE]\n"
"           [--pkcs11-context-pin SOURCE] [--reuse-pin]\n"
"           [--cert-selector SELECTOR] [--use-latest-expiring-certificate]\n"
"           [--tpm-tcti TCTI] [--tpm-key-password SOURCE]\n"
"           [--no-tpm-key-password] [--tpm-parent-password SOURCE]\n"
"           [--timeout SECONDS] [--with-proxy] [--no-verify-ssl] [--debug]\n"
"           [--profile NAME] [--once] [--refresh-before SECONDS]\n"
"\n"
"Writes temporary AWS credentials into a profile of the shared credentials\n"
"file ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) and renews\n"
"them --refresh-before seconds (default 300) before they expire, until\n"
"stopped by SIGTERM or SIGINT. SIGHUP re-reads the certificate and key.\n"
"\n"
"  --profile NAME            the profile (section) to write (default: default)\n"
"  --once                    write once and exit\n"
"  --refresh-before SECONDS  renew this long before expiry (default 300)\n"
"\n"
"The other options are those of credential-process; see\n"
"'rasign credential-process --help' and rasign(1).\n";

/*
 * A stop request. The handler also writes to a pipe so that the sleeping
 * main thread wakes up even when another thread (a PKCS#11 module's, say)
 * is the one that ran the handler.
 */
static volatile sig_atomic_t stopping, reloading;
static int wake[2] = { -1, -1 };

static void
on_stop(int sig)
{
	int saved = errno;

	if (sig == SIGHUP)
		reloading = 1;
	else
		stopping = 1;
	/* A full pipe already holds a wake-up: nothing to do on failure. */
	if (wake[1] >= 0 && write(wake[1], "", 1) < 0)
		stopping = 1;
	errno = saved;
}

/* Installed only after the pre-flight, so ^C still kills a PIN prompt. */
static int
catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	/* Restart: a signal must not fail a request or a write half way. */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return err_set(ERR_INTERNAL, "cannot set up the signal "
		    "handlers: %s", strerror(errno));
	return ERR_OK;
}

/*
 * Sleeps until the wall-clock time `until`; false if told to stop. In
 * short naps, so that a suspended laptop or a clock step is noticed: a
 * single monotonic sleep would wake up after the credentials expired.
 */
static bool
nap_until(time_t until)
{
	struct pollfd p = { .fd = wake[0], .events = POLLIN };
	time_t now;

	char drain[16];

	while (!stopping && !reloading && (now = time(NULL)) < until) {
		if (poll(&p, 1, (int)(until - now < NAP_MAX ? until - now :
		    NAP_MAX) * 1000) > 0)
			/* Empty the pipe, or poll would never sleep again. */
			while (read(wake[0], drain, sizeof(drain)) > 0)
				;
	}
	return !stopping;
}

/* The Go helper's one line (spec §8.1): a Go log stamp, then next.String(). */
static void
announce(time_t next)
{
	char stamp[32] = "", when[48] = "";
	time_t now = time(NULL);
	struct tm lt, ut;

	if (localtime_r(&now, &lt) != NULL)
		strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &lt);
	if (gmtime_r(&next, &ut) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S +0000 UTC", &ut);
	fprintf(stderr, "%s Credentials will be refreshed at %s\n", stamp, when);
}

/* New credentials into the file; *expiry is when they run out. */
static int
refresh(struct source *src, const char *path, const char *profile,
    time_t *expiry)
{
	struct creds c = { 0 };
	int ret = ERR_INTERNAL;

	if ((ret = source_fetch(src, &c)) != ERR_OK ||
	    (ret = creds_expiry(&c, expiry)) != ERR_OK ||
	    (ret = credfile_write(path, profile, &c)) != ERR_OK)
		goto out;
	ret = ERR_OK;
out:
	creds_free(&c);
	return ret;
}

/*
 * The loop of spec §8.1, less its bugs: expired or short-lived credentials
 * do not make it call CreateSession back to back, and a failure is retried
 * (5 s, doubling to 5 min, never past the expiry of what the file holds).
 */
static int
keep_fresh(struct source *src, const char *path, const char *profile,
    long refresh_before)
{
	time_t expiry = 0, got, now, next;
	long backoff = 0;
	const char *msg;
	int ret = ERR_INTERNAL;

	while (!stopping) {
		/* SIGHUP: read the certificate and key again, refresh now. */
		if (reloading) {
			reloading = 0;
			src->reload = true;
		}
		err_clear();
		ret = refresh(src, path, profile, &got);
		now = time(NULL);
		/*
		 * A wrong password or PIN is never tried again on its own:
		 * each try counts against the TPM's or token's lockout.
		 */
		if (ret == ERR_PASSWORD)
			return ret;
		if (ret == ERR_OK) {
			expiry = got;
			backoff = 0;
			next = expiry - refresh_before;
			if (next < now + MIN_INTERVAL) {
				log_warn("the credentials expire in %lld s; is "
				    "the clock right?", (long long)(expiry - now));
				next = now + MIN_INTERVAL;
			}
			announce(next);
		} else {
			backoff = backoff == 0 ? BACKOFF_FIRST :
			    backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			next = now + backoff;
			if (expiry > now && next > expiry)
				next = expiry;
			msg = err_message();
			fprintf(stderr, "rasign: %s; retrying in %lld s\n",
			    msg != NULL ? msg : err_strerror(ret),
			    (long long)(next - now));
		}
		if (!nap_until(next))
			break;
	}
	return ERR_OK;
}

int
cmd_update(int argc, char **argv)
{
	struct options o;
	struct source src;
	struct rlimit no_core = { 0, 0 };
	bool have_src = false;
	char *path = NULL;
	time_t expiry;
	int ret = ERR_INTERNAL;

	/* Long-running and holding keys: no core file, no ptrace by peers. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((ret = options_parse(&o, CMD_UPDATE, "update", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK)
		goto out;
	if ((ret = credfile_check_profile(o.profile)) != ERR_OK ||
	    (ret = credfile_path(&path)) != ERR_OK)
		goto out;
	log_debug("profile [%s] of %s", o.profile, path);
	if ((ret = source_init(&src, &o)) != ERR_OK)
		goto out;
	have_src = true;
	/* --once: nothing on stdout or stderr on success, as the Go helper. */
	if (o.once)
		ret = refresh(&src, path, o.profile, &expiry);
	else if ((ret = catch_stop()) == ERR_OK)
		ret = keep_fresh(&src, path, o.profile, o.refresh_before);
out:
	if (have_src)
		source_free(&src);
	free(path);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
