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
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tune4j bench SUITE}: kernel benchmarks beside their peers, as a table and optionally JSON. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmark the native kernels against peers measured in the same run.",
                "Rates are GFLOP/s; %peak is against the native FMA loop measured in this process."})
public final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", defaultValue = "all", description = "Suite: gemm, lora, int8, sparse, ffm or all (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--threads", split = ",", description = "Thread counts to measure (default: 1 and all cores).")
    List<Integer> threads;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows and the machine as JSON.")
    Path json;

    @Option(names = "--quick", description = "Fewer shapes and repetitions (a smoke run, not for reporting).")
    boolean quick;

    @Override
    public Integer call() throws IOException {
        if (!List.of("gemm", "lora", "int8", "sparse", "ffm", "all").contains(suite)) {
            System.err.println("unknown suite '" + suite + "': use gemm, lora, int8, sparse, ffm or all");
            return 2;
        }
        List<Integer> threadCounts = threads;
        int cores = Runtime.getRuntime().availableProcessors();
        if (threadCounts == null) threadCounts = cores > 1 ? List.of(1, cores) : List.of(1);
        for (int t : threadCounts) {
            if (t < 1) {
                System.err.println("--threads: counts must be >= 1, got " + t);
                return 2;
            }
        }
        System.err.println("measuring the machine's FMA peak ...");
        Machine machine = Machine.measure();
        System.out.printf("machine: %s, %d cores, features %s, kernels at %s%n", machine.cpuModel(), machine.cores(),
                String.join(" ", machine.features()), machine.simdLevel());
        System.out.printf("peak (native loops, this process): f32 FMA %.1f GFLOP/s on 1 thread, %.1f on %d;"
                        + " int8 %.1f GOP/s on 1 thread, %.1f on %d%n%n",
                machine.peakGflopsOneThread(), machine.peakGflopsAllCores(), machine.cores(),
                machine.peakInt8GopsOneThread(), machine.peakInt8GopsAllCores(), machine.cores());

        List<BenchRow> rows = new ArrayList<>();
        var progress = (java.util.function.Consumer<String>) msg -> System.err.println("  " + msg + " ...");
        if (suite.equals("ffm") || suite.equals("all")) rows.addAll(DowncallSuite.run(Measure.standard(quick)));
        if (suite.equals("gemm") || suite.equals("all")) rows.addAll(GemmSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("lora") || suite.equals("all")) rows.addAll(LoraSuite.run(machine, threadCounts, quick, progress));
        if (suite.equals("int8") || suite.equals("all")) rows.addAll(Int8Suite.run(machine, threadCounts, quick, progress));
        if (suite.equals("sparse") || suite.equals("all")) rows.addAll(SparseSuite.run(machine, threadCounts, quick, progress));
        CpuBackend.setThreads(cores);

        System.out.println(Table.render(rows));
        if (json != null) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("machine", machine);
            doc.put("rows", rows);
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            new ObjectMapper()
                    .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                    .enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValue(json.toFile(), doc);
            System.out.println("wrote " + json);
        }
        return 0;
    }
}
