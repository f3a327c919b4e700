import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.backend.CpuBackend;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.optim.AdamW;

/**
 * What the jar-ab training steps share (BertStepMaker, BertPartsStepMaker; compiled beside each against its jar): the
 * kernels' threads set, MiniLM from the folder `finetune` imports it into (else imported from its Maven jar), a 2-class
 * classifier on it (lora: rank 8 on query and value, the head saved; full: everything trained), AdamW, and the one
 * 128-token sequence every example of the batch is.
 */
final class MiniLmStep {
    final Arena arena = Arena.ofShared(); // parts that run at once read the model from threads of their own
    final BertClassifier model;
    final AdamW optimizer;
    final int[] ids = new int[128];

    /**
     * The folder `finetune` imports MiniLM into, when there, else a fresh import: importing in each jar's class loader
     * loads DJL's tokenizers library twice in one process, and the second fails ("No tokenizers version found in
     * property file").
     */
    static Path miniLmFolder() throws Exception {
        Path hf = Path.of(System.getProperty("user.home"), ".cache", "tune4j", "models", "minilm");
        if (!Files.isRegularFile(hf.resolve("model.safetensors"))) {
            hf = Files.createTempDirectory("minilm-ab").resolve("minilm");
            PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
        }
        return hf;
    }

    MiniLmStep(String method, int threads) throws Exception {
        CpuBackend.setThreads(threads);
        Path hf = miniLmFolder();
        model = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
        if (method.equals("lora"))
            Lora.inject(model, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
        optimizer = AdamW.of(arena, model.namedParameters(), 0.01f, 1f);
        ids[0] = 101;
        ids[127] = 102;
        for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
    }
}
