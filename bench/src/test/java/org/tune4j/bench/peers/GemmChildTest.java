package org.tune4j.bench.peers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;

/** The child-JVM protocol of the GEMM peers (GemmChild), and the LD_PRELOAD list the PyTorch children get. */
class GemmChildTest {
    /** A peer whose "GEMM" does nothing: the child's loop, ours beside it, and the label. */
    public static final class IdlePeer {
        public static void main(String[] args) {
            System.out.println("label=idle kernels");
            GemmChild.run(args, s -> new GemmPeer.Call() {
                @Override
                public void run() {}

                @Override
                public void close() {}
            });
        }
    }

    /** A peer whose library is missing: says why and exits, as OpenBlas's child does. */
    public static final class MissingLibrary {
        public static void main(String[] args) {
            System.out.println("libnothing.so not found");
            System.exit(3);
        }
    }

    private static final List<GemmPeer.Shape> SHAPES = List.of(
            new GemmPeer.Shape(false, false, 8, 8, 8, 1, CpuBackend.simdLevel().name()),
            new GemmPeer.Shape(false, true, 5, 7, 3, 1, CpuBackend.simdLevel().name()));

    @Test
    void aChildTimesThePeerAndOursOnEveryShape() {
        List<PeerResult> results = GemmChild.measure("idle", IdlePeer.class, Map.of(), SHAPES, true);
        assertEquals(SHAPES.size(), results.size());
        for (PeerResult r : results) {
            assertEquals("idle [idle kernels]", r.peer());
            assertNull(r.whyNot());
            assertTrue(r.medianMs() >= 0 && r.oursMs() > 0, r.toString());
            assertTrue(r.speedupRange().length == 2 && r.speedupRange()[0] <= r.speedupRange()[1], "the speedup's range over the blocks, in order");
        }
        assertEquals(Optional.of("idle kernels"), GemmChild.label(IdlePeer.class, Map.of()));
    }

    @Test
    void aFailedChildGivesEveryShapeItsReason() {
        List<PeerResult> results = GemmChild.measure("none", MissingLibrary.class, Map.of(), SHAPES, true);
        assertEquals(SHAPES.size(), results.size());
        for (PeerResult r : results) {
            assertNull(r.medianMs());
            assertTrue(r.whyNot().contains("libnothing.so not found") && r.whyNot().contains("exit status 3"), r.whyNot());
        }
        assertEquals(Optional.empty(), GemmChild.label(MissingLibrary.class, Map.of()));
    }

    @Test
    void theShimGoesFirstInLdPreloadAndOnlyOnce() {
        String shim = "/tmp/x/" + MklIntelBranch.SHIM;
        assertEquals(shim, MklIntelBranch.preloadList(null, shim));
        assertEquals(shim + ":/usr/lib/libjemalloc.so", MklIntelBranch.preloadList("/usr/lib/libjemalloc.so " + shim, shim));
        assertEquals("/usr/lib/libjemalloc.so", MklIntelBranch.preloadList(shim + ":/usr/lib/libjemalloc.so", null));
        assertNull(MklIntelBranch.preloadList("/tmp/y/" + MklIntelBranch.SHIM, null));
    }
}
