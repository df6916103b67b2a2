/*
 * linkgraph.h: cycles in a directed graph of (from, to) pairs, the rows of
 * a link entity (plan directive "links"; kits containing kits through a
 * join table).  Shared by ferry-transform (the stream's pairs, legacy
 * keys) and ferry-verify (the destination's pairs).
 *
 * Nodes are 64-bit values: an integer key, or the number linkgraph_intern()
 * gives a text key (each distinct text is kept once).  While pairs are added the graph holds 16 bytes an edge and
 * nothing else.  linkgraph_solve() then finds the strongly connected
 * components (Tarjan's algorithm, without recursion): an edge lies on a
 * cycle exactly when both its ends are in one component (a self-loop is
 * a cycle of one).  Solving trades the pairs for about 12 bytes an edge
 * and 36 a distinct node, for as long as the graph lives.
 */
#ifndef FERRY_LINKGRAPH_H
#define FERRY_LINKGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct linkgraph linkgraph;

linkgraph *linkgraph_new(void);
/*
 * The node of a text key: a number given once to each distinct text (a
 * graph uses either these or integer keys, not both), and its text back.
 */
int64_t linkgraph_intern(linkgraph *g, const char *key, size_t len);
const char *linkgraph_text(const linkgraph *g, int64_t node);
/* the next edge (edges are numbered 0, 1, ... in the order they are added) */
void linkgraph_add(linkgraph *g, int64_t from, int64_t to);
size_t linkgraph_edges(const linkgraph *g);
/* bytes held now */
size_t linkgraph_bytes(const linkgraph *g);
/* find the cycles; no edge may be added after */
void linkgraph_solve(linkgraph *g);
/* cycles found: one per component that holds one (numbered by its smallest node) */
size_t linkgraph_cycles(const linkgraph *g);
/* the cycle edge e lies on (0 .. linkgraph_cycles - 1), -1 if none */
long linkgraph_cycle_of(const linkgraph *g, size_t e);
/*
 * One cycle of component k, from its smallest node round to it: nodes[0]
 * is that node, nodes[1..] the next ones (the first node is not repeated at
 * the end).  Writes at most max nodes; returns the cycle's length.
 */
size_t linkgraph_cycle_path(linkgraph *g, size_t k, int64_t *nodes, size_t max);
/* nodes in component k (the cycle above is one way through them) */
size_t linkgraph_cycle_size(const linkgraph *g, size_t k);
void linkgraph_free(linkgraph *g);

#endif
