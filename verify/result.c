/*
 * result.c: what ferry-verify found about one entity: counts, reasons,
 * the differences kept for the report, the success rate.  Pure functions
 * (tests/unit/test_verify.c).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "verify.h"

void
result_init(vresult *r, const char *entity, const char *target, const char *mode, int max_listed)
{
	memset(r, 0, sizeof *r);
	r->entity = xstrdup(entity ? entity : "?");
	r->target = target ? xstrdup(target) : NULL;
	r->mode = mode;
	r->source_rows = -1;
	r->source_when = "now";
	r->run_source_rows = -1;
	r->run_loaded_rows = -1;
	r->max_listed = max_listed;
}

static void
counts_free(vcounts *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof *c);
}

void
result_free(vresult *r)
{
	free(r->entity);
	free(r->target);
	counts_free(&r->rejected_by);
	counts_free(&r->repaired_by);
	counts_free(&r->different_by);
	for (int i = 0; i < r->ndiffs; i++)
	{
		free(r->diffs[i].key);
		free(r->diffs[i].uuid);
		free(r->diffs[i].column);
		free(r->diffs[i].expected);
		free(r->diffs[i].actual);
		free(r->diffs[i].note);
	}
	free(r->diffs);
	for (int i = 0; i < r->nchecks; i++)
	{
		free(r->checks[i].name);
		free(r->checks[i].detail);
	}
	free(r->checks);
	for (int i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof *r);
}

void
counts_add(vcounts *c, const char *name, long long n)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, name) == 0)
		{
			c->v[i].n += n;
			return;
		}
	if (c->n == c->cap)
	{
		c->cap = c->cap ? 2 * c->cap : 8;
		c->v = xrealloc(c->v, (size_t) c->cap * sizeof *c->v);
	}
	c->v[c->n].name = xstrdup(name);
	c->v[c->n].n = n;
	c->n++;
}

long long
counts_total(const vcounts *c)
{
	long long t = 0;

	for (int i = 0; i < c->n; i++)
		t += c->v[i].n;
	return t;
}

static char *
cut(const char *s)
{
	buf b;

	if (s == NULL)
		return NULL;
	buf_init(&b, 80);
	display_value(&b, s, VERIFY_SHOW_CHARS);
	return (char *) buf_cstr(&b);
}

void
result_diff(vresult *r, vdiff_kind kind, const char *key, const char *uuid, const char *column,
			const char *expected, const char *actual, const char *note)
{
	vdiff *d;

	if (r->ndiffs >= r->max_listed)
		return;
	r->diffs = xrealloc(r->diffs, (size_t) (r->ndiffs + 1) * sizeof *r->diffs);
	d = &r->diffs[r->ndiffs++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	d->key = key ? xstrdup(key) : NULL;
	d->uuid = uuid ? xstrdup(uuid) : NULL;
	d->column = column ? xstrdup(column) : NULL;
	d->expected = cut(expected);
	d->expected_null = expected == NULL;
	d->actual = cut(actual);
	d->actual_null = actual == NULL;
	d->note = note ? xstrdup(note) : NULL;
}

void
result_check(vresult *r, const char *name, bool ok, const char *detail)
{
	r->checks = xrealloc(r->checks, (size_t) (r->nchecks + 1) * sizeof *r->checks);
	r->checks[r->nchecks].name = xstrdup(name);
	r->checks[r->nchecks].ok = ok;
	r->checks[r->nchecks].detail = xstrdup(detail ? detail : "");
	r->nchecks++;
	if (!ok)
		r->checks_failed++;
}

void
result_note(vresult *r, const char *fmt, ...)
{
	buf b;
	va_list ap;

	buf_init(&b, 128);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r->notes = xrealloc(r->notes, (size_t) (r->nnotes + 1) * sizeof *r->notes);
	r->notes[r->nnotes++] = (char *) buf_cstr(&b);
}

double
result_success(const vresult *r)
{
	long long intact = r->loaded - r->different;

	if (r->source_rows <= 0)
		return 100.0;
	if (intact < 0)
		intact = 0;
	return 100.0 * (double) intact / (double) r->source_rows;
}

bool
result_clean(const vresult *r)
{
	return r->missing == 0 && r->extra == 0 && r->different == 0 && r->orphans == 0 &&
		r->checks_failed == 0;
}

const char *
vdiff_kind_name(vdiff_kind k)
{
	switch (k)
	{
		case VD_MISSING: return "missing";
		case VD_EXTRA: return "extra";
		case VD_DIFFERENT: return "different";
		case VD_ORPHAN: return "orphan";
	}
	return "?";
}

void
result_merge(vresult *into, const vresult *from)
{
	into->loaded += from->loaded;
	into->rejected += from->rejected;
	into->repaired += from->repaired;
	into->missing += from->missing;
	into->extra += from->extra;
	into->different += from->different;
	into->orphans += from->orphans;
	for (int i = 0; i < from->rejected_by.n; i++)
		counts_add(&into->rejected_by, from->rejected_by.v[i].name, from->rejected_by.v[i].n);
	for (int i = 0; i < from->repaired_by.n; i++)
		counts_add(&into->repaired_by, from->repaired_by.v[i].name, from->repaired_by.v[i].n);
	for (int i = 0; i < from->different_by.n; i++)
		counts_add(&into->different_by, from->different_by.v[i].name, from->different_by.v[i].n);
	for (int i = 0; i < from->ndiffs && into->ndiffs < into->max_listed; i++)
	{
		const vdiff *d = &from->diffs[i];
		vdiff *n;

		into->diffs = xrealloc(into->diffs, (size_t) (into->ndiffs + 1) * sizeof *into->diffs);
		n = &into->diffs[into->ndiffs++];
		*n = *d;
		n->key = d->key ? xstrdup(d->key) : NULL;
		n->uuid = d->uuid ? xstrdup(d->uuid) : NULL;
		n->column = d->column ? xstrdup(d->column) : NULL;
		n->expected = d->expected ? xstrdup(d->expected) : NULL;
		n->actual = d->actual ? xstrdup(d->actual) : NULL;
		n->note = d->note ? xstrdup(d->note) : NULL;
	}
	for (int i = 0; i < from->nchecks; i++)
		result_check(into, from->checks[i].name, from->checks[i].ok, from->checks[i].detail);
	for (int i = 0; i < from->nnotes; i++)
		result_note(into, "%s", from->notes[i]);
}
