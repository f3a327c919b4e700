import java.nio.file.Path;
import java.util.List;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.SimdLevel;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextDataset;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.serve.TextClassifier;

/**
 * Do a fine-tuned classifier's f32 and int8 predictions depend on the SIMD level? The same model, adapter and texts (the
 * N texts of the embedded spam subset, sampled with seed 1) classified at LEVEL_A and then LEVEL_B in one process, f32 and
 * int8 weights (dynamic per-row int8 activations); prints, for each, the spread of P(spam)'s difference, the probability
 * rows equal to the bit and the predictions that differ, and int8's spread against f32 at LEVEL_A. int8's integer
 * products are exact on every level, so an int8 difference starts in f32 arithmetic (the products' K blocks, row sums,
 * attention, LayerNorm, the epilogue's dequantization) whose last bits round an activation the other way:
 *
 *   java --enable-native-access=ALL-UNNAMED -cp bench/target/tune4j-all.jar bench/experiments/Int8AcrossLevels.java \
 *       MODEL_DIR ADAPTER_DIR N MAX_LENGTH LEVEL_A LEVEL_B
 */
public class Int8AcrossLevels {
    public static void main(String[] a) throws Exception {
        Path model = Path.of(a[0]), adapter = Path.of(a[1]);
        int n = Integer.parseInt(a[2]), maxLength = Integer.parseInt(a[3]);
        SimdLevel first = SimdLevel.valueOf(a[4]), second = SimdLevel.valueOf(a[5]);
        TextDataset data = SpamAssassin.embedded().sample(1, n);
        List<String> texts = data.texts();
        List<TextClassifier.Prediction> f32 = null;
        for (CompressedLinear.Format format : new CompressedLinear.Format[] {null, CompressedLinear.Format.INT8}) {
            String name = format == null ? "f32" : format.toString();
            List<TextClassifier.Prediction> p = classify(model, adapter, texts, maxLength, format, first);
            List<TextClassifier.Prediction> q = classify(model, adapter, texts, maxLength, format, second);
            if (format == null) f32 = p;
            else System.out.printf("int8 against f32 at %s: %s%n", first, spread(f32, p));
            System.out.printf("%s at %s against %s: %s%n", name, first, second, spread(p, q));
            int same = 0, flips = 0, rightA = 0, rightB = 0;
            double worst = 0;
            for (int i = 0; i < n; i++) {
                float[] x = p.get(i).probabilities(), y = q.get(i).probabilities();
                boolean equal = true;
                for (int c = 0; c < x.length; c++) {
                    equal &= Float.floatToRawIntBits(x[c]) == Float.floatToRawIntBits(y[c]);
                    worst = Math.max(worst, Math.abs(x[c] - y[c]));
                }
                if (equal) same++;
                if (!p.get(i).label().equals(q.get(i).label())) flips++;
                String truth = data.classes().get(data.labels()[i]);
                if (p.get(i).label().equals(truth)) rightA++;
                if (q.get(i).label().equals(truth)) rightB++;
            }
            System.out.printf("%s: %d texts, %d rows the same bits at %s and %s, largest probability difference %.3g, %d predictions differ; "
                    + "accuracy %.4f at %s, %.4f at %s%n", name, n, same, first, second, worst, flips, rightA / (double) n, first, rightB / (double) n, second);
        }
    }

    /** The spam probability's absolute difference between two runs over the same texts: median, 99th percentile, largest. */
    static String spread(List<TextClassifier.Prediction> p, List<TextClassifier.Prediction> q) {
        double[] d = new double[p.size()];
        for (int i = 0; i < d.length; i++) d[i] = Math.abs(p.get(i).probabilities()[1] - q.get(i).probabilities()[1]);
        java.util.Arrays.sort(d);
        return String.format("|difference| of P(spam): median %.2g, 99th percentile %.2g, largest %.2g", d[d.length / 2], d[(int) (0.99 * (d.length - 1))],
                d[d.length - 1]);
    }

    static List<TextClassifier.Prediction> classify(Path model, Path adapter, List<String> texts, int maxLength, CompressedLinear.Format format,
            SimdLevel level) throws Exception {
        CpuBackend.setSimdLevel(level);
        try (TextClassifier c = TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(maxLength, 32, 1, format))) {
            return c.classify(texts);
        }
    }
}
