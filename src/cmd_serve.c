/*
 * rasign serve (spec §7): credentials for SDKs on a local IMDSv2 endpoint
 * and an ECS container-credentials endpoint. Unlike the Go helper it
 * refreshes in the background before expiry, keeps serving the valid
 * credentials through a failed refresh (retrying with backoff), and
 * answers an error, never empty credentials, once they have expired.
 *
 * The main thread owns the credential source and runs the refresh loop
 * (refresher.c, shared with update). libmicrohttpd's threads read the
 * credentials under serve.c's lock; one that finds them expired (after a
 * laptop resumes, say) wakes the loop and waits for the refresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cmd.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "refresher.h"
#include "secret.h"
#include "serve.h"
#include "systemd.h"
#include "source.h"

/* How long a request waits for a refresh it asked for. */
#define WAIT_FRESH 2	/* botocore gives IMDS 1 s and ECS 2 s */

static const char usage[] =
"usage: rasign serve --certificate FILE|URI [--private-key KEY]\n"
"           --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN\n"
"           [credential-process options] [--port PORT] [--bind ADDRESS]\n"
"           [--hop-limit N] [--ecs-token-file FILE]\n"
"           [--refresh-before SECONDS]\n"
"\n"
"Serves credentials on http://127.0.0.1:PORT/ for\n"
"AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDSv2) and\n"
"AWS_CONTAINER_CREDENTIALS_FULL_URI (" SERVE_ECS_PATH "), and renews\n"
"them before they expire. SIGHUP re-reads the certificate and key. A\n"
"wrong PIN or password ends it (exit 4).\n"
"\n"
"  --port PORT               TCP port, 0 to 65535 (default 9911; 0: any\n"
"                            free port, shown at start)\n"
"  --bind ADDRESS            numeric IPv4 or IPv6 address to listen on\n"
"                            (default 127.0.0.1; see rasign(1) first)\n"
"  --hop-limit N             IP TTL / IPv6 hop limit of the answers, 1 to\n"
"                            255 (default 64; 1: no router passes them)\n"
"  --ecs-token-file FILE     the ECS endpoint's token: the file's first\n"
"                            line, read once (default: a random one)\n"
"  --refresh-before SECONDS  renew this long before expiry (default 1200,\n"
"                            at most 3/4 of the session duration)\n"
"\n"
"The other options are those of credential-process except --output,\n"
"--cache and --cache-refresh-window; see 'rasign credential-process\n"
"--help' and rasign(1).\n";

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
deliver(void *cls, struct creds *c, time_t expiry)
{
	serve_set_creds(cls, c, expiry);
	log_debug("credentials refreshed; they expire in %lld s",
	    (long long)(expiry - time(NULL)));
	return ERR_OK;
}

static void
wait_fresh(void *cls)
{
	refresher_wait_fresh(cls, WAIT_FRESH);
}

/* The Go helper's lines (spec §7.1), each a log line, then ours. */
static void
print_start(const struct serve *srv, const struct options *o,
    const char *token)
{
	const char *host = serve_host(srv);
	unsigned port = serve_port(srv);
	const char *br = strchr(host, ':') ? "[" : "", *ket = *br ? "]" : "";

	log_plain("Local server started on port: %u", port);
	log_plain("Make it available to the sdk by running:");
	log_plain("export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://%s%s%s:%u/",
	    br, host, ket, port);
	log_plain("or, for the ECS container-credentials form:");
	log_plain("export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://%s%s%s:%u%s",
	    br, host, ket, port, SERVE_ECS_PATH);
	/* The token is the client's key to the endpoint: it must see it. */
	if (o->ecs_token_file != NULL) {
		log_plain("export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s",
		    o->ecs_token_file);
		/*
		 * The SDKs learnt the _FILE form with EKS Pod Identity (late
		 * 2023); an older client sends no token and gets 401.
		 */
		log_plain("# AWS CLIs and SDKs from before late 2023 ignore "
		    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; for them: export "
		    "AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat %s)\"",
		    o->ecs_token_file);
	} else {
		log_plain("export AWS_CONTAINER_AUTHORIZATION_TOKEN=%s", token);
	}
	fflush(stderr);
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_config cfg;
	struct source src = { 0 };
	struct refresher r = { 0 };
	struct serve *srv = NULL;
	struct options o;
	char *token = NULL;
	int ret, listen_fd = -1;

	if ((ret = options_parse(&o, CMD_SERVE, "serve", usage, argc,
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
	if ((ret = systemd_listen_fd(&listen_fd)) != ERR_OK ||
	    (ret = source_init(&src, &o)) != ERR_OK ||
	    (ret = source_watch(&src)) != ERR_OK ||
	    (ret = ecs_token(&o, &token)) != ERR_OK ||
	    (ret = refresher_init(&r, &src, o.refresh_before,
	    o.session_duration)) != ERR_OK)
		goto out;
	cfg = (struct serve_config){ .bind = o.bind, .port = (uint16_t)o.port,
	    .activated = listen_fd >= 0, .listen_fd = listen_fd,
	    .hop_limit = (int)o.hop_limit, .role_name = role_name(o.role_arn),
	    .ecs_token = token, .wait_fresh = wait_fresh,
	    .wait_fresh_cls = &r };
	if ((ret = serve_start(&cfg, &srv)) != ERR_OK)
		goto out;
	r.deliver = deliver;
	r.cls = srv;
	/*
	 * Unlike the Go helper, no credentials at the start is an error, not
	 * empty ones served; short-lived ones are served and retried.
	 */
	if ((ret = refresher_refresh(&r)) != ERR_OK) {
		if (serve_expiry(srv) == 0)
			goto out;
		refresher_warn(&r, ret);
	}
	print_start(srv, &o, token);
	/* Ready for systemd only now: there is something to serve. */
	systemd_ready(serve_expiry(srv), r.next);
	ret = refresher_run(&r);
out:
	/* The handlers may call into the refresher until the server stops. */
	serve_stop(srv);
	refresher_free(&r);
	secret_free(token);
	source_free(&src);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
