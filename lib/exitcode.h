/*
 * exitcode.h: the exit codes of every ferry program.
 *
 * A calling script (the ferry driver among them) decides from these
 * whether to retry, resume or abort.  They are listed in ferry(1) and in
 * every stage's man page; keep the three in step.
 */
#ifndef FERRY_EXITCODE_H
#define FERRY_EXITCODE_H

enum ferry_exit
{
	FERRY_EXIT_OK = 0,          /* done, every row accounted for */
	FERRY_EXIT_INTERNAL = 1,    /* bug, out of memory, unexpected state */
	FERRY_EXIT_USAGE = 2,       /* bad arguments or bad plan: fix the command */
	FERRY_EXIT_SOURCE = 3,      /* source database: connection, query, snapshot */
	FERRY_EXIT_TARGET = 4,      /* target database: connection, query, load */
	FERRY_EXIT_STREAM = 5,      /* bad input stream: truncated, garbage, not a spool */
	FERRY_EXIT_REJECTS = 6,     /* finished, but some rows were set aside as rejects */
	FERRY_EXIT_VERIFY = 7,      /* verification found differences or success below bar */
	FERRY_EXIT_IO = 8,          /* a local file could not be read or written */
	FERRY_EXIT_INTERRUPTED = 9, /* the driver was interrupted (a stage stopped by a
								 * signal removes its output files and dies of
								 * the signal: the shell sees 128 + its number) */
	FERRY_EXIT_WRITERS = 10     /* cutover: sessions still write to the source */
};

#endif
