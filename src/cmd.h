/* One function per subcommand; argv[0] is the subcommand's name. */
#ifndef RASIGN_CMD_H
#define RASIGN_CMD_H

#include <stddef.h>

int cmd_credential_process(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_sign_string(int argc, char **argv);
int cmd_read_certificate_data(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_completion(int argc, char **argv);

/*
 * The subcommands, for completion: the name of number i (NULL past the
 * last), its options.h bit (0: takes no option) and its one-line summary.
 */
const char *cmd_info(size_t i, unsigned *bit, const char **summary);

/* Prints the error recorded for `code` as one line and returns the exit code. */
int cmd_fail(int code);

/* Gives back the core file size limit main() lowered, for exec's command. */
void cmd_restore_limits(void);

#endif
