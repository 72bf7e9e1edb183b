/*
 * rasign update: keeps one profile of the shared credentials file fresh
 * (spec §8), or writes it once with --once. Unlike the Go helper, a failed
 * refresh does not end the process: the file keeps the last good
 * credentials and the request is retried with a growing delay.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "credfile.h"
#include "creds.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "refresher.h"
#include "systemd.h"
#include "source.h"

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
"them before they expire, until stopped by SIGTERM or SIGINT. SIGHUP\n"
"re-reads the certificate and key. A wrong PIN or password ends it (exit 4).\n"
"\n"
"  --profile NAME            the profile (section) to write (default: default)\n"
"  --once                    write once and exit\n"
"  --refresh-before SECONDS  renew this long before expiry (default: 1200,\n"
"                            at most 3/4 of the session duration)\n"
"\n"
"The other options are those of credential-process except --output,\n"
"--cache and --cache-refresh-window; see 'rasign credential-process\n"
"--help' and rasign(1).\n";

struct target {
	const char *path;
	const char *profile;
};

/* The Go helper's one line (spec §8.1): a log stamp, then next.String(). */
static void
announce(time_t next)
{
	char when[48] = "";
	struct tm ut;

	if (gmtime_r(&next, &ut) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S +0000 UTC", &ut);
	log_plain("Credentials will be refreshed at %s", when);
}

static void
scheduled(void *cls, time_t next)
{
	(void)cls;
	announce(next);
}

static int
write_file(void *cls, struct creds *c, time_t expiry)
{
	const struct target *t = cls;

	(void)expiry;
	return credfile_write(t->path, t->profile, c);
}

int
cmd_update(int argc, char **argv)
{
	struct options o;
	struct source src;
	struct refresher r = { 0 };
	struct target t;
	bool have_src = false;
	char *path = NULL;
	int ret = ERR_INTERNAL;

	if ((ret = options_parse(&o, CMD_UPDATE, "update", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK)
		goto out;
	log_set_stamps(true);
	/* The schedule must leave credentials valid when it fires. */
	if (o.refresh_before >= o.session_duration) {
		ret = err_set(ERR_USAGE, "--refresh-before (%ld s) must be "
		    "less than --session-duration (%ld s)", o.refresh_before,
		    o.session_duration);
		goto out;
	}
	if ((ret = credfile_check_profile(o.profile)) != ERR_OK ||
	    (ret = credfile_path(&path)) != ERR_OK)
		goto out;
	log_debug("profile [%s] of %s", o.profile, path);
	if ((ret = source_init(&src, &o)) != ERR_OK)
		goto out;
	have_src = true;
	if (!o.once && (ret = source_watch(&src)) != ERR_OK)
		goto out;
	t = (struct target){ path, o.profile };
	if ((ret = refresher_init(&r, &src, o.refresh_before,
	    o.session_duration)) != ERR_OK)
		goto out;
	r.deliver = write_file;
	r.cls = &t;
	/*
	 * --once: nothing on stdout or stderr on success, as the Go helper.
	 * Otherwise a first failure is retried like any other, except a
	 * refused PIN or password.
	 */
	ret = refresher_refresh(&r);
	if (o.once || ret == ERR_PASSWORD)
		goto out;
	/*
	 * Unlike serve, update retries a failed start itself: ready either
	 * way (a unit's start would otherwise time out while the network is
	 * down), with a STATUS= that tells which.
	 */
	systemd_ready(r.sched.expiry, r.next);
	if (ret != ERR_OK) {
		systemd_failing(r.sched.expiry, r.next);
		refresher_warn(&r, ret);
	}
	r.scheduled = scheduled;
	ret = refresher_run(&r);
out:
	refresher_free(&r);
	if (have_src)
		source_free(&src);
	free(path);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
