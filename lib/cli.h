/*
 * cli.h: what every ferry program's command line has in common.
 *
 *   -o, --output FILE     write the stream to FILE (zstd spool, atomic)
 *   -z, --compress        compress even on standard output
 *   --zstd-level N, --zstd-threads N
 *   --run ID              run id written into headers and events
 *   --log FILE            JSON-lines events (default $FERRY_LOG)
 *   -q, --quiet / -v, --verbose (repeatable) / --progress
 *   --no-progress / --progress-every SECONDS
 *   -h, --help / --version
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "io.h"

#define FERRY_VERSION "0.1.0"

/* long option values shared by all programs (program-specific ones start at 1000) */
enum
{
	OPT_ZSTD_LEVEL = 900,
	OPT_ZSTD_THREADS,
	OPT_RUN,
	OPT_LOG,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_PROGRESS_EVERY,
	OPT_VERSION
};

typedef struct cli_common
{
	const char *output;       /* NULL: stdout */
	bool compress;
	int zstd_level;
	int zstd_threads;
	const char *run;
	const char *log;
	int verbosity;            /* added to the default level */
} cli_common;

#define CLI_COMMON_SHORTOPTS "o:zqvh"
#define CLI_COMMON_LONGOPTS \
	{"output", required_argument, NULL, 'o'}, \
	{"compress", no_argument, NULL, 'z'}, \
	{"zstd-level", required_argument, NULL, OPT_ZSTD_LEVEL}, \
	{"zstd-threads", required_argument, NULL, OPT_ZSTD_THREADS}, \
	{"run", required_argument, NULL, OPT_RUN}, \
	{"log", required_argument, NULL, OPT_LOG}, \
	{"progress", no_argument, NULL, OPT_PROGRESS}, \
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS}, \
	{"progress-every", required_argument, NULL, OPT_PROGRESS_EVERY}, \
	{"quiet", no_argument, NULL, 'q'}, \
	{"verbose", no_argument, NULL, 'v'}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, OPT_VERSION}

#define CLI_COMMON_USAGE \
	"Common options:\n" \
	"  -o, --output FILE      write to FILE (zstd-compressed spool, written atomically)\n" \
	"  -z, --compress         compress standard output too\n" \
	"      --zstd-level N     compression level (default 3)\n" \
	"      --zstd-threads N   compression threads (default 0)\n" \
	"      --run ID           run id for stream headers and events\n" \
	"      --log FILE         append JSON-lines events to FILE (default $FERRY_LOG)\n" \
	"      --progress         print progress lines on stderr\n" \
	"      --progress-every S a progress line every S seconds when stderr is not a\n" \
	"                         terminal (redrawn in place on one), no final line\n" \
	"      --no-progress      no progress lines, even on a terminal\n" \
	"  -q, --quiet            errors only;  -v, --verbose: more detail\n" \
	"  -h, --help             this help;    --version: print the version\n" \
	"Exit codes: 0 ok, 1 internal error, 2 usage, 3 source, 4 target, 5 bad input\n" \
	"stream, 6 rows rejected, 7 verification failed, 8 file error; stopped by a\n" \
	"signal: its output files are removed and the status is 128 + the signal.\n"

/*
 * Handle one option if it is a common one: returns true if handled.
 * usage() is called for -h (exit 0); --version prints and exits.
 */
bool cli_common_option(cli_common *c, int opt, const char *arg, void (*usage)(int));
/* set up logging, events and signal handlers after parsing */
void cli_common_start(cli_common *c);
/* open the output for a stream: file (always compressed) or stdout */
ferry_output *cli_open_output(const cli_common *c);
/* "a,b,c" as a new array of new strings ("a", "b", "c"); *n of them */
char **cli_split_commas(const char *s, int *n);
/* parse a non-negative integer option or die with a usage error */
long cli_int(const char *opt, const char *arg);

#endif
