/* rasign serve: being written (issue 5). */
#include "cmd.h"
#include "err.h"

int
cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_fail(err_set(ERR_USAGE, "serve is not available yet"));
}
