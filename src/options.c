#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "log.h"
#include "options.h"
#include "secret.h"

enum kind { STR, SECRET, BOOL, INT };

#define CRED (CMD_CREDENTIAL_PROCESS | CMD_SERVE | CMD_UPDATE | CMD_EXEC)
#define SIGN (CRED | CMD_SIGN_STRING)

/* Every option of every subcommand; `cmds` says who accepts it (spec §1.2-1.7). */
static const struct optdef {
	const char *name;
	enum kind kind;
	unsigned cmds;
	size_t off;
	long min, max;		/* INT: the range allowed (when max > min) */
	/*
	 * For completion: the values offered, space-separated; "@file" for
	 * file names. A SECRET takes the pass-phrase source prefixes.
	 */
	const char *values;
} optdefs[] = {
#define O(f) offsetof(struct options, f), 0, 0, NULL
#define OV(f, v) offsetof(struct options, f), 0, 0, v
#define R(f, min, max) offsetof(struct options, f), min, max, NULL
	{ "certificate", STR, SIGN | CMD_READ_CERT, OV(certificate,
	    "@file pkcs11: env: fd: file:") },
	{ "private-key", STR, SIGN, OV(private_key,
	    "@file pkcs11: handle: env: fd: file:") },
	{ "intermediates", STR, CRED, OV(intermediates,
	    "@file env: fd: file:") },
	{ "pkcs8-password", SECRET, SIGN, O(pkcs8_password) },
	{ "pkcs11-lib", STR, SIGN | CMD_READ_CERT, OV(pkcs11_lib, "@file") },
	{ "pkcs11-pin", SECRET, SIGN | CMD_READ_CERT, O(pkcs11_pin) },
	{ "pkcs11-context-pin", SECRET, SIGN, O(pkcs11_context_pin) },
	{ "reuse-pin", BOOL, SIGN, O(reuse_pin) },
	{ "tpm-key-password", SECRET, SIGN, O(tpm_key_password) },
	{ "no-tpm-key-password", BOOL, SIGN, O(no_tpm_key_password) },
	{ "tpm-parent-password", SECRET, SIGN, O(tpm_parent_password) },
	{ "tpm-tcti", STR, SIGN, OV(tpm_tcti,
	    "device:/dev/tpmrm0 device:/dev/tpm0 tabrmd: swtpm:") },
	{ "cert-selector", STR, SIGN | CMD_READ_CERT, O(cert_selector) },
	{ "system-store-name", STR, SIGN | CMD_READ_CERT, O(system_store_name) },
	{ "use-latest-expiring-certificate", BOOL, SIGN, O(use_latest_expiring) },
	{ "spiffe-endpoint", STR, SIGN | CMD_READ_CERT, OV(spiffe_endpoint,
	    "env unix://") },
	{ "spiffe-id", STR, SIGN | CMD_READ_CERT, OV(spiffe_id, "spiffe://") },
	{ "trust-anchor-arn", STR, CRED, O(trust_anchor_arn) },
	{ "profile-arn", STR, CRED, O(profile_arn) },
	{ "role-arn", STR, CRED, O(role_arn) },
	{ "region", STR, CRED, O(region) },
	{ "endpoint", STR, CRED, O(endpoint) },
	{ "ca-bundle", STR, CRED, OV(ca_bundle, "@file") },
	{ "role-session-name", STR, CRED, O(role_session_name) },
	{ "session-duration", INT, CRED, O(session_duration) },
	{ "with-proxy", BOOL, CRED, O(with_proxy) },
	{ "no-verify-ssl", BOOL, CRED, O(no_verify_ssl) },
	{ "timeout", INT, CRED, R(timeout, 1, 3600) },
	{ "debug", BOOL, SIGN | CMD_READ_CERT, O(debug) },
	{ "port", INT, CMD_SERVE, R(port, 0, 65535) },
	{ "hop-limit", INT, CMD_SERVE, R(hop_limit, 1, 255) },
	{ "bind", STR, CMD_SERVE, OV(bind, "127.0.0.1 ::1") },
	{ "ecs-token-file", STR, CMD_SERVE, OV(ecs_token_file, "@file") },
	{ "refresh-before", INT, CMD_SERVE | CMD_UPDATE, R(refresh_before,
	    0, 43200) },
	{ "format", STR, CMD_SIGN_STRING, OV(format, "json text bin") },
	{ "digest", STR, CMD_SIGN_STRING, OV(digest, "SHA256 SHA384 SHA512") },
	{ "profile", STR, CMD_UPDATE, O(profile) },
	{ "once", BOOL, CMD_UPDATE, O(once) },
	{ "output", STR, CMD_CREDENTIAL_PROCESS, OV(output, "json env") },
	{ "cache", BOOL, CMD_CREDENTIAL_PROCESS, O(cache) },
	{ "cache-refresh-window", INT, CMD_CREDENTIAL_PROCESS,
	    R(cache_window, 0, 43200) },
#undef O
#undef OV
#undef R
};
#define NOPTS (sizeof(optdefs) / sizeof(optdefs[0]))

/*
 * Pairs that cannot be given together (spec §1.2, §1.6), less two: here
 * --cert-selector searches PKCS#11 tokens, and a YubiKey holds no
 * intermediates, so --intermediates goes with it.
 */
static const char *const exclusive[][2] = {
	{ "certificate", "cert-selector" },
	{ "certificate", "system-store-name" },
	{ "private-key", "cert-selector" },
	{ "private-key", "system-store-name" },
	{ "private-key", "use-latest-expiring-certificate" },
	{ "use-latest-expiring-certificate", "reuse-pin" },
	{ "cert-selector", "reuse-pin" },
	{ "system-store-name", "reuse-pin" },
	{ "tpm-key-password", "cert-selector" },
	{ "tpm-key-password", "reuse-pin" },
	{ "no-tpm-key-password", "cert-selector" },
	{ "no-tpm-key-password", "tpm-key-password" },
	{ "pkcs8-password", "tpm-key-password" },
	{ "reuse-pin", "pkcs11-context-pin" },
	/* An SVID brings its certificate, chain and key. */
	{ "spiffe-endpoint", "certificate" },
	{ "spiffe-endpoint", "private-key" },
	{ "spiffe-endpoint", "intermediates" },
	{ "spiffe-endpoint", "cert-selector" },
	{ "spiffe-endpoint", "system-store-name" },
};

/*
 * What a credential command cannot run without. A row is met by any of its
 * flags with a value that is not empty; the first names it.
 */
static const char *const required[][4] = {
	{ "certificate", "private-key", "cert-selector", "spiffe-endpoint" },
	{ "trust-anchor-arn" },
	{ "profile-arn" },
	{ "role-arn" },
};

/* Errors name the flag, never its value: that may be a misplaced password. */
static int
parse_bool(const char *name, const char *arg, bool *out)
{
	if (arg == NULL || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0) {
		*out = true;
		return ERR_OK;
	}
	if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0) {
		*out = false;
		return ERR_OK;
	}
	return err_set(ERR_USAGE, "--%s takes no value, or =true or =false",
	    name);
}

/* Decimal only: the Go helper's octal reading of "010" surprises (spec §14.2 #19). */
static int
parse_int(const struct optdef *d, const char *arg, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0)
		return err_set(ERR_USAGE, "--%s needs a whole number", d->name);
	if (d->max > d->min && (v < d->min || v > d->max))
		return err_set(ERR_USAGE, "--%s must be between %ld and %ld",
		    d->name, d->min, d->max);
	*out = v;
	return ERR_OK;
}

/*
 * Password values are copied and then wiped from argv so that they do not
 * stay readable in /proc/PID/cmdline for the life of the process.
 */
static int
take_secret(char *arg, char **out)
{
	size_t len = strlen(arg);

	if (*out != NULL)
		OPENSSL_clear_free(*out, strlen(*out));
	if ((*out = OPENSSL_malloc(len + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(*out, arg, len + 1);
	OPENSSL_cleanse(arg, len);
	return ERR_OK;
}

/*
 * Every pin-value in a pkcs11: URI leaves argv at once, so that none stays
 * in /proc/PID/cmdline or reaches a message. Of several in one URI the
 * first is used; of a PIN in both URIs, the key's.
 */
static int
take_uri_pin(struct options *o, char *uri)
{
	size_t len = strlen(uri), left;
	char *pin = NULL, *more = NULL, *p;
	int ret;

	if ((ret = secret_take_uri_pin(uri, &pin)) != ERR_OK)
		goto out;
	while ((ret = secret_take_uri_pin(uri, &more)) == ERR_OK &&
	    more != NULL) {
		secret_free(more);
		more = NULL;
	}
	if (ret != ERR_OK)
		goto out;
	if (pin != NULL && (o->uri_pin == NULL || uri != o->certificate)) {
		secret_free(o->uri_pin);
		o->uri_pin = pin;
		pin = NULL;
	}
out:
	/* One in the path part, refused above, loses its value too. */
	while ((p = strstr(uri, "pin-value=")) != NULL)
		OPENSSL_cleanse(p, strcspn(p, ";?&"));
	/*
	 * Cutting moved the URI's tail left: the bytes beyond its new end
	 * held copies of it, and of any later PIN.
	 */
	if ((left = strlen(uri)) < len)
		OPENSSL_cleanse(uri + left, len - left);
	secret_free(pin);
	return ret;
}

static int
store(struct options *o, const struct optdef *d, char *arg)
{
	void *field = (char *)o + d->off;

	switch (d->kind) {
	case STR:
		*(const char **)field = arg;
		return strncmp(arg, "pkcs11:", 7) == 0 ? take_uri_pin(o, arg) :
		    ERR_OK;
	case SECRET:
		return take_secret(arg, (char **)field);
	case BOOL:
		return parse_bool(d->name, arg, (bool *)field);
	case INT:
		return parse_int(d, arg, (long *)field);
	}
	return ERR_INTERNAL;
}

static int
check_exclusive(const bool *given)
{
	size_t i, a, b;

	for (i = 0; i < sizeof(exclusive) / sizeof(exclusive[0]); i++) {
		for (a = 0; a < NOPTS; a++)
			if (strcmp(optdefs[a].name, exclusive[i][0]) == 0)
				break;
		for (b = 0; b < NOPTS; b++)
			if (strcmp(optdefs[b].name, exclusive[i][1]) == 0)
				break;
		if (a < NOPTS && b < NOPTS && given[a] && given[b])
			return err_set(ERR_USAGE, "--%s and --%s cannot be "
			    "used together", optdefs[a].name, optdefs[b].name);
	}
	return ERR_OK;
}

/* Levenshtein distance of two short option names; 99 when too long. */
static size_t
distance(const char *a, size_t alen, const char *b)
{
	size_t row[64], blen = strlen(b), i, j, diag, up;

	if (alen >= 63 || blen >= 63)
		return 99;
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= blen; j++) {
			up = row[j];
			row[j] = a[i - 1] == b[j - 1] ? diag : 1 + (diag < up ?
			    (diag < row[j - 1] ? diag : row[j - 1]) :
			    (up < row[j - 1] ? up : row[j - 1]));
			diag = up;
		}
	}
	return row[blen];
}

/*
 * An unknown or misspelt flag, named without its value (for
 * "--pkcs8-pass=pass:SECRET" that would print the password), with the
 * closest flag this subcommand has: one the word begins, or one at most
 * two edits away.
 */
static int
unknown_flag(const char *word, const struct option *lopts, unsigned cmd,
    const char *cmdname)
{
	const char *name = word + strspn(word, "-"), *best = NULL;
	size_t len = strcspn(name, "="), d, bestd = 3, i;

	for (i = 0; lopts[i].name != NULL; i++) {
		if (len == 0)
			break;
		d = strncmp(lopts[i].name, name, len) == 0 ? 0 :
		    distance(name, len, lopts[i].name);
		if (d < bestd) {
			bestd = d;
			best = lopts[i].name;
		}
	}
	if (best != NULL)
		return err_set(ERR_USAGE, "unknown flag --%.*s; did you mean "
		    "--%s? See 'rasign %s --help'", (int)len, name, best,
		    cmdname);
	for (i = 0; i < NOPTS; i++)
		if (strlen(optdefs[i].name) == len &&
		    strncmp(optdefs[i].name, name, len) == 0 &&
		    (optdefs[i].cmds & cmd) == 0)
			return err_set(ERR_USAGE, "unknown flag --%.*s: %s does "
			    "not take it; see 'rasign %s --help'", (int)len,
			    name, cmdname, cmdname);
	return err_set(ERR_USAGE, "unknown flag --%.*s; see 'rasign %s --help'",
	    (int)len, name, cmdname);
}

/* The optdefs entry of a flag name (len bytes of name), or NULL. */
static const struct optdef *
optdef_named(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(optdefs[i].name) == len &&
		    strncmp(optdefs[i].name, name, len) == 0)
			return &optdefs[i];
	return NULL;
}

/*
 * "-certificate": getopt reads it as the letters -c -e -r ..., and its
 * first letter alone means nothing to the user. When the word after the
 * dash is a long flag, or at most two edits from one, it is the flag name
 * and may be shown; otherwise it may be "-xVALUE", and only the letter is.
 */
static int
one_dash(const char *word, const struct option *lopts, unsigned cmd,
    const char *cmdname)
{
	const char *name = word + 1, *best = NULL;
	size_t len = strcspn(name, "="), d, bestd = 3, i;
	const struct optdef *od;

	for (i = 0; len >= 3 && lopts[i].name != NULL; i++)
		if ((d = distance(name, len, lopts[i].name)) < bestd) {
			bestd = d;
			best = lopts[i].name;
		}
	if (best != NULL && bestd == 0)
		return err_set(ERR_USAGE, "unknown flag -%s: flags take two "
		    "dashes, --%s", best, best);
	if (best != NULL)
		return err_set(ERR_USAGE, "unknown flag -%.*s; did you mean "
		    "--%s? See 'rasign %s --help'", (int)len, name, best,
		    cmdname);
	if (len >= 3 && (od = optdef_named(name, len)) != NULL &&
	    (od->cmds & cmd) == 0)
		return err_set(ERR_USAGE, "unknown flag -%s: flags take two "
		    "dashes, and %s does not take --%s either; see 'rasign %s "
		    "--help'", od->name, cmdname, od->name, cmdname);
	return err_set(ERR_USAGE, "unknown flag -%c; see 'rasign %s --help'",
	    optopt > ' ' && optopt < 0x7f ? optopt : '?', cmdname);
}

static int
bad_option(int c, const struct option *lopts, unsigned cmd,
    const char *cmdname, const char *word)
{
	if (strncmp(word, "--", 2) != 0)
		return one_dash(word, lopts, cmd, cmdname);
	if (c == ':')
		return err_set(ERR_USAGE, "flag %.*s needs a value",
		    (int)strcspn(word, "="), word);
	return unknown_flag(word, lopts, cmd, cmdname);
}

/*
 * A word after the options where none is taken: not echoed, since it is
 * often a value given to a flag that takes none ("--reuse-pin 1234").
 */
static int
stray_argument(const struct options *o, int argc, char **argv,
    const char *cmdname)
{
	const char *prev = argv[argc - o->argc - 1], *name;
	size_t len, i;

	if (argc - o->argc < 2 || strncmp(prev, "--", 2) != 0 ||
	    strcmp(prev, "--") == 0)
		return err_set(ERR_USAGE, "unexpected argument after the "
		    "options; %s takes none, see 'rasign %s --help'", cmdname,
		    cmdname);
	name = prev + 2;
	len = strcspn(name, "=");
	for (i = 0; i < NOPTS; i++)
		if (optdefs[i].kind == BOOL && strlen(optdefs[i].name) == len &&
		    strncmp(optdefs[i].name, name, len) == 0)
			return err_set(ERR_USAGE, "unexpected argument after "
			    "--%s, which takes no value (or =true or =false); "
			    "see 'rasign %s --help'", optdefs[i].name, cmdname);
	return err_set(ERR_USAGE, "unexpected argument after --%.*s; see "
	    "'rasign %s --help'", (int)len, name, cmdname);
}

/* The flag's value: "" for one given empty, NULL for one not given. */
static const char *
str_value(const struct options *o, const bool *given, const char *name)
{
	const struct optdef *d = optdef_named(name, strlen(name));

	if (d == NULL || !given[d - optdefs])
		return NULL;
	if (d->kind == SECRET)
		return *(char *const *)((const char *)o + d->off);
	return *(const char *const *)((const char *)o + d->off);
}

/*
 * Every missing required flag in one message, so that a first run does not
 * take one try per flag: "missing --profile-arn and --role-arn".
 */
static int
check_required(const struct options *o, const bool *given, unsigned cmd,
    const char *cmdname)
{
	const size_t nreq = sizeof(required) / sizeof(required[0]);
	const char *missing[sizeof(required) / sizeof(required[0])];
	bool empty[sizeof(required) / sizeof(required[0])];
	char list[256] = "";
	size_t n = 0, i, k;

	if ((cmd & CRED) == 0)
		return ERR_OK;
	for (i = 0; i < nreq; i++) {
		bool met = false, blank = false;

		for (k = 0; k < 4 && required[i][k] != NULL; k++) {
			const char *v = str_value(o, given, required[i][k]);

			met |= v != NULL && *v != '\0';
			blank |= v != NULL && *v == '\0';
		}
		if (!met) {
			empty[n] = blank;
			missing[n++] = required[i][0];
		}
	}
	if (n == 0)
		return ERR_OK;
	for (i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s--%s%s", i == 0 ? "" : i + 1 < n ? ", " : " and ",
		    missing[i], empty[i] ? " (given empty)" : "");
	return err_set(ERR_USAGE, "missing %s; see 'rasign %s --help'", list,
	    cmdname);
}

/* The word names the option in full: "--name" or "--name=value". */
static bool
spelled_out(const char *word, const char *name)
{
	size_t n = strlen(name);

	return strncmp(word, "--", 2) == 0 && strncmp(word + 2, name, n) == 0 &&
	    (word[2 + n] == '\0' || word[2 + n] == '=');
}

int
options_parse(struct options *o, unsigned cmd, const char *cmdname,
    const char *usage, int argc, char **argv)
{
	struct option lopts[NOPTS + 2];
	size_t idx[NOPTS];
	bool given[NOPTS] = { false };
	size_t n = 0, i;
	int c, ret;

	memset(o, 0, sizeof(*o));
	o->session_duration = DEFAULT_SESSION_DURATION;
	o->timeout = DEFAULT_TIMEOUT;
	o->profile = "default";
	o->port = DEFAULT_PORT;
	o->hop_limit = DEFAULT_HOP_LIMIT;
	o->refresh_before = DEFAULT_REFRESH_BEFORE;
	o->cache_window = 900;
	for (i = 0; i < NOPTS; i++) {
		if ((optdefs[i].cmds & cmd) == 0)
			continue;
		lopts[n] = (struct option){ optdefs[i].name,
		    optdefs[i].kind == BOOL ? optional_argument :
		    required_argument, NULL, (int)n };
		idx[n++] = i;
	}
	lopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[n] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	/* 0, not 1: glibc then also forgets a half-read "-xyz" of a last run. */
	optind = 0;
	/*
	 * "+": stop at the first non-option, so `exec -- cmd -x` keeps -x;
	 * ":": report a missing value apart from an unknown flag.
	 */
	for (;;) {
		int at = optind > 0 ? optind : 1, li = -1;

		if ((c = getopt_long(argc, argv, "+:h", lopts, &li)) == -1)
			break;
		/* getopt_long takes "--prof" for "--profile-arn": pflag does not. */
		if (li >= 0 && !spelled_out(argv[at], lopts[li].name))
			return unknown_flag(argv[at], lopts, cmd, cmdname);
		if (c == 'h') {
			fputs(usage, stdout);
			options_free(o);
			return -1;
		}
		/* getopt leaves the offending word at optind - 1, or at `at`
		 * while it is still inside a cluster of short flags. */
		if (c == '?' || c == ':')
			return bad_option(c, lopts, cmd, cmdname,
			    argv[optind > at ? optind - 1 : at]);
		if ((ret = store(o, &optdefs[idx[c]], optarg)) != ERR_OK)
			return ret;
		given[idx[c]] = true;
	}
	log_set_debug(o->debug);
	if ((ret = check_exclusive(given)) != ERR_OK)
		return ret;
	if (o->spiffe_id != NULL && o->spiffe_endpoint == NULL)
		return err_set(ERR_USAGE, "--spiffe-id chooses among the SVIDs "
		    "of --spiffe-endpoint: give that too");
	o->argc = argc - optind;
	o->argv = argv + optind;
	/* Only exec runs a command; elsewhere a stray word is a mistake. */
	if (cmd != CMD_EXEC && o->argc > 0)
		return stray_argument(o, argc, argv, cmdname);
	return check_required(o, given, cmd, cmdname);
}

static void
wipe(char **s)
{
	if (*s != NULL)
		OPENSSL_clear_free(*s, strlen(*s));
	*s = NULL;
}

void
options_free(struct options *o)
{
	wipe(&o->pkcs8_password);
	wipe(&o->tpm_key_password);
	wipe(&o->tpm_parent_password);
	wipe(&o->pkcs11_pin);
	wipe(&o->pkcs11_context_pin);
	wipe(&o->uri_pin);
}

bool
options_info(size_t i, struct optinfo *oi)
{
	if (i >= NOPTS)
		return false;
	oi->name = optdefs[i].name;
	oi->cmds = optdefs[i].cmds;
	oi->value = optdefs[i].kind != BOOL;
	oi->values = optdefs[i].kind == SECRET ? "pass: env: file: fd:" :
	    optdefs[i].values;
	return true;
}
