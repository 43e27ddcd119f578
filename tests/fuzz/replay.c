/*
 * replay.c - "make check" side of a fuzz harness: run it once over every
 * file named on the command line, or, without arguments, over every file
 * of $srcdir/fuzz/corpus/FUZZ_NAME.  A crash, a sanitizer report or a
 * failed property aborts the run; exit 0 after the last input.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define REPLAY_MAX (1 << 20)

static int
run_file(const char *path)
{
	static unsigned char buf[REPLAY_MAX];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* A copy of exactly n bytes: reads past the input are caught. */
	unsigned char *copy = malloc(n ? n : 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *srcdir = getenv("srcdir");
	char dir[4096], path[8192];
	struct dirent *de;
	unsigned count = 0;
	DIR *d;
	int i;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_file(argv[i]) != 0)
				return 1;
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/%s",
	    srcdir != NULL ? srcdir : ".", FUZZ_NAME);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 99;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (run_file(path) != 0) {
			closedir(d);
			return 1;
		}
		count++;
	}
	closedir(d);
	if (count == 0) {
		fprintf(stderr, "replay: %s: no inputs\n", dir);
		return 99;
	}
	printf("replay %s: %u inputs\n", FUZZ_NAME, count);
	return 0;
}
