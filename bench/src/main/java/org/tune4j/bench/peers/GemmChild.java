package org.tune4j.bench.peers;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.tune4j.bench.Measure;

/**
 * A GEMM peer measured in a child JVM, for a peer whose configuration is fixed when its library loads (OpenBLAS's core
 * type, oneMKL's code branch): the child gets its own environment, times the peer and tune4j's GEMM in alternation on
 * each shape ({@link org.tune4j.bench.Measure#alternatedCalls}), and prints one line a shape.
 *
 * <p>The protocol: the child's arguments are {@code quick|full}, then {@code transA,transB,m,n,k,threads,level} per
 * shape; it prints {@code label=TEXT} (what the peer says it runs, as "Haswell kernels"), then
 * {@code median_ms=THEIRS,OURS,LOWEST,HIGHEST} per shape (the last two: the speedup's range over the blocks). Any other line is kept as the reason when the child fails.
 */
public final class GemmChild {
    private GemmChild() {}

    /**
     * Runs {@code main} in a child JVM on this one's class path and tune4j settings, with {@code env}'s variables set
     * (a null value removes one); one result a shape, labelled {@code label [TEXT]}. Never throws.
     */
    static List<PeerResult> measure(String label, Class<?> main, Map<String, String> env, List<GemmPeer.Shape> shapes,
            boolean quick) {
        Run run = launch(main, env, shapes, quick);
        List<PeerResult> out = new ArrayList<>();
        for (double[] ms : run.medians())
            out.add(new PeerResult(label + " [" + run.label().orElse("?") + "]", ms[0], null, ms[1], new double[] {ms[2], ms[3]}));
        while (out.size() < shapes.size()) out.add(PeerResult.failed(label, "child failed: " + String.join(" | ", run.log())));
        return out;
    }

    /** What {@code main} says it runs with {@code env} ("Cooperlake kernels"), from a child given no shapes; empty if it fails. */
    static Optional<String> label(Class<?> main, Map<String, String> env) {
        return launch(main, env, List.of(), true).label();
    }

    /** A child's output: its label, {theirs, ours} per shape measured, and its other lines (with its exit status). */
    private record Run(Optional<String> label, List<double[]> medians, List<String> log) {}

    private static Run launch(Class<?> main, Map<String, String> env, List<GemmPeer.Shape> shapes, boolean quick) {
        List<String> cmd = new ArrayList<>(List.of(javaExecutable(), "--enable-native-access=ALL-UNNAMED"));
        // tune4j's settings as this process has them (a pinned tile or cache block, the native library's path): the
        // child runs our GEMM too
        for (String key : System.getProperties().stringPropertyNames()) if (key.startsWith("tune4j.")) cmd.add("-D" + key + "=" + System.getProperty(key));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName(), quick ? "quick" : "full"));
        for (GemmPeer.Shape s : shapes) cmd.add(s.transA() + "," + s.transB() + "," + s.m() + "," + s.n() + "," + s.k() + "," + s.threads() + "," + s.level());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        env.forEach((key, value) -> {
            if (value == null) pb.environment().remove(key);
            else pb.environment().put(key, value);
        });
        String said = null;
        List<double[]> medians = new ArrayList<>();
        List<String> log = new ArrayList<>();
        try {
            Process p = pb.start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("label=")) said = line.substring(6);
                    else if (line.startsWith("median_ms=")) {
                        String[] ms = line.substring(10).split(",");
                        medians.add(new double[] {Double.parseDouble(ms[0]), Double.parseDouble(ms[1]), Double.parseDouble(ms[2]), Double.parseDouble(ms[3])});
                    } else log.add(line);
                }
            }
            int rc = p.waitFor();
            if (rc != 0) {
                log.add("exit status " + rc);
                if (medians.size() < shapes.size() || shapes.isEmpty()) said = null;
            }
        } catch (IOException e) {
            log.add(e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.add("interrupted");
        }
        return new Run(Optional.ofNullable(said), medians, log);
    }

    /**
     * The child's loop, after it has printed its {@code label=} line: for each shape in {@code args}, the peer's call
     * from {@code theirs} and ours ({@link GemmPeer#ours}) on operands of their own, timed in alternation.
     */
    static void run(String[] args, Function<GemmPeer.Shape, GemmPeer.Call> theirs) {
        boolean quick = args[0].equals("quick");
        for (int i = 1; i < args.length; i++) {
            String[] f = args[i].split(",");
            GemmPeer.Shape s = new GemmPeer.Shape(Boolean.parseBoolean(f[0]), Boolean.parseBoolean(f[1]), Integer.parseInt(f[2]),
                    Integer.parseInt(f[3]), Integer.parseInt(f[4]), Integer.parseInt(f[5]), f[6]);
            try (GemmPeer.Call peer = theirs.apply(s); GemmPeer.Call ours = GemmPeer.ours(s)) {
                Measure.Blocks blocks = Measure.alternatedCalls(s.threads(), quick, peer, ours);
                double[] range = blocks.ratioRange(0, 1);
                System.out.println("median_ms=" + blocks.medianMs()[0] + "," + blocks.medianMs()[1] + "," + range[0] + "," + range[1]);
            }
        }
    }

    private static String javaExecutable() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
    }
}
