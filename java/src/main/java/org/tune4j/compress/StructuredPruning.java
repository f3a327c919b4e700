package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Module;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * 2:4 structured pruning (of every 4 consecutive input weights the 2 largest |w| stay: 50%), the pattern
 * the native sparse kernel runs. The flow that keeps accuracy: {@link #prune} the dense layers in place,
 * fine-tune a LoRA adapter over the frozen pruned base (the base never changes, so the mask holds
 * through training), then {@link #compress} swaps each layer for a 2:4 {@link CompressedLinear} with the
 * adapter unmerged beside it, and {@link #quantize} makes those int8 as well.
 */
public final class StructuredPruning {
    private StructuredPruning() {}

    /** Zeroes all but 2 of every 4 weights of each target layer in place; returns the masks (I8, in {@code arena}) by path. */
    public static Map<String, Tensor> prune(Arena arena, Backend backend, Module root, List<String> targets) {
        Map<String, Tensor> masks = new LinkedHashMap<>();
        Targets.linears(root, targets).forEach((path, m) -> {
            Tensor w = Targets.base(m).weight().value();
            if (w.dim(1) % 4 != 0) throw new IllegalArgumentException(path + ": 2:4 needs the input size to be a multiple of 4, is " + w.dim(1));
            Tensor mask = Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
            backend.mask2to4(w, mask);
            backend.applyMask(w, mask);
            masks.put(path, mask);
        });
        return masks;
    }

    /** Swaps each target layer (pruned, or pruned under an unmerged adapter) for its 2:4 compressed version, living in {@code arena}. */
    public static Map<String, CompressedLinear> compress(Arena arena, Backend backend, Module root, List<String> targets) {
        return replace(arena, backend, root, targets, CompressedLinear.Format.TWO_FOUR);
    }

    /**
     * Swaps each 2:4 layer of {@code root} (as {@link #compress} leaves them) for its int8 2:4 version in
     * {@code arena}: the kept weights quantized per output channel, the adapter still unmerged. Returns them by path.
     */
    public static Map<String, CompressedLinear> quantize(Arena arena, Backend backend, Module root) {
        Map<String, CompressedLinear> out = new LinkedHashMap<>();
        root.namedModules().forEach((path, m) -> {
            if (m instanceof CompressedLinear c && c.format() == CompressedLinear.Format.TWO_FOUR) {
                Map<String, Tensor> t = c.tensors();
                out.put(path, CompressedLinear.compress(arena, backend, CompressedLinear.Format.INT8_TWO_FOUR, t.get("weight"), t.get("bias"),
                        t.get("lora_A"), t.get("lora_B"), c.loraScale()));
            }
        });
        if (out.isEmpty()) throw new IllegalArgumentException("no 2:4 layer to quantize: compress the model first");
        out.forEach(root::replaceModule);
        return out;
    }

    /** Swaps each target layer for a {@link CompressedLinear} of {@code format}; returns them by path. */
    static Map<String, CompressedLinear> replace(Arena arena, Backend backend, Module root, List<String> targets, CompressedLinear.Format format) {
        Map<String, CompressedLinear> out = new LinkedHashMap<>();
        Targets.linears(root, targets).forEach((path, m) -> out.put(path, Targets.compress(arena, backend, m, format)));
        out.forEach(root::replaceModule);
        return out;
    }
}
