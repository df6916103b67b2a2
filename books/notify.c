/*
 * notify.c: notify RUN STATUS EXIT MIN_SUCCESS LIMIT_BYTES WORKDIR
 * [METRICS]: the JSON summary a --notify command reads on its standard
 * input at the end of a run (ferry(1), --notify), one line in the reply.
 * Made by the server from the run's status object (status.sql, detail 1);
 * without it (the books cannot be read) the few fields ferry knows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "runstatus.h"

/*
 * $1 the status object, $2 the event, $3 the status, $4 the exit code,
 * $5 the reason, $6 --min-success, $7 --metrics, $8 --max-memory.  json
 * (not jsonb) keeps the fields in their order; numbers that may have a
 * fraction go through double precision (printed shortest, as jq does).
 */
static const char notify_sql[] =
	"WITH s AS (SELECT $1::jsonb AS j),\n"
	"e AS (SELECT x.value AS e, x.ordinality AS o FROM s, jsonb_array_elements(j->'entities') WITH ORDINALITY x),\n"
	"ent AS (SELECT e FROM e WHERE strpos(e->>'entity', ':') = 0),\n"
	"m AS (SELECT e->>'entity' AS entity, st->>'stage' AS stage, (st->>'peak_memory_bytes')::numeric AS peak,\n"
	"             e.o, y.o AS so\n"
	"        FROM e, jsonb_array_elements(e->'stages') WITH ORDINALITY y(st, o))\n"
	"SELECT json_build_object(\n"
	"  'ferry', 'notify', 'version', 1, 'event', $2::text, 'run', j->'run', 'kind', j->'kind',\n"
	"  'status', $3::text, 'ok', $4::int = 0, 'exit_code', $4::int, 'reason', $5::text,\n"
	"  'success_rate', (j->>'success_rate')::float8, 'min_success', $6::float8,\n"
	"  'below_min_success', $2::text = 'run_below_min_success',\n"
	"  'rows', (SELECT json_build_object('source', coalesce(sum((e->>'rows_done')::numeric), 0),\n"
	"                 'loaded', coalesce(sum((e->>'loaded')::numeric), 0),\n"
	"                 'rejected', coalesce(sum((e->>'rejected')::numeric), 0),\n"
	"                 'repaired', coalesce(sum((e->>'repaired')::numeric), 0)) FROM ent),\n"
	"  'rejects', (SELECT coalesce(sum((e->>'rejected')::numeric), 0) FROM ent),\n"
	"  'rejects_by_reason', j->'rejects_by_reason',\n"
	"  'entities', coalesce((SELECT json_agg(json_build_object('entity', e->'entity', 'status', e->'state',\n"
	"                 'rows_expected', e->'rows_expected', 'source_rows', e->'rows_done', 'loaded', e->'loaded',\n"
	"                 'rejected', e->'rejected', 'repaired', e->'repaired', 'seconds', (e->>'seconds')::float8)\n"
	"                 ORDER BY o) FROM e), '[]'),\n"
	"  'left', j->'left', 'started_at', j->'started_at', 'finished_at', j->'finished_at',\n"
	"  'duration_seconds', (j->>'elapsed_seconds')::float8,\n"
	"  'host', j#>'{driver,host}', 'pid', j#>'{driver,pid}', 'workdir', j->'workdir',\n"
	"  'metrics', nullif($7::text, ''),\n"
	"  'memory', json_build_object('limit_bytes', $8::float8, 'peak_bytes', coalesce((SELECT max(peak) FROM m), 0),\n"
	"            'exceeded', coalesce((SELECT json_agg(json_build_object('entity', entity, 'stage', stage,\n"
	"                                  'peak_memory_bytes', peak) ORDER BY o, so) FROM m WHERE peak > $8::float8), '[]')))\n"
	"FROM s";

/* JSON text without the white space outside its strings (as jq -c prints it) */
static void
compact(buf *out, const char *json)
{
	bool in_string = false;
	for (const char *p = json; *p; p++)
	{
		if (in_string)
		{
			buf_putc(out, *p);
			if (*p == '\\' && p[1])
				buf_putc(out, *++p);
			else if (*p == '"')
				in_string = false;
		}
		else if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
		{
			buf_putc(out, *p);
			in_string = *p == '"';
		}
	}
}

/* the first line of FILE, without its end; false when none */
static bool
first_line(const char *file, char *out, size_t n)
{
	FILE *f = fopen(file, "r");
	bool ok = f && fgets(out, (int) n, f) && out[0] != '\n';
	if (f)
		fclose(f);
	if (ok)
		out[strcspn(out, "\n")] = '\0';
	return ok;
}

/* the event and the reason of a run that ended with STATUS and RC */
static void
reason_of(books *b, char **argv, int rc, buf *event, buf *reason)
{
	const char *run = argv[1], *status = argv[2], *min = argv[4], *workdir = argv[6];
	buf_printf(event, "run_%s", status);
	if (strcmp(status, "done") == 0)
	{
		const char *p[1] = {run};
		PGresult *res = pg_query(b->target, "SELECT coalesce(success_rate, 100) FROM ferry.runs WHERE run_id = $1",
								 1, p);
		const char *rate = res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
		if (rc == FERRY_EXIT_REJECTS)
		{
			buf_reset(event);
			buf_puts(event, "run_below_min_success");
			buf_printf(reason, "success rate %s%% is below the minimum %s%%", rate, min);
		}
		else
			buf_printf(reason, "done: success rate %s%% (minimum %s%%)", rate, min);
		PQclear(res);
	}
	else if (strcmp(status, "failed") == 0)
	{
		char path[4096], line[1024];
		snprintf(path, sizeof path, "%s/failure", workdir);
		if (first_line(path, line, sizeof line))
			buf_puts(reason, line);
		else
			buf_printf(reason, "failed (exit %d)", rc);
	}
	else if (strcmp(status, "interrupted") == 0)
		buf_printf(reason, "interrupted by a signal; finish it with: ferry resume %s", run);
}

int
books_notify(books *b, int argc, char **argv, buf *reply)
{
	const char *run = argv[1], *status = argv[2];
	int rc = atoi(argv[3]);
	char code[16];
	snprintf(code, sizeof code, "%d", rc);
	buf event, reason, json;
	buf_init(&event, 64);
	buf_init(&reason, 256);
	buf_init(&json, 8192);
	reason_of(b, argv, rc, &event, &reason);
	PGresult *res = NULL;
	if (run_status_json(b->target, run, true, &json, &res) && json.len > 0)
	{
		const char *p[8] = {buf_cstr(&json), buf_cstr(&event), status, code, buf_cstr(&reason), argv[4],
							argc > 7 ? argv[7] : "", argv[5]};
		res = pg_query(b->target, notify_sql, 8, p);
	}
	buf_putc(reply, '\t');
	if (res && PQntuples(res) == 1)
		compact(reply, PQgetvalue(res, 0, 0));
	else
	{
		/* what ferry knows without the books */
		buf_puts(reply, "{\"ferry\":\"notify\",\"version\":1,\"event\":");
		buf_json_string(reply, event.data, event.len);
		buf_puts(reply, ",\"run\":");
		buf_json_string(reply, run, strlen(run));
		buf_puts(reply, ",\"status\":");
		buf_json_string(reply, status, strlen(status));
		buf_printf(reply, ",\"ok\":%s,\"exit_code\":%d,\"reason\":", rc == 0 ? "true" : "false", rc);
		buf_json_string(reply, reason.data, reason.len);
		buf_putc(reply, '}');
	}
	PQclear(res);
	buf_free(&event);
	buf_free(&reason);
	buf_free(&json);
	return FERRY_EXIT_OK;
}
