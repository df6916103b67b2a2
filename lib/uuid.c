/*
 * uuid.c: name-based UUIDv5 (RFC 9562) of legacy keys.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "exitcode.h"
#include "log.h"

#include "uuid.h"

/* UUIDv5(URL namespace, "urn:ferry:legacy-key") */
const uint8_t FERRY_UUID_NAMESPACE[16] = {
	0xf6, 0xd2, 0xae, 0xed, 0x48, 0x4e, 0x5e, 0x8a,
	0xa5, 0xe2, 0x91, 0xc7, 0x79, 0x9c, 0x58, 0x79
};

/*
 * SHA-1 comes from libcrypto (already a dependency of libpq): it uses the
 * CPU's SHA instructions where there are some, three times faster than
 * portable C here, and this runs once per key on the hot path.  One
 * context, fetched once, serves every call: no allocation per key.
 */
static EVP_MD *sha1_md;
static EVP_MD_CTX *sha1_ctx;

static void
sha1_release(void)
{
	EVP_MD_CTX_free(sha1_ctx);
	EVP_MD_free(sha1_md);
}

static EVP_MD_CTX *
sha1_begin(void)
{
	if (sha1_ctx == NULL)
	{
		sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
		sha1_ctx = EVP_MD_CTX_new();
		if (sha1_md == NULL || sha1_ctx == NULL)
			die(FERRY_EXIT_INTERNAL, "libcrypto has no SHA-1");
		atexit(sha1_release);
	}
	if (EVP_DigestInit_ex2(sha1_ctx, sha1_md, NULL) != 1)
		die(FERRY_EXIT_INTERNAL, "libcrypto cannot start a SHA-1 digest");
	return sha1_ctx;
}

static void
sha1_end(EVP_MD_CTX *ctx, uint8_t out[20])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 20)
		die(FERRY_EXIT_INTERNAL, "libcrypto cannot finish a SHA-1 digest");
}

void
sha1(const void *data, size_t len, uint8_t out[20])
{
	EVP_MD_CTX *ctx = sha1_begin();

	EVP_DigestUpdate(ctx, data, len);
	sha1_end(ctx, out);
}

/* UUIDv5 of ns and the concatenation of up to three name parts */
static void
uuid_v5_parts(const uint8_t ns[16], const void *a, size_t alen, const void *b,
			  size_t blen, const void *c3, size_t clen, uint8_t out[16])
{
	EVP_MD_CTX *ctx = sha1_begin();
	uint8_t h[20];

	EVP_DigestUpdate(ctx, ns, 16);
	EVP_DigestUpdate(ctx, a, alen);
	if (blen)
		EVP_DigestUpdate(ctx, b, blen);
	if (clen)
		EVP_DigestUpdate(ctx, c3, clen);
	sha1_end(ctx, h);
	memcpy(out, h, 16);
	out[6] = (uint8_t) ((out[6] & 0x0F) | 0x50);  /* version 5 */
	out[8] = (uint8_t) ((out[8] & 0x3F) | 0x80);  /* RFC variant */
}

void
uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16])
{
	uuid_v5_parts(ns, name, len, "", 0, "", 0, out);
}

void
uuid_format(const uint8_t u[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[u[i] >> 4];
		*o++ = hex[u[i] & 15];
	}
	*o = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
uuid_parse(const char *s, uint8_t out[16])
{
	int n = 0;

	for (const char *p = s; *p && n < 32; p++)
	{
		if (*p == '-')
			continue;
		int v = hexval(*p);

		if (v < 0)
			return false;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t) (v << 4);
		else
			out[n / 2] |= (uint8_t) v;
		n++;
	}
	return n == 32 && strlen(s) == 36;
}

void
uuid_for_key(const uint8_t ns[16], const char *keyspace, const char *key,
			 size_t keylen, char out[37])
{
	uint8_t u[16];

	/* name = keyspace "/" key, hashed in parts rather than built */
	uuid_v5_parts(ns, keyspace, strlen(keyspace), "/", 1, key, keylen, u);
	uuid_format(u, out);
}
