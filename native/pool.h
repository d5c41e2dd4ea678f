/*
 * The reader's threads (native/pool.c): a few workers pinned to CPUs, each with a read buffer
 * of its own, that run one function together per round. Process-wide: one caller at a time
 * (Node's main thread).
 */
#ifndef SAMEPAGE_POOL_H
#define SAMEPAGE_POOL_H

#define MAX_THREADS 8
#define READ_CHUNK (256u << 10) /* bytes read and hashed at a time per thread: small, as it stays resident */

/*
 * The caller's buffer and, for threads > 1, that many workers (at most MAX_THREADS); returns
 * how many threads a round may use, 0 when even the caller's buffer could not be had.
 */
int ensure_pool(int threads);

/*
 * Runs fn(buffer) on `threads` workers at once, each with its own READ_CHUNK page-aligned
 * buffer, or on the caller's thread alone if threads is 1, and returns when every one has
 * returned. fn shares out the round's work itself (an atomic counter of items taken).
 */
void run_round(void (*fn)(unsigned char *buf), int threads);

#endif
