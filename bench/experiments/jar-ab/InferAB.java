import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * InferAB VARIANT ROUNDS OLD_JAR OLD_CLASSES NEW_JAR NEW_CLASSES [new-first]: two jars' Predictor (InferMaker, compiled
 * against each) in one process, a class loader (and a native library) each, made in that order (new-first: the new
 * one first), then blocks of 1,000 single calls alternated, which goes first swapped every round; p50 and p99 of each.
 * -Dmaker=CLASS makes the calls with another maker (BertStepMaker: MiniLM's training step), -Dper=N calls a block
 * (warm-up 5 blocks). Separate processes differ by up to 10% from one start to the next on these VMs (BENCHMARKS.md),
 * more than the differences measured.
 */
public class InferAB {
    public static void main(String[] a) throws Exception {
        int rounds = Integer.parseInt(a[1]), per = Integer.getInteger("per", 1000);
        String maker = System.getProperty("maker", "InferMaker");
        Runnable[] calls = new Runnable[2];
        boolean newFirst = a.length > 6 && a[6].equals("new-first");
        for (int k : newFirst ? new int[] {1, 0} : new int[] {0, 1}) {
            URL[] cp = {Path.of(a[3 + 2 * k]).toUri().toURL(), Path.of(a[2 + 2 * k]).toUri().toURL()};
            calls[k] = (Runnable) new URLClassLoader(cp, ClassLoader.getPlatformClassLoader()).loadClass(maker).getMethod("make", String.class).invoke(null, a[0]);
        }
        for (int k = 0; k < 2; k++) for (int i = 0; i < 5 * per; i++) calls[k].run();
        double[][] ms = new double[2][rounds * per];
        for (int r = 0; r < rounds; r++)
            for (int kk = 0; kk < 2; kk++) {
                int k = r % 2 == 0 ? kk : 1 - kk;
                for (int i = 0; i < per / 10; i++) calls[k].run();
                for (int i = 0; i < per; i++) {
                    long t0 = System.nanoTime();
                    calls[k].run();
                    ms[k][r * per + i] = (System.nanoTime() - t0) / 1e6;
                }
            }
        double[] p50 = new double[2], p99 = new double[2];
        for (int k = 0; k < 2; k++) {
            double[] s = ms[k].clone();
            Arrays.sort(s);
            p50[k] = s[s.length / 2];
            p99[k] = s[(int) (s.length * 0.99)];
        }
        System.out.printf("%s%s: p50 old %.4f ms, new %.4f ms, new/old time %.3f; p99 old %.4f, new %.4f, %.3f%n", a[0], newFirst ? " (new-first)" : "", p50[0], p50[1], p50[1] / p50[0],
                p99[0], p99[1], p99[1] / p99[0]);
    }
}
