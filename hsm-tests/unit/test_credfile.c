/*
 * Table-driven tests of the shared credentials file rewrite (spec §8.3):
 * the Go helper's own TestUpdate cases, each Go bug of spec §14.2 #14 with
 * a case showing it is gone, and the byte-for-byte promises (CR LF, no
 * final newline, long lines). Then the file handling in a private
 * directory: modes, symlinks, refusals, no temporary file left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "credfile.h"
#include "creds.h"
#include "err.h"

#define TMPDIR_NAME "test_credfile"
#include "tmpdir.h"

/* The Go tests' credentials, and the three lines written from them. */
#define A "aws_access_key_id = accessKeyId"
#define S "aws_secret_access_key = secretAccessKey"
#define T "aws_session_token = sessionToken"

static struct creds go_creds = {
	.access_key_id = "accessKeyId",
	.secret_access_key = "secretAccessKey",
	.session_token = "sessionToken",
	.expiration = "2022-07-27T04:36:55Z",
};

static const struct {
	const char *name;
	const char *profile;
	const char *in;
	const char *out;
} cases[] = {
	/* The Go helper's TestUpdate (spec §13.3), where it has no bug. */
	{ "go: space separated keys", "test profile",
	  "test\ntest\ntest\n[test profile]\naws_access_key_id = test\n"
	  "[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n[test profile]\n" A "\n" S "\n" T "\n"
	  "[test]\naws_secret_access_key = test\n" },
	{ "go: profile with other keys", "test profile",
	  "test\ntest\ntest\n[test profile]\naws_access_key_id = test\n"
	  "test_key = test\n[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n[test profile]\n" A "\ntest_key = test\n" S "\n"
	  T "\n[test]\naws_secret_access_key = test\n" },
	{ "go: commented profile is not the profile", "test profile",
	  "test\ntest\ntest\n# [test profile]\naws_access_key_id = test\n"
	  "[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n# [test profile]\naws_access_key_id = test\n"
	  "[test]\naws_secret_access_key = test\n"
	  "[test profile]\n" A "\n" S "\n" T "\n\n" },
	{ "go: profile does not exist", "test profile",
	  "test\ntest\ntest\n[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n[test]\naws_secret_access_key = test\n"
	  "[test profile]\n" A "\n" S "\n" T "\n\n" },
	{ "go: only the first of two sections of that name", "test",
	  "test\ntest\ntest\n[test]\ntest_key = test\n[test profile]\n"
	  "aws_access_key_id = test\n[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n[test]\ntest_key = test\n" A "\n" S "\n" T "\n"
	  "[test profile]\naws_access_key_id = test\n[test]\n"
	  "aws_secret_access_key = test\n" },
	{ "go: empty file", "default", "",
	  "[default]\n" A "\n" S "\n" T "\n\n" },
	{ "go: missing keys go at the end of the section", "p",
	  "[p]\n# keep me\naws_access_key_id = old\n\n[q]\n"
	  "aws_access_key_id = other\n",
	  "[p]\n# keep me\n" A "\n\n" S "\n" T "\n[q]\n"
	  "aws_access_key_id = other\n" },
	{ "go: a repeated key is replaced where it stands", "p",
	  "[p]\naws_access_key_id = a\naws_access_key_id = b\n",
	  "[p]\n" A "\n" A "\n" S "\n" T "\n" },
	{ "go: the header must match the whole line", "p",
	  "[p] \n[P]\nx = 1\n",
	  "[p] \n[P]\nx = 1\n[p]\n" A "\n" S "\n" T "\n\n" },
	{ "go: an indented key is not a key", "p",
	  "[p]\n  aws_access_key_id = old\n",
	  "[p]\n  aws_access_key_id = old\n" A "\n" S "\n" T "\n" },

	/*
	 * Go bug: the section last in the file lost the file's last line
	 * (its TestUpdate case 5 expected "[test]/A/S/T", without the
	 * secret line it had been given).
	 */
	{ "go bug: last line of a last section kept (go case 5)", "test",
	  "test\ntest\ntest\n[test profile]\naws_access_key_id = test\n"
	  "[test]\naws_secret_access_key = test\n",
	  "test\ntest\ntest\n[test profile]\naws_access_key_id = test\n"
	  "[test]\n" S "\n" A "\n" T "\n" },
	{ "go bug: a trailing region line survives", "p",
	  "[a]\nx = 1\n[p]\naws_access_key_id = old\nregion = eu-west-1\n",
	  "[a]\nx = 1\n[p]\n" A "\nregion = eu-west-1\n" S "\n" T "\n" },
	/* Go bug: a header on the last line was missed and duplicated. */
	{ "go bug: header on the last line is found", "p",
	  "[a]\nx = 1\n[p]\n",
	  "[a]\nx = 1\n[p]\n" A "\n" S "\n" T "\n" },
	{ "go bug: header on the last line, no newline", "p",
	  "[a]\nx = 1\n[p]",
	  "[a]\nx = 1\n[p]\n" A "\n" S "\n" T "\n" },
	/* Go quirk turned bug: prefix matching overwrote other keys. */
	{ "go bug: keys that merely start like ours are kept", "p",
	  "[p]\naws_session_token_expiry = 1\naws_access_key_idx = keep\n",
	  "[p]\naws_session_token_expiry = 1\naws_access_key_idx = keep\n"
	  A "\n" S "\n" T "\n" },
	{ "keys written without spaces or with ':' are ours", "p",
	  "[p]\naws_access_key_id=old\naws_secret_access_key   =   old\n"
	  "aws_session_token: old\n",
	  "[p]\n" A "\n" S "\n" T "\n" },

	/* Go bug: every line came out LF-terminated. */
	{ "CR LF lines stay CR LF", "p",
	  "[a]\r\nx = 1\r\n[p]\r\naws_access_key_id = old\r\n[b]\r\ny = 2\r\n",
	  "[a]\r\nx = 1\r\n[p]\r\n" A "\r\n" S "\r\n" T "\r\n[b]\r\ny = 2\r\n" },
	{ "CR LF file: new profile in CR LF", "p",
	  "[a]\r\nx = 1\r\n",
	  "[a]\r\nx = 1\r\n[p]\r\n" A "\r\n" S "\r\n" T "\r\n\r\n" },
	{ "a bare CR ends the last line", "p",
	  "[p]\r",
	  "[p]\r\n" A "\n" S "\n" T "\n" },
	/* Go bug: a missing final newline was added to an untouched line. */
	{ "no final newline after another section", "p",
	  "[p]\naws_access_key_id = old\n[z]\nk = v",
	  "[p]\n" A "\n" S "\n" T "\n[z]\nk = v" },
	{ "no final newline: all three keys replaced in place", "p",
	  "[p]\naws_access_key_id = a\naws_secret_access_key = s\n"
	  "aws_session_token = t",
	  "[p]\n" A "\n" S "\n" T },
	{ "no final newline: keys appended after the last line", "p",
	  "[p]\naws_session_token = old",
	  "[p]\n" T "\n" A "\n" S "\n" },
	{ "no final newline: new profile", "p",
	  "[a]\nx = 1",
	  "[a]\nx = 1\n[p]\n" A "\n" S "\n" T "\n\n" },
	{ "comments and blank lines everywhere are kept", "default",
	  "# top\n; semi\n\n[default]\n# note\nregion = us-east-1\n"
	  "aws_session_token = old\n\n# before q\n[q]\nx = 1\n",
	  "# top\n; semi\n\n[default]\n# note\nregion = us-east-1\n" T "\n\n"
	  "# before q\n" A "\n" S "\n[q]\nx = 1\n" },
};

static void
test_rewrite_table(void **state)
{
	char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].name);
		assert_int_equal(credfile_rewrite(cases[i].in,
		    strlen(cases[i].in), cases[i].profile, &go_creds, &out,
		    &len), ERR_OK);
		assert_int_equal(len, strlen(cases[i].out));
		assert_memory_equal(out, cases[i].out, len);
		assert_int_equal(out[len], '\0');
		OPENSSL_clear_free(out, len + 1);
	}
}

/* Rewriting the result again changes nothing: no drift over refreshes. */
static void
test_rewrite_idempotent(void **state)
{
	char *once, *twice;
	size_t l1, l2;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(credfile_rewrite(cases[i].in,
		    strlen(cases[i].in), cases[i].profile, &go_creds, &once,
		    &l1), ERR_OK);
		assert_int_equal(credfile_rewrite(once, l1, cases[i].profile,
		    &go_creds, &twice, &l2), ERR_OK);
		assert_int_equal(l1, l2);
		assert_memory_equal(once, twice, l1);
		OPENSSL_clear_free(once, l1 + 1);
		OPENSSL_clear_free(twice, l2 + 1);
	}
}

/* Go bug: bufio.Scanner stopped at a line over 64 KiB and lost the rest. */
static void
test_rewrite_long_line(void **state)
{
	const size_t big = 200 * 1024;
	char *in, *want, *out;
	size_t len, n;

	(void)state;
	in = malloc(big + 256);
	want = malloc(big + 512);
	assert_non_null(in);
	assert_non_null(want);
	memcpy(in, "[a]\nk = ", 8);
	memset(in + 8, 'x', big);
	n = 8 + big;
	n += (size_t)sprintf(in + n, "\n[p]\naws_access_key_id = old\n"
	    "[z]\nafter = long\n");
	memcpy(want, in, 8 + big);
	len = 8 + big;
	len += (size_t)sprintf(want + len, "\n[p]\n" A "\n" S "\n" T "\n"
	    "[z]\nafter = long\n");
	assert_int_equal(credfile_rewrite(in, n, "p", &go_creds, &out,
	    &n), ERR_OK);
	assert_int_equal(n, len);
	assert_memory_equal(out, want, len);
	OPENSSL_clear_free(out, n + 1);
	free(in);
	free(want);
}

static void
test_rewrite_refusals(void **state)
{
	struct creds bad = go_creds;
	char *out = (char *)1, *big;
	size_t len = 1;

	(void)state;
	assert_int_equal(credfile_rewrite("", 0, "", &go_creds, &out, &len),
	    ERR_USAGE);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(credfile_rewrite("", 0, "a\nb", &go_creds, &out,
	    &len), ERR_USAGE);
	assert_int_equal(credfile_check_profile("x]\r"), ERR_USAGE);
	assert_int_equal(credfile_check_profile("my profile"), ERR_OK);
	/* A newline in a value would inject lines into the file. */
	bad.session_token = "tok\n[evil]";
	assert_int_equal(credfile_rewrite("", 0, "p", &bad, &out, &len),
	    ERR_RESPONSE);
	bad = go_creds;
	bad.access_key_id = "";
	assert_int_equal(credfile_rewrite("", 0, "p", &bad, &out, &len),
	    ERR_RESPONSE);
	bad.access_key_id = NULL;
	assert_int_equal(credfile_rewrite("", 0, "p", &bad, &out, &len),
	    ERR_RESPONSE);
	/* Bounded: a file over the cap is refused, not rewritten. */
	big = calloc(1, CREDFILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', CREDFILE_MAX + 1);
	err_clear();
	assert_int_equal(credfile_rewrite(big, CREDFILE_MAX + 1, "p",
	    &go_creds, &out, &len), ERR_INTERNAL);
	assert_non_null(strstr(err_message(), "larger than"));
	/* Exactly at the cap, growing past it is refused too. */
	err_clear();
	assert_int_equal(credfile_rewrite(big, CREDFILE_MAX, "p", &go_creds,
	    &out, &len), ERR_INTERNAL);
	assert_null(out);
	free(big);
	err_clear();
}

static void
test_path(void **state)
{
	char *p;

	(void)state;
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/x/creds", 1);
	unsetenv("HOME");
	/* Go bug: $HOME was required even with the file named. */
	assert_int_equal(credfile_path(&p), ERR_OK);
	assert_string_equal(p, "/x/creds");
	free(p);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(credfile_path(&p), ERR_OK);
	assert_string_equal(p, "/home/u/.aws/credentials");
	free(p);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("HOME");
	/* From the passwd entry; root's is /root in the test containers. */
	assert_int_equal(credfile_path(&p), ERR_OK);
	assert_non_null(strstr(p, "/.aws/credentials"));
	assert_true(p[0] == '/');
	free(p);
}

/* ------------------------------------------------------------ the file */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}


static void
test_write_new_dirs(void **state)
{
	char path[512], sub[256];
	struct stat st;
	char *got;
	size_t len;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	snprintf(path, sizeof(path), "%s/credentials", sub);
	/* Go bug: directories were made 0600, with no search permission. */
	umask(022);
	assert_int_equal(credfile_write(path, "p", &go_creds), ERR_OK);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	got = slurp(path, &len);
	assert_string_equal(got, "[p]\n" A "\n" S "\n" T "\n\n");
	free(got);
	/* Twice: the second run replaces the keys in place. */
	assert_int_equal(credfile_write(path, "p", &go_creds), ERR_OK);
	got = slurp(path, &len);
	assert_string_equal(got, "[p]\n" A "\n" S "\n" T "\n\n");
	free(got);
	/* No temporary file is left behind. */
	assert_int_equal(count_entries(sub), 1);
}

static void
test_write_keeps_symlink_and_mode(void **state)
{
	char real[256], link[256];
	struct stat st;
	char *got;
	size_t len;
	FILE *f;

	(void)state;
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	f = fopen(real, "w");
	assert_non_null(f);
	fputs("[other]\r\nk = v", f);
	fclose(f);
	chmod(real, 0644);
	assert_int_equal(symlink("real", link), 0);
	assert_int_equal(credfile_write(link, "p", &go_creds), ERR_OK);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(real, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	got = slurp(real, &len);
	assert_string_equal(got, "[other]\r\nk = v\r\n[p]\r\n" A "\r\n" S
	    "\r\n" T "\r\n\r\n");
	free(got);
}

static void
test_write_refusals(void **state)
{
	char fifo[256], big[256];
	FILE *f;

	(void)state;
	/* lib.sh sets AWS_SHARED_CREDENTIALS_FILE=/dev/null: never replace it. */
	assert_int_equal(credfile_write("/dev/null", "p", &go_creds),
	    ERR_INTERNAL);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(credfile_write(fifo, "p", &go_creds), ERR_INTERNAL);
	snprintf(big, sizeof(big), "%s/big", dir);
	f = fopen(big, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), CREDFILE_MAX + 1), 0);
	fclose(f);
	err_clear();
	assert_int_equal(credfile_write(big, "p", &go_creds), ERR_INTERNAL);
	assert_non_null(strstr(err_message(), "larger than"));
	err_clear();
}



int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrite_table),
		cmocka_unit_test(test_rewrite_idempotent),
		cmocka_unit_test(test_rewrite_long_line),
		cmocka_unit_test(test_rewrite_refusals),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_write_new_dirs),
		cmocka_unit_test(test_write_keeps_symlink_and_mode),
		cmocka_unit_test(test_write_refusals),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
