package org.tune4j.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.Module;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.Tensor;

/**
 * The one place that reads and writes a model file: a ViT as safetensors, its shape in the metadata
 * ({@link #configMetadata}), compressed layers as {@link CompressedCheckpoint} stores them, LoRA adapters
 * merged. Reading trusts nothing in the file: the metadata's shape must agree with the tensors before the
 * model is built (so a header cannot make it allocate more than the file holds), every parameter must be
 * there with its exact shape, and a tensor nothing uses is an error. (PEFT adapters: {@link PeftAdapter}.)
 */
public final class ModelFile {
    /** Where the shipped checkpoint (the main job's pretrained ViT) lives on the class path. */
    public static final String SHIPPED = "/org/tune4j/models/vit-fmnist.safetensors";

    /** A bound on every number of the shape: a ViT this wide is not what the file holds. */
    private static final int MAX_DIMENSION = 1 << 16;

    private ModelFile() {}

    /** The ViT in {@code checkpoint}, or the one shipped in the jar when it is null, in {@code arena}. */
    public static VisionTransformer load(Arena arena, Path checkpoint) throws IOException {
        return read(arena, checkpoint != null ? checkpoint : shippedCheckpoint());
    }

    /**
     * Writes {@code vit} (LoRA layers merged, under their base's names; compressed layers as {@link
     * CompressedCheckpoint} stores them) with its shape and {@code metadata} in the header.
     */
    public static void save(Path file, VisionTransformer vit, Map<String, String> metadata) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>(configMetadata(vit.config()));
        meta.putAll(metadata);
        Map<String, Tensor> plain = mergedNames(vit, CompressedCheckpoint.tensors(vit, meta));
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Safetensors.write(file, plain, meta);
    }

    /**
     * {@code tensors} of {@code model} as a model file names them: every LoRA layer merged (refused otherwise, by path),
     * its factors left out and its base's tensors under the layer's own name ("blocks.0.attn.qkv.base.weight" →
     * "blocks.0.attn.qkv.weight").
     */
    static Map<String, Tensor> mergedNames(Module model, Map<String, Tensor> tensors) {
        Set<String> adapters = new HashSet<>();
        model.namedModules().forEach((path, m) -> {
            if (!(m instanceof LoraLinear l)) return;
            if (!l.merged()) throw new IllegalStateException(path + ": merge the LoRA adapter before saving the model");
            adapters.add(path + ".lora_A");
            adapters.add(path + ".lora_B");
            adapters.add(path + ".lora_magnitude_vector"); // DoRA's m, folded into the merged weight's rows
        });
        Map<String, Tensor> plain = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            if (!adapters.contains(name)) plain.put(name.replace(".base.", "."), t);
        });
        return plain;
    }

    /** The ViT's shape as checkpoint metadata. */
    public static Map<String, String> configMetadata(VisionTransformer.Config c) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("model", "vit");
        m.put("image", Integer.toString(c.image()));
        m.put("patch", Integer.toString(c.patch()));
        m.put("dim", Integer.toString(c.dim()));
        m.put("depth", Integer.toString(c.depth()));
        m.put("heads", Integer.toString(c.heads()));
        m.put("mlp_hidden", Integer.toString(c.mlpHidden()));
        m.put("classes", Integer.toString(c.classes()));
        return m;
    }

    /** This JVM's copy of the shipped checkpoint; see {@link #shippedCheckpoint}. */
    private static Path shippedCopy;

    /**
     * The shipped checkpoint, copied out of the jar once per JVM (a file reads faster than a resource, and tools want a
     * path) to a file of its own in the temp folder, readable by its owner only and deleted when the JVM exits: a copy
     * at a name known in advance could have been put there by another user of the machine (ARCHITECTURE.md, "Bindings").
     */
    public static synchronized Path shippedCheckpoint() throws IOException {
        if (shippedCopy != null && Files.isRegularFile(shippedCopy)) return shippedCopy;
        try (InputStream in = ModelFile.class.getResourceAsStream(SHIPPED)) {
            if (in == null) throw new IOException("the pretrained ViT is missing from the jar (" + SHIPPED + "); run tune4j pretrain");
            Path copy = Files.createTempFile("tune4j-vit-fmnist-", ".safetensors"); // a fresh name, owner-only (POSIX)
            copy.toFile().deleteOnExit();
            try (OutputStream out = Files.newOutputStream(copy)) {
                in.transferTo(out);
            }
            return shippedCopy = copy;
        }
    }

    private static VisionTransformer read(Arena arena, Path file) throws IOException {
        try (Safetensors.File f = Safetensors.read(file)) {
            VisionTransformer.Config c = config(f.metadata(), file);
            checkAgainstTensors(c, f, file);
            VisionTransformer vit = new VisionTransformer(arena, c, new SplittableRandom(0));
            Set<String> used = new HashSet<>(CompressedCheckpoint.restore(arena, CpuBackend.get(), vit, f, file));
            Map<String, Parameter> params = vit.namedParameters();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (used.contains(e.getKey())) continue; // a compressed layer's bias, already taken
                Tensor src = f.tensors().get(e.getKey());
                if (src == null) throw new IOException(file + ": no tensor for parameter '" + e.getKey() + "'");
                Checkpoint.copy(file, e.getKey(), src, e.getValue().value());
                used.add(e.getKey());
            }
            Set<String> left = new TreeSet<>(f.tensors().keySet());
            left.removeAll(used);
            if (!left.isEmpty()) {
                throw new IOException(file + ": " + left.size() + " tensor(s) that no part of a " + describe(c) + " uses: "
                        + String.join(", ", left.stream().limit(5).toList()) + (left.size() > 5 ? ", ..." : ""));
            }
            return vit;
        }
    }

    private static VisionTransformer.Config config(Map<String, String> meta, Path file) throws IOException {
        if (!meta.containsKey("image") && !meta.containsKey("depth")) {
            throw new IOException(file + ": not a tune4j ViT checkpoint (no ViT shape in its metadata)");
        }
        int image = num(meta, "image", file), patch = num(meta, "patch", file), dim = num(meta, "dim", file), depth = num(meta, "depth", file),
                heads = num(meta, "heads", file), mlp = num(meta, "mlp_hidden", file), classes = num(meta, "classes", file);
        if (classes < 2) throw new IOException(file + ": metadata 'classes' is " + classes + ", a classifier needs at least 2");
        if (image % patch != 0) throw new IOException(file + ": metadata 'image' " + image + " is not a multiple of 'patch' " + patch);
        if (dim % heads != 0) throw new IOException(file + ": metadata 'dim' " + dim + " is not a multiple of 'heads' " + heads);
        return new VisionTransformer.Config(image, patch, dim, depth, heads, mlp, classes);
    }

    private static int num(Map<String, String> meta, String key, Path file) throws IOException {
        String v = meta.get(key);
        if (v == null) throw new IOException(file + ": not a tune4j ViT checkpoint (no '" + key + "' in its metadata)");
        int n;
        try {
            n = Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new IOException(file + ": metadata '" + key + "' is not an integer: '" + v + "'");
        }
        if (n < 1 || n > MAX_DIMENSION) throw new IOException(file + ": metadata '" + key + "' is " + n + ", outside [1, " + MAX_DIMENSION + "]");
        return n;
    }

    /** The tensors that fix each number of the shape, checked before anything is allocated. */
    private static void checkAgainstTensors(VisionTransformer.Config c, Safetensors.File f, Path file) throws IOException {
        expect(f, file, "patch_embed.weight", c.dim(), (long) c.patch() * c.patch());
        expect(f, file, "pos_embed", c.patches() + 1L, c.dim());
        expect(f, file, "head.weight", c.classes(), c.dim());
        String last = "blocks." + (c.depth() - 1) + ".";
        expect(f, file, last + "attn.qkv.weight", 3L * c.dim(), c.dim());
        expect(f, file, last + "mlp.fc1.weight", c.mlpHidden(), c.dim());
        String beyond = "blocks." + c.depth() + ".";
        for (String name : f.tensors().keySet()) {
            if (name.startsWith(beyond)) throw new IOException(file + ": metadata says depth " + c.depth() + ", but the file has '" + name + "'");
        }
    }

    private static void expect(Safetensors.File f, Path file, String name, long... shape) throws IOException {
        Tensor t = f.tensors().get(name);
        if (t == null) throw new IOException(file + ": no tensor '" + name + "'; the metadata describes a different ViT or the file is incomplete");
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IOException(file + ": '" + name + "' has shape " + Arrays.toString(t.shape()) + ", the metadata's ViT needs " + Arrays.toString(shape));
        }
    }

    private static String describe(VisionTransformer.Config c) {
        return "ViT of depth " + c.depth() + ", width " + c.dim() + " and " + c.classes() + " classes";
    }
}
