package org.tune4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.SimdLevel;
import org.tune4j.bench.peers.GemmPeer;
import org.tune4j.bench.peers.MissingPeer;
import org.tune4j.bench.peers.PeerLoader;
import org.tune4j.bench.peers.PeerResult;
import org.tune4j.bench.peers.OpenBlas;

/**
 * f32 GEMM: the headline shapes (1024³ and 128×4096×4096, NN), the training shapes (512×1024×1024 in
 * NT, NN and TN), each at every thread count asked for, and 1024³ at each lower SIMD level on one
 * thread. Every row is paired with each peer's time for the same shape in the same run, the two timed in alternation
 * (Measure.alternatedCalls; OpenBLAS's child process runs our GEMM for it), so that the VM's drift between them cancels. Our
 * time measured alone comes first and stands in a row only where the peer could not be measured.
 */
final class GemmSuite {
    record Case(String kernel, boolean transA, boolean transB, int m, int n, int k) {
        String shape() {
            return m + "x" + n + "x" + k;
        }
    }

    static List<Case> cases(boolean quick) {
        List<Case> out = new ArrayList<>();
        out.add(new Case("sgemm_nn", false, false, 1024, 1024, 1024));
        out.add(new Case("sgemm_nn", false, false, 128, 4096, 4096));
        out.add(new Case("sgemm_nt", false, true, 512, 1024, 1024));
        out.add(new Case("sgemm_nn", false, false, 512, 1024, 1024));
        out.add(new Case("sgemm_tn", true, false, 512, 1024, 1024));
        if (quick) out.remove(1);
        return out;
    }

    static List<GemmPeer> peers() {
        List<GemmPeer> peers = new ArrayList<>(OpenBlas.configurations());
        List<String> problems = new ArrayList<>();
        List<GemmPeer> loaded = PeerLoader.load(GemmPeer.class, problems);
        peers.addAll(loaded);
        if (loaded.isEmpty()) {
            String why = problems.isEmpty() ? "not built; build with -Ppeers" : "failed to load: " + String.join("; ", problems);
            peers.add(new MissingPeer("onnxruntime", why));
        }
        return peers;
    }

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) {
        Measure measure = Measure.standard(quick);
        List<Case> cases = cases(quick);
        List<GemmPeer.Shape> shapes = new ArrayList<>();
        List<double[]> ours = new ArrayList<>(); // per shape: ms
        List<String> backends = new ArrayList<>();
        List<Case> rowCases = new ArrayList<>();
        List<Integer> rowThreads = new ArrayList<>();
        SimdLevel best = CpuBackend.simdLevel();
        for (int threads : threadCounts) {
            for (Case c : cases) {
                progress.accept("gemm " + c.kernel() + " " + c.shape() + " threads=" + threads);
                GemmPeer.Shape shape = new GemmPeer.Shape(c.transA(), c.transB(), c.m(), c.n(), c.k(), threads, best.name());
                ours.add(new double[] {time(shape, measure)});
                backends.add(CpuBackend.get().name());
                shapes.add(shape);
                rowCases.add(c);
                rowThreads.add(threads);
            }
        }
        // the lower SIMD levels, one thread, on the first shape
        Case first = cases.getFirst();
        for (SimdLevel level : SimdLevel.supported()) {
            if (level == best) continue;
            progress.accept("gemm " + first.shape() + " at " + level.label());
            GemmPeer.Shape shape = new GemmPeer.Shape(first.transA(), first.transB(), first.m(), first.n(), first.k(), 1, level.name());
            ours.add(new double[] {time(shape, measure)});
            backends.add(CpuBackend.get().name());
            shapes.add(shape);
            rowCases.add(first);
            rowThreads.add(1);
        }
        List<List<PeerResult>> peerResults = new ArrayList<>();
        for (GemmPeer peer : peers()) {
            progress.accept("peer " + peer.name());
            peerResults.add(peer.measure(shapes, quick, GemmPeer::ours));
        }
        CpuBackend.setSimdLevel(best);
        CpuBackend.setThreads(machine.cores());
        List<BenchRow> rows = new ArrayList<>();
        for (int i = 0; i < shapes.size(); i++) {
            Case c = rowCases.get(i);
            int threads = rowThreads.get(i);
            double flops = 2.0 * c.m() * c.n() * c.k();
            for (List<PeerResult> results : peerResults) {
                PeerResult r = results.get(i);
                // ours timed in alternation with the peer, else (no peer time) ours from above
                double mine = r.oursMsOr(ours.get(i)[0]);
                rows.add(BenchRow.of("gemm", c.kernel(), c.shape(), threads, backends.get(i), mine, flops, r.label(), r.medianMs(),
                        machine.peakGflops(threads)).withSpeedupRange(r.speedupRange()));
            }
        }
        return rows;
    }

    private static double time(GemmPeer.Shape shape, Measure measure) {
        try (GemmPeer.Call call = GemmPeer.ours(shape)) {
            return measure.medianMs(call);
        }
    }
}
