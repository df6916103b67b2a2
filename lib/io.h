/*
 * io.h: buffered input and output for streams and spool files.
 *
 * Input comes from a file or stdin ("-" or NULL).  zstd-compressed input
 * (a spool file) is recognised by its magic number and decompressed on the
 * fly, so every stage reads pipes and spool files alike.
 *
 * Output goes to stdout or to a file.  A file is written atomically: to a
 * temporary file beside it, then flushed, fsync'ed and renamed over the
 * final name by out_commit().  Until then the final name does not exist,
 * so a crash or an error never leaves a partial output file behind.
 * Unfinished temporary files are removed by out_abort(), by die() and by
 * the SIGINT/SIGTERM/SIGHUP handler that io_install_signal_handlers() sets.
 */
#ifndef FERRY_IO_H
#define FERRY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ferry_input ferry_input;
typedef struct ferry_output ferry_output;

/* NULL on error (logged).  name is used in messages. */
ferry_input *in_open(const char *path);
/*
 * Bytes read, 0 at end of input, -1 on error (a read error, a damaged or
 * truncated zstd frame): then in_error() says why, without the input's
 * name, and the caller logs it with what it knows (the stream's chunk).
 */
ssize_t in_read(ferry_input *in, void *dst, size_t n);
const char *in_error(const ferry_input *in);
const char *in_name(const ferry_input *in);
/*
 * A regular file (by path or on standard input) can be read again from
 * where reading began: in_rewind() goes back there (false if it cannot,
 * logged).  The stream reader reads such a file through once to verify
 * it before it hands out any record (see reader_open).
 */
bool in_rewindable(const ferry_input *in);
bool in_rewind(ferry_input *in);
bool in_is_compressed(const ferry_input *in);
void in_close(ferry_input *in);

/*
 * path NULL or "-": stdout (compressed only if compress is true).
 * Otherwise a file written through a temporary name.  level: zstd level
 * (0 = default of 3); threads: zstd worker threads (0 = none).
 */
ferry_output *out_open(const char *path, bool compress, int level, int threads);
bool out_write(ferry_output *out, const void *p, size_t n);
bool out_flush(ferry_output *out);          /* push buffered bytes to the fd */
bool out_commit(ferry_output *out);         /* finish, fsync, rename; frees out */
void out_abort(ferry_output *out);          /* remove the temporary file; frees out */
const char *out_name(const ferry_output *out);

/* remove every unfinished output file (called by die and signal handlers) */
void io_abort_all(void);
void io_install_signal_handlers(void);
/* set by the signal handler; long loops may poll it */
extern volatile int io_interrupted;

/*
 * Bytes of stream data this process read (in_read, after decompression)
 * and wrote (out_write, before compression); a stage may add what it reads
 * or writes otherwise (the extract's COPY rows, the load's COPY data).
 * Reported in the end events (see event_emit).
 */
extern uint64_t io_bytes_in;
extern uint64_t io_bytes_out;

/* write a whole file atomically (temp, fsync, rename) */
bool write_file_atomic(const char *path, const void *p, size_t n);

#endif
