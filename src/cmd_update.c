/* rasign update: being written (issue 5). */
#include "cmd.h"
#include "err.h"

int
cmd_update(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_fail(err_set(ERR_USAGE, "update is not available yet"));
}
