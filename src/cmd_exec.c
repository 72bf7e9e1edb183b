/* rasign exec: being written (issue 5). */
#include "cmd.h"
#include "err.h"

int
cmd_exec(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_fail(err_set(ERR_USAGE, "exec is not available yet"));
}
