/*
 * rasign: IAM Roles Anywhere credentials from keys that never leave their
 * file, token or TPM. A drop-in for AWS's aws_signing_helper.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmd.h"
#include "err.h"
#include "log.h"
#include "options.h"

static const struct command {
	const char *name;
	int (*run)(int, char **);
	/*
	 * Not ptrace-able, no dumps: long-running modes, and every mode that
	 * may log in to a token or read a key (PIN, key and session secrets
	 * in memory).
	 */
	bool nondumpable;
	unsigned bit;		/* options.h: whose options it takes */
	const char *summary;
} commands[] = {
	{ "credential-process", cmd_credential_process, true,
	    CMD_CREDENTIAL_PROCESS,
	    "print credentials for the AWS SDKs' credential_process" },
	{ "serve", cmd_serve, true, CMD_SERVE,
	    "serve credentials on a local IMDSv2 and ECS endpoint" },
	{ "update", cmd_update, true, CMD_UPDATE,
	    "keep a profile of the shared credentials file fresh" },
	{ "exec", cmd_exec, true, CMD_EXEC,
	    "run a command with credentials in its environment" },
	{ "sign-string", cmd_sign_string, true, CMD_SIGN_STRING,
	    "sign a fixed test string with the key" },
	{ "read-certificate-data", cmd_read_certificate_data, true,
	    CMD_READ_CERT,
	    "show a certificate, or list those a pkcs11: URI matches" },
	{ "version", cmd_version, false, CMD_VERSION,
	    "print the version and the backends built in" },
	{ "completion", cmd_completion, false, 0,
	    "print a shell completion script (bash, zsh, fish)" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *
cmd_info(size_t i, unsigned *bit, const char **summary)
{
	if (i >= NCOMMANDS)
		return NULL;
	if (bit != NULL)
		*bit = commands[i].bit;
	if (summary != NULL)
		*summary = commands[i].summary;
	return commands[i].name;
}

/* The core file size limit we were started with, for a command we exec. */
static struct rlimit core_limit;
static bool have_core_limit;

/*
 * One start for every subcommand, before it parses anything (OpenSSH's
 * sanitise_stdfd and platform_disable_tracing):
 * - fds 0-2 open, on /dev/null if they were closed, so that no file we
 *   open (a credentials file, a token's socket) becomes stdout or stderr;
 * - no core file: the soft limit goes to 0 (the hard one stays, so exec
 *   can give the user's limit back to its command);
 * - not dumpable for modes that hold secrets: no core either way, and
 *   other processes of the same user cannot ptrace or read our memory.
 */
static void
harden(const struct command *c)	/* NULL: not a subcommand */
{
	struct rlimit none;
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(EXIT_INTERNAL);	/* nowhere to say why */
	if (getrlimit(RLIMIT_CORE, &core_limit) == 0) {
		have_core_limit = true;
		none = core_limit;
		none.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &none);
	}
	if (c != NULL && c->nondumpable)
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void
cmd_restore_limits(void)
{
	if (have_core_limit)
		(void)setrlimit(RLIMIT_CORE, &core_limit);
}

static void
usage(FILE *f)
{
	fputs("usage: rasign command [options]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-20s %s\n", commands[i].name,
		    commands[i].summary);
	fputs("\n'rasign COMMAND --help' or 'rasign help COMMAND' lists a "
	    "command's options;\nrasign(1) has the details.\n", f);
}

int
cmd_fail(int code)
{
	const char *msg = err_message();

	log_error("%s", msg != NULL ? msg : err_strerror(code));
	return err_exit_code(code);
}

/*
 * jansson's parser and encoder grow and free buffers that held secret
 * keys and session tokens: wipe every block it frees.
 */
static void
wiping_free(void *p)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

static const struct command *
find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* An option's value is never echoed: it may be a password. */
static int
unknown_command(const char *name)
{
	log_error("unknown command \"%.*s\"; run 'rasign --help' for the "
	    "list", (int)strcspn(name, "="), name);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	const struct command *c = find(name);
	char help_word[] = "--help", *help_argv[3] = { NULL, help_word, NULL };

	harden(c);
	/* "rasign help COMMAND" is "rasign COMMAND --help". */
	if (strcmp(name, "help") == 0 && argc > 2 &&
	    strcmp(argv[2], "help") != 0) {
		if (argc > 3) {
			log_error("help takes one command: 'rasign help "
			    "COMMAND'");
			return EXIT_USAGE;
		}
		if ((c = find(argv[2])) == NULL)
			return unknown_command(argv[2]);
		help_argv[0] = argv[2];
		return c->run(2, help_argv);
	}
	if (argc < 2 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(name, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if (c == NULL)
		return unknown_command(name);
	/* Before anything could load tpm2-tss: see log_init. */
	log_init();
	json_set_alloc_funcs(malloc, wiping_free);
	/* libcurl starts on first use (http.c): a cache hit never needs it. */
	return c->run(argc - 1, argv + 1);
}
