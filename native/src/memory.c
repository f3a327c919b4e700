/* Host memory for large tensors (ARCHITECTURE.md "Host memory"): mapped fresh from the OS, 2 MiB aligned, and on
 * Linux advised onto transparent huge pages before it is first touched, so that a kernel streaming a large weight
 * matrix walks one TLB entry per 2 MiB instead of per 4 KiB and the hardware prefetcher is not stopped at every
 * 4 KiB page boundary (the int8 GEMV over 64 MB of rotated weights ran about 30% faster on Zen 4). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise under -std=c11 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

enum { HUGE_PAGE = 2 << 20 };

static size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

/* The OS's small page: 4 KiB on x86-64, up to 64 KiB on some aarch64 kernels. */
static size_t small_page(void) {
#if defined(__linux__)
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
#else
    return 4096;
#endif
}

T4J_EXPORT void *t4j_host_alloc(int64_t bytes) {
    if (bytes <= 0 || (uint64_t)bytes > SIZE_MAX - 2 * (size_t)HUGE_PAGE) return NULL;
    size_t size = round_up((size_t)bytes, small_page());
#if defined(__linux__)
    /* map HUGE_PAGE more than needed, keep the 2 MiB aligned part, give back the ends */
    uint8_t *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *start = (uint8_t *)round_up((uintptr_t)raw, HUGE_PAGE);
    if (start > raw) munmap(raw, (size_t)(start - raw));
    size_t tail = (size_t)(raw + size + HUGE_PAGE - (start + size));
    if (tail > 0) munmap(start + size, tail);
    /* only whole huge pages: a tail under 2 MiB stays on small pages (a huge page there would be mostly unused).
     * Where the kernel has no transparent huge pages this fails and the memory stays on small pages. */
    size_t huge = size / HUGE_PAGE * HUGE_PAGE;
    if (huge > 0) madvise(start, huge, MADV_HUGEPAGE);
    return start; /* anonymous memory reads as zeros */
#else
    void *p = aligned_alloc(HUGE_PAGE, round_up(size, HUGE_PAGE));
    if (p != NULL) memset(p, 0, size);
    return p;
#endif
}

T4J_EXPORT void t4j_host_free(void *p, int64_t bytes) {
    if (p == NULL) return;
#if defined(__linux__)
    munmap(p, round_up((size_t)bytes, small_page()));
#else
    (void)bytes;
    free(p);
#endif
}

/* A thread's scratch (t4j_thread_scratch), given back when the thread ends: a JVM thread that called the kernels and
 * then ended (a micro-batch pool's, a server's worker) would otherwise leave its buffers behind. */
typedef struct {
    void *buf[T4J_SCRATCH_SLOTS];
    size_t bytes[T4J_SCRATCH_SLOTS];
    int registered; /* with scratch_key, whose destructor frees the buffers at the thread's exit */
} scratch_set;

static _Thread_local scratch_set scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_release(void *set) {
    scratch_set *s = set;
    for (int i = 0; i < T4J_SCRATCH_SLOTS; i++) {
        free(s->buf[i]);
        s->buf[i] = NULL;
        s->bytes[i] = 0;
    }
}

static void scratch_key_make(void) {
    pthread_key_create(&scratch_key, scratch_release);
}

void *t4j_thread_scratch(int slot, size_t bytes) {
    scratch_set *s = &scratch;
    if (bytes > s->bytes[slot]) {
        size_t size = round_up(bytes > 0 ? bytes : 1, 64);
        void *grown = aligned_alloc(64, size);
        if (grown == NULL) return NULL;
        free(s->buf[slot]);
        s->buf[slot] = grown;
        s->bytes[slot] = size;
        if (!s->registered) {
            pthread_once(&scratch_once, scratch_key_make);
            s->registered = pthread_setspecific(scratch_key, s) == 0;
        }
    }
    return s->buf[slot];
}
