/*
 * runmetrics.c: a run in the Prometheus text format.
 *
 * The file "ferry run --metrics FILE" writes (ferry-books metrics) and
 * ferry-serve's /metrics, made from the status object (status.sql,
 * detail 1) by one query: the values are double precision and PostgreSQL
 * prints them in the shortest form that reads back the same.  serve.bats
 * compares the two for a finished run line by line.  A family with no
 * sample (the deletes of a full run) is left out.
 */
#include <string.h>

#include "runstatus.h"

/*
 * $1 the status object, $2 --min-success (percent), $3 --max-memory (bytes).
 * smp: one row a sample: its family f, its place (o1, o2, o3), the suffix
 * of its name (_sum, _count), its labels as name, value pairs, its value.
 */
static const char metrics_sql[] =
	"WITH r AS (SELECT $1::jsonb AS j, $2::float8 AS min, $3::float8 AS lim),\n"
	"e AS (SELECT x.value AS e, x.ordinality AS eo FROM r, jsonb_array_elements(r.j->'entities') WITH ORDINALITY x),\n"
	"st(s, so) AS (VALUES ('pending', 1), ('extracting', 2), ('loading', 3), ('done', 4), ('failed', 5),\n"
	"                     ('interrupted', 6)),\n"
	"rs(s, so) AS (VALUES ('running', 1), ('interrupted', 2), ('done', 3), ('failed', 4), ('rolled_back', 5)),\n"
	"fam(f, name, type, help) AS (VALUES\n"
	"  (1, 'ferry_run_state', 'gauge', 'State of the run: 1 for the state it is in (interrupted: running in the books, held by no ferry process).'),\n"
	"  (2, 'ferry_run_start_time_seconds', 'gauge', 'When the run started (Unix time).'),\n"
	"  (3, 'ferry_run_duration_seconds', 'gauge', 'Time since the run started, or its duration once it has ended.'),\n"
	"  (4, 'ferry_run_success_ratio', 'gauge', 'Rows loaded per source row, once the run has ended (ferry.runs.success_rate / 100; 0 before).'),\n"
	"  (5, 'ferry_run_min_success_ratio', 'gauge', 'The --min-success bar of the run / 100.'),\n"
	"  (6, 'ferry_run_entities', 'gauge', 'Steps of the run in each state.'),\n"
	"  (7, 'ferry_run_rows_expected', 'gauge', 'Rows the run should bring: the source estimates, the counts of the steps done.'),\n"
	"  (8, 'ferry_run_rows_done', 'gauge', 'Rows loaded or rejected so far.'),\n"
	"  (9, 'ferry_memory_limit_bytes', 'gauge', 'The --max-memory of the run: a stage whose peak passes it is reported.'),\n"
	"  (10, 'ferry_entity_state', 'gauge', 'State of each step: 1 for the state it is in.'),\n"
	"  (11, 'ferry_entity_rows_expected', 'gauge', 'Rows the step should bring (the source estimate, the count once done; 0: unknown).'),\n"
	"  (12, 'ferry_entity_rows_read_total', 'counter', 'Rows the extracts of the step read from the source (every attempt).'),\n"
	"  (13, 'ferry_entity_rows_written_total', 'counter', 'Rows of the step loaded into the destination.'),\n"
	"  (14, 'ferry_entity_rows_rejected_total', 'counter', 'Rows of the step set aside as rejects (ferry.rejects).'),\n"
	"  (15, 'ferry_entity_rows_repaired_total', 'counter', 'Rows of the step loaded under a repair policy (noted in ferry.rejects).'),\n"
	"  (16, 'ferry_entity_deletes_total', 'counter', 'Rows gone from the source, by what the step''s deletes did (deleted, cascaded, set_null, flagged, kept, refused).'),\n"
	"  (17, 'ferry_entity_duration_seconds', 'gauge', 'Time the latest attempt of the step took (so far, while it runs; 0: not begun).'),\n"
	"  (18, 'ferry_entity_batch_latency_seconds', 'summary', 'Time of each batch of the load of the step (COPY, bookkeeping, commit).'),\n"
	"  (19, 'ferry_stage_bytes_total', 'counter', 'Bytes each stage of the step read (direction in) and wrote (out): its stream, and the rows from the source (extract) or the COPY data to the destination (load).'),\n"
	"  (20, 'ferry_stage_peak_memory_bytes', 'gauge', 'Peak resident memory of each stage of the step (getrusage ru_maxrss; the largest of its processes).'),\n"
	"  (21, 'ferry_metrics_updated_time_seconds', 'gauge', 'When ferry last wrote this file (Unix time).')),\n"
	"smp(f, o1, o2, o3, suffix, labels, v) AS (\n"
	"  SELECT 1, rs.so, 0, 0, '', ARRAY['run', j->>'run', 'kind', j->>'kind', 'state', rs.s],\n"
	"         CASE WHEN j->>'state' = rs.s THEN 1 ELSE 0 END::float8 FROM r, rs\n"
	"  UNION ALL SELECT 2, 0, 0, 0, '', ARRAY['run', j->>'run'], coalesce((j->>'started_at_epoch')::float8, 0) FROM r\n"
	"  UNION ALL SELECT 3, 0, 0, 0, '', ARRAY['run', j->>'run'], coalesce((j->>'elapsed_seconds')::float8, 0) FROM r\n"
	"  UNION ALL SELECT 4, 0, 0, 0, '', ARRAY['run', j->>'run'], coalesce((j->>'success_rate')::float8 / 100, 0) FROM r\n"
	"  UNION ALL SELECT 5, 0, 0, 0, '', ARRAY['run', j->>'run'], min / 100 FROM r\n"
	"  UNION ALL SELECT 6, st.so, 0, 0, '', ARRAY['run', j->>'run', 'state', st.s],\n"
	"         (SELECT count(*) FROM e WHERE e->>'state' = st.s)::float8 FROM r, st\n"
	"  UNION ALL SELECT 7, 0, 0, 0, '', ARRAY['run', j->>'run'], coalesce((j#>>'{totals,rows_expected}')::float8, 0) FROM r\n"
	"  UNION ALL SELECT 8, 0, 0, 0, '', ARRAY['run', j->>'run'], coalesce((j#>>'{totals,rows_done}')::float8, 0) FROM r\n"
	"  UNION ALL SELECT 9, 0, 0, 0, '', ARRAY['run', j->>'run'], lim FROM r\n"
	"  UNION ALL SELECT 10, eo, st.so, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity', 'state', st.s],\n"
	"         CASE WHEN e->>'state' = st.s THEN 1 ELSE 0 END::float8 FROM r, e, st\n"
	"  UNION ALL SELECT 11, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'rows_expected')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 12, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'rows_read')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 13, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'loaded')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 14, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'rejected')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 15, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'repaired')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 16, eo, a.ao, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity', 'action', a.a],\n"
	"         coalesce((e#>>ARRAY['deletes', a.a])::float8, 0)\n"
	"    FROM r, e, (VALUES ('deleted', 1), ('cascaded', 2), ('set_null', 3), ('flagged', 4), ('kept', 5),\n"
	"                       ('refused', 6)) a(a, ao)\n"
	"   WHERE jsonb_typeof(e->'deletes') = 'object'\n"
	"  UNION ALL SELECT 17, eo, 0, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e->>'seconds')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 18, eo, q.qo, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity', 'quantile', q.q],\n"
	"         (e#>>ARRAY['batch_latency', q.k])::float8\n"
	"    FROM r, e, (VALUES ('0.5', 'p50', 1), ('0.9', 'p90', 2), ('0.99', 'p99', 3)) q(q, k, qo)\n"
	"   WHERE e#>ARRAY['batch_latency', q.k] <> 'null'::jsonb\n"
	"  UNION ALL SELECT 18, eo, 4, 0, '_sum', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e#>>'{batch_latency,sum}')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 18, eo, 5, 0, '_count', ARRAY['run', j->>'run', 'entity', e->>'entity'],\n"
	"         coalesce((e#>>'{batch_latency,count}')::float8, 0) FROM r, e\n"
	"  UNION ALL SELECT 19, eo, s.so, d.dord, '',\n"
	"         ARRAY['run', j->>'run', 'entity', e->>'entity', 'stage', s.s->>'stage', 'direction', d.d],\n"
	"         coalesce((s.s->>(CASE WHEN d.d = 'in' THEN 'bytes_in' ELSE 'bytes_out' END))::float8, 0)\n"
	"    FROM r, e, jsonb_array_elements(e->'stages') WITH ORDINALITY s(s, so), (VALUES ('in', 1), ('out', 2)) d(d, dord)\n"
	"  UNION ALL SELECT 20, eo, s.so, 0, '', ARRAY['run', j->>'run', 'entity', e->>'entity', 'stage', s.s->>'stage'],\n"
	"         coalesce((s.s->>'peak_memory_bytes')::float8, 0)\n"
	"    FROM r, e, jsonb_array_elements(e->'stages') WITH ORDINALITY s(s, so)\n"
	"  UNION ALL SELECT 21, 0, 0, 0, '', ARRAY['run', j->>'run'], floor(extract(epoch FROM clock_timestamp()))::float8 FROM r),\n"
	"lines AS (\n"
	"  SELECT f, string_agg(m.name || suffix || '{' || (\n"
	"           SELECT string_agg(labels[i] || '=\"' || replace(replace(replace(coalesce(labels[i + 1], 'null'),\n"
	"                    '\\', '\\\\'), '\"', '\\\"'), E'\\n', '\\n') || '\"', ',' ORDER BY i)\n"
	"             FROM generate_series(1, array_length(labels, 1), 2) i) || '} ' || v::text || E'\\n',\n"
	"         '' ORDER BY o1, o2, o3) AS text\n"
	"    FROM smp JOIN fam m USING (f) GROUP BY f)\n"
	"SELECT string_agg('# HELP ' || name || ' ' || help || E'\\n# TYPE ' || name || ' ' || type || E'\\n'\n"
	"                  || lines.text, '' ORDER BY f)\n"
	"  FROM fam JOIN lines USING (f)";

bool
run_metrics_text(PGconn *conn, const char *status_json, const char *min_success, const char *memory_limit,
				 buf *out, PGresult **res)
{
	const Oid types[] = {25, 25, 25};
	const char *vals[] = {status_json, min_success, memory_limit};

	*res = PQexecParams(conn, metrics_sql, 3, types, vals, NULL, NULL, 0);
	if (PQresultStatus(*res) != PGRES_TUPLES_OK || PQntuples(*res) != 1)
		return false;
	buf_puts(out, PQgetvalue(*res, 0, 0));
	PQclear(*res);
	*res = NULL;
	return true;
}
