package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CpuDescription;
import org.tune4j.backend.SimdLevel;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.HostMemory;

/**
 * The machine a run measured: CPU model and features, and its peak f32 FMA rate measured in this
 * process by the native FMA loop ({@code t4j_peak_fma}) at the highest SIMD level, on one thread and
 * on all cores at once; the same for int8 (VNNI's loop, and AMX's where the CPU has it: 0 where not), and the memory read bandwidth ({@code t4j_peak_read}), the
 * peak of the rows that stream their weights from memory.
 */
public record Machine(String cpuModel, int cores, List<String> features, String caches, String simdLevel, double peakGflopsOneThread,
        double peakGflopsAllCores, double peakInt8GopsOneThread, double peakInt8GopsAllCores, double peakAmxGopsOneThread, double peakAmxGopsAllCores,
        double readGBpsOneThread, double readGBpsAllCores,
        String java, String os) {

    public static Machine measure() {
        SimdLevel before = CpuBackend.simdLevel();
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        try {
            int cores = Runtime.getRuntime().availableProcessors();
            double one = peak(1, Loop.FMA), all = allCores(cores, one, Loop.FMA);
            double int8One = peak(1, Loop.VNNI), int8All = allCores(cores, int8One, Loop.VNNI);
            boolean amx = CpuDescription.cpuFeatures().contains("amx_int8");
            double amxOne = amx ? peak(1, Loop.AMX) : 0, amxAll = amx ? allCores(cores, amxOne, Loop.AMX) : 0;
            double[] read = readPeak(cores);
            return new Machine(CpuDescription.identity().name(), cores, CpuDescription.cpuFeatures(), CpuDescription.caches(), CpuBackend.simdLevel().label(), one, all, int8One, int8All,
                    amxOne, amxAll,
                    read[0], read[1],
                    System.getProperty("java.vm.name") + " " + Runtime.version(),
                    System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        } finally {
            CpuBackend.setSimdLevel(before);
        }
    }

    /** f32 FMA peak for {@code threads} threads, GFLOP/s. */
    public double peakGflops(int threads) {
        return threads <= 1 ? peakGflopsOneThread : peakGflopsAllCores * Math.min(threads, cores) / cores;
    }

    /** Memory read bandwidth {@code threads} threads get together, GB/s. */
    public double readGBps(int threads) {
        return threads <= 1 ? readGBpsOneThread : readGBpsAllCores * Math.min(threads, cores) / cores;
    }

    /**
     * int8 multiply-add peak for {@code threads} threads of the dense int8 kernel as it runs now, GOP/s: AMX's loop
     * where its whole 16-row blocks run on AMX tiles ({@link CpuBackend#int8Amx}), else VNNI's.
     */
    public double peakInt8Gops(int threads) {
        if (CpuBackend.int8Amx() && peakAmxGopsOneThread > 0) {
            return threads <= 1 ? peakAmxGopsOneThread : peakAmxGopsAllCores * Math.min(threads, cores) / cores;
        }
        return peakVnniGops(threads);
    }

    /** The VNNI loop's peak for {@code threads} threads, GOP/s: of the int8 rows that run on VNNI (batches under 16 rows, 2:4). */
    public double peakVnniGops(int threads) {
        return threads <= 1 ? peakInt8GopsOneThread : peakInt8GopsAllCores * Math.min(threads, cores) / cores;
    }

    /**
     * The all-cores peak, measured up to three more times while it is under 1.2x the one-thread peak: a
     * shared VM's other vCPUs can be busy for a whole measurement (once here: 117 GFLOP/s on two cores
     * whose peak was 229), which would overstate every multi-thread row's fraction of peak. On a machine
     * whose cores really add less (SMT siblings) the retries only cost their time.
     */
    private static double allCores(int cores, double onePeak, Loop loop) {
        double best = peak(cores, loop);
        for (int retry = 0; retry < 3 && cores > 1 && best < 1.2 * onePeak; retry++) best = Math.max(best, peak(cores, loop));
        return best;
    }

    /**
     * GB/s read from memory on one thread and on all cores (each thread its own part), the best of 10 passes over
     * 256 MB (far beyond any L3 these machines have; host memory as tensors get it, on huge pages where the OS has
     * them) read as 1, 2, 4 and 8 streams side by side, touched once before so that no pass takes page faults. Ten
     * passes, not three: on a shared VM three passes' best moved between 24 and 35 GB/s from run to run, and a
     * kernel's weights then read at up to 122% of it.
     */
    private static double[] readPeak(int cores) {
        long bytes = 256L << 20;
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(cores)) {
            MemorySegment buf = HostMemory.allocate(arena, bytes); // on huge pages, as the weights the kernels stream
            buf.fill((byte) 1);
            double[] out = new double[2];
            for (int threads : cores == 1 ? new int[] {1} : new int[] {1, cores}) {
                long part = (bytes / threads) & ~63L;
                double best = 0;
                for (int streams : new int[] {1, 2, 4, 8}) {
                    long read = part / (64L * streams) * 64L * streams; // what the loop reads of each part
                    for (int rep = 0; rep < 10; rep++) {
                        List<Callable<Long>> jobs = new ArrayList<>();
                        for (int t = 0; t < threads; t++) {
                            MemorySegment slice = buf.asSlice(t * part, part);
                            jobs.add(() -> tune4j_h.t4j_peak_read(slice, part, streams));
                        }
                        long t0 = System.nanoTime();
                        for (Future<Long> f : pool.invokeAll(jobs)) f.get();
                        best = Math.max(best, (double) read * threads / (System.nanoTime() - t0));
                    }
                }
                out[threads == 1 ? 0 : 1] = best;
            }
            if (cores == 1) out[1] = out[0]; // one core: all cores is the one thread
            return out;
        } catch (Exception e) {
            throw new IllegalStateException("read bandwidth measurement failed", e);
        }
    }

    /** The native loops a peak is measured by. */
    private enum Loop {
        FMA, VNNI, AMX;

        long run(long iterations) {
            return switch (this) {
                case FMA -> tune4j_h.t4j_peak_fma(iterations);
                case VNNI -> tune4j_h.t4j_peak_int8(iterations);
                case AMX -> tune4j_h.t4j_peak_int8_amx(iterations);
            };
        }
    }

    /** The best of a few runs of a native loop on {@code threads} threads at once. */
    private static double peak(int threads, Loop loop) {
        long iterations = 10_000_000; // 30-100 ms a run on a current core; the best of 5 runs counts
        double best = 0;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            for (int rep = 0; rep < 5; rep++) {
                List<Callable<Long>> jobs = new ArrayList<>();
                for (int t = 0; t < threads; t++) jobs.add(() -> loop.run(iterations));
                long t0 = System.nanoTime();
                long flops = 0;
                for (Future<Long> f : pool.invokeAll(jobs)) flops += f.get();
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, flops / seconds / 1e9);
            }
        } catch (Exception e) {
            throw new IllegalStateException("peak measurement failed", e);
        }
        return best;
    }
}
