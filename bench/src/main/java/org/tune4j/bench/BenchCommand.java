package org.tune4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.cli.OptionChecks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tune4j bench SUITE}: kernel benchmarks beside their peers, as a table and optionally JSON. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmark the native kernels against peers measured in the same run.",
                "Rates are GFLOP/s; %%peak is against the native FMA loop measured in this process."})
public final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", defaultValue = "all", description = "Suite: gemm, lora, int8, sparse, train, infer, bert, adapters, serve, ffm, gpu or all (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--threads", split = ",", description = "Thread counts to measure (default: 1 and all cores).")
    List<Integer> threads;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows and the machine as JSON.")
    Path json;

    @Option(names = "--quick", description = "Fewer shapes and repetitions (a smoke run, not for reporting).")
    boolean quick;

    @Option(names = "--plot", paramLabel = "DIR", description = "Also write PNG charts of rate and %% of peak per suite.")
    Path plotDir;

    @Option(names = "--results", paramLabel = "DIR",
            description = "Where `bench all` records its table and JSON (default: bench/results of the project).")
    Path resultsDir;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (!List.of("gemm", "lora", "int8", "sparse", "train", "infer", "bert", "adapters", "serve", "ffm", "gpu", "all").contains(suite)) {
            System.err.println("unknown suite '" + suite + "': use gemm, lora, int8, sparse, train, infer, bert, adapters, serve, ffm, gpu or all");
            return 2;
        }
        List<Integer> threadCounts = threads;
        int cores = Runtime.getRuntime().availableProcessors();
        if (threadCounts == null) threadCounts = cores > 1 ? List.of(1, cores) : List.of(1);
        for (int t : threadCounts) {
            if (t < 1 || t > CpuBackend.MAX_THREADS) {
                System.err.println("--threads: counts must be in [1, " + CpuBackend.MAX_THREADS + "], got " + t);
                return 2;
            }
        }
        // where it will write, checked before minutes of measuring
        if (json != null) OptionChecks.writableFile("--json", json);
        if (plotDir != null) OptionChecks.writableDirectory("--plot", plotDir);
        if (resultsDir != null) OptionChecks.writableDirectory("--results", resultsDir);
        if (suite.equals("gpu")) {
            org.tune4j.backend.cuda.CudaStatus cuda = org.tune4j.backend.cuda.CudaStatus.probe();
            if (!cuda.available()) {
                System.err.println("bench gpu: CUDA is not available: " + cuda.message());
                return 2;
            }
        }
        // PyTorch's peers at their best: oneMKL takes its generic branch on a CPU not Intel's unless told otherwise
        java.util.OptionalInt relaunched = org.tune4j.bench.peers.MklIntelBranch.relaunchPreloaded();
        if (relaunched.isPresent()) return relaunched.getAsInt();
        System.err.println("measuring the machine's peak (native FMA and int8 loops) ...");
        Machine machine = Machine.measure();
        System.out.println(header(machine));

        List<BenchRow> rows = new ArrayList<>();
        var progress = (java.util.function.Consumer<String>) msg -> System.err.println("  " + msg + " ...");
        if (suite.equals("ffm") || suite.equals("all")) rows.addAll(DowncallSuite.run(Measure.standard(quick)));
        if (suite.equals("gemm") || suite.equals("all")) rows.addAll(GemmSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("lora") || suite.equals("all")) rows.addAll(LoraSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("int8") || suite.equals("all")) rows.addAll(Int8Suite.run(machine, threadCounts, quick, progress));
        if (suite.equals("sparse") || suite.equals("all")) rows.addAll(SparseSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("train") || suite.equals("all")) rows.addAll(TrainSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("infer") || suite.equals("all")) rows.addAll(InferSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("bert") || suite.equals("all")) rows.addAll(BertSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("adapters") || suite.equals("all")) rows.addAll(AdapterSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("serve")) rows.addAll(ServeSuite.run(machine, quick, progress)); // not part of "all": it holds the machine for minutes at a fixed rate
        if (suite.equals("gpu")) rows.addAll(GpuSuite.run(machine, quick, progress, sofar -> { // not part of "all": it needs a GPU
            if (json == null) return;
            try {
                writeJson(json, machine, sofar);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }));
        CpuBackend.setThreads(cores);

        String table = Table.render(rows);
        System.out.println(table);
        if (json != null) writeJson(json, machine, rows);
        if (suite.equals("all")) {
            // every full run is kept, with the machine it ran on
            Path dir = resultsDir != null ? resultsDir : Path.of(System.getProperty("tune4j.root", "."), "bench", "results");
            String stem = "bench-all-" + java.time.LocalDateTime.now().withNano(0).toString().replace(':', '-');
            Files.createDirectories(dir);
            writeJson(dir.resolve(stem + ".json"), machine, rows);
            Files.writeString(dir.resolve(stem + ".txt"), header(machine) + "\n" + table);
            System.out.println("wrote " + dir.resolve(stem + ".txt"));
        }
        if (plotDir != null) {
            for (Path p : Plots.write(rows, plotDir)) System.out.println("wrote " + p);
        }
        return 0;
    }

    private static String header(Machine m) {
        return String.format("machine: %s, %d cores, features %s, caches %s, peaks measured at %s (each row names its own level), tuning %s, gemm tile %s for 1024 x 1024 and %s for 128 x 384 (the one padding least), host memory on %s%n"
                        + "peak (native loops, this process): f32 FMA %.1f GFLOP/s on 1 thread, %.1f on %d; int8 %.1f GOP/s on 1 thread, %.1f on %d%s; "
                        + "memory read %.1f GB/s on 1 thread, %.1f on %d%n"
                        + "java: %s, os: %s; peers: %s%n",
                m.cpuModel(), m.cores(), String.join(" ", m.features()), m.caches(), m.simdLevel(), org.tune4j.backend.GemmTuning.current(),
                org.tune4j.backend.GemmTuning.tile(1024, 1024), org.tune4j.backend.GemmTuning.tile(128, 384), org.tune4j.tensor.HostMemory.describe(), m.peakGflopsOneThread(), m.peakGflopsAllCores(),
                m.cores(), m.peakInt8GopsOneThread(), m.peakInt8GopsAllCores(), m.cores(),
                m.peakAmxGopsOneThread() > 0 ? String.format(" (VNNI), %.1f on 1 thread and %.1f on %d on AMX tiles (the dense kernel's%s)", m.peakAmxGopsOneThread(),
                        m.peakAmxGopsAllCores(), m.cores(), org.tune4j.backend.CpuBackend.int8Amx() ? "" : "; off in this run") : "",
                m.readGBpsOneThread(), m.readGBpsAllCores(), m.cores(), m.java(), m.os(),
                org.tune4j.bench.peers.MklIntelBranch.describe());
    }

    private static void writeJson(Path file, Machine machine, List<BenchRow> rows) throws IOException {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("machine", machine);
        doc.put("kernel_tuning", org.tune4j.backend.GemmTuning.current().toString());
        doc.put("host_memory", org.tune4j.tensor.HostMemory.describe());
        doc.put("rows", rows);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        new ObjectMapper()
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(file.toFile(), doc);
        System.out.println("wrote " + file);
    }
}
