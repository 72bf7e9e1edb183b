#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "cache.h"
#include "creds.h"
#include "err.h"
#include "identity.h"
#include "log.h"
#include "options.h"
#include "session.h"

static const char usage[] =
"usage: rasign credential-process --certificate FILE|URI [--private-key KEY]\n"
"           [--intermediates FILE] --trust-anchor-arn ARN --profile-arn ARN\n"
"           --role-arn ARN [--session-duration SECONDS]\n"
"           [--role-session-name NAME] [--region REGION] [--endpoint URL]\n"
"           [--pkcs8-password SOURCE] [--pkcs11-lib PATH] [--pkcs11-pin SOURCE]\n"
"           [--pkcs11-context-pin SOURCE] [--reuse-pin]\n"
"           [--cert-selector SELECTOR] [--use-latest-expiring-certificate]\n"
"           [--tpm-tcti TCTI] [--tpm-key-password SOURCE]\n"
"           [--no-tpm-key-password] [--tpm-parent-password SOURCE]\n"
"           [--timeout SECONDS] [--with-proxy] [--no-verify-ssl]\n"
"           [--ca-bundle FILE] [--debug]\n"
"           [--output json|env] [--cache] [--cache-refresh-window SECONDS]\n"
"       rasign credential-process --spiffe-endpoint unix:///PATH|env\n"
"           [--spiffe-id spiffe://ID] --trust-anchor-arn ARN ...\n"
"\n"
"Prints temporary AWS credentials on stdout: credential_process JSON, or\n"
"with --output env, sh lines for eval \"$(rasign credential-process ...)\".\n"
"\n"
"  --certificate FILE|URI    leaf certificate (PEM or DER), a PKCS#12 file,\n"
"                            a PEM file holding both key and certificate,\n"
"                            or a pkcs11: URI (the key is then found too);\n"
"                            env:VAR, fd:N or file:PATH read it from there\n"
"  --private-key KEY         private key (PEM or DER: PKCS#8, encrypted\n"
"                            PKCS#8, PKCS#1, SEC1), a pkcs11: URI, a TSS2\n"
"                            PRIVATE KEY file or handle:0x81000001 (TPM);\n"
"                            env:VAR, fd:N or file:PATH as for --certificate\n"
"  --intermediates FILE      PEM bundle of intermediate CA certificates\n"
"  --trust-anchor-arn ARN    Roles Anywhere trust anchor\n"
"  --profile-arn ARN         Roles Anywhere profile\n"
"  --role-arn ARN            IAM role to assume\n"
"  --session-duration SECS   900 to 43200 (default 3600)\n"
"  --role-session-name NAME  role session name\n"
"  --region REGION           signing region (default: the trust anchor's)\n"
"  --endpoint URL            service URL (default: the region's endpoint)\n"
"  --pkcs8-password SOURCE   password of an encrypted key or PKCS#12 file:\n"
"                            pass:PW, env:VAR, file:PATH, fd:N or PW\n"
"  --pkcs11-lib PATH         use this PKCS#11 module, not p11-kit's list\n"
"  --pkcs11-pin SOURCE       the token's user PIN (sources as above)\n"
"  --pkcs11-context-pin SOURCE  PIN for keys that need it at every signature\n"
"  --reuse-pin               use the user PIN for those keys too\n"
"  --cert-selector SELECTOR  pick the certificate on the PKCS#11 tokens by\n"
"                            Key=x509Subject|x509Issuer|x509Serial,Value=V\n"
"  --use-latest-expiring-certificate  with several matches, the latest\n"
"  --system-store-name NAME  the Go helper's Windows store: accepted, and\n"
"                            ignored, so that its command lines parse\n"
"  --spiffe-endpoint ADDR    certificate, chain and key from the SPIFFE\n"
"                            Workload API at unix:///PATH (env: the\n"
"                            address in $SPIFFE_ENDPOINT_SOCKET)\n"
"  --spiffe-id ID            which SVID (default: the first served)\n"
"  --tpm-tcti TCTI           how to reach the TPM (default: $TPM2OPENSSL_TCTI,\n"
"                            $TPM2TOOLS_TCTI, device:/dev/tpmrm0, tabrmd)\n"
"  --tpm-key-password SOURCE  the TPM key's password\n"
"  --no-tpm-key-password     the TPM key (handle:) has no password\n"
"  --tpm-parent-password SOURCE  the owner hierarchy's or parent's password\n"
"  --cache                   reuse credentials while more than the refresh\n"
"                            window is left ($XDG_RUNTIME_DIR/rasign)\n"
"  --cache-refresh-window SECONDS  default 900\n"
"  --timeout SECONDS         give up after this long (default 30)\n"
"  --with-proxy              accepted for compatibility: proxies from\n"
"                            https_proxy/no_proxy are always honoured\n"
"  --no-verify-ssl           do not verify the endpoint's TLS certificate\n"
"  --ca-bundle FILE          trust only these CAs for the endpoint (PEM;\n"
"                            wins over $AWS_CA_BUNDLE)\n"
"  --debug                   show the request being signed on stderr\n"
"  --output json|env         json (default, no trailing newline), or env:\n"
"                            export AWS_ACCESS_KEY_ID='...' and likewise\n"
"                            AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
"                            AWS_CREDENTIAL_EXPIRATION, one per line\n";

/* The --output value, checked before anything is read or sent. */
static int
check_output(const char *output, bool *env)
{
	*env = false;
	if (output == NULL || strcmp(output, "json") == 0)
		return ERR_OK;
	if (strcmp(output, "env") == 0) {
		*env = true;
		return ERR_OK;
	}
	return err_set(ERR_USAGE, "--output must be json or env, not \"%s\"",
	    output);
}

static int
fetch(const struct options *o, const struct session *s, struct creds *c)
{
	struct identity id;
	int ret;

	if ((ret = identity_open(o, NULL, time(NULL), &id)) != ERR_OK)
		return ret;
	ret = session_create(s, &id, c);
	identity_close(&id);
	return ret;
}

/*
 * With --cache: the cached credentials while they have more than the
 * refresh window left, else new ones, stored for the next call. The
 * entry's lock is held across the fetch so that a crowd of cold calls
 * makes one CreateSession.
 */
static int
get_credentials(const struct options *o, const struct session *s,
    struct creds *c)
{
	struct cache cache;
	int ret;

	if (!o->cache)
		return fetch(o, s, c);
	if ((ret = cache_open(o, s, &cache)) != ERR_OK)
		return ret;
	if (cache_get(&cache, o->cache_window, c) != ERR_OK &&
	    (ret = fetch(o, s, c)) == ERR_OK)
		(void)cache_put(&cache, c);
	cache_close(&cache);
	return ret;
}

int
cmd_credential_process(int argc, char **argv)
{
	struct options o;
	struct session s = { 0 };
	struct creds c = { 0 };
	char *text = NULL;
	bool env;
	int ret;

	if ((ret = options_parse(&o, CMD_CREDENTIAL_PROCESS,
	    "credential-process", usage, argc, argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret != ERR_OK ||
	    (ret = check_output(o.output, &env)) != ERR_OK ||
	    (ret = session_prepare(&o, &s)) != ERR_OK ||
	    (ret = get_credentials(&o, &s, &c)) != ERR_OK ||
	    (ret = env ? creds_env_lines(&c, &text) :
	    creds_process_json(&c, &text)) != ERR_OK)
		goto out;
	/* JSON has no trailing newline, as the Go helper's (spec §1.3). */
	if (fputs(text, stdout) == EOF || fflush(stdout) == EOF)
		ret = err_set(ERR_INTERNAL, "cannot write the credentials to "
		    "standard output");
out:
	creds_free_string(text);
	creds_free(&c);
	session_free(&s);
	options_free(&o);
	return ret == ERR_OK ? EXIT_OK : cmd_fail(ret);
}
