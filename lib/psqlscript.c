/*
 * psqlscript.c: run a psql script from C, its variables bound as parameters.
 *
 * A run's status has one definition, the psql script scripts/sql/status.sql
 * (lib/runstatus.c): ferry-books and ferry-serve run it through this.
 * psql pastes a variable's value into the query text (:'run' as a quoted
 * literal); here each use becomes a parameter $N of
 * PQexecParams, with its type left to the server as for a literal, so a
 * value from an HTTP client never becomes SQL text.
 *
 * The subset understood is what ferry's scripts use, and anything else is
 * refused rather than guessed at:
 *   \set NAME [WORD...]            (unquoted words, concatenated)
 *   \if EXPR / \elif EXPR / \else / \endif   EXPR: :{?NAME}, :NAME, true/false/on/off/1/0
 *   STATEMENT ;   STATEMENT \gset  (one row: each column sets the variable of its name)
 *   :'NAME' and :NAME in a statement; "::" is a cast; nothing is substituted
 *   inside quotes, dollar quotes or comments
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "psqlscript.h"

void
psql_var_set(psql_vars *v, const char *name, const char *value)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
		{
			free(v->value[i]);
			if (value)
			{
				v->value[i] = xstrdup(value);
				return;
			}
			/* psql: a NULL from \gset unsets the variable */
			free(v->name[i]);
			v->n--;
			v->name[i] = v->name[v->n];
			v->value[i] = v->value[v->n];
			return;
		}
	if (value == NULL)
		return;
	if (v->n == v->cap)
	{
		v->cap = v->cap ? 2 * v->cap : 8;
		v->name = xrealloc(v->name, (size_t) v->cap * sizeof *v->name);
		v->value = xrealloc(v->value, (size_t) v->cap * sizeof *v->value);
	}
	v->name[v->n] = xstrdup(name);
	v->value[v->n] = xstrdup(value);
	v->n++;
}

const char *
psql_var_get(const psql_vars *v, const char *name)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

void
psql_vars_free(psql_vars *v)
{
	for (int i = 0; i < v->n; i++)
	{
		free(v->name[i]);
		free(v->value[i]);
	}
	free(v->name);
	free(v->value);
	memset(v, 0, sizeof *v);
}

/* ---- the scanner ---- */

typedef struct script
{
	const char *p;              /* next character */
	PGconn *conn;
	psql_vars *vars;
	PGresult **last;
	char *err;
	size_t errlen;
	buf sql;                    /* the statement being read */
	int nparams;
	int capparams;
	char **params;              /* copies of the values bound */
	/* \if nesting: each level active or not, and whether a branch was taken */
	int depth;
	bool active[16];
	bool taken[16];
} script;

static bool
fail(script *s, const char *fmt, const char *arg)
{
	snprintf(s->err, s->errlen, fmt, arg);
	return false;
}

static bool
is_var_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || (unsigned char) c >= 0x80;
}

static bool
running(const script *s)
{
	return s->depth == 0 || s->active[s->depth - 1];
}

static bool
statement_blank(const script *s)
{
	for (size_t i = 0; i < s->sql.len; i++)
		if (!isspace((unsigned char) s->sql.data[i]))
			return false;
	return true;
}

static void
clear_statement(script *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i]);
	s->nparams = 0;
	buf_reset(&s->sql);
}

/* a variable's value as the next parameter, $N in the text */
static bool
bind_var(script *s, const char *name, size_t n)
{
	char key[128];

	if (n == 0 || n >= sizeof key)
		return fail(s, "a psql variable name of %s characters", n ? "too many" : "no");
	memcpy(key, name, n);
	key[n] = '\0';
	const char *value = psql_var_get(s->vars, key);

	if (value == NULL)
		return fail(s, "psql variable \"%s\" is not set", key);
	if (s->nparams == s->capparams)
	{
		s->capparams = s->capparams ? 2 * s->capparams : 8;
		s->params = xrealloc(s->params, (size_t) s->capparams * sizeof *s->params);
	}
	s->params[s->nparams++] = xstrdup(value);
	buf_printf(&s->sql, "$%d", s->nparams);
	return true;
}

/* run the statement read so far; gset: set variables from its one row */
static bool
execute(script *s, bool gset)
{
	if (statement_blank(s))
	{
		clear_statement(s);
		return gset ? fail(s, "%s", "\\gset without a statement") : true;
	}
	PGresult *res = PQexecParams(s->conn, buf_cstr(&s->sql), s->nparams, NULL,
								 (const char *const *) s->params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	clear_statement(s);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		PQclear(*s->last);
		*s->last = res;
		return fail(s, "%s", "a statement failed");
	}
	if (gset)
	{
		if (st != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			PQclear(res);
			return fail(s, "%s", "\\gset needs exactly one row");
		}
		for (int c = 0; c < PQnfields(res); c++)
			psql_var_set(s->vars, PQfname(res, c), PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c));
		PQclear(res);
		return true;
	}
	if (st == PGRES_TUPLES_OK)
	{
		PQclear(*s->last);
		*s->last = res;
	}
	else
		PQclear(res);
	return true;
}

/* the words of a meta-command, up to the end of the line */
static int
meta_words(script *s, char words[][128], int max)
{
	int n = 0;

	while (*s->p && *s->p != '\n')
	{
		while (*s->p == ' ' || *s->p == '\t' || *s->p == '\r')
			s->p++;
		if (*s->p == '\0' || *s->p == '\n')
			break;
		size_t len = 0;

		while (*s->p && !isspace((unsigned char) *s->p))
		{
			if (n < max && len + 1 < 128)
				words[n][len++] = *s->p;
			s->p++;
		}
		if (n < max)
			words[n][len] = '\0';
		n++;
	}
	if (*s->p == '\n')
		s->p++;
	return n;
}

static bool
eval_condition(script *s, const char *expr, bool *out)
{
	char value[128];
	size_t n = strlen(expr);

	if (strncmp(expr, ":{?", 3) == 0 && n > 4 && expr[n - 1] == '}')
	{
		snprintf(value, sizeof value, "%.*s", (int) (n - 4), expr + 3);
		*out = psql_var_get(s->vars, value) != NULL;
		return true;
	}
	if (expr[0] == ':')
	{
		const char *v = psql_var_get(s->vars, expr + 1);

		if (v == NULL)
			return fail(s, "psql variable \"%s\" is not set", expr + 1);
		snprintf(value, sizeof value, "%s", v);
	}
	else
		snprintf(value, sizeof value, "%s", expr);
	if (strcmp(value, "true") == 0 || strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
		*out = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
		*out = false;
	else
		return fail(s, "\\if: \"%s\" is not a boolean", value);
	return true;
}

/* a backslash command; s->p is just past the backslash */
static bool
meta_command(script *s)
{
	char words[8][128];
	int n = meta_words(s, words, 8);
	const char *cmd = n > 0 ? words[0] : "";
	bool cond;

	if (strcmp(cmd, "gset") == 0)
	{
		if (n > 1)
			return fail(s, "%s", "\\gset with a prefix is not supported");
		return running(s) ? execute(s, true) : true;
	}
	if (!statement_blank(s))
		return fail(s, "\\%s inside a statement", cmd);
	if (strcmp(cmd, "if") == 0)
	{
		if (n != 2 || s->depth == (int) (sizeof s->active / sizeof s->active[0]))
			return fail(s, "%s", "\\if needs one expression (and at most 16 levels)");
		bool parent = running(s);

		cond = false;
		if (parent && !eval_condition(s, words[1], &cond))
			return false;
		s->active[s->depth] = parent && cond;
		s->taken[s->depth] = !parent || cond;
		s->depth++;
		return true;
	}
	if (strcmp(cmd, "elif") == 0 || strcmp(cmd, "else") == 0 || strcmp(cmd, "endif") == 0)
	{
		if (s->depth == 0)
			return fail(s, "\\%s without \\if", cmd);
		int d = s->depth - 1;
		bool parent = d == 0 || s->active[d - 1];

		if (strcmp(cmd, "endif") == 0)
			s->depth--;
		else if (strcmp(cmd, "else") == 0)
		{
			s->active[d] = parent && !s->taken[d];
			s->taken[d] = true;
		}
		else
		{
			cond = false;
			if (n != 2)
				return fail(s, "%s", "\\elif needs one expression");
			if (parent && !s->taken[d] && !eval_condition(s, words[1], &cond))
				return false;
			s->active[d] = parent && !s->taken[d] && cond;
			s->taken[d] = s->taken[d] || cond;
		}
		return true;
	}
	if (!running(s))
		return true;
	if (strcmp(cmd, "set") == 0)
	{
		buf v;

		if (n < 2)
			return fail(s, "%s", "\\set without a name is not supported");
		buf_init(&v, 64);
		for (int i = 2; i < n && i < 8; i++)
		{
			if (strchr(words[i], '\'') || strchr(words[i], ':') || strchr(words[i], '`'))
			{
				buf_free(&v);
				return fail(s, "\\set %s: only unquoted words are supported", words[1]);
			}
			buf_puts(&v, words[i]);
		}
		psql_var_set(s->vars, words[1], buf_cstr(&v));
		buf_free(&v);
		return true;
	}
	return fail(s, "\\%s is not supported", cmd);
}

/* copy a quoted run ('...', "...") up to its closing quote; backslash: E'' escapes */
static bool
copy_quoted(script *s, char quote, bool backslash)
{
	buf_putc(&s->sql, *s->p++);
	while (*s->p)
	{
		char c = *s->p++;

		buf_putc(&s->sql, c);
		if (backslash && c == '\\' && *s->p)
			buf_putc(&s->sql, *s->p++);
		else if (c == quote)
		{
			if (*s->p != quote)
				return true;
			buf_putc(&s->sql, *s->p++);
		}
	}
	return fail(s, "%s", "an unterminated quote");
}

/* $tag$ ... $tag$ (s->p at the first $); false if it is not a dollar quote */
static bool
dollar_tag(const char *p, size_t *len)
{
	size_t n = 1;

	if (isdigit((unsigned char) p[1]))
		return false;
	while (p[n] && p[n] != '$')
	{
		if (!is_var_char(p[n]))
			return false;
		n++;
	}
	if (p[n] != '$')
		return false;
	*len = n + 1;
	return true;
}

static bool
scan(script *s)
{
	while (*s->p)
	{
		if (!running(s))
		{
			/* skipped text: only the conditional commands at a line's start count */
			const char *q = s->p;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '\\' && (strncmp(q + 1, "if", 2) == 0 || strncmp(q + 1, "el", 2) == 0 ||
							   strncmp(q + 1, "endif", 5) == 0))
			{
				s->p = q + 1;
				if (!meta_command(s))
					return false;
			}
			else
			{
				while (*s->p && *s->p != '\n')
					s->p++;
				if (*s->p)
					s->p++;
			}
			continue;
		}
		char c = *s->p;
		char prev = s->sql.len ? s->sql.data[s->sql.len - 1] : ' ';

		if (c == '\\')
		{
			s->p++;
			if (!meta_command(s))
				return false;
			continue;
		}
		if (c == '-' && s->p[1] == '-')
		{
			while (*s->p && *s->p != '\n')
				s->p++;
			continue;
		}
		if (c == '/' && s->p[1] == '*')
		{
			int nest = 0;

			do
			{
				if (*s->p == '/' && s->p[1] == '*')
					nest++, s->p += 2;
				else if (*s->p == '*' && s->p[1] == '/')
					nest--, s->p += 2;
				else
					s->p++;
			} while (nest > 0 && *s->p);
			if (nest > 0)
				return fail(s, "%s", "an unterminated comment");
			buf_putc(&s->sql, ' ');
			continue;
		}
		if (c == '\'')
		{
			bool e = (prev == 'E' || prev == 'e') &&
				(s->sql.len < 2 || !is_var_char(s->sql.data[s->sql.len - 2]));

			if (!copy_quoted(s, '\'', e))
				return false;
			continue;
		}
		if (c == '"')
		{
			if (!copy_quoted(s, '"', false))
				return false;
			continue;
		}
		size_t tag;

		if (c == '$' && !is_var_char(prev) && dollar_tag(s->p, &tag))
		{
			const char *end = NULL;

			for (const char *q = s->p + tag; *q; q++)
				if (strncmp(q, s->p, tag) == 0)
				{
					end = q;
					break;
				}
			if (end == NULL)
				return fail(s, "%s", "an unterminated dollar quote");
			buf_append(&s->sql, s->p, (size_t) (end - s->p) + tag);
			s->p = end + tag;
			continue;
		}
		if (c == ':')
		{
			if (s->p[1] == ':')
			{
				buf_append(&s->sql, s->p, 2);
				s->p += 2;
				continue;
			}
			if (s->p[1] == '\'')
			{
				const char *name = s->p + 2, *q = name;

				while (is_var_char(*q))
					q++;
				if (*q != '\'')
					return fail(s, "%s", "a malformed :'variable'");
				if (!bind_var(s, name, (size_t) (q - name)))
					return false;
				s->p = q + 1;
				continue;
			}
			if (s->p[1] == '"' || s->p[1] == '{')
				return fail(s, "%s", ":\"variable\" and :{?variable} in a statement are not supported");
			if (is_var_char(s->p[1]))
			{
				const char *name = s->p + 1, *q = name;

				while (is_var_char(*q))
					q++;
				if (!bind_var(s, name, (size_t) (q - name)))
					return false;
				s->p = q;
				continue;
			}
		}
		if (c == ';')
		{
			buf_putc(&s->sql, ';');
			s->p++;
			if (!execute(s, false))
				return false;
			continue;
		}
		buf_putc(&s->sql, c);
		s->p++;
	}
	if (s->depth != 0)
		return fail(s, "%s", "\\if without \\endif");
	/* psql runs a last statement without its semicolon at the end of the file */
	return execute(s, false);
}

bool
psql_script_run(PGconn *conn, const char *text, psql_vars *vars, PGresult **last, char *err,
				size_t errlen)
{
	script s = {.p = text, .conn = conn, .vars = vars, .last = last, .err = err, .errlen = errlen};
	bool ok;

	*last = NULL;
	err[0] = '\0';
	buf_init(&s.sql, 4096);
	ok = scan(&s);
	clear_statement(&s);
	free(s.params);
	buf_free(&s.sql);
	return ok;
}
