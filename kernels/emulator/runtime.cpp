/* kernels/emulator: the CUDA runtime calls kernels/src makes, on the CPU (see cuda_runtime.h). */
#include <cstdio>
#include <cstdlib>
#include <malloc.h>
#include <vector>

#include "cuda_runtime.h"

thread_local dim3 threadIdx(0, 0, 0), blockIdx(0, 0, 0), blockDim(1, 1, 1), gridDim(1, 1, 1);
float t4j_emu_shared[1 << 16];

struct t4j_emu_stream {
    bool capturing = false, invalidated = false; /* invalidated: a synchronisation was asked while capturing */
    std::vector<std::function<void()>> *recording = nullptr;
};
struct t4j_emu_event {
    int unused;
};
struct t4j_emu_graph {
    std::vector<std::function<void()>> work;
};

static thread_local cudaError_t last_error = cudaSuccess;
static t4j_emu_stream default_stream;

static t4j_emu_stream *of(cudaStream_t s) { return s == nullptr ? &default_stream : s; }

static cudaError_t fail(cudaError_t e) {
    last_error = e;
    return e;
}

/* Runs work now, or records it where s captures a graph. */
static void on(cudaStream_t s, std::function<void()> work) {
    t4j_emu_stream *st = of(s);
    if (st->capturing) st->recording->push_back(std::move(work));
    else work();
}

void t4j_emu_enqueue(cudaStream_t s, std::function<void()> work) { on(s, std::move(work)); }

void t4j_emu_launch(dim3 grid, cudaStream_t s, std::function<void()> kernel) {
    on(s, [grid, kernel] {
        gridDim = grid;
        blockDim = dim3(1, 1, 1);
        threadIdx = dim3(0, 0, 0);
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned y = 0; y < grid.y; y++)
                for (unsigned x = 0; x < grid.x; x++) {
                    blockIdx = dim3(x, y, z);
                    kernel();
                }
    });
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    std::memset(p, 0, sizeof *p);
    std::snprintf(p->name, sizeof p->name, "tune4j host emulator (the CPU, not a GPU)");
    p->totalGlobalMem = (size_t)8 << 30;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = *total_bytes = (size_t)8 << 30;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return *p != nullptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

/* Freed memory is filled with NaNs and never handed out again: work that still uses it (a graph recorded
 * over scratch that was since replaced, say) reads NaNs instead of whatever came to live there. */
cudaError_t cudaFree(void *p) {
    if (p != nullptr) std::memset(p, 0xff, malloc_usable_size(p));
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t) { return cudaMalloc(p, bytes); }

cudaError_t cudaFreeAsync(void *p, cudaStream_t s) {
    if (of(s)->capturing) return cudaSuccess; /* a captured graph may still use it when it replays: kept */
    return cudaFree(p);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    t4j_emu_stream *st = of(s);
    if (st->capturing && kind != cudaMemcpyDeviceToDevice) {
        /* as CUDA: a graph may not copy from or to pageable host memory (tune4j pins none), and spoils the recording */
        st->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    on(s, [=] { std::memmove(dst, src, bytes); });
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    on(s, [=] { std::memset(p, value, bytes); });
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = new t4j_emu_stream();
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    t4j_emu_stream *st = of(s);
    if (!st->capturing) return cudaSuccess;
    st->invalidated = true; /* as CUDA: waiting for a stream that records is not allowed, and spoils the recording */
    return fail(cudaErrorStreamCaptureUnsupported);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) {
    *e = new t4j_emu_event();
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }   /* work runs in order: nothing to wait for */
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    t4j_emu_stream *st = of(s);
    if (st->capturing) return fail(cudaErrorStreamCaptureUnsupported);
    st->capturing = true;
    st->recording = new std::vector<std::function<void()>>();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph) {
    t4j_emu_stream *st = of(s);
    if (!st->capturing) return fail(cudaErrorInvalidValue);
    bool spoiled = st->invalidated;
    *graph = spoiled ? nullptr : new t4j_emu_graph{std::move(*st->recording)};
    delete st->recording;
    st->recording = nullptr;
    st->capturing = st->invalidated = false;
    return spoiled ? fail(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long) {
    *exec = new t4j_emu_graph{graph->work};
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
    for (auto &w : exec->work) on(s, w);
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
        case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
        default: return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorNotSupported ? "not emulated on the host (kernels/emulator)" : "an error in the host emulator";
}
