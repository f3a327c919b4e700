import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.backend.CpuBackend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.compress.StructuredPruning;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.serve.Predictor;
import org.tune4j.tensor.Tensor;

/**
 * One jar's Predictor on the shipped ViT at batch 1, one native thread, compressed as `bench infer` compresses each
 * variant (f32, int8, 2:4+lora, 2:4+lora+int8), as a Runnable of one classify call. Compiled against each jar
 * (run.sh); uses only API that jars since 2026-12-01 share.
 */
public class InferMaker {
    public static Runnable make(String variant) throws Exception {
        CpuBackend.setThreads(1);
        CpuBackend cpu = CpuBackend.get();
        ImageDataset test = FashionMnist.embedded().test();
        float[][] images = new float[64][];
        for (int i = 0; i < images.length; i++) images[i] = test.image(i);
        Arena arena = Arena.ofShared();
        VisionTransformer vit = ModelFile.load(arena, null);
        List<String> blocks = List.of("qkv", "proj", "fc1", "fc2");
        if (variant.startsWith("2:4")) {
            StructuredPruning.prune(arena, cpu, vit, blocks);
            var adapters = Lora.inject(vit, arena, new Lora.Config(4, 8f, 0f, false, blocks, List.of()), new SplittableRandom(1));
            adapters.values().forEach(l -> fill(l.loraB().value()));
            StructuredPruning.compress(arena, cpu, vit, blocks);
        }
        if (variant.equals("int8")) {
            Int8Quantization.quantize(arena, cpu, vit, test.first(128), Int8Quantization.Options.defaults(), 64);
        } else if (variant.endsWith("int8")) {
            StructuredPruning.quantize(arena, cpu, vit);
            Int8Quantization.quantize(arena, cpu, vit, test.first(128), new Int8Quantization.Options(List.of("patch_embed", "head"), 0.05), 64);
        }
        Predictor p = Predictor.of(cpu, arena, vit, new Predictor.Options(1, 2));
        int[] next = {0};
        return () -> p.classify(images[next[0]++ & 63]);
    }

    private static void fill(Tensor t) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, 0.01f * (float) Math.sin(i));
    }
}
