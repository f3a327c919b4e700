package org.tune4j.tensor;

import java.lang.foreign.Arena;

/**
 * Where a {@link Tensor}'s memory lives, and how to make and fill memory there: the host ({@link #HOST}),
 * or a device's (a {@code CudaBackend}'s, whose tensors the host never reads directly). Each backend
 * computes on tensors of one memory; {@link Tensor#copyFrom} moves values between any two.
 */
public interface Memory {
    /** The host: off-heap memory the CPU reads and writes. */
    Memory HOST = new Memory() {
        @Override
        public String name() {
            return "host";
        }

        @Override
        public Tensor zeros(Arena arena, DType dtype, long... shape) {
            return Tensor.zeros(arena, dtype, shape);
        }

        @Override
        public Tensor empty(Arena arena, DType dtype, long... shape) {
            return Tensor.zeros(arena, dtype, shape); // an arena's memory comes zeroed anyway
        }

        @Override
        public void copy(Tensor src, Tensor dst) {
            dst.copyFrom(src);
        }

        @Override
        public void zero(Tensor t) {
            t.fillZero();
        }
    };

    /** "host", "cuda:0", ... (for messages). */
    String name();

    /** Whether the CPU may read and write this memory. */
    default boolean isHost() {
        return this == HOST;
    }

    /** A new zero-filled tensor here, freed when {@code arena} closes. */
    Tensor zeros(Arena arena, DType dtype, long... shape);

    /** As {@link #zeros}, its values unspecified: for a tensor about to be written in full (a copy's target). */
    Tensor empty(Arena arena, DType dtype, long... shape);

    /** dst = src (same shape and dtype), where one of them lives here and the other here or on the host. */
    void copy(Tensor src, Tensor dst);

    /** t = 0. */
    void zero(Tensor t);
}
