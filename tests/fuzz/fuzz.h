/*
 * fuzz.h - the one entry point every harness defines (libFuzzer's), and
 * fuzz_fail() for a property a harness checks beyond "does not crash".
 *
 * Each fuzz_*.c is built twice: with clang's -fsanitize=fuzzer for "make
 * fuzz" / "make check-slow", and with replay.c for "make check", which
 * runs the harness over every file of its corpus (corpus/NAME/) so a
 * finding, once kept there, is replayed on every build.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...) do {                                             \
		fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);   \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		abort();                                                \
	} while (0)

#endif /* FUZZ_H */
