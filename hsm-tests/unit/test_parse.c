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

#include "creds.h"
#include "err.h"
#include "options.h"
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

/* Parses a command line given as one string of space-separated words. */
static int
parse(struct options *o, const char *line)
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

#define TA "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t"
#define PR "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p"
#define RO "arn:aws:iam::123456789012:role/r"

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
	assert_non_null(strstr(err_message(), "unexpected argument \"stray\""));
	assert_int_equal(parse(&o, "--timeout 0"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "--timeout must be between 1 "
	    "and 3600"));
	assert_int_equal(parse(&o, "--timeout 3600"), ERR_OK);
	assert_int_equal(parse(&o, "--cache-refresh-window 43201"), ERR_USAGE);
	/* No abbreviations: "--profile" is not "--profile-arn" (pflag). */
	assert_int_equal(parse(&o, "--profile x"), ERR_USAGE);
	assert_non_null(strstr(err_message(), "unknown flag --profile"));
	assert_int_equal(parse(&o, "--role-ar=x"), ERR_USAGE);
}

static void
test_password_wiped_from_argv(void **state)
{
	char a0[] = "credential-process", a1[] = "--pkcs8-password",
	    a2[] = "pass:hunter2";
	char *argv[] = { a0, a1, a2, NULL };
	struct options o;

	(void)state;
	assert_int_equal(options_parse(&o, CMD_CREDENTIAL_PROCESS, "x", "",
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
	{ "--trust-anchor-arn arn:aws-cn:rolesanywhere:cn-north-1:1:trust-anchor/t"
	  " --profile-arn arn:aws-cn:rolesanywhere:cn-north-1:1:profile/p"
	  " --role-arn arn:aws-cn:iam::1:role/r",
	  ERR_OK, "https://rolesanywhere.cn-north-1.amazonaws.com.cn/sessions" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --region eu-west-1", ERR_OK, "rolesanywhere.eu-west-1.amazonaws.com" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --endpoint http://127.0.0.1:8080/prefix/", ERR_OK,
	  "http://127.0.0.1:8080/prefix/sessions?profileArn=" },
	{ "--profile-arn " PR " --role-arn " RO, ERR_USAGE,
	  "--trust-anchor-arn is required" },
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
	  "arn:aws:rolesanywhere:us-west-2:123456789012:profile/p --role-arn " RO,
	  ERR_USAGE, "same region" },
	{ "--trust-anchor-arn " TA " --profile-arn "
	  "arn:aws:rolesanywhere:us-east-1:999999999999:profile/p --role-arn " RO,
	  ERR_USAGE, "same account" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --session-duration 899", ERR_USAGE, "between 900 and 43200" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --session-duration 43201", ERR_USAGE, "between 900 and 43200" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --role-session-name a/b", ERR_USAGE, "'/' is not allowed" },
	{ "--trust-anchor-arn " TA " --profile-arn " PR " --role-arn " RO
	  " --endpoint ftp://x", ERR_USAGE, "not an http:// or https:// URL" },
};

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds_ok),
		cmocka_unit_test(test_creds_malformed),
		cmocka_unit_test(test_creds_env_lines),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_password_wiped_from_argv),
		cmocka_unit_test(test_secret_sources),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_endpoint_env),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_authorization_format),
		cmocka_unit_test(test_name_string),
	};

	return cmocka_run_group_tests_name("parsers and checks", tests, NULL,
	    NULL);
}
