/* Devices, memory, streams: thin wrappers over the CUDA runtime (linked statically). */
#include <stdio.h>
#include <string.h>

#include "common.cuh"

extern "C" {

int32_t t4j_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    return e == cudaSuccess ? n : -t4j_status(e);
}

int32_t t4j_cuda_driver_version(void) {
    int v = 0;
    cudaError_t e = cudaDriverGetVersion(&v);
    return e == cudaSuccess ? v : -t4j_status(e);
}

void t4j_cuda_error_string(int32_t code, char *out, int64_t len) {
    if (len <= 0) return;
    cudaError_t e = (cudaError_t)(code < 0 ? -code : code);
    snprintf(out, (size_t)len, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
}

int32_t t4j_cuda_device_info(int32_t device, char *out, int64_t len) {
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return -t4j_status(e);
    if (len > 0) snprintf(out, (size_t)len, "%s", p.name);
    return p.major * 10 + p.minor;
}

int32_t t4j_cuda_set_device(int32_t device) { return t4j_status(cudaSetDevice(device)); }

int32_t t4j_cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes) {
    size_t f = 0, t = 0;
    cudaError_t e = cudaMemGetInfo(&f, &t);
    free_bytes[0] = (int64_t)f;
    total_bytes[0] = (int64_t)t;
    return t4j_status(e);
}

int32_t t4j_cuda_malloc(int64_t bytes, int64_t *address) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, (size_t)bytes);
    address[0] = (int64_t)(intptr_t)p;
    return t4j_status(e);
}

int32_t t4j_cuda_free(void *ptr) { return t4j_status(cudaFree(ptr)); }

int32_t t4j_cuda_memcpy(void *dst, const void *src, int64_t bytes, int32_t kind, void *stream) {
    cudaMemcpyKind k = kind == T4J_CUDA_H2D ? cudaMemcpyHostToDevice : kind == T4J_CUDA_D2H ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
    cudaError_t e = cudaMemcpyAsync(dst, src, (size_t)bytes, k, t4j_stream(stream));
    if (e == cudaSuccess && kind == T4J_CUDA_D2H) e = cudaStreamSynchronize(t4j_stream(stream));
    return t4j_status(e);
}

int32_t t4j_cuda_memset_zero(void *ptr, int64_t bytes, void *stream) { return t4j_status(cudaMemsetAsync(ptr, 0, (size_t)bytes, t4j_stream(stream))); }

int32_t t4j_cuda_stream_create(int64_t *handle) {
    cudaStream_t s = NULL;
    cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    handle[0] = (int64_t)(intptr_t)s;
    return t4j_status(e);
}

int32_t t4j_cuda_stream_destroy(void *stream) { return t4j_status(cudaStreamDestroy(t4j_stream(stream))); }

int32_t t4j_cuda_stream_synchronize(void *stream) { return t4j_status(cudaStreamSynchronize(t4j_stream(stream))); }

int32_t t4j_cuda_event_create(int64_t *handle) {
    cudaEvent_t e = NULL;
    cudaError_t rc = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    handle[0] = (int64_t)(intptr_t)e;
    return t4j_status(rc);
}

int32_t t4j_cuda_event_destroy(void *event) { return t4j_status(cudaEventDestroy((cudaEvent_t)event)); }

int32_t t4j_cuda_event_record(void *event, void *stream) { return t4j_status(cudaEventRecord((cudaEvent_t)event, t4j_stream(stream))); }

int32_t t4j_cuda_stream_wait_event(void *stream, void *event) { return t4j_status(cudaStreamWaitEvent(t4j_stream(stream), (cudaEvent_t)event, 0)); }

int32_t t4j_cuda_graph_begin(void *stream) { return t4j_status(cudaStreamBeginCapture(t4j_stream(stream), cudaStreamCaptureModeThreadLocal)); }

int32_t t4j_cuda_graph_end(void *stream, int64_t *exec) {
    exec[0] = 0;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(t4j_stream(stream), &graph);
    if (e != cudaSuccess) return t4j_status(e);
    cudaGraphExec_t instance = NULL;
    e = cudaGraphInstantiate(&instance, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) return t4j_status(e);
    exec[0] = (int64_t)(intptr_t)instance;
    return 0;
}

int32_t t4j_cuda_graph_launch(void *exec, void *stream) { return t4j_status(cudaGraphLaunch((cudaGraphExec_t)exec, t4j_stream(stream))); }

int32_t t4j_cuda_graph_destroy(void *exec) { return t4j_status(cudaGraphExecDestroy((cudaGraphExec_t)exec)); }

} /* extern "C" */
