package org.tune4j.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.CpuBackend;
import org.tune4j.compress.CompressedCheckpoint;
import org.tune4j.io.Checkpoint;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.Tensor;

/**
 * Reads a ViT checkpoint (plain or compressed) and trusts nothing in it: the shape in the metadata must
 * agree with the tensors before the model is built (so a header cannot make it allocate more than the
 * file holds), every parameter must be there with its exact shape, and a tensor nothing uses is an error.
 */
final class VitCheckpoint {
    /** A bound on every number of the shape: a ViT this wide is not what the file holds. */
    private static final int MAX_DIMENSION = 1 << 16;

    private VitCheckpoint() {}

    static VisionTransformer load(Arena arena, Path file) throws IOException {
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
