/*
 * The file module (src/files.c) in a private directory: bounded reads that
 * refuse what is not a regular file without blocking, links followed only
 * when they are ours, private directories, lock waits, and replacement that
 * leaves no temporary file behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "err.h"
#include "files.h"

#define TMPDIR_NAME "test_files"
#include "tmpdir.h"


static void
path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void
put_file(const char *name, const char *text, mode_t mode)
{
	char p[512];
	FILE *f;

	path_of(p, sizeof(p), name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static void
test_read(void **state)
{
	char p[512];
	uint8_t *buf;
	size_t len;

	(void)state;
	put_file("small", "hello", 0600);
	path_of(p, sizeof(p), "small");
	assert_int_equal(files_read(p, "test file", ERR_CERT, 5, &buf, &len),
	    ERR_OK);
	assert_int_equal(len, 5);
	assert_string_equal((char *)buf, "hello");
	OPENSSL_clear_free(buf, len + 1);
	/* One byte over the cap is a clean error naming the file. */
	err_clear();
	assert_int_equal(files_read(p, "test file", ERR_CERT, 4, &buf, &len),
	    ERR_CERT);
	assert_null(buf);
	assert_non_null(strstr(err_message(), "larger than 4 bytes"));
	err_clear();
}

/* A FIFO, a directory and a device: refused at once, said what they are. */
static void
test_read_refusals(void **state)
{
	char p[512];
	uint8_t *buf;
	size_t len;
	time_t t0 = time(NULL);

	(void)state;
	path_of(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	err_clear();
	assert_int_equal(files_read(p, "key file", ERR_KEY, FILES_MAX, &buf,
	    &len), ERR_KEY);
	assert_non_null(strstr(err_message(), "is a FIFO, not a regular file"));
	err_clear();
	assert_int_equal(files_read(dir, "key file", ERR_KEY, FILES_MAX, &buf,
	    &len), ERR_KEY);
	assert_non_null(strstr(err_message(), "is a directory"));
	err_clear();
	assert_int_equal(files_read("/dev/null", "key file", ERR_KEY,
	    FILES_MAX, &buf, &len), ERR_KEY);
	assert_non_null(strstr(err_message(), "is a character device"));
	err_clear();
	assert_true(time(NULL) - t0 < 5);
	/* Paths a library opens: only when they exist and are not files. */
	assert_int_equal(files_check_regular(p, "bundle", ERR_USAGE),
	    ERR_USAGE);
	err_clear();
	assert_int_equal(files_check_regular("/no/such/file", "bundle",
	    ERR_USAGE), ERR_OK);
}

/* files_open with FILES_NOFOLLOW and FILES_MISSING_OK, as the cache uses. */
static void
test_open_at(void **state)
{
	struct stat st;
	int dfd, fd;

	(void)state;
	put_file("target", "x", 0600);
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(symlinkat("target", dfd, "link"), 0);
	err_clear();
	assert_int_equal(files_open(dfd, "link", "entry", ERR_RESPONSE,
	    FILES_NOFOLLOW, &fd, &st), ERR_RESPONSE);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err_message(), "is a symbolic link"));
	err_clear();
	assert_int_equal(files_open(dfd, "missing", "entry", ERR_RESPONSE,
	    FILES_NOFOLLOW | FILES_MISSING_OK, &fd, &st), ERR_OK);
	assert_int_equal(fd, -1);
	assert_int_equal(files_open(dfd, "target", "entry", ERR_RESPONSE,
	    FILES_NOFOLLOW, &fd, &st), ERR_OK);
	assert_true(fd >= 0);
	/* Blocking again: the caller reads it like any file. */
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	close(dfd);
}

/* Made 0700 with its parents, tightened when loose; nothing made unasked. */
static void
test_private_dir(void **state)
{
	char p[512];
	struct stat st;
	int fd;

	(void)state;
	path_of(p, sizeof(p), "a/b/private");
	umask(022);
	assert_int_equal(files_dir(p, "cache directory", ERR_INTERNAL,
	    FILES_CREATE | FILES_PRIVATE, &fd), ERR_OK);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	close(fd);
	assert_int_equal(chmod(p, 0755), 0);
	assert_int_equal(files_dir(p, "cache directory", ERR_INTERNAL,
	    FILES_PRIVATE, &fd), ERR_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	close(fd);
	/* A file in the way is no directory, and nothing is made without CREATE. */
	put_file("plain", "x", 0600);
	path_of(p, sizeof(p), "plain/sub");
	err_clear();
	assert_int_equal(files_dir(p, "cache directory", ERR_INTERNAL,
	    FILES_CREATE, &fd), ERR_INTERNAL);
	err_clear();
	path_of(p, sizeof(p), "nothing/here");
	assert_int_equal(files_dir(p, "cache directory", ERR_INTERNAL, 0, &fd),
	    ERR_INTERNAL);
	assert_int_equal(stat(p, &st), -1);
	err_clear();
}

/* Our own links, on the way and at the end, are followed. */
static void
test_locate_own_links(void **state)
{
	char p[512], t[512];
	char *name;
	int dfd;
	struct stat a, b;

	(void)state;
	path_of(t, sizeof(t), "real");
	assert_int_equal(mkdir(t, 0700), 0);
	put_file("real/file", "x", 0600);
	path_of(p, sizeof(p), "dirlink");
	assert_int_equal(symlink("real", p), 0);
	path_of(p, sizeof(p), "real/filelink");
	assert_int_equal(symlink("file", p), 0);
	path_of(p, sizeof(p), "dirlink/filelink");
	assert_int_equal(files_locate(p, "credentials file", ERR_INTERNAL, 0,
	    &dfd, &name), ERR_OK);
	assert_string_equal(name, "file");
	assert_int_equal(fstat(dfd, &a), 0);
	assert_int_equal(stat(t, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	free(name);
	close(dfd);
	/* Unless the caller says no link at the end. */
	err_clear();
	assert_int_equal(files_locate(p, "credentials file", ERR_INTERNAL,
	    FILES_NOFOLLOW, &dfd, &name), ERR_INTERNAL);
	err_clear();
	/* A path ending in a slash names no file. */
	path_of(p, sizeof(p), "real/");
	assert_int_equal(files_locate(p, "credentials file", ERR_INTERNAL, 0,
	    &dfd, &name), ERR_INTERNAL);
	assert_non_null(strstr(err_message(), "names a directory"));
	err_clear();
}

/* A held lock makes a bounded wait fail after about that long. */
static void
test_lock_wait(void **state)
{
	struct stat st;
	struct timespec t0, t1;
	int dfd, fd, other;
	long ms;

	(void)state;
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(files_lock(dfd, "locked", "locked", "lock", ERR_INTERNAL,
	    FILES_CREATE, 0, &fd, &st), ERR_OK);
	/* flock is per open file: another open of it is another holder. */
	assert_true((other = openat(dfd, "locked", O_RDONLY)) >= 0);
	assert_int_not_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err_clear();
	assert_int_equal(files_lock(dfd, "locked", "locked", "lock",
	    ERR_INTERNAL, 0, 200, &other, &st), ERR_INTERNAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 180 && ms < 2000);
	assert_non_null(strstr(err_message(), "another process holds it"));
	err_clear();
	close(fd);
	close(dfd);
}


static void
test_replace(void **state)
{
	char d[512], p[512];
	struct stat st;
	uint8_t *buf;
	size_t len;
	int dfd;

	(void)state;
	path_of(d, sizeof(d), "rep");
	assert_int_equal(files_dir(d, "dir", ERR_INTERNAL, FILES_CREATE, &dfd),
	    ERR_OK);
	assert_int_equal(files_replace(dfd, "f", "f", "file", ERR_INTERNAL,
	    "one", 3, 0600, geteuid(), getegid()), ERR_OK);
	assert_int_equal(files_replace(dfd, "f", "f", "file", ERR_INTERNAL,
	    "second", 6, 0640, geteuid(), getegid()), ERR_OK);
	path_of(p, sizeof(p), "rep/f");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(files_read(p, "file", ERR_INTERNAL, 100, &buf, &len),
	    ERR_OK);
	assert_string_equal((char *)buf, "second");
	OPENSSL_clear_free(buf, len + 1);
	assert_int_equal(count_entries(d), 1);
	close(dfd);
}



int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_read_refusals),
		cmocka_unit_test(test_open_at),
		cmocka_unit_test(test_private_dir),
		cmocka_unit_test(test_locate_own_links),
		cmocka_unit_test(test_lock_wait),
		cmocka_unit_test(test_replace),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
