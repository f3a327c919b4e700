package org.tune4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** The copies a Tensor makes of itself and of Java arrays: transposed, and from rows. */
class TensorCopiesTest {
    @Test
    void transposedSwapsRowsAndColumnsOfAViewToo() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor m = Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 4);
            Tensor view = m.view(1, 1, 2, 3); // [[6, 7, 8], [10, 11, 12]], ld 4
            Tensor t = view.transposed(arena);
            assertArrayEquals(new long[] {3, 2}, t.shape());
            assertArrayEquals(new float[] {6, 10, 7, 11, 8, 12}, t.toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(arena, DType.I8, 2, 2).transposed(arena));
            assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(arena, DType.F32, 8).transposed(arena));
        }
    }

    @Test
    void ofRowsLaysRowsOutInOrderAndRefusesRaggedOnes() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.ofRows(arena, new float[][] {{1, 2, 3}, {4, 5, 6}});
            assertArrayEquals(new long[] {2, 3}, t.shape());
            assertEquals(6f, t.getFloat(1, 2));
            assertThrows(IllegalArgumentException.class, () -> Tensor.ofRows(arena, new float[][] {{1, 2}, {3}}));
            assertThrows(IllegalArgumentException.class, () -> Tensor.ofRows(arena, new float[0][]));
        }
    }

    @Test
    void aCopyKeepingStrideOfAViewIsAViewWithTheSameValues() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor big = Tensor.zeros(arena, DType.F32, 3, 7);
            for (long i = 0; i < big.numel(); i++) big.setFloat(i, i);
            Tensor view = big.view(1, 2, 2, 4), copy = view.copyKeepingStride(arena, Memory.HOST);
            assertEquals(7, copy.ld());
            assertEquals(false, copy.isContiguous());
            assertArrayEquals(view.toFloatArray(), copy.toFloatArray());
            assertEquals(true, big.copyKeepingStride(arena, Memory.HOST).isContiguous(), "a contiguous tensor's copy stays contiguous");
        }
    }
}
