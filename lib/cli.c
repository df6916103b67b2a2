/*
 * cli.c: the command-line options every ferry program shares.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "buf.h"
#include "log.h"

long
cli_int(const char *opt, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 0)
		die(FERRY_EXIT_USAGE, "option %s needs a non-negative integer, not \"%s\"", opt, arg);
	return v;
}

bool
cli_common_option(cli_common *c, int opt, const char *arg, void (*usage)(int))
{
	switch (opt)
	{
		case 'o':
			c->output = arg;
			return true;
		case 'z':
			c->compress = true;
			return true;
		case OPT_ZSTD_LEVEL:
			c->zstd_level = (int) cli_int("--zstd-level", arg);
			return true;
		case OPT_ZSTD_THREADS:
			c->zstd_threads = (int) cli_int("--zstd-threads", arg);
			return true;
		case OPT_RUN:
			c->run = arg;
			return true;
		case OPT_LOG:
			c->log = arg;
			return true;
		case OPT_PROGRESS:
			if (c->verbosity < 1)
				c->verbosity = 1;
			return true;
		case OPT_NO_PROGRESS:
			progress_configure(true, 0, true);
			return true;
		case OPT_PROGRESS_EVERY:
		{
			char *end;
			double every = strtod(arg, &end);

			if (*end || end == arg || !(every > 0) || every > 86400)
				die(FERRY_EXIT_USAGE, "option --progress-every needs seconds (> 0), not \"%s\"", arg);
			progress_configure(false, every, false);
			if (c->verbosity < 1)
				c->verbosity = 1;
			return true;
		}
		case 'q':
			c->verbosity = -1;
			return true;
		case 'v':
			c->verbosity++;
			return true;
		case 'h':
			usage(FERRY_EXIT_OK);
			return true;
		case OPT_VERSION:
			printf("%s %s\n", log_progname(), FERRY_VERSION);
			exit(FERRY_EXIT_OK);
		default:
			return false;
	}
}

void
cli_common_start(cli_common *c)
{
	log_set_level(log_get_level() + c->verbosity);
	io_install_signal_handlers();
	event_open(c->log);
}

ferry_output *
cli_open_output(const cli_common *c)
{
	bool file = c->output && *c->output && !(c->output[0] == '-' && c->output[1] == '\0');
	ferry_output *out = out_open(c->output, file || c->compress, c->zstd_level, c->zstd_threads);

	if (out == NULL)
		exit(FERRY_EXIT_IO);
	return out;
}

char **
cli_split_commas(const char *s, int *n)
{
	char **out = NULL;

	*n = 0;
	while (*s)
	{
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t) (comma - s) : strlen(s);

		out = xrealloc(out, (size_t) (*n + 1) * sizeof *out);
		out[(*n)++] = xstrndup(s, len);
		s += len + (comma ? 1 : 0);
	}
	return out;
}
