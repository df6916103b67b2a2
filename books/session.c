/*
 * session.c: the verbs of ferry-books, and the session that serves them
 * to the driver one request a line.
 *
 * A request is the verb and its arguments separated by tabs, with "\t",
 * "\n" and "\\" escaped; the reply one line: "ok" and the verb's fields
 * (each after a byte 0x1f: a field may be empty, which a shell's read
 * keeps only with a separator that is not white space), or "error",
 * 0x1f and the exit code once the reason has been said on stderr.  A session that loses the target replies its error and
 * ends: its lock is gone with it, the driver must stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

static int
verb_lock(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 3)
		return FERRY_EXIT_USAGE;
	return books_lock(b, argv[1], argv[2]);
}

static int
verb_log(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 2)
		return FERRY_EXIT_USAGE;
	event_close();
	event_open(argv[1]);
	b->log_path = argv[1];
	return FERRY_EXIT_OK;
}

typedef int (*verb_fn)(books *b, int argc, char **argv, buf *reply);

static const struct
{
	const char *name;
	verb_fn fn;
	int min_args, max_args;   /* after the verb */
} verbs[] = {
	{"lock", verb_lock, 2, 2},
	{"log", verb_log, 1, 1},
	{"run-new", books_run_new, 7, 7},
	{"full-check", books_full_check, 1, 100000},
	{"since", books_since, 1, 1},
	{"run-start", books_run_start, 3, 3},
	{"run-finish", books_run_finish, 2, 3},
	{"resumable", books_resumable, 0, 1},
	{"steps", books_steps, 3, 100000},
	{"plan", books_plan, 1, 1},
	{"step-begin", books_step_begin, 2, 2},
	{"step-finish", books_step_finish, 5, 7},
	{"clear-attempt", books_clear_attempt, 3, 3},
	{"part-complete", books_part_complete, 3, 3},
	{"max-key", books_max_key, 4, 4},
	{"unwatched", books_unwatched, 1, 1},
	{"split", books_split, 6, 6},
	{"import", books_import, 1, 1},
	{"summary", books_summary, 1, 1},
	{"judge", books_judge, 3, 3},
	{"memory", books_memory, 2, 2},
	{"step-memory", books_step_memory, 3, 3},
	{"metrics", books_metrics, 4, 4},
	{"notify", books_notify, 6, 7},
	{"verify-run", books_verify_run, 0, 1},
	{"verdict", books_verdict, 3, 3},
	{"blame", books_blame_verb, 4, 4},
	{"step-end", books_step_end, 8, 8},
};

int
books_verb(books *b, int argc, char **argv, buf *reply)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[0], verbs[i].name) == 0)
		{
			if (argc - 1 < verbs[i].min_args || argc - 1 > verbs[i].max_args)
			{
				log_error("%s: %d argument(s), it takes %d to %d (see ferry-books(1))", argv[0], argc - 1,
						  verbs[i].min_args, verbs[i].max_args);
				return FERRY_EXIT_USAGE;
			}
			return verbs[i].fn(b, argc, argv, reply);
		}
	log_error("unknown verb \"%s\" (see ferry-books --help)", argv[0]);
	return FERRY_EXIT_USAGE;
}

/* split a request line into fields, undoing the escapes, in place */
static int
fields(char *line, char **argv, int max)
{
	int n = 0;
	char *out = line;
	argv[n++] = out;
	for (char *p = line; *p; p++)
	{
		if (*p == '\t')
		{
			*out++ = '\0';
			if (n == max)
				return -1;
			argv[n++] = out;
		}
		else if (*p == '\\' && p[1])
		{
			p++;
			*out++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
		}
		else
			*out++ = *p;
	}
	*out = '\0';
	return n;
}

void
books_reply(FILE *f, int rc, const buf *reply)
{
	if (rc == FERRY_EXIT_OK)
		fputs("ok", f);
	else
		fprintf(f, "error\x1f%d", rc);
	for (size_t i = 0; i < reply->len; i++)
		fputc(reply->data[i] == '\t' ? 0x1f : reply->data[i], f);
	fputc('\n', f);
	fflush(f);
}

int
books_serve(books *b)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	buf reply;
	buf_init(&reply, 256);
	int rc = FERRY_EXIT_OK;
	while ((len = getline(&line, &cap, stdin)) > 0)
	{
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		char *argv[4096];
		int argc = fields(line, argv, 4096);
		buf_reset(&reply);
		int vrc = argc > 0 && argv[0][0] ? books_verb(b, argc, argv, &reply) : FERRY_EXIT_USAGE;
		fflush(stderr);
		books_reply(stdout, vrc, &reply);
		if (PQstatus(b->target) == CONNECTION_BAD)
		{
			rc = FERRY_EXIT_TARGET;
			break;
		}
	}
	free(line);
	buf_free(&reply);
	return rc;
}
