/*
 * uuid.c: SHA-1 (FIPS 180-4) and name-based UUIDv5 (RFC 9562).
 *
 * SHA-1 is written out here rather than taken from a crypto library: it
 * runs once per key on the hot path, on short inputs, and a one-shot call
 * into libcrypto's EVP interface allocates a context every time.
 */
#include <string.h>

#include "uuid.h"

/* UUIDv5(URL namespace, "urn:ferry:legacy-key") */
const uint8_t FERRY_UUID_NAMESPACE[16] = {
	0xf6, 0xd2, 0xae, 0xed, 0x48, 0x4e, 0x5e, 0x8a,
	0xa5, 0xe2, 0x91, 0xc7, 0x79, 0x9c, 0x58, 0x79
};

typedef struct sha1_ctx
{
	uint32_t h[5];
	uint64_t len;
	uint8_t block[64];
	size_t used;
} sha1_ctx;

static inline uint32_t
rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void
sha1_block(sha1_ctx *c, const uint8_t *p)
{
	uint32_t w[80];
	uint32_t a, b, cc, d, e;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
			(uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
	for (int i = 0; i < 80; i++)
	{
		uint32_t f, k;

		if (i < 20)
			f = (b & cc) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ cc ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & cc) | (b & d) | (cc & d), k = 0x8F1BBCDC;
		else
			f = b ^ cc ^ d, k = 0xCA62C1D6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];

		e = d, d = cc, cc = rol(b, 30), b = a, a = t;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e;
}

static void
sha1_init(sha1_ctx *c)
{
	c->h[0] = 0x67452301;
	c->h[1] = 0xEFCDAB89;
	c->h[2] = 0x98BADCFE;
	c->h[3] = 0x10325476;
	c->h[4] = 0xC3D2E1F0;
	c->len = 0;
	c->used = 0;
}

static void
sha1_update(sha1_ctx *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->len += n;
	while (n > 0)
	{
		if (c->used == 0 && n >= 64)
		{
			sha1_block(c, p);
			p += 64;
			n -= 64;
			continue;
		}
		size_t k = 64 - c->used;

		if (k > n)
			k = n;
		memcpy(c->block + c->used, p, k);
		c->used += k;
		p += k;
		n -= k;
		if (c->used == 64)
		{
			sha1_block(c, c->block);
			c->used = 0;
		}
	}
}

static void
sha1_final(sha1_ctx *c, uint8_t out[20])
{
	uint64_t bits = c->len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (c->used < 56 ? 56 : 120) - c->used;

	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t) (bits >> (56 - 8 * i));
	sha1_update(c, pad, padlen + 8);
	for (int i = 0; i < 5; i++)
	{
		out[4 * i] = (uint8_t) (c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t) (c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t) (c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t) c->h[i];
	}
}

void
sha1(const void *data, size_t len, uint8_t out[20])
{
	sha1_ctx c;

	sha1_init(&c);
	sha1_update(&c, data, len);
	sha1_final(&c, out);
}

/* UUIDv5 of ns and the concatenation of up to three name parts */
static void
uuid_v5_parts(const uint8_t ns[16], const void *a, size_t alen, const void *b,
			  size_t blen, const void *c3, size_t clen, uint8_t out[16])
{
	sha1_ctx c;
	uint8_t h[20];

	sha1_init(&c);
	sha1_update(&c, ns, 16);
	sha1_update(&c, a, alen);
	sha1_update(&c, b, blen);
	sha1_update(&c, c3, clen);
	sha1_final(&c, h);
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
	int o = 0;

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
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
