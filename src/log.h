/* Diagnostics on stderr. stdout is reserved for results: the SDK parses it. */
#ifndef RASIGN_LOG_H
#define RASIGN_LOG_H

#include <stdbool.h>

void log_set_debug(bool on);
bool log_debug_enabled(void);
/* Only for text that holds no secret: callers never pass PINs, keys or tokens. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a multi-line block under a heading, each line prefixed, in debug mode. */
void log_debug_block(const char *heading, const char *text);

#endif
