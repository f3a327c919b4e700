package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Linear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.Module;
import org.tune4j.tensor.Tensor;

/** The layers a compression step works on, chosen by name as PEFT's target_modules ("qkv", "blocks.0.mlp.fc1"). */
final class Targets {
    private Targets() {}

    /** Every {@link Linear} or {@link LoraLinear} of {@code root} matching {@code targets}, by path (not the Linears inside a LoraLinear). */
    static Map<String, Module> linears(Module root, List<String> targets) {
        Map<String, Module> out = new LinkedHashMap<>();
        for (Map.Entry<String, Module> e : root.namedModules().entrySet()) {
            String path = e.getKey();
            if (path.endsWith(".base")) continue;
            if (!(e.getValue() instanceof Linear) && !(e.getValue() instanceof LoraLinear)) continue;
            if (Lora.matches(path, path.substring(path.lastIndexOf('.') + 1), targets)) out.put(path, e.getValue());
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no Linear or LoRA layer matches " + targets);
        return out;
    }

    /** m (a Linear, or a LoraLinear whose adapter stays unmerged) compressed to {@code format} in {@code arena}. */
    static CompressedLinear compress(Arena arena, Backend backend, Module m, CompressedLinear.Format format) {
        Linear base = base(m);
        Tensor bias = base.bias() == null ? null : base.bias().value();
        if (m instanceof LoraLinear l && !l.merged()) {
            if (l.magnitude() != null) throw new IllegalArgumentException("a DoRA adapter cannot stay unmerged over a compressed weight: merge it first");
            return CompressedLinear.compress(arena, backend, format, base.weight().value(), bias, l.loraA().value(), l.loraB().value(), l.scale());
        }
        return CompressedLinear.compress(arena, backend, format, base.weight().value(), bias, null, null, 0f);
    }

    /** The dense layer that holds the weight: the Linear itself, or a LoraLinear's frozen base. */
    static Linear base(Module m) {
        return m instanceof LoraLinear l ? l.base() : (Linear) m;
    }
}
