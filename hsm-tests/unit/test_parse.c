/*
 * Table-driven tests of the parsers of outside input and of the request
 * checks: CreateSession answers, the credential_process output, option
 * parsing and pass-phrase sources, ARN and endpoint handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "arn.h"
#include "creds.h"
#include "err.h"
#include "log.h"
#include "options.h"
#include "provider.h"
#include "secret.h"
#include "session.h"
#include "sigv4x509.h"
#include "x509.h"

#define OK_BODY "{\"credentialSet\":[{\"assumedRoleUser\":{\"arn\":\"a\"," \
	"\"assumedRoleId\":\"b\"},\"credentials\":{\"accessKeyId\":\"ASIAX\"," \
	"\"expiration\":\"2022-07-27T04:36:55Z\",\"secretAccessKey\":\"s\"," \
	"\"sessionToken\":\"t\"},\"packedPolicySize\":10,\"roleArn\":\"r\"}]," \
	"\"subjectArn\":\"x\",\"unknownField\":[1,2]}"

static void
test_creds_ok(void **state)
{
	struct creds c;
	char *json;

	(void)state;
	assert_int_equal(creds_parse(OK_BODY, strlen(OK_BODY), &c), ERR_OK);
	assert_string_equal(c.access_key_id, "ASIAX");
	assert_string_equal(c.expiration, "2022-07-27T04:36:55Z");
	assert_int_equal(creds_process_json(&c, &json), ERR_OK);
	/* Exactly the Go helper's bytes (spec §2.10). */
	assert_string_equal(json, "{\"Version\":1,\"AccessKeyId\":\"ASIAX\","
	    "\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\","
	    "\"Expiration\":\"2022-07-27T04:36:55Z\"}");
	creds_free_string(json);
	creds_free(&c);
	assert_null(c.session_token);
}

/* Runs the lines through /bin/sh and returns what $name holds afterwards. */
static char *
sh_eval(const char *lines, const char *name)
{
	char path[] = "/tmp/rasign-env-XXXXXX", cmd[128];
	static char value[256];
	size_t n;
	FILE *f;
	int fd;

	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/bin/sh -c '. %s && printf %%s \"$%s\"'",
	    path, name);
	assert_non_null(f = popen(cmd, "r"));
	n = fread(value, 1, sizeof(value) - 1, f);
	value[n] = '\0';
	assert_int_equal(pclose(f), 0);
	unlink(path);
	return value;
}

static void
test_creds_env_lines(void **state)
{
	char akid[] = "ASIAX", secret[] = "s/+=", token[] = "t",
	    exp[] = "2022-07-27T04:36:55Z", odd[] = "it's 'q' $HOME `x` \\";
	struct creds c = { akid, secret, token, exp };
	char *text;

	(void)state;
	assert_int_equal(creds_env_lines(&c, &text), ERR_OK);
	assert_string_equal(text,
	    "export AWS_ACCESS_KEY_ID='ASIAX'\n"
	    "export AWS_SECRET_ACCESS_KEY='s/+='\n"
	    "export AWS_SESSION_TOKEN='t'\n"
	    "export AWS_CREDENTIAL_EXPIRATION='2022-07-27T04:36:55Z'\n");
	creds_free_string(text);

	/* A quote closes, escapes and reopens; nothing else is special. */
	c.session_token = odd;
	assert_int_equal(creds_env_lines(&c, &text), ERR_OK);
	assert_non_null(strstr(text, "export AWS_SESSION_TOKEN="
	    "'it'\\''s '\\''q'\\'' $HOME `x` \\'\n"));
	assert_string_equal(sh_eval(text, "AWS_SESSION_TOKEN"), odd);
	assert_string_equal(sh_eval(text, "AWS_SECRET_ACCESS_KEY"), secret);
	creds_free_string(text);

	c.expiration = NULL;
	assert_int_equal(creds_env_lines(&c, &text), ERR_INTERNAL);
	assert_null(text);
}

static const struct {
	const char *body;
	const char *message;	/* a phrase the one-line error must hold */
} bad_bodies[] = {
	{ "", "invalid JSON" },
	{ "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":", "invalid JSON" },
	{ "[]", "empty credentialSet" },
	{ "{\"credentialSet\":[]}", "empty credentialSet" },
	{ "{\"credentialSet\":{}}", "empty credentialSet" },
	{ "{\"credentialSet\":[{}]}", "no credentials object" },
	{ "{\"credentialSet\":[{\"credentials\":[]}]}", "no credentials object" },
	{ "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\","
	  "\"secretAccessKey\":\"s\",\"expiration\":\"e\"}}]}",
	  "credentials.sessionToken" },
	{ "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":5,"
	  "\"secretAccessKey\":\"s\",\"sessionToken\":\"t\",\"expiration\":\"e\"}}]}",
	  "credentials.accessKeyId" },
	{ "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"\","
	  "\"secretAccessKey\":\"s\",\"sessionToken\":\"t\",\"expiration\":\"e\"}}]}",
	  "credentials.accessKeyId" },
	{ "{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\\nB\","
	  "\"secretAccessKey\":\"s\",\"sessionToken\":\"t\",\"expiration\":\"e\"}}]}",
	  "control characters" },
	{ "{\"credentialSet\":[1],\"credentialSet\":[2]}", "invalid JSON" },
};

static void
test_creds_malformed(void **state)
{
	struct creds c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
		err_clear();
		assert_int_equal(creds_parse(bad_bodies[i].body,
		    strlen(bad_bodies[i].body), &c), ERR_RESPONSE);
		assert_non_null(err_message());
		if (strstr(err_message(), bad_bodies[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
			    err_message(), bad_bodies[i].message);
		assert_null(c.access_key_id);
		assert_null(c.session_token);
	}
}

#define TA "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/" \
	"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define PR "arn:aws:rolesanywhere:us-east-1:123456789012:profile/" \
	"5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f"
#define RO "arn:aws:iam::123456789012:role/r"
#define CN_TA "arn:aws-cn:rolesanywhere:cn-north-1:123456789012:" \
	"trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define CN_PR "arn:aws-cn:rolesanywhere:cn-north-1:123456789012:" \
	"profile/5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f"
/* What credential-process cannot run without; a later flag overrides. */
#define REQUIRED "--certificate c.pem --trust-anchor-arn " TA \
	" --profile-arn " PR " --role-arn " RO

/* Parses a command line given as one string of space-separated words. */
static int
parse_raw(struct options *o, const char *line)
{
	static char buf[2048];
	char *argv[64], *tok, *save = NULL;
	int argc = 0;

	snprintf(buf, sizeof(buf), "credential-process %s", line);
	for (tok = strtok_r(buf, " ", &save); tok && argc < 63;
	    tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	err_clear();
	return options_parse(o, CMD_CREDENTIAL_PROCESS, "credential-process",
	    "usage\n", argc, argv);
}

/* The same, after the required flags. */
static int
parse(struct options *o, const char *line)
{
	static char full[2048];

	snprintf(full, sizeof(full), REQUIRED " %s", line);
	return parse_raw(o, full);
}

static void
test_options(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--certificate c.pem --private-key=k.pem "
	    "--session-duration=900 --debug --no-verify-ssl=false"), ERR_OK);
	assert_string_equal(o.certificate, "c.pem");
	assert_string_equal(o.private_key, "k.pem");
	assert_int_equal(o.session_duration, 900);
	assert_true(o.debug);
	assert_false(o.no_verify_ssl);
	assert_int_equal(o.timeout, DEFAULT_TIMEOUT);
	options_free(&o);

	assert_int_equal(parse(&o, ""), ERR_OK);
	assert_int_equal(o.session_duration, DEFAULT_SESSION_DURATION);

	assert_int_equal(parse(&o, "--bogus"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag --bogus"));
	assert_int_equal(parse(&o, "--role-arn"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "needs a value"));
	/* Decimal only, unlike pflag's "010" = 8 (spec §14.2 #19). */
	assert_int_equal(parse(&o, "--session-duration 010"), ERR_OK);
	assert_int_equal(o.session_duration, 10);
	assert_int_equal(parse(&o, "--session-duration 0x10"), ERR_USAGE);
	assert_int_equal(parse(&o, "--session-duration abc"), ERR_USAGE);
	assert_int_equal(parse(&o, "--debug=maybe"), ERR_USAGE);
	assert_int_equal(parse(&o, "--certificate a --cert-selector b"),
	    ERR_USAGE);
	assert_non_null(strstr(err_message(), "cannot be used together"));
	assert_int_equal(parse(&o, "--port 5"), ERR_USAGE);	/* serve only */
	/* Only exec takes arguments; ranges come from the option table. */
	assert_int_equal(parse(&o, "--debug stray"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unexpected argument after "
	    "--debug, which takes no value"));
	assert_null(strstr(err_message(), "stray"));
	assert_int_equal(parse(&o, "--timeout 0"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "--timeout must be between 1 "
	    "and 3600"));
	assert_int_equal(parse(&o, "--timeout 3600"), ERR_OK);
	assert_int_equal(parse(&o, "--cache-refresh-window 43201"), ERR_USAGE);
	/* No abbreviations: "--profile" is not "--profile-arn" (pflag). */
	assert_int_equal(parse(&o, "--profile x"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag --profile"));
	assert_int_equal(parse(&o, "--role-ar=x"), ERR_USAGE);

	/* Every missing required flag at once. */
	assert_int_equal(parse_raw(&o, ""), ERR_USAGE);
	assert_non_null(strstr(err_message(), "missing --certificate, "
	    "--trust-anchor-arn, --profile-arn and --role-arn;"));
	assert_int_equal(parse_raw(&o, "--private-key k.pem --profile-arn "
	    PR), ERR_USAGE);
	assert_non_null(strstr(err_message(), "missing --trust-anchor-arn "
	    "and --role-arn;"));
	assert_int_equal(parse_raw(&o, "--cert-selector x --trust-anchor-arn "
	    TA " --profile-arn " PR " --role-arn=" ), ERR_USAGE);
	assert_non_null(strstr(err_message(), "missing --role-arn (given "
	    "empty);"));
	assert_int_equal(parse_raw(&o, "--cert-selector x --trust-anchor-arn "
	    TA " --profile-arn " PR " --role-arn " RO), ERR_OK);

	/* One dash: the word is named, and the flag it meant. */
	assert_int_equal(parse(&o, "-certificate a"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag -certificate: "
	    "flags take two dashes, --certificate"));
	assert_int_equal(parse(&o, "-role-arn=x"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "-role-arn: flags take two "
	    "dashes, --role-arn"));
	assert_int_equal(parse(&o, "-certficate a"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag -certficate; did "
	    "you mean --certificate?"));
	assert_int_equal(parse(&o, "-port 9"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "does not take --port"));
	/* Not a flag's name: maybe -xVALUE, so only the letter. */
	assert_int_equal(parse(&o, "-xhunter2"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag -x;"));
	assert_null(strstr(err_message(), "hunter2"));
	assert_int_equal(parse(&o, "--certficate a"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "did you mean --certificate?"));
}

static void
test_password_wiped_from_argv(void **state)
{
	char a0[] = "sign-string", a1[] = "--pkcs8-password",
	    a2[] = "pass:hunter2";
	char *argv[] = { a0, a1, a2, NULL };
	struct options o;

	(void)state;
	assert_int_equal(options_parse(&o, CMD_SIGN_STRING, "x", "",
	    3, argv), ERR_OK);
	assert_string_equal(o.pkcs8_password, "pass:hunter2");
	assert_int_equal(a2[0], '\0');
	assert_int_equal(a2[11], '\0');
	options_free(&o);
	assert_null(o.pkcs8_password);
}

static void
test_secret_sources(void **state)
{
	char path[] = "/tmp/rasign-pw-XXXXXX", *s;
	int fd, p[2];

	(void)state;
	assert_int_equal(secret_from_source("pass:a b", "x", &s), ERR_OK);
	assert_string_equal(s, "a b");
	secret_free(s);
	assert_int_equal(secret_from_source("literal", "x", &s), ERR_OK);
	assert_string_equal(s, "literal");
	secret_free(s);
	setenv("RASIGN_TEST_PW", "from-env", 1);
	assert_int_equal(secret_from_source("env:RASIGN_TEST_PW", "x", &s),
	    ERR_OK);
	assert_string_equal(s, "from-env");
	secret_free(s);
	assert_int_equal(secret_from_source("env:RASIGN_UNSET_VAR", "x", &s),
	    ERR_PASSWORD);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "first\r\nsecond\n", 14), 14);
	close(fd);
	{
		char spec[64];

		snprintf(spec, sizeof(spec), "file:%s", path);
		assert_int_equal(secret_from_source(spec, "x", &s), ERR_OK);
		assert_string_equal(s, "first");
		secret_free(s);
	}
	unlink(path);
	assert_int_equal(secret_from_source("file:/nonexistent", "x", &s),
	    ERR_PASSWORD);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "piped\n", 6), 6);
	close(p[1]);
	{
		char spec[32];

		snprintf(spec, sizeof(spec), "fd:%d", p[0]);
		assert_int_equal(secret_from_source(spec, "x", &s), ERR_OK);
		assert_string_equal(s, "piped");
		secret_free(s);
	}
	close(p[0]);
	assert_int_equal(secret_from_source("fd:x", "x", &s), ERR_USAGE);
}

static const struct {
	const char *args;
	int ret;
	const char *phrase;	/* in the message, or the URL on success */
} requests[] = {
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO,
	  ERR_OK, "https://rolesanywhere.us-east-1.amazonaws.com/sessions?" },
	{ "--trust-anchor-arn " CN_TA " --profile-arn " CN_PR
	  " --role-arn arn:aws-cn:iam::123456789012:role/r",
	  ERR_OK, "https://rolesanywhere.cn-north-1.amazonaws.com.cn/sessions" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region us-east-1", ERR_OK,
	  "rolesanywhere.us-east-1.amazonaws.com" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --endpoint http://127.0.0.1:8080/prefix/", ERR_OK,
	  "http://127.0.0.1:8080/prefix/sessions?profileArn=" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region us-east-1 --endpoint https://127.0.0.1:4443", ERR_OK,
	  "https://127.0.0.1:4443/sessions?profileArn=" },
	{ "--trust-anchor-arn foo --profile-arn " PR " --role-arn " RO,
	  ERR_USAGE, "must start with \"arn:\"" },
	{ "--trust-anchor-arn arn:aws:x --profile-arn " PR " --role-arn " RO,
	  ERR_USAGE, "is not an ARN of the form" },
	{ "--trust-anchor-arn " PR " --profile-arn " PR " --role-arn " RO,
	  ERR_USAGE, "not a Roles Anywhere trust anchor" },
	{ "--trust-anchor-arn " TA " --profile-arn " TA " --role-arn " RO,
	  ERR_USAGE, "not a Roles Anywhere profile" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " PR,
	  ERR_USAGE, "not an IAM role" },
	{ "--trust-anchor-arn " TA " --profile-arn "
	  "arn:aws:rolesanywhere:us-west-2:123456789012:profile/"
	  "5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f --role-arn " RO,
	  ERR_USAGE, "same region" },
	{ "--trust-anchor-arn " TA " --profile-arn "
	  "arn:aws:rolesanywhere:us-east-1:999999999999:profile/"
	  "5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f --role-arn " RO,
	  ERR_USAGE, "same account" },
	/* Each mistake named: the flag, the part, what was expected. */
	{ "--trust-anchor-arn arn:aws:rolesanywhere:us-east-1:12345678901:"
	  "trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --profile-arn " PR
	  " --role-arn " RO, ERR_USAGE,
	  "the account \"12345678901\" in --trust-anchor-arn is not 12 digits" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn "
	  "arn:aws:iam::XXXXXXXXXXXX:role/r", ERR_USAGE,
	  "account \"XXXXXXXXXXXX\" in --role-arn is not 12 digits: it looks "
	  "like a placeholder" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn "
	  "arn:aws:iam::ACCOUNT_ID:role/ROLE", ERR_USAGE,
	  "account \"ACCOUNT_ID\" in --role-arn" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn "
	  "arn:aws:iam::<account>:role/r", ERR_USAGE,
	  "--role-arn still holds a placeholder \"<account>\"" },
	{ "--trust-anchor-arn arn:aws:rolesanywhere:eu-west1:123456789012:"
	  "trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --profile-arn "
	  "arn:aws:rolesanywhere:eu-west1:123456789012:profile/"
	  "5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f --role-arn " RO, ERR_USAGE,
	  "the region in --trust-anchor-arn \"eu-west1\" is not an AWS region" },
	{ "--trust-anchor-arn arn:aws:rolesanywhere:REGION:123456789012:"
	  "trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --profile-arn " PR
	  " --role-arn " RO, ERR_USAGE, "\"REGION\" is not an AWS region, "
	  "like us-east-1 or us-gov-west-1: it looks like a placeholder" },
	{ "--trust-anchor-arn arn:aws:rolesanywhere:us-east-1:123456789012:"
	  "trust-anchor/TRUST_ANCHOR_ID --profile-arn " PR " --role-arn " RO,
	  ERR_USAGE, "the trust anchor ID \"TRUST_ANCHOR_ID\" in "
	  "--trust-anchor-arn is not an ID as AWS makes them" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn "
	  "arn:aws:iam:us-east-1:123456789012:role/r", ERR_USAGE,
	  "--role-arn has a region, us-east-1, but IAM ARNs have none" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region eu-west1", ERR_USAGE,
	  "--region \"eu-west1\" is not an AWS region" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region us-east-1a", ERR_USAGE, "availability zone" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region us-east-1-fips", ERR_USAGE, "AWS_USE_FIPS_ENDPOINT=true" },
	/* The service in another region knows no such trust anchor. */
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region eu-west-1", ERR_USAGE, "--region eu-west-1 is not the "
	  "region of the trust anchor and profile ARNs, us-east-1" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region eu-west-1 --endpoint https://127.0.0.1:4443", ERR_USAGE,
	  "is not the region of the trust anchor" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --session-duration 899", ERR_USAGE, "between 900 and 43200" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --session-duration 43201", ERR_USAGE, "between 900 and 43200" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --role-session-name a/b", ERR_USAGE, "'/' is not allowed" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --endpoint ftp://x", ERR_USAGE, "not an http:// or https:// URL" },
};

/* Regions as AWS names them, every partition's; and near misses. */
static void
test_regions(void **state)
{
	static const char *const good[] = { "us-east-1", "us-gov-west-1",
	    "cn-north-1", "eu-isoe-west-1", "us-isob-east-1", "us-iso-east-1",
	    "us-isof-south-1", "ap-southeast-2", "il-central-1",
	    "eusc-de-east-1", "me-central-1" };
	static const char *const bad[] = { "", "eu-west1", "REGION",
	    "us-east-1 ", " us-east-1", "us-east", "useast-1", "us-east-1a",
	    "US-EAST-1", "us-east-100", "us--east-1", "-us-east-1",
	    "us-east-1-", "us-east-1-fips", "fips-us-east-1", "us_east_1",
	    "us-east-1.evil.com", "us-east-1/x", "<region>",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (arn_check_region(good[i], "--region") != ERR_OK)
			fail_msg("%s refused: %s", good[i], err_message());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		if (arn_check_region(bad[i], "--region") != ERR_USAGE)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(err_message(), "--region \""));
	}
}

static void
test_requests(void **state)
{
	struct options o;
	struct session s;
	int ret;

	(void)state;
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_ROLESANYWHERE");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		assert_int_equal(parse(&o, requests[i].args), ERR_OK);
		ret = session_prepare(&o, &s);
		if (ret != requests[i].ret)
			fail_msg("case %zu: got %d (%s)", i, ret,
			    err_message() ? err_message() : "");
		if (ret == ERR_OK) {
			if (strstr(s.url, requests[i].phrase) == NULL)
				fail_msg("case %zu: URL %s", i, s.url);
			session_free(&s);
		} else if (strstr(err_message(), requests[i].phrase) == NULL) {
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
			    err_message(), requests[i].phrase);
		}
		options_free(&o);
	}
}

static void
test_endpoint_env(void **state)
{
	struct options o;
	struct session s;

	(void)state;
	assert_int_equal(parse(&o, "--trust-anchor-arn " TA " --profile-arn "
	    PR " --role-arn " RO), ERR_OK);
	setenv("AWS_ENDPOINT_URL_ROLESANYWHERE", "https://env.example:444", 1);
	assert_int_equal(session_prepare(&o, &s), ERR_OK);
	assert_string_equal(s.host, "env.example:444");
	session_free(&s);
	/* --endpoint wins over the environment (spec §14.2 #9). */
	o.endpoint = "https://flag.example";
	assert_int_equal(session_prepare(&o, &s), ERR_OK);
	assert_string_equal(s.host, "flag.example");
	assert_string_equal(s.path, "/sessions");
	session_free(&s);
	unsetenv("AWS_ENDPOINT_URL_ROLESANYWHERE");
	o.endpoint = NULL;
	setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	assert_int_equal(session_prepare(&o, &s), ERR_OK);
	assert_string_equal(s.host, "rolesanywhere-fips.us-east-1.amazonaws.com");
	session_free(&s);
	unsetenv("AWS_USE_FIPS_ENDPOINT");
}

static void
test_body(void **state)
{
	char *b;

	(void)state;
	assert_int_equal(sigv4_body(3600, NULL, &b), ERR_OK);
	assert_string_equal(b, "{\"durationSeconds\":3600}");
	free(b);
	assert_int_equal(sigv4_body(900, "alice@example.com", &b), ERR_OK);
	assert_string_equal(b, "{\"durationSeconds\":900,"
	    "\"roleSessionName\":\"alice@example.com\"}");
	free(b);
}

static void
test_authorization_format(void **state)
{
	struct sigv4_params p = { SIGV4_ALG_ECDSA, "20240501T120000Z",
	    "us-east-1", "h", "/sessions", "q", "{}", "X", "A,B", "123" };
	const uint8_t sig[] = { 0x00, 0xab, 0xff };
	char *auth, date[SIGV4_DATE_LEN + 1];

	(void)state;
	assert_int_equal(sigv4_authorization(&p, sig, sizeof(sig), &auth),
	    ERR_OK);
	assert_string_equal(auth, "AWS4-X509-ECDSA-SHA256 Credential=123/"
	    "20240501/us-east-1/rolesanywhere/aws4_request, SignedHeaders="
	    "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain, "
	    "Signature=00abff");
	free(auth);
	sigv4_format_date(1714564800, date);
	assert_string_equal(date, "20240501T120000Z");
}

static void
add(X509_NAME *n, const char *field, const char *value)
{
	assert_true(X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
	    (const unsigned char *)value, -1, -1, 0));
}

/* Go's pkix.Name.String(), which --cert-selector compares with (spec §10). */
static void
test_name_string(void **state)
{
	X509_NAME *n = X509_NAME_new();
	char buf[512];

	(void)state;
	add(n, "C", "US");
	add(n, "O", "Acme");
	add(n, "CN", "foo");
	x509_name_string(n, buf, sizeof(buf));
	assert_string_equal(buf, "CN=foo,O=Acme,C=US");
	X509_NAME_free(n);

	/* Go reorders by type, whatever the certificate's order. */
	n = X509_NAME_new();
	add(n, "CN", "leaf");
	add(n, "O", "Acme, Inc.");
	add(n, "emailAddress", "x@y.z");
	add(n, "ST", "#WA ");
	x509_name_string(n, buf, sizeof(buf));
	assert_string_equal(buf, "CN=leaf,O=Acme\\, Inc.,ST=\\#WA\\ ,"
	    "1.2.840.113549.1.9.1=#16057840792e7a");
	X509_NAME_free(n);
}

/* ------------------------------------------------- hostile input (issue 10) */

/* Misspelt flags and stray words: the flag is named, its value never. */
static void
test_flag_values_not_echoed(void **state)
{
	static const struct {
		const char *line;
		const char *want;	/* in the message */
	} cases[] = {
		{ "--pkcs8-pass=pass:SECRET", "did you mean --pkcs8-password?" },
		{ "--pkcs8-passwrd=pass:SECRET", "did you mean --pkcs8-password?" },
		{ "--pkcs8-pass pass:SECRET", "unknown flag --pkcs8-pass;" },
		{ "--pkcs11-pn=SECRET", "did you mean --pkcs11-pin?" },
		{ "--tpm-key-pasword=SECRET", "did you mean --tpm-key-password?" },
		{ "--port=SECRET", "credential-process does not take it" },
		{ "--zzzzzzzzzz=SECRET", "unknown flag --zzzzzzzzzz;" },
		{ "-xSECRET", "unknown flag -x;" },
		{ "--reuse-pin SECRET", "after --reuse-pin, which takes no value" },
		{ "--debug=SECRET", "--debug takes no value" },
		{ "--timeout=SECRET", "--timeout needs a whole number" },
		{ "--timeout 99999", "--timeout must be between 1 and 3600" },
		{ "--certificate c SECRET", "unexpected argument after the options" },
		{ "-- SECRET", "unexpected argument after the options" },
	};
	struct options o;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(&o, cases[i].line) != ERR_USAGE)
			fail_msg("case %zu (%s): accepted", i, cases[i].line);
		if (strstr(err_message(), cases[i].want) == NULL)
			fail_msg("case %zu (%s): \"%s\" lacks \"%s\"", i,
			    cases[i].line, err_message(), cases[i].want);
		if (strstr(err_message(), "SECRET") != NULL ||
		    strstr(err_message(), "99999") != NULL)
			fail_msg("case %zu: the value is echoed: %s", i,
			    err_message());
		options_free(&o);
	}
}

/* Every pin-value leaves argv, also later ones and their stale copies. */
static void
test_every_uri_pin_wiped(void **state)
{
	static const struct {
		const char *cert;	/* --certificate */
		const char *key;	/* --private-key, or NULL */
		int ret;
		const char *uri_pin;	/* the PIN used */
		const char *left;	/* --certificate after parsing */
	} cases[] = {
		{ "pkcs11:token=t;object=o?pin-value=1111", NULL, ERR_OK,
		    "1111", "pkcs11:token=t;object=o" },
		{ "pkcs11:token=t?pin-value=1111&module-name=m&pin-value=2222",
		    NULL, ERR_OK, "1111", "pkcs11:token=t?module-name=m" },
		{ "pkcs11:token=t?pin-value=1111&pin-value=2222&pin-value=3333",
		    NULL, ERR_OK, "1111", "pkcs11:token=t" },
		{ "pkcs11:token=t?pin-value=1111", "pkcs11:token=t;type=private"
		    "?pin-value=2222&pin-value=3333", ERR_OK, "2222",
		    "pkcs11:token=t" },
		/* Not allowed in the path part: refused, and wiped all the same. */
		{ "pkcs11:token=t;pin-value=1111?pin-value=2222", NULL,
		    ERR_USAGE, NULL, NULL },
	};
	static const char *const pins[] = { "1111", "2222", "3333" };
	char cert[256], key[256], a0[] = "sign-string",
	    a1[] = "--certificate", a3[] = "--private-key";
	struct options o;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { a0, a1, cert, a3, key, NULL };
		int argc = cases[i].key != NULL ? 5 : 3;

		memset(cert, 'x', sizeof(cert));
		memset(key, 'x', sizeof(key));
		snprintf(cert, sizeof(cert), "%s", cases[i].cert);
		snprintf(key, sizeof(key), "%s", cases[i].key ? cases[i].key :
		    "");
		err_clear();
		if (options_parse(&o, CMD_SIGN_STRING, "x", "", argc,
		    argv) != cases[i].ret)
			fail_msg("case %zu: %s", i, err_message());
		/* The whole of both words as they were laid out, NULs too. */
		for (size_t k = 0; k < sizeof(pins) / sizeof(pins[0]); k++)
			if (memmem(cert, sizeof(cert), pins[k], 4) != NULL ||
			    memmem(key, sizeof(key), pins[k], 4) != NULL ||
			    (err_message() != NULL &&
			    strstr(err_message(), pins[k]) != NULL))
				fail_msg("case %zu: PIN %s left", i, pins[k]);
		if (cases[i].ret == ERR_OK) {
			assert_string_equal(o.uri_pin, cases[i].uri_pin);
			assert_string_equal(cert, cases[i].left);
		}
		options_free(&o);
	}
}

/* What reaches stderr: UTF-8 kept, controls escaped, cut between characters. */
static void
test_log_escape(void **state)
{
	static const struct {
		const char *in;
		size_t room;
		const char *out;
	} cases[] = {
		{ "plain text", 64, "plain text" },
		{ "a\x1b[31mb", 64, "a\\x1b[31mb" },
		{ "x\ny\rz\tw", 64, "x y z w" },
		{ "\x07\x08\x7f", 64, "\\x07\\x08\\x7f" },
		{ "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91", 64,
		    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91" },
		{ "\xc2\x9b" "6n", 64, "\\xc2\\x9b" "6n" },	/* C1 CSI */
		{ "\xe2\x80\xae" "abc", 64, "\\xe2\\x80\\xae" "abc" },	/* RLO */
		{ "\xff\xfe", 64, "\\xff\\xfe" },
		{ "\xc3", 64, "\\xc3" },			/* cut sequence */
		{ "\xc0\xaf", 64, "\\xc0\\xaf" },		/* overlong '/' */
		{ "\xed\xa0\x80", 64, "\\xed\\xa0\\x80" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 64, "\\xf4\\x90\\x80\\x80" },	/* > U+10FFFF */
		{ "ab\x1b" "cd", 6, "ab" },	/* no half escape */
		{ "a\xc3\xa9", 3, "a" },	/* no half character */
		{ "abc", 1, "" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'Z', sizeof(out));
		log_escape(out, cases[i].room, cases[i].in, strlen(cases[i].in));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, out,
			    cases[i].out);
	}
	/* Recorded messages are escaped when set: no caller prints them raw. */
	err_clear();
	err_set(ERR_REJECTED, "service said %s", "\x1b]0;title\x07!");
	assert_string_equal(err_message(), "service said \\x1b]0;title\\x07!");
	err_clear();
}

/* Byte-level cases of the one raw-signature conversion. */
static void
test_finish_signature_table(void **state)
{
	static const struct {
		bool ec;
		size_t keybytes, rawlen, room;
		int ret;
		size_t outlen;		/* RSA: padded length */
	} cases[] = {
		{ false, 4, 4, 16, ERR_OK, 4 },
		{ false, 4, 2, 16, ERR_OK, 4 },		/* padded */
		{ false, 4, 1, 16, ERR_OK, 4 },
		{ false, 4, 5, 16, ERR_DEVICE, 0 },	/* longer than n */
		{ false, 4, 0, 16, ERR_DEVICE, 0 },
		{ false, 0, 3, 16, ERR_OK, 3 },		/* modulus unknown */
		{ false, 4, 2, 3, ERR_INTERNAL, 0 },	/* no room */
		{ true, 32, 64, 128, ERR_OK, 0 },
		{ true, 32, 63, 128, ERR_DEVICE, 0 },	/* odd */
		{ true, 32, 65, 128, ERR_DEVICE, 0 },
		{ true, 32, 62, 128, ERR_DEVICE, 0 },	/* short */
		{ true, 32, 66, 128, ERR_DEVICE, 0 },	/* long */
		{ true, 32, 0, 128, ERR_DEVICE, 0 },
		{ true, 66, 132, 160, ERR_OK, 0 },	/* P-521 */
		{ true, 66, 130, 160, ERR_DEVICE, 0 },
		{ true, 0, 64, 128, ERR_OK, 0 },	/* order unknown */
		{ true, 0, 2, 128, ERR_DEVICE, 0 },
		{ true, 0, 134, 160, ERR_DEVICE, 0 },
		{ true, 32, 64, 8, ERR_INTERNAL, 0 },	/* no room for DER */
	};
	uint8_t raw[160], sig[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t siglen = cases[i].room;
		int ret;

		for (size_t k = 0; k < sizeof(raw); k++)
			raw[k] = (uint8_t)(0x41 + k);
		err_clear();
		ret = provider_finish_signature(cases[i].ec, cases[i].keybytes,
		    raw, cases[i].rawlen, sig, &siglen);
		if (ret != cases[i].ret)
			fail_msg("case %zu: %d, want %d (%s)", i, ret,
			    cases[i].ret, err_message() ? err_message() : "");
		if (ret != ERR_OK)
			continue;
		if (!cases[i].ec) {
			size_t pad = cases[i].outlen - cases[i].rawlen;

			assert_int_equal(siglen, cases[i].outlen);
			for (size_t k = 0; k < pad; k++)
				assert_int_equal(sig[k], 0);
			assert_memory_equal(sig + pad, raw, cases[i].rawlen);
		} else {
			const unsigned char *p = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
			uint8_t back[160];
			size_t half = cases[i].rawlen / 2;

			assert_non_null(es);
			assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), back,
			    (int)half), (int)half);
			assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es),
			    back + half, (int)half), (int)half);
			assert_memory_equal(back, raw, cases[i].rawlen);
			ECDSA_SIG_free(es);
		}
	}
	/* r = 0 is no signature. */
	memset(raw, 0, 32);
	{
		size_t siglen = sizeof(sig);

		assert_int_equal(provider_finish_signature(true, 32, raw, 64,
		    sig, &siglen), ERR_DEVICE);
	}
}

/*
 * Real keys: a signature made by OpenSSL, taken apart as a token gives it
 * (r||s with leading zeros; RSA without its leading zero bytes), must
 * verify after the conversion.
 */
static void
test_finish_signature_verifies(void **state)
{
	static const struct {
		const char *type, *param;
		size_t bytes;
	} keys[] = {
		{ "EC", "P-256", 32 }, { "EC", "P-384", 48 },
		{ "EC", "P-521", 66 }, { "RSA", NULL, 256 },
	};
	uint8_t dgst[32], der[600], raw[600], sig[600];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		EVP_PKEY *pk = keys[i].param ? EVP_PKEY_Q_keygen(NULL, NULL,
		    "EC", keys[i].param) : EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)2048);
		bool ec = keys[i].param != NULL;
		EVP_PKEY_CTX *ctx;
		size_t derlen = sizeof(der), rawlen, siglen = sizeof(sig), n;

		assert_non_null(pk);
		n = provider_key_bytes(pk);
		assert_int_equal(n, keys[i].bytes);
		for (int tries = 0; tries < 64; tries++) {
			assert_int_equal(RAND_bytes(dgst, sizeof(dgst)), 1);
			ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
			assert_non_null(ctx);
			derlen = sizeof(der);
			assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
			if (!ec)
				assert_int_equal(EVP_PKEY_CTX_set_signature_md(
				    ctx, EVP_sha256()), 1);
			assert_int_equal(EVP_PKEY_sign(ctx, der, &derlen, dgst,
			    sizeof(dgst)), 1);
			EVP_PKEY_CTX_free(ctx);
			if (ec) {
				const unsigned char *p = der;
				ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p,
				    (long)derlen);

				assert_non_null(es);
				BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)n);
				BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + n,
				    (int)n);
				ECDSA_SIG_free(es);
				rawlen = 2 * n;
				break;
			}
			/* A token that drops the leading zero byte. */
			rawlen = derlen;
			memcpy(raw, der, derlen);
			if (der[0] == 0) {
				rawlen = derlen - 1;
				memmove(raw, der + 1, rawlen);
				break;
			}
		}
		siglen = sizeof(sig);
		assert_int_equal(provider_finish_signature(ec, n, raw, rawlen,
		    sig, &siglen), ERR_OK);
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		assert_non_null(ctx);
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
		if (!ec)
			assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx,
			    EVP_sha256()), 1);
		if (EVP_PKEY_verify(ctx, sig, siglen, dgst, sizeof(dgst)) != 1)
			fail_msg("%s %s: the converted signature does not "
			    "verify", keys[i].type, keys[i].param ?
			    keys[i].param : "2048");
		EVP_PKEY_CTX_free(ctx);
		/* One byte short of r||s, or a byte more than the modulus. */
		siglen = sizeof(sig);
		assert_int_equal(provider_finish_signature(ec, n, raw,
		    ec ? 2 * n - 2 : n + 1, sig, &siglen), ERR_DEVICE);
		EVP_PKEY_free(pk);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds_ok),
		cmocka_unit_test(test_creds_malformed),
		cmocka_unit_test(test_creds_env_lines),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_password_wiped_from_argv),
		cmocka_unit_test(test_regions),
		cmocka_unit_test(test_secret_sources),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_endpoint_env),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_authorization_format),
		cmocka_unit_test(test_name_string),
		cmocka_unit_test(test_flag_values_not_echoed),
		cmocka_unit_test(test_every_uri_pin_wiped),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_finish_signature_table),
		cmocka_unit_test(test_finish_signature_verifies),
	};

	return cmocka_run_group_tests_name("parsers and checks", tests, NULL,
	    NULL);
}
