/*
 * report.c: what ferry-verify found, for a person (terminal) and for a
 * program (JSON, the format of man/ferry-verify.1).
 */
#include <string.h>

#include "buf.h"
#include "log.h"
#include "verify.h"

static void
print_counts(FILE *f, const char *entity, const char *what, const vcounts *c)
{
	if (c->n == 0)
		return;
	fprintf(f, "%s:   %s:", entity, what);
	for (int i = 0; i < c->n; i++)
		fprintf(f, "%s %s %lld", i ? "," : "", c->v[i].name, c->v[i].n);
	fputc('\n', f);
}

static void
print_value(FILE *f, const char *s, bool null)
{
	if (null)
		fputs("NULL", f);
	else
		fprintf(f, "\"%s\"", s);
}

static void
print_diff(FILE *f, const char *entity, const vdiff *d)
{
	fprintf(f, "%s:   %s: key %s", entity, vdiff_kind_name(d->kind), d->key ? d->key : "?");
	if (d->uuid && d->kind != VD_DIFFERENT)
		fprintf(f, " (uuid %s)", d->uuid);
	switch (d->kind)
	{
		case VD_DIFFERENT:
			fprintf(f, ": %s: expected ", d->column);
			print_value(f, d->expected, d->expected_null);
			fputs(", found ", f);
			print_value(f, d->actual, d->actual_null);
			break;
		case VD_ORPHAN:
			fprintf(f, ": %s = %s: no such row in %s", d->column, d->actual ? d->actual : "?",
					d->expected ? d->expected : "?");
			break;
		default:
			break;
	}
	if (d->note)
		fprintf(f, " (%s)", d->note);
	fputc('\n', f);
}

void
report_print(FILE *f, const vresult *r, int show)
{
	const char *e = r->entity;

	fprintf(f, "%s: source %lld", e, r->source_rows);
	if (r->source_when && strcmp(r->source_when, "stream") != 0)
		fprintf(f, " (%s)", r->source_when);
	fprintf(f, ", loaded %lld, rejected %lld, repaired %lld; missing %lld, extra %lld, "
			"different %lld, orphans %lld: %s (%.2f%% intact)\n",
			r->loaded, r->rejected, r->repaired, r->missing, r->extra, r->different, r->orphans,
			result_clean(r) ? "ok" : "FAILED", result_success(r));
	print_counts(f, e, "rejected", &r->rejected_by);
	print_counts(f, e, "repaired", &r->repaired_by);
	print_counts(f, e, "different columns", &r->different_by);
	for (int i = 0; i < r->ndiffs && i < show; i++)
		print_diff(f, e, &r->diffs[i]);
	long long all = r->missing + r->extra + r->orphans;

	for (int i = 0; i < r->different_by.n; i++)
		all += r->different_by.v[i].n;
	if (all > show && r->ndiffs > 0)
		fprintf(f, "%s:   ... %lld differences in all%s\n", e, all,
				show < r->ndiffs ? " (the JSON report lists more: --report FILE)" : "");
	/* failed checks (the tree checks print their own lines as they go) */
	for (int i = 0; i < r->nchecks; i++)
		if (!r->checks[i].ok && strncmp(r->checks[i].name, "tree ", 5) != 0)
			fprintf(f, "%s:   %s: FAILED, %s\n", e, r->checks[i].name, r->checks[i].detail);
	/* the columns not compared, with -v */
	for (int i = 0; i < r->nnotes; i++)
		if (log_get_level() >= LOG_PROGRESS || strncmp(r->notes[i], "not compared", 12) != 0)
			fprintf(f, "%s:   note: %s\n", e, r->notes[i]);
}

static void
json_str(buf *out, const char *s)
{
	if (s == NULL)
		buf_puts(out, "null");
	else
		buf_json_string(out, s, strlen(s));
}

static void
json_counts(buf *out, const char *name, const vcounts *c)
{
	buf_printf(out, ",\"%s\":{", name);
	for (int i = 0; i < c->n; i++)
	{
		if (i)
			buf_putc(out, ',');
		json_str(out, c->v[i].name);
		buf_printf(out, ":%lld", c->v[i].n);
	}
	buf_putc(out, '}');
}

static void
json_num(buf *out, const char *name, long long n)
{
	if (n < 0)
		buf_printf(out, ",\"%s\":null", name);
	else
		buf_printf(out, ",\"%s\":%lld", name, n);
}

void
report_json_entity(buf *out, const vresult *r)
{
	buf_puts(out, "{\"entity\":");
	json_str(out, r->entity);
	buf_puts(out, ",\"target\":");
	json_str(out, r->target);
	buf_puts(out, ",\"mode\":");
	json_str(out, r->mode);
	json_num(out, "source_rows", r->source_rows);
	buf_puts(out, ",\"source_counted\":");
	json_str(out, r->source_when);
	json_num(out, "run_source_rows", r->run_source_rows);
	json_num(out, "run_loaded_rows", r->run_loaded_rows);
	json_num(out, "loaded", r->loaded);
	json_num(out, "rejected", r->rejected);
	json_counts(out, "rejected_by_reason", &r->rejected_by);
	json_num(out, "repaired", r->repaired);
	json_counts(out, "repaired_by_reason", &r->repaired_by);
	json_num(out, "missing", r->missing);
	json_num(out, "extra", r->extra);
	json_num(out, "different", r->different);
	json_counts(out, "different_by_column", &r->different_by);
	json_num(out, "orphans", r->orphans);
	buf_printf(out, ",\"success_rate\":%.4f,\"ok\":%s,\"differences\":[", result_success(r),
			   result_clean(r) ? "true" : "false");
	for (int i = 0; i < r->ndiffs; i++)
	{
		const vdiff *d = &r->diffs[i];

		buf_printf(out, "%s{\"kind\":\"%s\",\"key\":", i ? "," : "", vdiff_kind_name(d->kind));
		json_str(out, d->key);
		buf_puts(out, ",\"uuid\":");
		json_str(out, d->uuid);
		if (d->kind == VD_DIFFERENT || d->kind == VD_ORPHAN)
		{
			buf_puts(out, ",\"column\":");
			json_str(out, d->column);
		}
		if (d->kind == VD_DIFFERENT)
		{
			buf_puts(out, ",\"expected\":");
			json_str(out, d->expected_null ? NULL : d->expected);
			buf_puts(out, ",\"actual\":");
			json_str(out, d->actual_null ? NULL : d->actual);
		}
		if (d->kind == VD_ORPHAN)
		{
			buf_puts(out, ",\"value\":");
			json_str(out, d->actual);
			buf_puts(out, ",\"references\":");
			json_str(out, d->expected);
		}
		if (d->note)
		{
			buf_puts(out, ",\"note\":");
			json_str(out, d->note);
		}
		buf_putc(out, '}');
	}
	buf_puts(out, "],\"listed\":");
	buf_printf(out, "%d,\"checks\":[", r->ndiffs);
	for (int i = 0; i < r->nchecks; i++)
	{
		buf_printf(out, "%s{\"check\":", i ? "," : "");
		json_str(out, r->checks[i].name);
		buf_printf(out, ",\"ok\":%s,\"detail\":", r->checks[i].ok ? "true" : "false");
		json_str(out, r->checks[i].detail);
		buf_putc(out, '}');
	}
	buf_puts(out, "],\"notes\":[");
	for (int i = 0; i < r->nnotes; i++)
	{
		if (i)
			buf_putc(out, ',');
		json_str(out, r->notes[i]);
	}
	buf_puts(out, "]}");
}

void
report_json(buf *out, const vresult *rs, int n, const char *run, double min_success, bool passed)
{
	long long src = 0, loaded = 0, rej = 0, rep = 0, miss = 0, extra = 0, diff = 0, orph = 0;
	long long intact = 0;

	buf_puts(out, "{\"ferry\":\"verify\",\"version\":1,\"run\":");
	json_str(out, run);
	buf_puts(out, ",\"entities\":[");
	for (int i = 0; i < n; i++)
	{
		const vresult *r = &rs[i];

		if (i)
			buf_putc(out, ',');
		report_json_entity(out, r);
		src += r->source_rows > 0 ? r->source_rows : 0;
		loaded += r->loaded;
		rej += r->rejected;
		rep += r->repaired;
		miss += r->missing;
		extra += r->extra;
		diff += r->different;
		orph += r->orphans;
		intact += r->loaded - r->different;
	}
	buf_printf(out, "],\"totals\":{\"source_rows\":%lld,\"loaded\":%lld,\"rejected\":%lld,"
			   "\"repaired\":%lld,\"missing\":%lld,\"extra\":%lld,\"different\":%lld,"
			   "\"orphans\":%lld,\"success_rate\":%.4f},\"min_success\":%.4f,\"ok\":%s}\n",
			   src, loaded, rej, rep, miss, extra, diff, orph,
			   src > 0 ? 100.0 * (double) intact / (double) src : 100.0, min_success,
			   passed ? "true" : "false");
}
