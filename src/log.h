/* Diagnostics on stderr. stdout is reserved for results: the SDK parses it. */
#ifndef RASIGN_LOG_H
#define RASIGN_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Called once by main() before a subcommand runs: quiets libraries' logs. */
void log_init(void);
/* Is this environment entry ("NAME=value") ours rather than the user's? */
bool log_env_ours(const char *entry);
void log_set_debug(bool on);
/*
 * serve and update: every line from now on starts with the time, in the Go
 * helper's log format ("2006/01/02 15:04:05 ", local time), unless stderr
 * goes to the journal, which stamps lines itself.
 */
void log_set_stamps(bool on);
bool log_debug_enabled(void);
/* Only for text that holds no secret: callers never pass PINs, keys or tokens. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "rasign: " and the message: the one line of a failed command. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "rasign: " and an event a long-running command reports (a reload, say). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message alone: the lines the Go helper prints without a prefix. */
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a multi-line block under a heading, each line prefixed, in debug mode. */
void log_debug_block(const char *heading, const char *text);

/*
 * Makes text from outside (a service's answer, a certificate's name, a
 * token's label) safe for a terminal: well-formed UTF-8 is kept; newline,
 * CR and tab become spaces; every other C0 or C1 control, DEL, a bidi
 * override and any byte of malformed UTF-8 is written as \xHH. Reads up to
 * srclen bytes or a NUL; dst always ends in a NUL and is cut only between
 * characters. Every line log_* writes passes through it, and so does every
 * message err_set() records.
 */
void log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
