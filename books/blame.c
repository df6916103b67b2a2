/*
 * blame.c: which stage of a failed step says what went wrong.
 */
#include <stdlib.h>

#include "books.h"
#include "exitcode.h"

int
books_blame(bool pipes, int rc_e, int rc_t, int rc_l, const char **who)
{
	int rc = 0;
	*who = "";
	/* the first stage that failed (the load's 6, rows rejected, is no failure) */
	if (rc_e != 0)
		rc = rc_e, *who = "extract";
	else if (rc_t != 0)
		rc = rc_t, *who = "transform";
	else if (rc_l != 0 && rc_l != FERRY_EXIT_REJECTS)
		rc = rc_l, *who = "load";
	/*
	 * but through pipes, a stage whose reader died fails on the closed
	 * pipe (8): a later stage that failed for a reason of its own (not a
	 * stream cut short, 5) says what went wrong, and its code is the step's
	 */
	if (pipes && rc == FERRY_EXIT_IO && (*who)[0] == 'e' && rc_t != 0 && rc_t != FERRY_EXIT_STREAM)
		rc = rc_t, *who = "transform";
	if (pipes && rc == FERRY_EXIT_IO && (*who)[0] != 'l' && rc_l != 0 && rc_l != FERRY_EXIT_STREAM &&
		rc_l != FERRY_EXIT_REJECTS)
		rc = rc_l, *who = "load";
	return rc;
}

/* blame pipes|spool RC_EXTRACT RC_TRANSFORM RC_LOAD: "EXIT STAGE" ("0 " when none failed) */
int
books_blame_verb(books *b, int argc, char **argv, buf *reply)
{
	(void) b;
	(void) argc;
	const char *who;
	int rc = books_blame(argv[1][0] == 'p', atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), &who);
	buf_printf(reply, "\t%d\t%s", rc, who);
	return FERRY_EXIT_OK;
}
