/* Command-line options, Go-helper compatible (spec §1), parsed with getopt_long. */
#ifndef RASIGN_OPTIONS_H
#define RASIGN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Which subcommands accept an option: a bit per subcommand. */
enum {
	CMD_CREDENTIAL_PROCESS = 1 << 0,
	CMD_SERVE = 1 << 1,
	CMD_UPDATE = 1 << 2,
	CMD_SIGN_STRING = 1 << 3,
	CMD_READ_CERT = 1 << 4,
	CMD_EXEC = 1 << 5,
	CMD_VERSION = 1 << 6,	/* takes no option but --help */
};

#define DEFAULT_SESSION_DURATION 3600
#define DEFAULT_TIMEOUT 30
#define DEFAULT_PORT 9911
#define DEFAULT_HOP_LIMIT 64
#define DEFAULT_REFRESH_BEFORE (-1)	/* automatic: SCHED_LEAD_AUTO, schedule.h */

struct options {
	/* certificate and key */
	const char *certificate;
	const char *private_key;
	char *uri_pin;			/* pin-value taken out of a pkcs11: URI */
	const char *intermediates;
	char *pkcs8_password;		/* pass-phrase source; copied, wiped from argv */
	/* PKCS#11 and TPM options, parsed now for the backends to come */
	const char *pkcs11_lib;
	char *pkcs11_pin;		/* pass-phrase source; extension */
	char *pkcs11_context_pin;	/* pass-phrase source; extension */
	bool reuse_pin;
	char *tpm_key_password;		/* pass-phrase source */
	bool no_tpm_key_password;
	char *tpm_parent_password;	/* pass-phrase source; extension */
	const char *tpm_tcti;		/* extension */
	const char *cert_selector;
	const char *system_store_name;
	bool use_latest_expiring;
	/* the SPIFFE Workload API instead of a certificate and key; extension */
	const char *spiffe_endpoint;	/* unix:///path, or "env" */
	const char *spiffe_id;		/* which SVID; NULL: the first */
	/* the request */
	const char *trust_anchor_arn;
	const char *profile_arn;
	const char *role_arn;
	const char *region;
	const char *endpoint;
	const char *ca_bundle;		/* extension: wins over AWS_CA_BUNDLE */
	const char *role_session_name;
	long session_duration;
	/* transport and diagnostics */
	bool with_proxy;
	bool no_verify_ssl;
	bool debug;
	long timeout;			/* seconds, whole request; extension */
	/* serve */
	long port;
	long hop_limit;
	const char *bind;
	const char *ecs_token_file;
	long refresh_before;		/* seconds before expiry; extension */
	/* sign-string */
	const char *format;
	const char *digest;
	/* credential-process: json (default) or env; extension */
	const char *output;
	bool cache;			/* extension */
	long cache_window;		/* seconds; extension */
	/* update */
	const char *profile;		/* section of the credentials file */
	bool once;
	/* the command's own arguments after the options */
	int argc;
	char **argv;
};

/*
 * Parses argv (argv[0] is the subcommand) for the subcommand whose bit is
 * `cmd`, and turns on --debug logging. Returns ERR_OK, ERR_USAGE with a
 * one-line message (every required flag that is missing named at once),
 * or -1 after --help was printed and everything freed (the caller exits 0).
 */
int options_parse(struct options *, unsigned cmd, const char *cmdname,
    const char *usage, int argc, char **argv);
void options_free(struct options *);

/* Option number i of the table, as completion offers it; false past the end. */
struct optinfo {
	const char *name;
	unsigned cmds;		/* the CMD_* bits that take it */
	bool value;		/* takes a value */
	const char *values;	/* offered values, "@file": file names; or NULL */
};
bool options_info(size_t i, struct optinfo *);

#endif
