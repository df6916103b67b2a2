/*
 * pool.c: a few connections to the target, shared by the request threads.
 *
 * A request takes a connection for the time of its queries and gives it
 * back.  A connection is opened when first needed and again after it
 * broke, so ferry-serve starts, and keeps answering (503), while the
 * target is down.  Every session is read only and its statements have a
 * time limit.  lib/pgconn.c's helpers keep per-process state for the
 * single-threaded stages; the threads here use libpq directly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "serve.h"

/* how long a request waits for a free connection */
#define POOL_WAIT_SECONDS 5
/* a failure to connect is logged at most this often (seconds) */
#define POOL_LOG_EVERY 60

struct db_pool
{
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *conninfo;
	int size;
	int statement_timeout_ms;
	PGconn **conn;              /* NULL: not connected */
	bool *busy;
	_Atomic long last_logged;    /* when a failure to connect was last logged, 0: connected */
};

db_pool *
pool_new(const char *conninfo, int size, int statement_timeout_ms)
{
	db_pool *p = xcalloc(1, sizeof *p);

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->conninfo = xstrdup(conninfo ? conninfo : "");
	p->size = size;
	p->statement_timeout_ms = statement_timeout_ms;
	p->conn = xcalloc((size_t) size, sizeof *p->conn);
	p->busy = xcalloc((size_t) size, sizeof *p->busy);
	return p;
}

/* libpq's message on one line */
static void
one_line(const char *msg, char *out, size_t n)
{
	size_t o = 0;

	for (const char *c = msg; *c && o + 1 < n; c++)
		out[o++] = (*c == '\n' || *c == '\r' || *c == '\t') ? ' ' : *c;
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static PGconn *
open_conn(db_pool *p)
{
	/*
	 * The conninfo is expanded from "dbname" (a URI or key=value string);
	 * a connect_timeout of its own, or PGCONNECT_TIMEOUT, wins over ours.
	 */
	const char *keys[] = {"connect_timeout", "dbname", "fallback_application_name", NULL};
	const char *vals[] = {getenv("PGCONNECT_TIMEOUT") ? NULL : "5", p->conninfo, "ferry-serve", NULL};
	int first = vals[0] ? 0 : 1;
	PGconn *c = PQconnectdbParams(keys + first, vals + first, 1);
	char msg[512];

	if (c == NULL || PQstatus(c) != CONNECTION_OK)
	{
		long now = (long) time(NULL), then = atomic_load(&p->last_logged);

		if (now - then >= POOL_LOG_EVERY && atomic_compare_exchange_strong(&p->last_logged, &then, now))
		{
			one_line(c ? PQerrorMessage(c) : "out of memory", msg, sizeof msg);
			log_error("cannot connect to the target database%s%s%s: %s",
					  c && PQdb(c) ? " \"" : "", c && PQdb(c) ? PQdb(c) : "", c && PQdb(c) ? "\"" : "", msg);
		}
		PQfinish(c);
		return NULL;
	}
	if (atomic_exchange(&p->last_logged, 0) != 0)
		log_result("connected to the target database \"%s\" again", PQdb(c));
	/* read only, whatever the role may do; no query runs for long */
	char setup[200];

	snprintf(setup, sizeof setup,
			 "SET default_transaction_read_only = on; SET statement_timeout = %d; "
			 "SET client_encoding = 'UTF8'", p->statement_timeout_ms);

	PGresult *r = PQexec(c, setup);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		one_line(PQerrorMessage(c), msg, sizeof msg);
		log_error("target: cannot set up the session: %s", msg);
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

PGconn *
pool_take(db_pool *p, bool *busy)
{
	struct timespec until;
	int slot = -1;

	*busy = false;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += POOL_WAIT_SECONDS;
	pthread_mutex_lock(&p->lock);
	for (;;)
	{
		/* a connected one first, then an empty slot */
		for (int i = 0; i < p->size && slot < 0; i++)
			if (!p->busy[i] && p->conn[i])
				slot = i;
		for (int i = 0; i < p->size && slot < 0; i++)
			if (!p->busy[i])
				slot = i;
		if (slot >= 0)
			break;
		if (pthread_cond_timedwait(&p->freed, &p->lock, &until) == ETIMEDOUT)
		{
			pthread_mutex_unlock(&p->lock);
			*busy = true;
			log_warn("no free connection to the target within %d s (--db-connections %d)",
					 POOL_WAIT_SECONDS, p->size);
			return NULL;
		}
	}
	p->busy[slot] = true;
	PGconn *c = p->conn[slot];

	pthread_mutex_unlock(&p->lock);
	if (c && PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		c = NULL;
	}
	if (c == NULL)
	{
		/* opened outside the lock: another request may use another slot meanwhile */
		c = open_conn(p);
	}
	pthread_mutex_lock(&p->lock);
	p->conn[slot] = c;
	if (c == NULL)
	{
		p->busy[slot] = false;
		pthread_cond_signal(&p->freed);
	}
	pthread_mutex_unlock(&p->lock);
	return c;
}

void
pool_give(db_pool *p, PGconn *c, bool broken)
{
	if (c == NULL)
		return;
	if (!broken && (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE))
		broken = true;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->size; i++)
		if (p->conn[i] == c)
		{
			if (broken)
			{
				PQfinish(c);
				p->conn[i] = NULL;
			}
			p->busy[i] = false;
			pthread_cond_signal(&p->freed);
			break;
		}
	pthread_mutex_unlock(&p->lock);
}

void
pool_free(db_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->size; i++)
		PQfinish(p->conn[i]);
	free(p->conn);
	free(p->busy);
	free(p->conninfo);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}
