/*
 * ferry-cat: print a ferry stream or spool file as JSON lines, or check it.
 *
 *   ferry-cat [--check] [--arrays] [FILE]
 *
 * Line 1 is the header, then one line per record (rows as objects keyed
 * by column name, or as arrays with --arrays; rejects and notes as
 * objects), then the trailer.  The chunks' check records are not printed:
 * the reader verifies each chunk before it hands out its records, so a
 * damaged stream prints the records of its verified chunks only (a spool
 * file, verified whole first, none at all).  --check only reads the stream to the end
 * and prints its counts: exit 0 if whole, 5 if not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "stream.h"

static void
usage(int code)
{
	if (code)
	{
		/* getopt has named the option at fault; the usage is one --help away */
		fprintf(stderr, "Try '%s --help' for more information.\n", log_progname());
		exit(code);
	}
	fprintf(stdout,
			"Usage: ferry-cat [OPTIONS] [FILE]\n"
			"Print a ferry record stream (a pipe or a spool file) as JSON lines.\n\n"
			"  -c, --check            only check that the stream is whole; print its counts\n"
			"  -a, --arrays           rows as JSON arrays instead of objects\n"
			"  -n, --limit N          print at most N records (the stream is still checked)\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}

static void
put_str_field(buf *b, const char *name, const char *s)
{
	buf_putc(b, ',');
	buf_json_string(b, name, strlen(name));
	buf_putc(b, ':');
	if (s)
		buf_json_string(b, s, strlen(s));
	else
		buf_puts(b, "null");
}

static void
print_header(buf *b, const ferry_header *h)
{
	buf_printf(b, "{\"ferry\":\"stream\",\"version\":%d", FERRY_STREAM_VERSION);
	put_str_field(b, "entity", h->entity);
	put_str_field(b, "run", h->run);
	put_str_field(b, "source", h->source);
	put_str_field(b, "keyspace", h->keyspace);
	put_str_field(b, "uuid", h->uuid_column);
	put_str_field(b, "order", h->order);
	buf_puts(b, ",\"key\":[");
	for (int i = 0; i < h->nkey; i++)
	{
		if (i)
			buf_putc(b, ',');
		buf_json_string(b, h->key[i], strlen(h->key[i]));
	}
	buf_puts(b, "],\"skip\":[");
	for (int i = 0; i < h->nskip; i++)
	{
		if (i)
			buf_putc(b, ',');
		buf_json_string(b, h->skip[i], strlen(h->skip[i]));
	}
	buf_puts(b, "],\"columns\":[");
	for (int i = 0; i < h->ncols; i++)
	{
		if (i)
			buf_putc(b, ',');
		buf_putc(b, '[');
		buf_json_string(b, h->cols[i].name, strlen(h->cols[i].name));
		buf_putc(b, ',');
		buf_json_string(b, h->cols[i].type, strlen(h->cols[i].type));
		buf_putc(b, ']');
	}
	buf_puts(b, "]}\n");
}

static void
print_values(buf *b, const ferry_header *h, const ferry_value *vals, int n, bool arrays)
{
	buf_putc(b, arrays ? '[' : '{');
	for (int i = 0; i < n; i++)
	{
		if (i)
			buf_putc(b, ',');
		if (!arrays)
		{
			const char *name = i < h->ncols ? h->cols[i].name : "?";

			buf_json_string(b, name, strlen(name));
			buf_putc(b, ':');
		}
		value_to_json(&vals[i], b);
	}
	buf_putc(b, arrays ? ']' : '}');
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"check", no_argument, NULL, 'c'},
		{"arrays", no_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	bool check = false, arrays = false;
	long limit = -1;
	int opt;

	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "can:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case 'c': check = true; break;
			case 'a': arrays = true; break;
			case 'n': limit = cli_int("--limit", optarg); break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (argc - optind > 1)
		die(FERRY_EXIT_USAGE, "too many arguments (one input file at most)");
	cli_common_start(&common);

	ferry_input *in = in_open(optind < argc ? argv[optind] : NULL);

	if (in == NULL)
		exit(FERRY_EXIT_IO);
	ferry_reader *r = reader_open(in);

	if (r == NULL)
		exit(FERRY_EXIT_STREAM);

	const ferry_header *h = reader_header(r);
	/* JSON lines are for reading: a file is plain text unless -z asks for zstd */
	ferry_output *out = check ? NULL : out_open(common.output, common.compress,
												common.zstd_level, common.zstd_threads);

	if (!check && out == NULL)
		exit(FERRY_EXIT_IO);
	buf b;
	ferry_record rec;
	int got;
	long printed = 0;

	buf_init(&b, 1 << 16);
	if (out)
		print_header(&b, h);
	while ((got = reader_next(r, &rec)) == 1)
	{
		if (out == NULL || (limit >= 0 && printed >= limit))
			continue;
		printed++;
		if (rec.type == FR_ROW)
			print_values(&b, h, rec.vals, rec.nvals, arrays);
		else
		{
			bool rej = rec.type == FR_REJECT;

			buf_puts(&b, rej ? "{\"reject\":" : "{\"note\":");
			buf_json_string(&b, rec.reason, strlen(rec.reason));
			put_str_field(&b, "detail", rec.detail);
			put_str_field(&b, "stage", rec.stage);
			put_str_field(&b, "key", rec.key);
			if (rej && rec.vals)
			{
				buf_puts(&b, ",\"row\":");
				print_values(&b, h, rec.vals, rec.nvals, arrays);
			}
			buf_putc(&b, '}');
		}
		buf_putc(&b, '\n');
		if (b.len > (1 << 16))
		{
			if (!out_write(out, b.data, b.len))
			{
				out_abort(out);     /* no temporary file left behind */
				exit(FERRY_EXIT_IO);
			}
			buf_reset(&b);
		}
	}
	if (got < 0)
	{
		if (out)
			out_abort(out);
		exit(FERRY_EXIT_STREAM);
	}
	if (out)
	{
		buf_printf(&b, "{\"end\":true,\"rows\":%llu,\"rejects\":%llu,\"notes\":%llu}\n",
				   (unsigned long long) reader_rows(r),
				   (unsigned long long) reader_rejects(r),
				   (unsigned long long) reader_notes(r));
		if (!out_write(out, b.data, b.len))
		{
			out_abort(out);
			exit(FERRY_EXIT_IO);
		}
		if (!out_commit(out))
			exit(FERRY_EXIT_IO);
	}
	else
		printf("%s: whole stream: %llu rows, %llu rejects, %llu notes\n",
			   in_name(in), (unsigned long long) reader_rows(r),
			   (unsigned long long) reader_rejects(r), (unsigned long long) reader_notes(r));
	buf_free(&b);
	reader_free(r);
	in_close(in);
	return FERRY_EXIT_OK;
}
