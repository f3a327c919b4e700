import java.lang.foreign.*;
import java.lang.invoke.MethodHandle;
import java.nio.file.*;
import java.util.*;
import org.tune4j.autograd.*;
import org.tune4j.backend.*;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.*;
import org.tune4j.nn.*;
import org.tune4j.compress.*;
import org.tune4j.eval.*;

/**
 * The int8 batch-32 "slow mode" of the twentieth to twenty-seventh sessions, reproduced: MiniLM's int8 forward at batch 32
 * (every projection int8) and an f32 forward at batch 8, one thread, ROUNDS rounds; every EVERY rounds a block of a few MB
 * is malloc'd and kept, which moves the heap's top. With per-call scratch in the kernels, some heap states made glibc hand
 * the int8 layers' quantized rows back to the OS at each free and fault them in again at the next call: the int8 forward
 * ran 1.5-2.2x its time with 7,000-16,000 minor faults a forward, until the heap moved again, while the f32 forward beside
 * it did not change. Prints each round's times and faults (bench/results/int8-heap-states-*):
 *
 *   java --enable-native-access=ALL-UNNAMED -cp bench/target/tune4j-all.jar bench/experiments/Int8HeapStates.java ROUNDS EVERY SEED
 */
public class Int8HeapStates {
    static long minflt() {
        try {
            String s = Files.readString(Path.of("/proc/self/stat"));
            return Long.parseLong(s.substring(s.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (Exception e) { throw new RuntimeException(e); }
    }
    static double time(BertModel m, TokenBatch in, Workspace ws, int n) {
        double best = 1e9;
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) { m.forward(t, in); }
            best = Math.min(best, (System.nanoTime() - t0) / 1e6);
        }
        return best;
    }
    public static void main(String[] a) throws Throwable {
        int rounds = Integer.parseInt(a[0]), every = Integer.parseInt(a[1]);
        CpuBackend.setThreads(1);
        Linker linker = Linker.nativeLinker();
        MethodHandle malloc = linker.downcallHandle(linker.defaultLookup().find("malloc").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        Path hf = Files.createTempDirectory("s2").resolve("minilm");
        PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
        Arena arena = Arena.ofShared();
        BertClassifier q = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
        BertClassifier f = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
        int[] ids = new int[128]; ids[0] = 101; ids[127] = 102;
        for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
        int[][] one = {ids};
        Int8Quantization.quantize(arena, CpuBackend.get(), q, () -> EvaluateText.predict(CpuBackend.get(), q, one, 1), 1,
                new Int8Quantization.Options(List.of("query", "key", "value", "dense"), 1e9));
        int[][] s32 = new int[32][]; Arrays.fill(s32, ids);
        int[][] s8 = new int[8][]; Arrays.fill(s8, ids);
        TokenBatch in32 = TokenBatch.of(arena, s32, null), in8 = TokenBatch.of(arena, s8, null);
        SplittableRandom r = new SplittableRandom(Long.parseLong(a[2]));
        try (Workspace wq = new Workspace(); Workspace wf = new Workspace()) {
            for (int round = 0; round < rounds; round++) {
                String mark = "";
                if (round % every == 0) { long n = 64 + r.nextInt(3_000_000); MemorySegment p = (MemorySegment) malloc.invokeExact(n); mark = " (heap moved by " + n + ")"; }
                long f0 = minflt();
                double i8 = time(q.bert(), in32, wq, 2);
                long faults = (minflt() - f0) / 2;
                double f8 = time(f.bert(), in8, wf, 1);
                System.out.printf("round %2d: int8 b32 %.1f ms (%d minor faults a forward), f32 b8 %.1f ms%s%s%n", round, i8, faults, f8, i8 > 260 ? "  <-- int8 slow" : "", mark);
            }
        }
        System.exit(0);
    }
}
