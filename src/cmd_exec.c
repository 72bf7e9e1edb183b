/*
 * rasign exec: runs a command with temporary credentials in its environment.
 *
 * The command replaces rasign (execve in place) rather than running as a
 * child: no parent is left holding the session credentials or an open
 * signer, the command's exit status and death by a signal reach the caller
 * unchanged, and signals sent to "rasign exec" reach the command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "creds.h"
#include "err.h"
#include "keyauth.h"
#include "log.h"
#include "options.h"
#include "source.h"

/* What a shell returns for a command it cannot run. */
#define EXIT_CANNOT_EXEC 127

static const char usage[] =
"usage: rasign exec --certificate FILE|URI [--private-key KEY]\n"
"           [--intermediates FILE] --trust-anchor-arn ARN --profile-arn ARN\n"
"           --role-arn ARN [credential-process options] [--]\n"
"           COMMAND [ARG ...]\n"
"\n"
"Runs COMMAND with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
"AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION set in its environment,\n"
"in place of rasign; the exit status is the command's. The credentials\n"
"are not renewed: they last --session-duration seconds (default 3600).\n"
"AWS_PROFILE and AWS_REGION are passed on unchanged; the SDKs and the CLI\n"
"prefer these environment credentials to those of AWS_PROFILE's profile.\n"
"\n"
"Takes every option of credential-process except --output, --cache and\n"
"--cache-refresh-window; see 'rasign credential-process --help'. COMMAND\n"
"is looked up in PATH. Exit status 127: COMMAND could not be run.\n";

/* Set for the command; any other value of these in our environment goes. */
static const char *const set_names[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION",
	/* Old boto's name for the session token: a stale one must not linger. */
	"AWS_SECURITY_TOKEN",
};
#define NSET 4			/* the first four are set, the last only removed */
#define NNAMES (sizeof(set_names) / sizeof(set_names[0]))

static int
is_replaced(const char *entry)
{
	for (size_t i = 0; i < NNAMES; i++) {
		size_t n = strlen(set_names[i]);

		if (strncmp(entry, set_names[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	return 0;
}

static void
free_vars(char **vars)
{
	for (int i = 0; i < NSET; i++) {
		if (vars[i] != NULL)
			OPENSSL_clear_free(vars[i], strlen(vars[i]));
		vars[i] = NULL;
	}
}

/*
 * The command's environment: ours less the names above, then NAME=value for
 * the four credentials. vars[] gets those four strings (the caller wipes
 * them); the other pointers are borrowed from environ.
 */
static int
build_env(const struct creds *c, char *vars[NSET], char ***out)
{
	const char *values[NSET] = { c->access_key_id, c->secret_access_key,
	    c->session_token, c->expiration };
	char **env;
	size_t n = 0, k = 0;
	int ret = ERR_NOMEM;

	*out = NULL;
	memset(vars, 0, NSET * sizeof(vars[0]));
	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + NSET + 1, sizeof(env[0]))) == NULL)
		return ERR_NOMEM;
	/* Nor what rasign set for itself (log_init's TSS2_LOG). */
	for (size_t i = 0; i < n; i++)
		if (!is_replaced(environ[i]) && !log_env_ours(environ[i]))
			env[k++] = environ[i];
	for (int i = 0; i < NSET; i++) {
		size_t len = strlen(set_names[i]) + strlen(values[i]) + 2;

		if ((vars[i] = OPENSSL_malloc(len)) == NULL)
			goto out;
		snprintf(vars[i], len, "%s=%s", set_names[i], values[i]);
		env[k++] = vars[i];
	}
	env[k] = NULL;
	*out = env;
	env = NULL;
	ret = ERR_OK;
out:
	if (ret != ERR_OK)
		free_vars(vars);
	free(env);
	return ret;
}

int
cmd_exec(int argc, char **argv)
{
	struct options o;
	struct source src;
	struct creds c = { 0 };
	char *vars[NSET] = { NULL }, **env = NULL, **cmd;
	int have_src = 0, ret, saved_errno;

	/* main() lowered the core limit while we hold a key: see below. */
	if ((ret = options_parse(&o, CMD_EXEC, "exec", usage, argc, argv)) < 0)
		return EXIT_OK;	/* --help */
	if (ret == ERR_OK && o.argc < 1)
		ret = err_set(ERR_USAGE, "exec needs a command: rasign exec "
		    "[options] -- COMMAND [ARG ...]");
	if (ret != ERR_OK)
		goto out;
	/* The command is ours; session_prepare refuses stray arguments. */
	cmd = o.argv;
	o.argc = 0;
	o.argv = NULL;
	if ((ret = source_init(&src, &o)) != ERR_OK)
		goto out;
	have_src = 1;
	if ((ret = source_fetch(&src, &c)) != ERR_OK)
		goto out;
	/* The signer is closed and the passwords wiped before the command runs. */
	source_free(&src);
	have_src = 0;
	/* The command must not inherit the key (--private-key env:VAR). */
	keyfiles_unsetenv(&o);
	options_free(&o);
	if ((ret = build_env(&c, vars, &env)) != ERR_OK)
		goto out;
	creds_free(&c);
	/* The command gets the core limit it would have had without us. */
	cmd_restore_limits();
	fflush(NULL);
	/* execvpe: PATH is looked up in our environment, which is the same. */
	execvpe(cmd[0], cmd, env);
	saved_errno = errno;
	free_vars(vars);
	free(env);
	log_error("cannot run %s: %s", cmd[0], strerror(saved_errno));
	return EXIT_CANNOT_EXEC;
out:
	free_vars(vars);
	free(env);
	creds_free(&c);
	if (have_src)
		source_free(&src);
	options_free(&o);
	return cmd_fail(ret);
}
