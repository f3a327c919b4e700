package org.tune4j.report;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CpuDescription;
import org.tune4j.data.FashionMnist;
import org.tune4j.io.ModelFile;

/** Where a run's numbers come from: data files and their hashes, licence, seeds, configuration, versions, machine. */
public final class Provenance {
    /** One input file: its path (or "jar:" resource), size and SHA-256. */
    public record DataFile(String name, long bytes, String sha256) {}

    private Provenance() {}

    /** The provenance of a run over {@code data}, with the run's {@code seed}, {@code configuration} and {@code checkpoint} (null: shipped). */
    public static Map<String, Object> of(FashionMnist.Source data, long seed, Object configuration, Path checkpoint) throws IOException {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("data", data.description());
        p.put("licence", "Fashion-MNIST: MIT licence, (c) 2017 Zalando SE (https://github.com/zalandoresearch/fashion-mnist)");
        p.put("seed", seed);
        p.put("configuration", configuration);
        p.put("pretrained_checkpoint", checkpoint == null ? "shipped in the jar (" + org.tune4j.io.ModelFile.SHIPPED + ")" : checkpoint.toString());
        p.put("tune4j", version());
        p.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
        p.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        p.put("cpu_features", String.join(" ", CpuDescription.cpuFeatures()));
        p.put("cpu", CpuDescription.identity().toString());
        p.put("simd_level", CpuBackend.simdLevel().label());
        p.put("kernel_tuning", org.tune4j.backend.GemmTuning.current().toString());
        p.put("host_memory", org.tune4j.tensor.HostMemory.describe());
        p.put("threads", CpuBackend.threads());
        p.put("processors", Runtime.getRuntime().availableProcessors());
        p.put("finished", Instant.now().toString());
        List<DataFile> files = new ArrayList<>();
        for (String f : data.files()) files.add(hash(f));
        if (checkpoint != null) files.add(hash(checkpoint.toString()));
        p.put("files", files);
        return p;
    }

    /** The version this jar was built as (from the build's version.properties). */
    public static String version() {
        try (InputStream in = Provenance.class.getResourceAsStream("/org/tune4j/version.properties")) {
            if (in == null) return "unknown (no version.properties in the jar)";
            java.util.Properties props = new java.util.Properties();
            props.load(in);
            return props.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    /** Size and SHA-256 of a file, or of a resource of the jar ("jar:/org/..."). */
    public static DataFile hash(String name) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java has no SHA-256", e);
        }
        try (InputStream raw = name.startsWith("jar:") ? Provenance.class.getResourceAsStream(name.substring(4)) : Files.newInputStream(Path.of(name))) {
            if (raw == null) throw new IOException("not found: " + name);
            long bytes = 0;
            try (DigestInputStream in = new DigestInputStream(raw, sha)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) bytes += n;
            }
            return new DataFile(name, bytes, HexFormat.of().formatHex(sha.digest()));
        }
    }
}
