/*
 * A tiny pool. For each round the caller hands over a function, and the workers run it until
 * it runs out of work: it takes the next item not yet taken until none is left (tiles for
 * scanRange, files for readRegions), so a worker that finishes early takes more and none waits
 * long for another. The caller's thread only waits: a thread it wakes is often placed on the
 * caller's own CPU, and would share it with the caller until the scheduler moves it
 * (milliseconds on a virtual machine; the woken worker then did a tenth of the tiles).
 * Rounds smaller than two items, or with one thread, run on the caller's thread alone.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

typedef struct {
  pthread_t thread;
  unsigned char *buf;
} worker_t;

static worker_t workers[MAX_THREADS];
static int nworkers = 0;
static unsigned char *main_buf = NULL;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static unsigned long round_id = 0;  /* bumped to start a round */
static int round_workers = 0;       /* workers asked to take part in this round */
static int round_busy = 0;          /* of those, still taking work */
static atomic_ulong round_seq; /* round_id, readable without the lock, for spinning workers */

static double monotonic_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/*
 * How long a worker keeps looking for the next round before it sleeps. Rounds of one scan
 * follow each other within microseconds, and waking a sleeping thread can take a millisecond
 * on a virtual machine (its CPU may have to be scheduled again): long enough for the caller
 * to have done the whole round alone.
 */
#define SPIN_US 2000.0

/* What the workers do in the current round: take tiles, or take files (readRegions). */
static void (*round_fn)(unsigned char *buf) = NULL;

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  int me = (int)(w - workers);
  unsigned long seen = 0;
  for (;;) {
    double until = monotonic_us() + SPIN_US;
    while (atomic_load(&round_seq) == seen && monotonic_us() < until) sched_yield();
    pthread_mutex_lock(&pool_mu);
    while (round_id == seen) pthread_cond_wait(&start_cv, &pool_mu);
    seen = round_id;
    int part = me < round_workers;
    pthread_mutex_unlock(&pool_mu);
    if (!part) continue;
    round_fn(w->buf);
    pthread_mutex_lock(&pool_mu);
    if (--round_busy == 0) pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&pool_mu);
  }
  return NULL;
}

/*
 * Worker i runs on the i-th CPU this process may use (modulo their number). Left to itself,
 * the scheduler often puts a woken worker on a CPU that another worker is already using, and
 * a round of a few milliseconds is over before it moves one of them.
 */
static void pin_worker(pthread_t thread, int i) {
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  int n = CPU_COUNT(&allowed);
  if (n < 2) return;
  int want = i % n;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (want-- == 0) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pthread_setaffinity_np(thread, sizeof one, &one); /* a failure only costs speed */
      return;
    }
  }
}

/* Set once a worker could not be started (a low process limit, say): the pool stays as it is. */
static int pool_full = 0;

int ensure_pool(int threads) {
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (main_buf == NULL && posix_memalign((void **)&main_buf, 4096, READ_CHUNK) != 0) {
    main_buf = NULL;
    return 0;
  }
  while (threads > 1 && !pool_full && nworkers < threads) {
    worker_t *w = &workers[nworkers];
    if (posix_memalign((void **)&w->buf, 4096, READ_CHUNK) != 0) {
      w->buf = NULL;
      pool_full = 1;
      break;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      /* Carry on with the threads there are: fewer threads are slower, never wrong. */
      free(w->buf);
      w->buf = NULL;
      pool_full = 1;
      break;
    }
    pthread_detach(w->thread);
    pin_worker(w->thread, nworkers);
    nworkers++;
  }
  if (threads <= 1 || nworkers < 2) return 1; /* with fewer than two workers, the caller reads alone */
  return nworkers < threads ? nworkers : threads;
}

void run_round(void (*fn)(unsigned char *buf), int threads) {
  if (threads <= 1) {
    fn(main_buf);
    return;
  }
  pthread_mutex_lock(&pool_mu);
  round_fn = fn;
  round_workers = threads;
  round_busy = threads;
  round_id++;
  atomic_store(&round_seq, round_id);
  pthread_cond_broadcast(&start_cv);
  while (round_busy > 0) pthread_cond_wait(&done_cv, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
}
