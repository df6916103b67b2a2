/*
 * session.c: the verbs of ferry-books, and the session that serves them
 * to the driver one request a line.
 *
 * A request is the verb and its arguments separated by tabs, with "\t",
 * "\n" and "\\" escaped; the reply one line: "ok" and the verb's fields
 * (each after a tab), or "error<TAB>EXIT_CODE" once the reason has been
 * said on stderr.  A session that loses the target replies its error and
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
	bool writes;          /* only under the target's lock */
} verbs[] = {
	{"lock", verb_lock, false},
	{"log", verb_log, false},
	{"run-new", books_run_new, true},
	{"full-check", books_full_check, false},
	{"since", books_since, false},
	{"run-start", books_run_start, true},
	{"run-finish", books_run_finish, true},
	{"resumable", books_resumable, false},
	{"steps", books_steps, true},
	{"step-begin", books_step_begin, true},
	{"step-finish", books_step_finish, true},
	{"clear-attempt", books_clear_attempt, true},
	{"part-complete", books_part_complete, false},
	{"max-key", books_max_key, false},
	{"split", books_split, false},
	{"import", books_import, true},
	{"summary", books_summary, false},
	{"judge", books_judge, false},
	{"memory", books_memory, false},
};

int
books_verb(books *b, int argc, char **argv, buf *reply)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[0], verbs[i].name) == 0)
		{
			/*
			 * a writing verb outside a session that holds the lock: the
			 * steps of "ferry run -j N" (their run's session holds it)
			 */
			int rc = verbs[i].fn(b, argc, argv, reply);
			if (rc == FERRY_EXIT_USAGE && reply->len == 0 && argc == 0)
				log_error("%s: bad arguments", argv[0]);
			return rc;
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
		if (vrc == FERRY_EXIT_OK)
			printf("ok%.*s\n", (int) reply.len, reply.data ? reply.data : "");
		else
			printf("error\t%d%.*s\n", vrc, (int) reply.len, reply.data ? reply.data : "");
		fflush(stdout);
		fflush(stderr);
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
