package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.bindings.tune4j_cuda_h;

/**
 * A CUDA stream: a backend's own, or a second one beside it for work that may overlap it (cuBLAS calls
 * through a {@link Cublas} opened on it, a backend view from {@link CudaBackend#on}), with the events that
 * order two streams without the host: {@link #follow}
 * makes this stream wait for what the other has queued so far, {@link #join} makes the other wait for
 * what this one has.
 */
public final class CudaStream implements AutoCloseable {
    private final MemorySegment handle;
    private final MemorySegment forked, joined; // events
    private boolean closed;

    public CudaStream() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_stream_create(out), "cudaStreamCreate");
            handle = MemorySegment.ofAddress(out.get(ValueLayout.JAVA_LONG, 0));
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_event_create(out), "cudaEventCreate");
            forked = MemorySegment.ofAddress(out.get(ValueLayout.JAVA_LONG, 0));
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_event_create(out), "cudaEventCreate");
            joined = MemorySegment.ofAddress(out.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** The cudaStream_t, for libraries that run on it. */
    public MemorySegment handle() {
        return handle;
    }

    /** Work queued here from now on starts after everything queued on {@code other} so far. */
    public void follow(MemorySegment other) {
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_event_record(forked, other), "cudaEventRecord");
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_stream_wait_event(handle, forked), "cudaStreamWaitEvent");
    }

    /** Work queued on {@code other} from now on starts after everything queued here so far. */
    public void join(MemorySegment other) {
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_event_record(joined, handle), "cudaEventRecord");
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_stream_wait_event(other, joined), "cudaStreamWaitEvent");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        tune4j_cuda_h.t4j_cuda_stream_synchronize(handle);
        tune4j_cuda_h.t4j_cuda_event_destroy(forked);
        tune4j_cuda_h.t4j_cuda_event_destroy(joined);
        tune4j_cuda_h.t4j_cuda_stream_destroy(handle);
    }
}
