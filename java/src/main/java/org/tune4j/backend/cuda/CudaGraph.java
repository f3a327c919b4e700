package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.bindings.tune4j_cuda_h;

/**
 * A recorded sequence of launches on a backend's stream (a CUDA graph), replayed by one call: a
 * training step of many small kernels then costs one launch instead of one per kernel. The work is
 * recorded, not run, so it must only queue launches on the stream: no allocation that reaches
 * cudaMalloc (warm the allocator with one ordinary run first), no download, no synchronisation. The
 * replay reads and writes the same device addresses as the recording.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaBackend gpu;
    private MemorySegment exec;
    private final java.util.List<long[]> kept; // device blocks the recorded work used as scratch: the graph's until closed

    private CudaGraph(CudaBackend gpu, MemorySegment exec, java.util.List<long[]> kept) {
        this.gpu = gpu;
        this.exec = exec;
        this.kept = kept;
    }

    /** Records {@code work}'s launches on {@code gpu}'s stream; an {@link IllegalStateException} naming CUDA's reason if they cannot be recorded. */
    public static CudaGraph capture(CudaBackend gpu, Runnable work) {
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_graph_begin(gpu.stream()), "cudaStreamBeginCapture");
        gpu.allocator().beginRecording();
        RuntimeException failure = null;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        }
        java.util.List<long[]> kept = gpu.allocator().endRecording();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = arena.allocate(ValueLayout.JAVA_LONG);
            int rc = tune4j_cuda_h.t4j_cuda_graph_end(gpu.stream(), handle); // always ends the recording, so the stream runs work again
            long address = handle.get(ValueLayout.JAVA_LONG, 0);
            if (failure != null || rc != 0) {
                if (address != 0) tune4j_cuda_h.t4j_cuda_graph_destroy(MemorySegment.ofAddress(address));
                gpu.allocator().releaseKept(kept); // nothing was recorded that could use them
                if (failure != null) throw new IllegalStateException("the work could not be recorded as a CUDA graph: " + failure.getMessage(), failure);
                CudaBackend.check(rc, "recording a CUDA graph (cudaStreamEndCapture / cudaGraphInstantiate)");
            }
            return new CudaGraph(gpu, MemorySegment.ofAddress(address), kept);
        }
    }

    /** Queues the recorded work on the stream; returns at once. */
    public void launch() {
        if (exec == null) throw new IllegalStateException("this CUDA graph was closed");
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_graph_launch(exec, gpu.stream()), "cudaGraphLaunch");
    }

    @Override
    public void close() {
        if (exec == null) return;
        tune4j_cuda_h.t4j_cuda_graph_destroy(exec);
        exec = null;
        gpu.allocator().releaseKept(kept);
    }
}
