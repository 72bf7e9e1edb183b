/*
 * options_parse over an argv built from the input: the first byte picks the
 * subcommand, then each line is one argument. Invariants: a parse either
 * fails with a message or gives options every subcommand can trust: no
 * stray argument outside exec, numbers in their ranges, no pin-value left
 * in a pkcs11: URI.
 */
#include "err.h"
#include "fuzz.h"
#include "log.h"
#include "options.h"
#include "schedule.h"

#define MAXARGS 64

static const struct {
	unsigned cmd;
	const char *name;
} cmds[] = {
	{ CMD_CREDENTIAL_PROCESS, "credential-process" },
	{ CMD_SERVE, "serve" },
	{ CMD_UPDATE, "update" },
	{ CMD_SIGN_STRING, "sign-string" },
	{ CMD_READ_CERT, "read-certificate-data" },
	{ CMD_EXEC, "exec" },
};

static int
query_has_pin(const char *uri)
{
	const char *a;

	if (uri == NULL || strncmp(uri, "pkcs11:", 7) != 0)
		return 0;
	for (a = strchr(uri, '?'); a != NULL; a = strchr(a + 1, '&'))
		if (strncmp(a + 1, "pin-value=", 10) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *p, *argv[MAXARGS + 1];
	struct options o;
	unsigned which;
	int argc = 1, ret;

	if (size == 0)
		return 0;
	which = data[0] % (sizeof(cmds) / sizeof(cmds[0]));
	buf = fuzz_strndup(data + 1, size - 1);
	argv[0] = strdup(cmds[which].name);
	/* Each argument a heap block of its own, as ASan sees best. */
	for (p = buf; *p != '\0' && argc < MAXARGS; argc++) {
		size_t n = strcspn(p, "\n");

		if ((argv[argc] = strndup(p, n)) == NULL)
			abort();
		p += n + (p[n] == '\n');
	}
	argv[argc] = NULL;

	err_clear();
	ret = options_parse(&o, cmds[which].cmd, cmds[which].name, "", argc,
	    argv);
	log_set_debug(false);
	if (ret == ERR_OK) {
		FUZZ_CHECK(o.argc >= 0 && o.argc <= argc);
		FUZZ_CHECK(cmds[which].cmd == CMD_EXEC || o.argc == 0);
		FUZZ_CHECK(o.timeout >= 1 && o.timeout <= 3600);
		FUZZ_CHECK(o.port >= 0 && o.port <= 65535);
		FUZZ_CHECK(o.hop_limit >= 1 && o.hop_limit <= 255);
		/* -1: not given, the schedule's automatic lead (schedule.h). */
		FUZZ_CHECK(o.refresh_before == SCHED_LEAD_AUTO ||
		    (o.refresh_before >= 0 && o.refresh_before <= 43200));
		FUZZ_CHECK(o.cache_window >= 0 && o.cache_window <= 43200);
		FUZZ_CHECK(!query_has_pin(o.certificate) &&
		    !query_has_pin(o.private_key));
	} else if (ret != -1) {
		FUZZ_CHECK(err_message() != NULL);
	}
	options_free(&o);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(buf);
	return 0;
}
