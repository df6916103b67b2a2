/*
 * test_linkgraph.c: unit tests of lib/linkgraph.c (TAP): which edges lie
 * on a cycle, how a cycle is named, and a chain long enough that a
 * recursive search would overflow the stack.
 */
#include <stdint.h>
#include <stdio.h>

#include "linkgraph.h"
#include "log.h"
#include "tap.h"

static void
test_small(void)
{
	linkgraph *g = linkgraph_new();
	int64_t nodes[8];
	size_t len;

	/* edges 0..8 */
	linkgraph_add(g, 8, 28);     /* 0: kit 8 holds kit 28 */
	linkgraph_add(g, 28, 8);     /* 1: ... which holds kit 8 */
	linkgraph_add(g, 1, 2);      /* 2 */
	linkgraph_add(g, 2, 3);      /* 3 */
	linkgraph_add(g, 3, 8);      /* 4: into the cycle, not on it */
	linkgraph_add(g, 5, 5);      /* 5: a kit holding itself */
	linkgraph_add(g, 10, 11);    /* 6 */
	linkgraph_add(g, 11, 12);    /* 7 */
	linkgraph_add(g, 12, 10);    /* 8 */
	linkgraph_add(g, 11, 10);    /* 9 */
	ok(linkgraph_edges(g) == 10, "10 edges held");
	linkgraph_solve(g);
	ok(linkgraph_cycles(g) == 3, "three cycles: {5}, {8, 28}, {10, 11, 12}");
	ok(linkgraph_cycle_of(g, 5) == 0 && linkgraph_cycle_of(g, 0) == 1 && linkgraph_cycle_of(g, 1) == 1,
	   "cycles are numbered by their smallest key: 5, then 8");
	ok(linkgraph_cycle_of(g, 2) == -1 && linkgraph_cycle_of(g, 3) == -1 && linkgraph_cycle_of(g, 4) == -1,
	   "edges into a cycle are not on it");
	ok(linkgraph_cycle_of(g, 6) == 2 && linkgraph_cycle_of(g, 7) == 2 && linkgraph_cycle_of(g, 8) == 2 &&
	   linkgraph_cycle_of(g, 9) == 2, "every edge inside a component is on a cycle");
	len = linkgraph_cycle_path(g, 1, nodes, 8);
	ok(len == 2 && nodes[0] == 8 && nodes[1] == 28, "cycle 1 is named 8 -> 28 (-> 8)");
	len = linkgraph_cycle_path(g, 0, nodes, 8);
	ok(len == 1 && nodes[0] == 5, "a self-loop is named by its key");
	len = linkgraph_cycle_path(g, 2, nodes, 8);
	ok(len == 2 && nodes[0] == 10 && nodes[1] == 11 && linkgraph_cycle_size(g, 2) == 3,
	   "the shortest way round from the smallest key: 10 -> 11 (of 3 keys)");
	len = linkgraph_cycle_path(g, 1, nodes, 8);
	ok(len == 2 && nodes[0] == 8, "naming a cycle again gives the same");
	ok(linkgraph_cycle_of(g, 99) == -1 && linkgraph_cycle_path(g, 7, nodes, 8) == 0, "out of range");
	linkgraph_free(g);
}

static void
test_long_chain(void)
{
	linkgraph *g = linkgraph_new();
	const int64_t n = 1000000;
	int64_t first[3];
	size_t len;

	/* 0 -> 1 -> ... -> n-1 -> 0: one cycle through a million keys, and a tail */
	for (int64_t i = 0; i < n; i++)
		linkgraph_add(g, i, (i + 1) % n);
	linkgraph_add(g, -5, 0);
	linkgraph_solve(g);
	ok(linkgraph_cycles(g) == 1 && linkgraph_cycle_size(g, 0) == (size_t) n,
	   "a cycle of a million keys is found without recursion");
	ok(linkgraph_cycle_of(g, (size_t) n) == -1 && linkgraph_cycle_of(g, 123456) == 0, "the tail is not on it");
	len = linkgraph_cycle_path(g, 0, first, 3);
	ok(len == (size_t) n && first[0] == 0 && first[1] == 1 && first[2] == 2,
	   "its length is given, its first keys written");
	ok(linkgraph_bytes(g) < 64 * (size_t) n, "%zu bytes for %lld edges once solved", linkgraph_bytes(g),
	   (long long) n);
	linkgraph_free(g);

	g = linkgraph_new();
	linkgraph_solve(g);
	ok(linkgraph_cycles(g) == 0, "an empty graph has no cycle");
	linkgraph_free(g);
}

int
main(void)
{
	log_init("test_linkgraph");
	test_small();
	test_long_chain();
	return tap_done();
}
