/* A small persistent thread pool. Work is handed out as numbered tasks; each task's result depends only
 * on its number, so results are the same for any thread count. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define T4J_MAX_THREADS 256

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;   /* held by the caller of a parallel region */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;

static atomic_int requested_threads = 0;   /* 0: not set yet, use the online CPU count */
static int workers_started = 0;            /* worker threads alive (the caller is not counted) */
static int workers_wanted = 0;             /* workers taking part in the current region */

static uint64_t generation = 0;
static t4j_task_fn job_fn;
static void *job_ctx;
static int64_t job_tasks;
static atomic_llong next_task;
/* A region is open from its start until its caller has claimed every task. A worker joins only an open region
 * and counts itself in; the caller then waits only for the workers inside (running a task they claimed, or about
 * to find none left), never for one that has not been scheduled since the wake-up: on a busy machine that one
 * may not run for a whole scheduler slice, and the caller would idle all that time with no work left to do. */
static int region_open;
static atomic_int workers_inside;

/* How long a thread polls before it sleeps (t4j_set_spin_us): a worker after its region for the next one, the
 * caller for the workers still inside. Waking a sleeping thread costs 20-110 us on a VM (ARCHITECTURE.md, the
 * threads paragraph), as long as one of the training step's small GEMMs; its parallel regions come a few
 * microseconds apart, so a worker that polls this long is there for the next one. A burst of spinning after each
 * region is the price (OpenMP runtimes poll by default too: libgomp, Intel's KMP_BLOCKTIME of 200 ms). */
static atomic_int spin_us = 200;
static atomic_ulong published_generation; /* generation, for the workers that poll it without the lock */
static int sleepers;                      /* workers waiting on work_ready */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Polls until *word differs from value or the spin time has passed. */
static void poll_until_changed(atomic_ulong *word, unsigned long value) {
    int64_t deadline = now_ns() + (int64_t)atomic_load(&spin_us) * 1000;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(word, memory_order_acquire) != value) return;
            cpu_relax();
        }
        if (now_ns() > deadline) return;
    }
}

static void poll_until_out(void) {
    int64_t deadline = now_ns() + (int64_t)atomic_load(&spin_us) * 1000;
    while (atomic_load_explicit(&workers_inside, memory_order_acquire) > 0 && now_ns() <= deadline)
        for (int i = 0; i < 64; i++) cpu_relax();
}

static _Thread_local int32_t caller_threads; /* t4j_set_caller_threads: 0, no cap */

T4J_EXPORT int32_t t4j_num_threads(void) {
    int n = atomic_load(&requested_threads);
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : (int32_t)T4J_MIN(cpus, T4J_MAX_THREADS);
    }
    return caller_threads > 0 ? T4J_MIN(n, caller_threads) : n;
}

T4J_EXPORT void t4j_set_caller_threads(int32_t n) { caller_threads = T4J_MIN(T4J_MAX(n, 0), T4J_MAX_THREADS); }

T4J_EXPORT void t4j_set_num_threads(int32_t n) {
    atomic_store(&requested_threads, T4J_MIN(T4J_MAX(n, 1), T4J_MAX_THREADS));
}

T4J_EXPORT int32_t t4j_spin_us(void) { return atomic_load(&spin_us); }

T4J_EXPORT void t4j_set_spin_us(int32_t us) { atomic_store(&spin_us, T4J_MIN(T4J_MAX(us, 0), 100000)); }

/* Subnormals flushed to zero in the kernels (t4j_set_flush_denormals): MXCSR's FTZ (bit 15) and DAZ (bit 6) */
static atomic_int flush_denormals = 1;
#define T4J_MXCSR_FLUSH 0x8040u

T4J_EXPORT int32_t t4j_flush_denormals(void) { return atomic_load(&flush_denormals); }

T4J_EXPORT void t4j_set_flush_denormals(int32_t on) { atomic_store(&flush_denormals, on != 0); }

/* This thread's floating-point mode for the kernels: returns the mode to restore (fp_leave). */
static inline unsigned fp_enter(void) {
#if defined(__x86_64__)
    unsigned saved = __builtin_ia32_stmxcsr();
    unsigned want = atomic_load_explicit(&flush_denormals, memory_order_relaxed) ? saved | T4J_MXCSR_FLUSH : saved & ~T4J_MXCSR_FLUSH;
    if (want != saved) __builtin_ia32_ldmxcsr(want);
    return saved;
#else
    return 0;
#endif
}

static inline void fp_leave(unsigned saved) {
#if defined(__x86_64__)
    if (__builtin_ia32_stmxcsr() != saved) __builtin_ia32_ldmxcsr(saved);
#else
    (void)saved;
#endif
}

static void run_tasks(void) {
    for (;;) {
        int64_t t = atomic_fetch_add(&next_task, 1);
        if (t >= job_tasks) return;
        job_fn(job_ctx, t);
    }
}

static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&state_lock);
    for (;;) {
        if (generation == seen) {
            pthread_mutex_unlock(&state_lock);
            poll_until_changed(&published_generation, (unsigned long)seen);
            pthread_mutex_lock(&state_lock);
            while (generation == seen) {
                sleepers++;
                pthread_cond_wait(&work_ready, &state_lock);
                sleepers--;
            }
        }
        seen = generation;
        /* this region uses fewer threads, or its caller has already done every task and closed it */
        if (index >= workers_wanted || !region_open) continue;
        workers_inside++;
        pthread_mutex_unlock(&state_lock);
        fp_enter(); /* a worker runs only kernels: its mode is set for each region, never restored */
        run_tasks();
        pthread_mutex_lock(&state_lock);
        if (--workers_inside == 0) pthread_cond_signal(&work_done);
    }
    return NULL;
}

int64_t t4j_even_task(int64_t n, int64_t grain, int64_t align) {
    grain = T4J_MAX(1, grain);
    align = T4J_MAX(1, align);
    int64_t tasks = (n + grain - 1) / grain, threads = t4j_num_threads();
    if (tasks > 1 && threads > 1) tasks = (tasks + threads - 1) / threads * threads;
    tasks = T4J_MAX(1, tasks);
    return T4J_MAX(align, ((n + tasks - 1) / tasks + align - 1) / align * align);
}

void t4j_parallel_sized(int64_t ntasks, t4j_task_fn fn, void *ctx, double flops) {
    if (flops < T4J_PARALLEL_MIN_FLOPS) {
        unsigned saved = fp_enter();
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t);
        fp_leave(saved);
        return;
    }
    t4j_parallel(ntasks, fn, ctx);
}

static void pool_run(int64_t ntasks, t4j_task_fn fn, void *ctx) {
    int64_t threads = T4J_MIN((int64_t)t4j_num_threads(), ntasks);
    if (threads <= 1 || pthread_mutex_trylock(&pool_lock) != 0) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t);
        return;
    }
    pthread_mutex_lock(&state_lock);
    while (workers_started < threads - 1) {
        pthread_t tid;
        if (pthread_create(&tid, NULL, worker_main, (void *)(intptr_t)workers_started) != 0) break;
        pthread_detach(tid);
        workers_started++;
    }
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = ntasks;
    atomic_store(&next_task, 0);
    workers_wanted = (int)T4J_MIN(threads - 1, (int64_t)workers_started);
    region_open = 1;
    generation++;
    atomic_store_explicit(&published_generation, (unsigned long)generation, memory_order_release);
    if (sleepers > 0) pthread_cond_broadcast(&work_ready);
    pthread_mutex_unlock(&state_lock);

    run_tasks();

    /* every task is claimed: close the region (no worker joins it from now on), then wait for those inside */
    pthread_mutex_lock(&state_lock);
    region_open = 0;
    pthread_mutex_unlock(&state_lock);
    poll_until_out();
    pthread_mutex_lock(&state_lock);
    while (workers_inside > 0) pthread_cond_wait(&work_done, &state_lock);
    pthread_mutex_unlock(&state_lock);
    pthread_mutex_unlock(&pool_lock);
}

/* Every task on the caller or the pool, in the kernels' floating-point mode (the caller's own restored after). */
void t4j_parallel(int64_t ntasks, t4j_task_fn fn, void *ctx) {
    unsigned saved = fp_enter();
    pool_run(ntasks, fn, ctx);
    fp_leave(saved);
}
