/*
 * A plain main() for the fuzz targets: feeds every file named on the
 * command line (or found in a named directory) to LLVMFuzzerTestOneInput
 * once, as libFuzzer's -runs=0 would. make check builds each target with it
 * and the normal compiler, so the committed corpora are regression tests
 * without clang, and under ASan+UBSan with `make check SANITIZE=1`.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));

/* A copy of exactly the file's size, so that ASan sees any over-read. */
static int
run_file(const char *path)
{
	uint8_t *buf = NULL;
	long len;
	FILE *f;
	int ret = -1;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "driver: cannot read %s: %s\n", path,
		    strerror(errno));
		goto out;
	}
	fprintf(stderr, "driver: %s\n", path);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	ret = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return ret;
}

static int
skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int
main(int argc, char **argv)
{
	struct dirent **names;
	struct stat st;
	char path[4096];
	int n, count = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "driver: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			count++;
			continue;
		}
		if ((n = scandir(argv[i], &names, skip_dots, alphasort)) < 0) {
			fprintf(stderr, "driver: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		for (int k = 0; k < n; k++) {
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    names[k]->d_name);
			if (run_file(path) != 0)
				return 1;
			count++;
			free(names[k]);
		}
		free(names);
	}
	printf("%d inputs run\n", count);
	return 0;
}
