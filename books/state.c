/*
 * state.c: the states of a run and of a step, and the moves between them.
 *
 * The one place that says which moves are legal: every change of a
 * run's or a step's status goes through books_move_run / the step verbs,
 * which ask these tables first.
 */
#include <string.h>

#include "books.h"

static const char *const names[BS_NSTATES] = {
	[BS_PENDING] = "pending",
	[BS_RUNNING] = "running",
	[BS_DONE] = "done",
	[BS_FAILED] = "failed",
	[BS_INTERRUPTED] = "interrupted",
	[BS_ROLLED_BACK] = "rolled_back",
};

const char *
books_state_name(books_state s)
{
	return s < BS_NSTATES ? names[s] : "?";
}

bool
books_state_parse(const char *name, books_state *out)
{
	for (int i = 0; i < BS_NSTATES; i++)
		if (name && strcmp(name, names[i]) == 0)
		{
			*out = (books_state) i;
			return true;
		}
	return false;
}

/*
 * A run: recorded pending; running while a ferry process holds it; it
 * ends done, failed (a stage's error, or before its first step) or
 * interrupted (a signal; or found running with no process holding the
 * target: its driver vanished).  A failed or interrupted run resumes
 * (running again); any run that is not running may be rolled back.
 * Nothing leaves rolled_back, and a done run is only rolled back.
 */
#define P BS_PENDING
#define R BS_RUNNING
#define D BS_DONE
#define F BS_FAILED
#define I BS_INTERRUPTED
#define B BS_ROLLED_BACK
static const bool run_moves[BS_NSTATES][BS_NSTATES] = {
	/*          to: P      R      D      F      I      B  */
	[P] = {[R] = true, [F] = true, [I] = true, [B] = true},
	[R] = {[D] = true, [F] = true, [I] = true},
	[D] = {[B] = true},
	[F] = {[R] = true, [B] = true},
	[I] = {[R] = true, [F] = true, [B] = true},
	[B] = {false},
};

/*
 * A step: pending until begun; running; done, failed or interrupted.  A
 * failed or interrupted step begins again (running); a done step stays
 * done (a resume skips it); rolled_back with its run.
 */
static const bool step_moves[BS_NSTATES][BS_NSTATES] = {
	[P] = {[R] = true, [B] = true},
	[R] = {[D] = true, [F] = true, [I] = true},
	[D] = {[B] = true},
	[F] = {[R] = true, [B] = true},
	[I] = {[R] = true, [B] = true},
	[B] = {false},
};
#undef P
#undef R
#undef D
#undef F
#undef I
#undef B

bool
books_run_move_ok(books_state from, books_state to)
{
	return from < BS_NSTATES && to < BS_NSTATES && run_moves[from][to];
}

bool
books_step_move_ok(books_state from, books_state to)
{
	return from < BS_NSTATES && to < BS_NSTATES && step_moves[from][to];
}
