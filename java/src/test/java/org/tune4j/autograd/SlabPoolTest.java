package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.tensor.Memory;

/** Closed workspaces' memory is kept, bounded, and handed to the next workspace instead of new memory. */
class SlabPoolTest {
    @Test
    void theBestFittingSlabIsTakenAndTheSmallestGoFirstBeyondTheBound() {
        SlabPool pool = new SlabPool(1000);
        SlabPool.Slab a = SlabPool.Slab.allocate(Memory.HOST, 300), b = SlabPool.Slab.allocate(Memory.HOST, 600), c = SlabPool.Slab.allocate(Memory.HOST, 400);
        pool.give(a);
        pool.give(b);
        assertEquals(900, pool.held());
        pool.give(c); // 1300 bytes > 1000: the smallest (a) is freed
        assertEquals(1000, pool.held());
        assertThrows(IllegalStateException.class, () -> a.memory().segment().get(ValueLayout.JAVA_BYTE, 0), "the slab let go was freed");
        assertNull(pool.take(Memory.HOST, 700), "nothing kept is large enough");
        assertSame(c, pool.take(Memory.HOST, 350), "the smallest that fits");
        assertSame(b, pool.take(Memory.HOST, 0), "no size asked: the largest");
        assertEquals(0, pool.held());
        SlabPool.Slab huge = SlabPool.Slab.allocate(Memory.HOST, 2000);
        pool.give(huge);
        assertEquals(0, pool.held(), "a slab over the bound is freed at once");
        assertThrows(IllegalStateException.class, () -> huge.memory().segment().get(ValueLayout.JAVA_BYTE, 0));
        b.free();
        c.free();
        assertThrows(IllegalArgumentException.class, () -> new SlabPool(-1));
    }

    @Test
    void aNewWorkspaceStartsOnTheMemoryAClosedOneLeft() {
        Workspace.freePooled();
        long address = 0, capacity;
        try (Workspace first = new Workspace()) {
            for (int step = 0; step < 2; step++) { // the first step tells the workspace its size, the second runs on it
                try (Tape t = new Tape(CpuBackend.get(), false, false, first)) {
                    address = t.zeros(1000, 64).pointer().address();
                }
            }
            capacity = first.capacity();
            assertTrue(capacity >= 1000 * 64 * 4, "grown to the step: " + capacity);
        }
        assertEquals(capacity, Workspace.pooledBytes(), "the closed workspace's memory is kept");
        try (Workspace second = new Workspace()) {
            try (Tape t = new Tape(CpuBackend.get(), false, false, second)) {
                assertEquals(capacity, second.capacity(), "its first step already has the memory");
                assertEquals(address, t.zeros(1000, 64).pointer().address(), "the same memory");
            }
            assertEquals(0, Workspace.pooledBytes(), "taken out of the pool while the workspace lives");
        }
        assertEquals(capacity, Workspace.pooledBytes());
        Workspace.freePooled();
        assertEquals(0, Workspace.pooledBytes());
        long needed;
        try (Workspace once = new Workspace()) { // one step: it ran on its arena, and the workspace never grew
            try (Tape t = new Tape(CpuBackend.get(), false, false, once)) {
                t.zeros(500, 64);
            }
            needed = once.needed();
            assertEquals(0, once.capacity());
        }
        assertEquals(needed, Workspace.pooledBytes(), "the pool gets what that step needed, for the next workspace");
        try (Workspace next = new Workspace(); Tape t = new Tape(CpuBackend.get(), false, false, next)) {
            assertEquals(needed, next.capacity());
        }
        Workspace.freePooled();
    }

    @Test
    void aWorkspaceClosedDuringAStepKeepsItsMemoryUntilTheStepEnds() {
        Workspace.freePooled();
        Workspace ws = new Workspace();
        for (int step = 0; step < 2; step++) {
            try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
                t.zeros(100, 16);
            }
        }
        long held = ws.capacity();
        try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
            org.tune4j.tensor.Tensor x = t.zeros(100, 16);
            ws.close(); // while the step runs: nothing is freed under it
            x.setFloat(99, 15, 3f);
            assertEquals(3f, x.getFloat(99, 15));
            assertEquals(0, Workspace.pooledBytes(), "still the step's");
        }
        assertEquals(held, Workspace.pooledBytes(), "let go when the step ended");
        assertThrows(IllegalStateException.class, () -> new Tape(CpuBackend.get(), false, false, ws), "a closed workspace takes no step");
        Workspace.freePooled();
    }
}
