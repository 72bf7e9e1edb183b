/*
 * The private directory of the unit tests that touch files: made before
 * the group, removed after it. Define TMPDIR_NAME, and include cmocka.h,
 * before this header.
 */
#ifndef RASIGN_TEST_TMPDIR_H
#define RASIGN_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/" TMPDIR_NAME ".XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* What d holds, "." and ".." aside: no temporary file may be left. */
static int
count_entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	assert_non_null(dp);
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			n++;
	closedir(dp);
	return n;
}

#endif
