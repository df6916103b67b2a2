/*
 * ferry-conninfo: keep passwords off command lines.
 *
 *   ferry-conninfo --passfile FILE [--stdin] VAR...
 *
 * Each VAR names a variable holding a libpq connection string or URI
 * (FERRY_SOURCE, FERRY_TARGET).  When one of them carries a password, or
 * PGPASSWORD holds one, the driver must not pass it on to psql or to a
 * stage on their command lines (any user can read those in ps), nor in
 * their environment.  So for each VAR this prints one line: the connection
 * string without its password (key='value' pairs); and it writes FILE, a
 * libpq password file (mode 0600) holding those passwords, for the driver
 * to hand to every connection through PGPASSFILE and passfile=.
 *
 * The variables are read from the environment or, with --stdin, first from
 * NAME=VALUE lines on standard input (VARs, PGPASSWORD, PGPASSFILE): then
 * the driver need not put a password in this program's environment either.
 *
 * libpq looks for a password in the connection string, then $PGPASSWORD,
 * then the password file.  FILE keeps that order: the connection strings'
 * passwords first, then $PGPASSWORD as a wildcard line (the driver unsets
 * it), then the lines of the password files the user had ($PGPASSFILE or
 * ~/.pgpass, and any passfile= of the strings).  With no password in any
 * string nor in PGPASSWORD, nothing is written and the strings are printed
 * unchanged.  Values never come from argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
			"Usage: ferry-conninfo --passfile FILE [--stdin] VAR...\n"
			"Print the connection strings held in the environment variables VAR\n"
			"without their passwords, one a line, and write the passwords (and\n"
			"PGPASSWORD's) to FILE, a libpq password file (mode 0600).\n"
			"--stdin: read the variables as NAME=VALUE lines on standard input\n"
			"instead of the environment.  See ferry-conninfo(1).\n");
	exit(code);
}

/* a field of a password file line: '*' when unknown, ':' and '\' escaped */
static void
put_pass_field(buf *b, const char *v)
{
	if (v == NULL || *v == '\0')
	{
		buf_putc(b, '*');
		return;
	}
	for (const char *p = v; *p; p++)
	{
		if (*p == ':' || *p == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
}

static const char *
opt_value(PQconninfoOption *opts, const char *key)
{
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

/* append a file's lines (a password file the user had), if it is readable */
static void
put_file(buf *b, const char *path)
{
	FILE *f;
	char line[4096];

	if (path == NULL || *path == '\0' || (f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f))
	{
		buf_puts(b, line);
		if (line[strlen(line) - 1] != '\n')
			buf_putc(b, '\n');
	}
	fclose(f);
}

/* NAME=VALUE lines read with --stdin: looked up before the environment */
static char **given;
static int ngiven;

static const char *
value_of(const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < ngiven; i++)
		if (strncmp(given[i], name, n) == 0 && given[i][n] == '=')
			return given[i] + n + 1;
	return getenv(name);
}

/* --stdin: every line NAME=VALUE; the values are never printed, even when wrong */
static void
read_given(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	given = calloc(1, sizeof *given);
	while (given && (len = getline(&line, &cap, stdin)) >= 0)
	{
		char **more = realloc(given, (size_t) (ngiven + 2) * sizeof *given);

		if (more == NULL)
			break;
		given = more;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		const char *eq = strchr(line, '=');

		if (eq == NULL || eq == line || strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") !=
			(size_t) (eq - line))
			die(FERRY_EXIT_USAGE, "line %d of standard input is not NAME=VALUE", ngiven + 1);
		given[ngiven++] = line;
		line = NULL;
		cap = 0;
	}
	free(line);
	if (given == NULL || ferror(stdin))
		die(FERRY_EXIT_IO, "cannot read the variables on standard input");
}

int
main(int argc, char **argv)
{
	const char *passfile = NULL;
	int first = 1;

	log_init("ferry-conninfo");
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		usage(0);
	if (argc > 2 && strcmp(argv[1], "--passfile") == 0)
	{
		passfile = argv[2];
		first = 3;
	}
	if (first < argc && strcmp(argv[first], "--stdin") == 0)
	{
		read_given();
		first++;
	}
	if (passfile == NULL || first >= argc)
		usage(FERRY_EXIT_USAGE);

	int nvars = argc - first;
	PQconninfoOption **parsed = calloc((size_t) nvars, sizeof *parsed);
	buf secrets = {0}, user_files = {0}, out = {0};
	int with_password = 0;

	if (parsed == NULL)
	{
		log_error("out of memory");
		return FERRY_EXIT_INTERNAL;
	}
	for (int i = 0; i < nvars; i++)
	{
		const char *var = argv[first + i];
		const char *s = value_of(var);
		char *err = NULL;

		if (s == NULL || *s == '\0')
			continue;
		parsed[i] = PQconninfoParse(s, &err);
		if (parsed[i] == NULL)
		{
			/* libpq's message never quotes the string itself */
			size_t n = err ? strlen(err) : 0;

			while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
				err[--n] = '\0';
			log_error("%s is not a valid connection string: %s", var, err ? err : "out of memory");
			PQfreemem(err);
			return FERRY_EXIT_USAGE;
		}
		const char *pw = opt_value(parsed[i], "password");

		if (pw)
		{
			const char *host = opt_value(parsed[i], "host");

			with_password = 1;
			/* a socket directory or a host list: any host (libpq matches a
			 * default socket as "localhost", which a path would miss) */
			if (host && (host[0] == '/' || host[0] == '@' || strchr(host, ',')))
				host = NULL;
			put_pass_field(&secrets, host);
			buf_putc(&secrets, ':');
			put_pass_field(&secrets, opt_value(parsed[i], "port"));
			buf_putc(&secrets, ':');
			put_pass_field(&secrets, opt_value(parsed[i], "dbname"));
			buf_putc(&secrets, ':');
			put_pass_field(&secrets, opt_value(parsed[i], "user"));
			buf_putc(&secrets, ':');
			put_pass_field(&secrets, pw);
			buf_putc(&secrets, '\n');
		}
		put_file(&user_files, opt_value(parsed[i], "passfile"));
	}

	const char *env_pw = value_of("PGPASSWORD");

	if (env_pw && *env_pw)
		with_password = 1;
	if (with_password)
	{
		const char *home = getenv("HOME");
		int fd;

		if (env_pw && *env_pw)
		{
			buf_puts(&secrets, "*:*:*:*:");
			put_pass_field(&secrets, env_pw);
			buf_putc(&secrets, '\n');
		}
		buf_append(&secrets, user_files.data, user_files.len);
		if (value_of("PGPASSFILE"))
			put_file(&secrets, value_of("PGPASSFILE"));
		else if (home)
		{
			char path[4096];

			snprintf(path, sizeof path, "%s/.pgpass", home);
			put_file(&secrets, path);
		}
		fd = open(passfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, secrets.data, secrets.len) != (ssize_t) secrets.len ||
			fsync(fd) != 0)
		{
			log_error("cannot write the password file \"%s\": %s", passfile, strerror(errno));
			if (fd >= 0)
				unlink(passfile);
			return FERRY_EXIT_IO;
		}
		close(fd);
	}

	for (int i = 0; i < nvars; i++)
	{
		const char *s = value_of(argv[first + i]);

		out.len = 0;
		if (parsed[i] == NULL || !with_password)
			buf_puts(&out, s ? s : "");
		else
		{
			for (PQconninfoOption *o = parsed[i]; o->keyword; o++)
			{
				if (o->val == NULL || strcmp(o->keyword, "password") == 0 ||
					strcmp(o->keyword, "passfile") == 0)
					continue;
				if (out.len)
					buf_putc(&out, ' ');
				buf_puts(&out, o->keyword);
				buf_puts(&out, "='");
				for (const char *p = o->val; *p; p++)
				{
					if (*p == '\'' || *p == '\\')
						buf_putc(&out, '\\');
					buf_putc(&out, *p);
				}
				buf_putc(&out, '\'');
			}
			if (out.len)
				buf_putc(&out, ' ');
			buf_puts(&out, "passfile='");
			for (const char *p = passfile; *p; p++)
			{
				if (*p == '\'' || *p == '\\')
					buf_putc(&out, '\\');
				buf_putc(&out, *p);
			}
			buf_putc(&out, '\'');
		}
		if (memchr(out.data ? out.data : "", '\n', out.len))
		{
			log_error("%s holds a line break", argv[first + i]);
			return FERRY_EXIT_USAGE;
		}
		fwrite(out.data ? out.data : "", 1, out.len, stdout);
		putchar('\n');
		if (parsed[i])
			PQconninfoFree(parsed[i]);
	}
	free(parsed);
	for (int i = 0; i < ngiven; i++)
		free(given[i]);
	free(given);
	buf_free(&secrets);
	buf_free(&user_files);
	buf_free(&out);
	return fflush(stdout) == 0 ? FERRY_EXIT_OK : FERRY_EXIT_IO;
}
