/*
 * tokens.c: the bearer tokens of ferry-serve, from a file only the user
 * can read.
 *
 *   # who uses it
 *   metrics 3q0b7Jm5x9Qe2vYkRr8sTn4L
 *   read    Zt6pW1c8mK0aHf5uXy2gVb7N
 *
 * One "SCOPE TOKEN" a line; the same token on two lines has both scopes.
 * Tokens are kept as SHA-256 digests and a presented token is compared
 * with every one of them with CRYPTO_memcmp: the time taken says nothing
 * of how much of a token was right, nor of its length.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "serve.h"

/* a token shorter than this is refused: it could be guessed */
#define TOKEN_MIN_LEN 16
#define TOKEN_MAX_LEN 512
#define TOKEN_FILE_MAX (1 << 20)

typedef struct token
{
	unsigned char digest[32];
	int scopes;
} token;

struct token_set
{
	size_t n;
	token *t;
};

static void
digest_of(const char *s, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	if (!EVP_Digest(s, len, out, &n, EVP_sha256(), NULL))
		die(FERRY_EXIT_INTERNAL, "SHA-256 failed");
}

bool
secret_file_ok(int fd, const char *path, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
	{
		log_error("cannot stat the %s \"%s\": %s", what, path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode))
	{
		log_error("the %s \"%s\" is not a regular file", what, path);
		return false;
	}
	if (st.st_uid != geteuid())
	{
		log_error("the %s \"%s\" is owned by uid %u, not by this user (uid %u): refused",
				  what, path, (unsigned) st.st_uid, (unsigned) geteuid());
		return false;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
	{
		log_error("the %s \"%s\" has mode %04o: others could read it; chmod 600 it",
				  what, path, (unsigned) (st.st_mode & 07777));
		return false;
	}
	return true;
}

/* RFC 6750's b64token: letters, digits, - . _ ~ + /, then any '=' */
static bool
token_chars_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (strchr("-._~+/", s[i]) || (s[i] >= 'a' && s[i] <= 'z') ||
					 (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')) && s[i])
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

static bool
add_line(token_set *t, const char *path, int lineno, char *line)
{
	char *scope = line, *tok, *end;

	while (*scope == ' ' || *scope == '\t')
		scope++;
	if (*scope == '\0' || *scope == '#')
		return true;
	tok = scope + strcspn(scope, " \t");
	if (*tok == '\0')
	{
		log_error("%s:%d: a line needs a scope and a token (\"SCOPE TOKEN\")", path, lineno);
		return false;
	}
	*tok++ = '\0';
	tok += strspn(tok, " \t");
	end = tok + strcspn(tok, " \t");
	if (end[strspn(end, " \t")] != '\0')
	{
		log_error("%s:%d: more than a scope and a token on the line", path, lineno);
		return false;
	}
	*end = '\0';

	int bit;

	if (strcmp(scope, "metrics") == 0)
		bit = SCOPE_METRICS;
	else if (strcmp(scope, "read") == 0)
		bit = SCOPE_READ;
	else
	{
		/* the scope is not secret: it may be named */
		log_error("%s:%d: unknown scope \"%.40s\" (metrics or read)", path, lineno, scope);
		return false;
	}
	size_t len = strlen(tok);

	/* the token itself is never printed */
	if (len < TOKEN_MIN_LEN || len > TOKEN_MAX_LEN)
	{
		log_error("%s:%d: a token needs %d to %d characters (this one has %zu)", path, lineno,
				  TOKEN_MIN_LEN, TOKEN_MAX_LEN, len);
		return false;
	}
	if (!token_chars_ok(tok, len))
	{
		log_error("%s:%d: a token may hold only letters, digits and - . _ ~ + / (then =)",
				  path, lineno);
		return false;
	}
	unsigned char d[32];

	digest_of(tok, len, d);
	OPENSSL_cleanse(tok, len);
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(t->t[i].digest, d, sizeof d) == 0)
		{
			t->t[i].scopes |= bit;
			return true;
		}
	t->t = xrealloc(t->t, (t->n + 1) * sizeof *t->t);
	memcpy(t->t[t->n].digest, d, sizeof d);
	t->t[t->n].scopes = bit;
	t->n++;
	return true;
}

token_set *
tokens_load(const char *path, int *code)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *text;
	ssize_t got;
	size_t len = 0;

	if (fd < 0)
	{
		log_error("cannot open the token file \"%s\": %s", path, strerror(errno));
		*code = FERRY_EXIT_IO;
		return NULL;
	}
	if (!secret_file_ok(fd, path, "token file"))
	{
		close(fd);
		*code = SERVE_EXIT_INSECURE;
		return NULL;
	}
	text = xmalloc(TOKEN_FILE_MAX + 1);
	while ((got = read(fd, text + len, TOKEN_FILE_MAX - len)) > 0)
		len += (size_t) got;
	close(fd);
	if (got < 0 || len == TOKEN_FILE_MAX)
	{
		log_error("cannot read the token file \"%s\": %s", path,
				  got < 0 ? strerror(errno) : "larger than 1 MB");
		OPENSSL_cleanse(text, len);
		free(text);
		*code = FERRY_EXIT_IO;
		return NULL;
	}
	text[len] = '\0';

	token_set *t = xcalloc(1, sizeof *t);
	int lineno = 0;
	bool ok = true;

	for (char *line = text; ok && line < text + len;)
	{
		char *nl = memchr(line, '\n', (size_t) (text + len - line));

		if (nl)
			*nl = '\0';
		lineno++;
		if (strlen(line) != (size_t) ((nl ? nl : text + len) - line))
		{
			log_error("%s:%d: a NUL byte in the line", path, lineno);
			ok = false;
			break;
		}
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		ok = add_line(t, path, lineno, line);
		line = nl ? nl + 1 : text + len;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	if (ok && t->n == 0)
	{
		log_error("the token file \"%s\" holds no token", path);
		ok = false;
	}
	if (!ok)
	{
		tokens_free(t);
		*code = FERRY_EXIT_USAGE;
		return NULL;
	}
	return t;
}

int
tokens_scopes(const token_set *t, const char *tok, size_t len)
{
	unsigned char d[32];
	int scopes = 0;

	digest_of(tok, len, d);
	/* every token compared, whatever matched: no early exit */
	for (size_t i = 0; i < t->n; i++)
	{
		int same = CRYPTO_memcmp(t->t[i].digest, d, sizeof d) == 0;

		scopes |= t->t[i].scopes & -same;
	}
	return scopes;
}

size_t
tokens_count(const token_set *t)
{
	return t->n;
}

void
tokens_free(token_set *t)
{
	if (t == NULL)
		return;
	OPENSSL_cleanse(t->t, t->n * sizeof *t->t);
	free(t->t);
	free(t);
}
