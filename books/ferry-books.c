/*
 * ferry-books: the run's books in the destination's "ferry" schema.  The
 * driver (scripts/ferry) keeps one session open for a run (ferry-books
 * session), which holds the target's lock while it lives and writes
 * every change of the run's and its steps' states; a verb also runs
 * alone (one connection, one verb); "hold" runs a command under the lock.
 * See ferry-books(1).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "books.h"
#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
		"Usage: ferry-books [OPTIONS] VERB [ARGS...]\n"
		"       ferry-books [OPTIONS] session            requests on stdin, one a line\n"
		"       ferry-books [OPTIONS] hold WHAT RUN -- COMMAND [ARGS...]\n"
		"       ferry-books [OPTIONS] status [--json] [RUN]\n"
		"       ferry-books [OPTIONS] verify-report OUT RUN MODE MIN_SUCCESS SHOW UNCHECKED FILE...\n"
		"       ferry-books size SIZE                    bytes of a size such as 512M (K, M, G)\n"
		"The run's books in the destination's ferry schema (see ferry-books(1)).\n"
		"\n"
		"Options:\n"
		"  --target CONNINFO   destination (default $FERRY_TARGET, then PG*)\n"
		"  --source CONNINFO   source, for the row estimates and key ranges (default $FERRY_SOURCE)\n"
		"  --name NAME         the name its messages start with (default ferry-books)\n"
		"  --host HOST, --pid PID   the driver's, recorded as the lock's holder\n"
		"  -h, --help, --version\n"
		"Exit codes: 0 ok, 1 internal, 2 usage or refused (another run holds the target),\n"
		"3 source, 4 target, 8 file error.\n");
	exit(code);
}

PGconn *
books_source(books *b)
{
	if (b->source == NULL)
		b->source = pg_connect(b->source_info, "source", "ferry-books");
	return b->source;
}

static pid_t child_pid;

static void
forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* hold WHAT RUN -- COMMAND...: COMMAND under the target's lock; its exit status */
static int
hold(books *b, int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0)
		usage(FERRY_EXIT_USAGE);
	int rc = books_lock(b, argv[1], argv[2]);
	if (rc != FERRY_EXIT_OK)
		return rc;
	struct sigaction sa = {.sa_handler = forward_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(NULL);
	child_pid = fork();
	if (child_pid < 0)
		die(FERRY_EXIT_INTERNAL, "cannot fork: %s", strerror(errno));
	if (child_pid == 0)
	{
		/* the lock's session is not the command's */
		execvp(argv[4], argv + 4);
		fprintf(stderr, "%s: error: cannot run %s: %s\n", log_progname(), argv[4], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(child_pid, &st, 0) < 0)
		if (errno != EINTR)
			die(FERRY_EXIT_INTERNAL, "waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
main(int argc, char **argv)
{
	books b = {0};
	const char *name = "ferry-books";
	static const struct option longopts[] = {
		{"target", required_argument, NULL, 't'},
		{"source", required_argument, NULL, 's'},
		{"name", required_argument, NULL, 'n'},
		{"host", required_argument, NULL, 'H'},
		{"pid", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	char host[256] = "";
	int opt;

	b.target_info = getenv("FERRY_TARGET");
	b.source_info = getenv("FERRY_SOURCE");
	b.pid = (long) getppid();
	/* "+": options stop at the verb (its arguments may start with "-") */
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1)
	{
		switch (opt)
		{
		case 't': b.target_info = optarg; break;
		case 's': b.source_info = optarg; break;
		case 'n': name = optarg; break;
		case 'H': b.host = optarg; break;
		case 'p': b.pid = atol(optarg); break;
		case 'h': usage(0); break;
		case 'V': printf("ferry-books %s\n", FERRY_VERSION); return 0;
		default: usage(FERRY_EXIT_USAGE);
		}
	}
	log_init(name);
	if (optind >= argc)
		usage(FERRY_EXIT_USAGE);
	if (strcmp(argv[optind], "size") == 0)
		return books_size_command(argc - optind, argv + optind);
	if (b.host == NULL)
	{
		gethostname(host, sizeof host - 1);
		b.host = host;
	}
	b.target = pg_connect(b.target_info, "target", "ferry-books");
	if (b.target == NULL)
		return FERRY_EXIT_TARGET;
	PQclear(PQexec(b.target, "SET client_min_messages = warning"));

	int rc;
	char **v = argv + optind;
	int n = argc - optind;
	if (strcmp(v[0], "session") == 0)
	{
		/* a session ends when its driver closes its stdin, never by a
		 * signal meant for the driver: the driver records the interruption */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		/* but it dies with its driver, however the driver ends (even of
		 * SIGKILL, its stages still holding our stdin): the server then
		 * ends the session and lets the target's lock go */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != (pid_t) b.pid)
			return FERRY_EXIT_INTERRUPTED;
		rc = books_serve(&b);
	}
	else if (strcmp(v[0], "hold") == 0)
		rc = hold(&b, n, v);
	else if (strcmp(v[0], "status") == 0)
		rc = books_status_command(&b, n, v);
	else if (strcmp(v[0], "verify-report") == 0)
		rc = books_verify_report(&b, n, v);
	else
	{
		buf reply;
		buf_init(&reply, 256);
		rc = books_verb(&b, n, v, &reply);
		books_reply(stdout, rc, &reply);
		buf_free(&reply);
	}
	event_close();
	if (b.plan)
		plan_free(b.plan);
	if (b.source)
		PQfinish(b.source);
	PQfinish(b.target);
	return rc;
}
