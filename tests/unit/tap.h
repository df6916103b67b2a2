/*
 * tap.h: a tiny TAP producer for the C unit tests.
 */
#ifndef FERRY_TAP_H
#define FERRY_TAP_H

#include <stdio.h>

static int tap_n;
static int tap_failed;

#define ok(cond, ...) \
	do { \
		int tap_ok_ = (cond) ? 1 : 0; \
		tap_n++; \
		if (tap_ok_) \
			printf("ok %d - ", tap_n); \
		else \
		{ \
			printf("not ok %d - ", tap_n); \
			tap_failed++; \
		} \
		printf(__VA_ARGS__); \
		printf("\n"); \
		if (!tap_ok_) \
			printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		fflush(stdout); \
	} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
