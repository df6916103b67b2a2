/*
 * linkgraph.c: cycles in a graph of (from, to) pairs (see linkgraph.h).
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "buf.h"
#include "exitcode.h"
#include "linkgraph.h"
#include "log.h"

/* text keys, each given a number once */
typedef struct intern
{
	buf arena;               /* the keys, NUL-terminated, one after the other */
	size_t *off;             /* per id: where its key starts in arena */
	size_t n;
	uint32_t *slot;          /* open addressing: id + 1, 0 empty */
	size_t cap;
} intern;

struct linkgraph
{
	/* while adding: the pairs */
	int64_t *pairs;          /* from, to of edge e at 2e, 2e + 1 */
	intern names;            /* text keys */
	size_t nedges;
	size_t cap;
	/* after solving */
	bool solved;
	int64_t *node;           /* the distinct nodes, sorted */
	uint32_t nnodes;
	uint32_t *efrom;         /* per edge: node index of its ends */
	uint32_t *eto;
	uint32_t *off;           /* adjacency: edges of node v at adj[off[v] .. off[v+1]) */
	uint32_t *adj;           /* the edge's target node */
	uint32_t *comp;          /* per node: its component */
	long *cycle_id;          /* per component: its cycle number, -1 if it has none */
	uint32_t *cycle_rep;     /* per cycle: its smallest node */
	uint32_t *cycle_size;    /* per cycle: nodes in its component */
	size_t ncycles;
	int64_t *parent;         /* cycle_path's search: previous node, -1 unseen */
	uint32_t *queue;
};

static uint32_t
intern_id(intern *t, const char *s, size_t len)
{
	uint64_t h;
	size_t i;

	if (t->n + 1 > t->cap / 2)
	{
		size_t ncap = t->cap ? t->cap * 2 : 1024;
		uint32_t *ns = xcalloc(ncap, sizeof(uint32_t));

		for (size_t k = 0; k < t->cap; k++)
		{
			uint32_t id = t->slot[k];

			if (id == 0)
				continue;
			const char *p = t->arena.data + t->off[id - 1];

			for (i = XXH3_64bits(p, strlen(p)) & (ncap - 1); ns[i]; i = (i + 1) & (ncap - 1))
				;
			ns[i] = id;
		}
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	h = XXH3_64bits(s, len);
	for (i = h & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
	{
		const char *p = t->arena.data + t->off[t->slot[i] - 1];

		if (strlen(p) == len && memcmp(p, s, len) == 0)
			return t->slot[i] - 1;
	}
	if (t->n >= UINT32_MAX - 1)
		die(FERRY_EXIT_INTERNAL, "linkgraph: too many distinct keys");
	t->off = xrealloc(t->off, (t->n + 1) * sizeof(size_t));
	t->off[t->n] = t->arena.len;
	buf_append(&t->arena, s, len);
	buf_putc(&t->arena, '\0');
	t->slot[i] = (uint32_t) ++t->n;
	return (uint32_t) (t->n - 1);
}

static void
intern_free(intern *t)
{
	buf_free(&t->arena);
	free(t->off);
	free(t->slot);
}

linkgraph *
linkgraph_new(void)
{
	linkgraph *g = xcalloc(1, sizeof(linkgraph));

	buf_init(&g->names.arena, 1024);
	return g;
}

int64_t
linkgraph_intern(linkgraph *g, const char *key, size_t len)
{
	return intern_id(&g->names, key, len);
}

const char *
linkgraph_text(const linkgraph *g, int64_t node)
{
	if (node < 0 || (size_t) node >= g->names.n)
		return "?";
	return g->names.arena.data + g->names.off[node];
}

void
linkgraph_add(linkgraph *g, int64_t from, int64_t to)
{
	if (g->solved)
		die(FERRY_EXIT_INTERNAL, "linkgraph: an edge added after solving");
	if (g->nedges == g->cap)
	{
		g->cap = g->cap ? g->cap * 2 : 1024;
		g->pairs = xrealloc(g->pairs, g->cap * 2 * sizeof(int64_t));
	}
	g->pairs[2 * g->nedges] = from;
	g->pairs[2 * g->nedges + 1] = to;
	g->nedges++;
}

size_t
linkgraph_edges(const linkgraph *g)
{
	return g->nedges;
}

size_t
linkgraph_bytes(const linkgraph *g)
{
	size_t n = g->cap * 2 * sizeof(int64_t) + g->names.arena.cap +
		g->names.n * sizeof(size_t) + g->names.cap * sizeof(uint32_t);

	/* once solved: per node its value, adjacency offset, component, cycle
	 * number and (once a cycle is named) search state; per edge its ends
	 * and its place in the adjacency */
	if (g->solved)
		n += (size_t) g->nnodes * (sizeof(int64_t) + sizeof(uint32_t) * 2 + sizeof(long) +
								   (g->parent ? sizeof(int64_t) + sizeof(uint32_t) : 0)) +
			g->nedges * sizeof(uint32_t) * 3;
	return n;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static uint32_t
node_index(const linkgraph *g, int64_t v)
{
	const int64_t *p = bsearch(&v, g->node, g->nnodes, sizeof(int64_t), cmp_i64);

	return (uint32_t) (p - g->node);
}

/* Tarjan's strongly connected components, with an explicit call stack */
static void
components(linkgraph *g)
{
	uint32_t n = g->nnodes;
	uint32_t *index = xmalloc((size_t) (n ? n : 1) * sizeof(uint32_t));
	uint32_t *low = xmalloc((size_t) (n ? n : 1) * sizeof(uint32_t));
	uint32_t *stack = xmalloc((size_t) (n ? n : 1) * sizeof(uint32_t));
	uint32_t *call = xmalloc((size_t) (n ? n : 1) * sizeof(uint32_t));
	uint32_t *next = xmalloc((size_t) (n ? n : 1) * sizeof(uint32_t));
	char *on = xcalloc((size_t) n + 1, 1);
	uint32_t counter = 1, ncomp = 0, sp = 0;
	const uint32_t unseen = 0;

	memset(index, 0, (size_t) n * sizeof(uint32_t));
	for (uint32_t root = 0; root < n; root++)
	{
		uint32_t depth = 0;

		if (index[root] != unseen)
			continue;
		call[depth++] = root;
		index[root] = low[root] = counter++;
		next[root] = g->off[root];
		stack[sp++] = root;
		on[root] = 1;
		while (depth > 0)
		{
			uint32_t v = call[depth - 1];

			if (next[v] < g->off[v + 1])
			{
				uint32_t w = g->adj[next[v]++];

				if (index[w] == unseen)
				{
					index[w] = low[w] = counter++;
					next[w] = g->off[w];
					stack[sp++] = w;
					on[w] = 1;
					call[depth++] = w;
				}
				else if (on[w] && index[w] < low[v])
					low[v] = index[w];
				continue;
			}
			/* v is done: a root of its component pops it */
			if (low[v] == index[v])
			{
				uint32_t w;

				do
				{
					w = stack[--sp];
					on[w] = 0;
					g->comp[w] = ncomp;
				} while (w != v);
				ncomp++;
			}
			depth--;
			if (depth > 0 && low[v] < low[call[depth - 1]])
				low[call[depth - 1]] = low[v];
		}
	}

	/* components holding a cycle: more than one node, or a self-loop */
	uint32_t *size = xcalloc((size_t) ncomp + 1, sizeof(uint32_t));
	char *loop = xcalloc((size_t) ncomp + 1, 1);

	for (uint32_t v = 0; v < n; v++)
		size[g->comp[v]]++;
	for (size_t e = 0; e < g->nedges; e++)
		if (g->efrom[e] == g->eto[e])
			loop[g->comp[g->efrom[e]]] = 1;
	g->cycle_id = xmalloc(((size_t) ncomp + 1) * sizeof(long));
	for (uint32_t c = 0; c < ncomp; c++)
		g->cycle_id[c] = -1;
	/* numbered in the order of their smallest node (nodes are sorted) */
	for (uint32_t v = 0; v < n; v++)
	{
		uint32_t c = g->comp[v];

		if (g->cycle_id[c] >= 0 || (size[c] < 2 && !loop[c]))
			continue;
		g->cycle_id[c] = (long) g->ncycles;
		g->cycle_rep = xrealloc(g->cycle_rep, (g->ncycles + 1) * sizeof(uint32_t));
		g->cycle_size = xrealloc(g->cycle_size, (g->ncycles + 1) * sizeof(uint32_t));
		g->cycle_rep[g->ncycles] = v;
		g->cycle_size[g->ncycles] = size[c];
		g->ncycles++;
	}
	free(size);
	free(loop);
	free(index);
	free(low);
	free(stack);
	free(call);
	free(next);
	free(on);
}

void
linkgraph_solve(linkgraph *g)
{
	size_t ne = g->nedges;
	size_t nv = 0;
	int64_t *all;

	if (g->solved)
		return;
	g->solved = true;
	if (ne > UINT32_MAX / 2)
		die(FERRY_EXIT_INTERNAL, "linkgraph: more than %u links", UINT32_MAX / 2);
	/* the distinct nodes */
	all = xmalloc((2 * ne + 1) * sizeof(int64_t));
	if (ne)
		memcpy(all, g->pairs, 2 * ne * sizeof(int64_t));
	qsort(all, 2 * ne, sizeof(int64_t), cmp_i64);
	for (size_t i = 0; i < 2 * ne; i++)
		if (nv == 0 || all[nv - 1] != all[i])
			all[nv++] = all[i];
	g->node = xrealloc(all, (nv + 1) * sizeof(int64_t));
	g->nnodes = (uint32_t) nv;
	/* the edges by node index, and the adjacency (a counting sort by source) */
	g->efrom = xmalloc((ne + 1) * sizeof(uint32_t));
	g->eto = xmalloc((ne + 1) * sizeof(uint32_t));
	g->off = xcalloc(nv + 2, sizeof(uint32_t));
	g->adj = xmalloc((ne + 1) * sizeof(uint32_t));
	for (size_t e = 0; e < ne; e++)
	{
		g->efrom[e] = node_index(g, g->pairs[2 * e]);
		g->eto[e] = node_index(g, g->pairs[2 * e + 1]);
		g->off[g->efrom[e] + 1]++;
	}
	for (size_t v = 0; v < nv; v++)
		g->off[v + 1] += g->off[v];
	{
		uint32_t *fill = xmalloc((nv + 1) * sizeof(uint32_t));

		memcpy(fill, g->off, nv * sizeof(uint32_t));
		for (size_t e = 0; e < ne; e++)
			g->adj[fill[g->efrom[e]]++] = g->eto[e];
		free(fill);
	}
	/* the pairs are the nodes' values now */
	free(g->pairs);
	g->pairs = NULL;
	g->cap = 0;
	g->comp = xmalloc((nv + 1) * sizeof(uint32_t));
	components(g);
}

size_t
linkgraph_cycles(const linkgraph *g)
{
	return g->ncycles;
}

long
linkgraph_cycle_of(const linkgraph *g, size_t e)
{
	uint32_t a, b;

	if (!g->solved || e >= g->nedges)
		return -1;
	a = g->comp[g->efrom[e]];
	b = g->comp[g->eto[e]];
	return a == b ? g->cycle_id[a] : -1;
}

size_t
linkgraph_cycle_size(const linkgraph *g, size_t k)
{
	return k < g->ncycles ? g->cycle_size[k] : 0;
}

/*
 * A shortest way from the component's smallest node back to it, by a
 * breadth-first search inside the component; the nodes it touched are
 * reset after, so that naming every cycle costs the size of the graph once.
 */
size_t
linkgraph_cycle_path(linkgraph *g, size_t k, int64_t *nodes, size_t max)
{
	uint32_t start, c, last = UINT32_MAX;
	size_t head = 0, tail = 0, len = 0;

	if (k >= g->ncycles)
		return 0;
	if (g->parent == NULL)
	{
		g->parent = xmalloc(((size_t) g->nnodes + 1) * sizeof(int64_t));
		for (uint32_t v = 0; v < g->nnodes; v++)
			g->parent[v] = -1;
		g->queue = xmalloc(((size_t) g->nnodes + 1) * sizeof(uint32_t));
	}
	start = g->cycle_rep[k];
	c = g->comp[start];
	g->queue[tail++] = start;
	g->parent[start] = start;
	while (head < tail && last == UINT32_MAX)
	{
		uint32_t v = g->queue[head++];

		for (uint32_t i = g->off[v]; i < g->off[v + 1]; i++)
		{
			uint32_t w = g->adj[i];

			if (g->comp[w] != c)
				continue;
			if (w == start)
			{
				last = v;
				break;
			}
			if (g->parent[w] < 0)
			{
				g->parent[w] = v;
				g->queue[tail++] = w;
			}
		}
	}
	/* the way back: last, its parent, ... start; written in forward order */
	for (uint32_t v = last; v != UINT32_MAX; v = v == start ? UINT32_MAX : (uint32_t) g->parent[v])
		len++;
	{
		size_t i = len;

		for (uint32_t v = last; v != UINT32_MAX; v = v == start ? UINT32_MAX : (uint32_t) g->parent[v])
		{
			i--;
			if (i < max)
				nodes[i] = g->node[v];
		}
	}
	for (size_t i = 0; i < tail; i++)
		g->parent[g->queue[i]] = -1;
	return len;
}

void
linkgraph_free(linkgraph *g)
{
	if (g == NULL)
		return;
	free(g->pairs);
	free(g->node);
	free(g->efrom);
	free(g->eto);
	free(g->off);
	free(g->adj);
	free(g->comp);
	free(g->cycle_id);
	free(g->cycle_rep);
	free(g->cycle_size);
	free(g->parent);
	free(g->queue);
	intern_free(&g->names);
	free(g);
}
