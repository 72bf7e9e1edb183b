/*
 * rasign: IAM Roles Anywhere credentials from keys that never leave their
 * file, token or TPM. A drop-in for AWS's aws_signing_helper.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmd.h"
#include "err.h"

static const struct command {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{ "credential-process", cmd_credential_process,
	    "print credentials for the AWS SDKs' credential_process" },
	{ "serve", cmd_serve,
	    "serve credentials on a local IMDSv2 and ECS endpoint" },
	{ "update", cmd_update,
	    "keep a profile of the shared credentials file fresh" },
	{ "exec", cmd_exec, "run a command with credentials in its environment" },
	{ "sign-string", cmd_sign_string,
	    "sign a fixed test string with the key" },
	{ "read-certificate-data", cmd_read_certificate_data,
	    "show a certificate, or list those a pkcs11: URI matches" },
	{ "version", cmd_version, "print the version" },
};

static void
usage(FILE *f)
{
	fputs("usage: rasign command [options]\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-20s %s\n", commands[i].name,
		    commands[i].summary);
	fputs("\n'rasign COMMAND --help' lists a command's options; "
	    "rasign(1) has the details.\n", f);
}

int
cmd_fail(int code)
{
	const char *msg = err_message();

	fprintf(stderr, "rasign: %s\n", msg != NULL ? msg :
	    err_strerror(code));
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

int
main(int argc, char **argv)
{
	const char *name;
	int ret;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	name = argv[1];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		json_set_alloc_funcs(malloc, wiping_free);
		/* libcurl starts on first use (http.c): a cache hit never needs it. */
		ret = commands[i].run(argc - 1, argv + 1);
		return ret;
	}
	fprintf(stderr, "rasign: unknown command \"%s\"; run 'rasign --help' "
	    "for the list\n", name);
	return EXIT_USAGE;
}
