/*
 * rasign serve (spec §7): credentials for SDKs on a local IMDSv2 endpoint
 * and an ECS container-credentials endpoint. Unlike the Go helper it
 * refreshes in the background before expiry, keeps serving the valid
 * credentials through a failed refresh (retrying with backoff), and
 * answers an error, never empty credentials, once they have expired.
 *
 * The main thread owns the credential source and the schedule; it waits
 * in sigtimedwait, so SIGTERM/SIGINT (stop) and SIGHUP (re-read the
 * certificate and key) need no handler. libmicrohttpd's threads only read
 * the credentials under serve.c's lock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cmd.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "secret.h"
#include "serve.h"
#include "source.h"

#define RETRY_MIN 5
#define RETRY_MAX 300

static const char usage[] =
"usage: rasign serve [credential options] [--port PORT] [--bind ADDRESS]\n"
"           [--hop-limit N] [--ecs-token-file FILE]\n"
"           [--refresh-before SECONDS]\n"
"\n"
"Serves credentials on http://127.0.0.1:PORT/ (default 9911; 0 = any free\n"
"port) for AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDSv2) and\n"
"AWS_CONTAINER_CREDENTIALS_FULL_URI (" SERVE_ECS_PATH "). Credentials\n"
"are refreshed --refresh-before seconds (default 300) before they\n"
"expire. SIGHUP re-reads the\n"
"certificate and key. The credential options are credential-process's.\n";

/* The role's name: the last part of arn:aws:iam::ACCOUNT:role/path/NAME. */
static const char *
role_name(const char *arn)
{
	const char *slash = arn != NULL ? strrchr(arn, '/') : NULL;

	return slash != NULL ? slash + 1 : "";
}

static int
ecs_token(const struct options *o, char **out)
{
	unsigned char raw[32];
	char *hex;

	if (o->ecs_token_file != NULL) {
		char spec[4200];

		snprintf(spec, sizeof(spec), "file:%s", o->ecs_token_file);
		if (secret_from_source(spec, "--ecs-token-file", out) != ERR_OK)
			return ERR_PASSWORD;
		if (**out == '\0' || strlen(*out) > SERVE_ECS_TOKEN_MAX) {
			secret_free(*out);
			*out = NULL;
			return err_set(ERR_USAGE, "--ecs-token-file must hold a "
			    "token of 1 to %d characters on its first line",
			    SERVE_ECS_TOKEN_MAX);
		}
		return ERR_OK;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1 ||
	    (hex = OPENSSL_malloc(2 * sizeof(raw) + 1)) == NULL)
		return ERR_INTERNAL;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	*out = hex;
	return ERR_OK;
}

static int
refresh(struct source *src, struct serve *srv)
{
	struct creds c;
	time_t exp;
	int ret;

	err_clear();
	if ((ret = source_fetch(src, &c)) != ERR_OK)
		return ret;
	if ((ret = creds_expiry(&c, &exp)) != ERR_OK) {
		creds_free(&c);
		return ret;
	}
	serve_set_creds(srv, &c, exp);
	log_debug("credentials refreshed; they expire in %lld s",
	    (long long)(exp - time(NULL)));
	return ERR_OK;
}

/* Waits for the next refresh or a signal; returns the signal or 0. */
static int
wait_until(const sigset_t *set, time_t when)
{
	time_t now = time(NULL);
	struct timespec ts = { when > now ? when - now : 0, 0 };
	int sig;

	do {
		sig = sigtimedwait(set, NULL, &ts);
	} while (sig < 0 && errno == EINTR);
	return sig < 0 ? 0 : sig;
}

static void
print_start(const struct serve_config *cfg, uint16_t port,
    const struct options *o, const char *token)
{
	const char *host = cfg->bind ? cfg->bind : "127.0.0.1";
	const char *br = strchr(host, ':') ? "[" : "", *ket = *br ? "]" : "";

	fprintf(stderr, "Local server started on port: %u\n"
	    "Make it available to the sdk by running:\n"
	    "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://%s%s%s:%u/\n"
	    "or, for the ECS container-credentials form:\n"
	    "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://%s%s%s:%u%s\n",
	    port, br, host, ket, port, br, host, ket, port, SERVE_ECS_PATH);
	/* The token is the client's key to the endpoint: it must see it. */
	if (o->ecs_token_file != NULL)
		fprintf(stderr, "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="
		    "%s\n", o->ecs_token_file);
	else
		fprintf(stderr, "export AWS_CONTAINER_AUTHORIZATION_TOKEN=%s\n",
		    token);
	fflush(stderr);
}

static int
run(const struct options *o, struct source *src, struct serve *srv)
{
	sigset_t set;
	time_t next, retry = RETRY_MIN;
	int sig, last_error;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	next = serve_expiry(srv) - o->refresh_before;
	for (;;) {
		sig = wait_until(&set, next);
		if (sig == SIGTERM || sig == SIGINT)
			return ERR_OK;
		if (sig == SIGHUP)
			src->reload = true;
		if ((last_error = refresh(src, srv)) == ERR_OK) {
			time_t now = time(NULL), exp = serve_expiry(srv);

			retry = RETRY_MIN;
			next = exp - o->refresh_before;
			/*
			 * The service may grant less than was asked: never
			 * refresh back to back, at most at half-life.
			 */
			if (next <= now)
				next = now + (exp - now > 2 ? (exp - now) / 2 : 1);
			continue;
		}
		/* Never again after a wrong password or PIN: lockouts count. */
		if (err_message() != NULL && last_error == ERR_PASSWORD)
			return last_error;
		/* Keep serving what is still valid; try again, slower each time. */
		log_warn("refresh failed, retrying in %lld s: %s",
		    (long long)retry, err_message() ? err_message() : "");
		next = time(NULL) + retry;
		/* Never past the expiry of what is being served. */
		if (serve_expiry(srv) > time(NULL) && next > serve_expiry(srv))
			next = serve_expiry(srv);
		retry = retry * 2 > RETRY_MAX ? RETRY_MAX : retry * 2;
	}
}

int
cmd_serve(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	struct serve_config cfg;
	struct source src = { 0 };
	struct serve *srv = NULL;
	struct options o;
	char *token = NULL;
	sigset_t set;
	int ret;

	/* A long-lived holder of credentials: no core, no ptrace dumps. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((ret = options_parse(&o, CMD_SERVE, "serve", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK)
		goto out;
	/* The schedule must leave credentials valid when it fires. */
	if (o.refresh_before >= o.session_duration) {
		ret = err_set(ERR_USAGE, "--refresh-before (%ld s) must be "
		    "less than --session-duration (%ld s)", o.refresh_before,
		    o.session_duration);
		goto out;
	}
	if ((ret = source_init(&src, &o)) != ERR_OK ||
	    (ret = ecs_token(&o, &token)) != ERR_OK)
		goto out;
	/*
	 * Blocked after the pre-flight (^C still ends a PIN prompt) and
	 * before any thread starts, so that only sigtimedwait sees them.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	cfg = (struct serve_config){ o.bind, (uint16_t)o.port,
	    (int)o.hop_limit, role_name(o.role_arn), token, NULL, NULL };
	if ((ret = serve_start(&cfg, &srv)) != ERR_OK)
		goto out;
	if (o.bind != NULL && strncmp(o.bind, "127.", 4) != 0 &&
	    strcmp(o.bind, "::1") != 0)
		log_warn("serving credentials on %s: anyone who can reach this "
		    "address and port can take them", o.bind);
	/* Unlike the Go helper, a first failure is an error, not empty creds. */
	if ((ret = refresh(&src, srv)) != ERR_OK)
		goto out;
	print_start(&cfg, serve_port(srv), &o, token);
	ret = run(&o, &src, srv);
out:
	serve_stop(srv);
	secret_free(token);
	source_free(&src);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
