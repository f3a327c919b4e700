package org.tune4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Host memory from the OS for large tensors: aligned for huge pages, advised onto them, zeroed, freed with the arena. */
class HostMemoryTest {
    private static final long MIB = 1L << 20;

    @Test
    void largeMemoryIsHugePageAlignedZeroedWritableToTheEndAndFreedWithItsArena() {
        MemorySegment kept;
        try (Arena arena = Arena.ofConfined()) {
            long bytes = 5 * MIB + 12; // two whole huge pages and a tail on small ones
            MemorySegment m = HostMemory.allocate(arena, bytes);
            assertEquals(bytes, m.byteSize());
            assertEquals(0, m.address() % HostMemory.HUGE_PAGE, "2 MiB aligned");
            try (Arena scratch = Arena.ofConfined()) {
                assertEquals(-1, m.mismatch(scratch.allocate(bytes)), "reads as zeros");
            }
            m.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
            m.set(ValueLayout.JAVA_BYTE, 0, (byte) 3);
            assertEquals(7, m.get(ValueLayout.JAVA_BYTE, bytes - 1));
            kept = m;
        }
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 0), "freed with its arena");
    }

    @Test
    void smallMemoryComesFromTheArenaLineAligned() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = HostMemory.allocate(arena, 1000);
            assertEquals(1000, m.byteSize());
            assertEquals(0, m.address() % 64);
            assertThrows(IllegalArgumentException.class, () -> HostMemory.allocate(arena, 0));
        }
    }

    @Test
    void aClosedArenaOrAnotherThreadsArenaGetsNoMemory() throws Exception {
        Arena closed = Arena.ofConfined();
        closed.close();
        assertThrows(IllegalStateException.class, () -> HostMemory.allocate(closed, 4 * MIB));
        try (Arena mine = Arena.ofConfined()) {
            var failure = new java.util.concurrent.atomic.AtomicReference<Throwable>();
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    HostMemory.allocate(mine, 4 * MIB);
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            other.join();
            assertTrue(failure.get() instanceof WrongThreadException, "from another thread: " + failure.get());
        }
    }

    @Test
    void aLargeTensorIsMadeThere() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.zeros(arena, DType.F32, 1024, 1024);
            assertEquals(0, t.segment().address() % HostMemory.HUGE_PAGE);
            assertEquals(0f, t.getFloat(1023, 1023));
        }
    }

    /** On Linux with transparent huge pages, the mapping of a large allocation carries MADV_HUGEPAGE ("hg" in smaps' VmFlags). */
    @Test
    void largeMemoryIsAdvisedOntoHugePagesWhereTheKernelHasThem() throws IOException {
        Path smaps = Path.of("/proc/self/smaps"), thp = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        assumeTrue(Files.isReadable(smaps) && Files.isReadable(thp), "not Linux, or a kernel without transparent huge pages");
        assumeTrue(!Files.readString(thp).contains("[never]"), "transparent huge pages are switched off on this machine");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = HostMemory.allocate(arena, 4 * MIB);
            String flags = vmFlags(Files.readAllLines(smaps), m.address());
            assertTrue(List.of(flags.trim().split(" ")).contains("hg"), "VmFlags of the mapping: " + flags);
        }
    }

    @Test
    void describeSaysWhichPagesLargeTensorsGet() throws IOException {
        Path thp = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        String described = HostMemory.describe();
        if (Files.isReadable(thp) && !Files.readString(thp).contains("[never]")) {
            assertTrue(described.startsWith("huge pages from 2 MiB (transparent, "), described);
        } else {
            assertTrue(described.startsWith("small pages ("), described);
        }
    }

    /** The VmFlags line of the mapping in smaps that holds {@code address}. */
    private static String vmFlags(List<String> smaps, long address) {
        boolean inside = false;
        for (String line : smaps) {
            String[] head = line.split(" ", 2)[0].split("-");
            if (head.length == 2 && head[0].matches("[0-9a-f]+") && head[1].matches("[0-9a-f]+")) {
                inside = Long.parseUnsignedLong(head[0], 16) <= address && address < Long.parseUnsignedLong(head[1], 16);
            } else if (inside && line.startsWith("VmFlags:")) {
                return line.substring("VmFlags:".length());
            }
        }
        throw new AssertionError("no mapping holds 0x" + Long.toHexString(address));
    }
}
