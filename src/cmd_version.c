#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "version.h"

int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* Like the Go helper: the bare version and a newline. */
	puts(RASIGN_VERSION);
	return EXIT_OK;
}
