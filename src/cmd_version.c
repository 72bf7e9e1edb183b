#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "options.h"
#include "provider.h"
#include "version.h"

static const char usage[] =
"usage: rasign version\n"
"\n"
"Prints the version on the first line, as the Go helper does, and on the\n"
"second the signing backends this rasign was built with, e.g.\n"
"\"backends: pkcs11 tpm2 file\".\n";

int
cmd_version(int argc, char **argv)
{
	struct options o;
	int ret;

	/* Strict like every subcommand: "version extra" is a mistake. */
	if ((ret = options_parse(&o, CMD_VERSION, "version", usage, argc,
	    argv)) < 0)
		return EXIT_OK;	/* --help */
	options_free(&o);
	if (ret != ERR_OK)
		return cmd_fail(ret);
	/* The first line is the Go helper's: scripts compare it. */
	puts(RASIGN_VERSION);
	fputs("backends:", stdout);
	for (const struct provider *const *p = provider_all(); *p != NULL; p++)
		printf(" %s", (*p)->name);
	putchar('\n');
	return EXIT_OK;
}
