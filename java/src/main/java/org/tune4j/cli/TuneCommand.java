package org.tune4j.cli;

import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.GemmTuning;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tune4j tune}: times the GEMM's cache-block candidates and the int8 stream tiles on this CPU and keeps the fastest for later runs. */
@Command(name = "tune", mixinStandardHelpOptions = true, description = "Time the f32 GEMM's cache blocks and the int8 kernel's tile for small batches on this CPU (a few seconds) and keep the fastest "
        + "in the user's cache folder, where every later run takes it (tune4j info shows what is in use).")
final class TuneCommand implements Callable<Integer> {
    @Option(names = "--threads", description = "Threads to tune for (default: all cores).")
    Integer threads;

    @Option(names = "--dry-run", description = "Time and print, but keep nothing.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        CpuBackend.get();
        if (threads != null) CpuBackend.setThreads(threads);
        System.out.println("cpu: " + GemmTuning.cpuKey() + ", kernels at " + CpuBackend.simdLevel().label() + ", " + CpuBackend.threads() + " threads");
        System.out.println("timing 1024 x 1024 x 1024 and 128 x 2048 x 2048 (geometric mean; each candidate against the incumbent, median of "
                + GemmTuning.PAIRED_ROUNDS + " alternated rounds) ...");
        GemmTuning.Result r = GemmTuning.tune(dryRun ? null : GemmTuning.cacheFile(), 1.0);
        for (GemmTuning.Trial t : r.trials()) System.out.printf("  %-28s %7.1f GFLOP/s%n", t.blocks(), t.gflops());
        if (!r.sweepWinner().equals(r.levelDefault())) {
            System.out.printf("the search's winner, %s, against the level's own again (median of %d alternated rounds): %.2fx, %s%n", r.sweepWinner(),
                    GemmTuning.CONFIRM_ROUNDS, r.confirmedSpeedup(), r.chosen().equals(r.sweepWinner()) ? "kept" : "not kept");
        }
        System.out.printf("level's own: %s, %.1f GFLOP/s; chosen: %s, %.1f GFLOP/s (%.2fx; a candidate must win by %d%%)%n", r.levelDefault(), r.defaultGflops(),
                r.chosen(), r.chosenGflops(), r.chosenGflops() / r.defaultGflops(), GemmTuning.MARGIN_PERCENT);
        if (r.int8Trials().isEmpty()) {
            System.out.println("int8: the kernel is not VNNI here, so the stream tile does nothing: " + r.int8Chosen().label());
        } else {
            System.out.println("int8, batch 1 through 4096 x 4096 over four weight sets in turn (best of 7 alternated rounds):");
            for (GemmTuning.Int8Trial t : r.int8Trials()) System.out.printf("  %-5s tile %7.3f ms%n", t.tile().label(), t.millis());
            System.out.println("chosen: " + r.int8Chosen().label() + " tile");
        }
        System.out.println(dryRun ? "kept nothing (--dry-run)" : "kept in " + GemmTuning.cacheFile());
        return 0;
    }
}
