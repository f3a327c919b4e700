package org.tune4j.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.autograd.Parameter;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.Tensor;

/**
 * Model checkpoints as safetensors: every parameter under its dotted name; for resuming, the optimizer's
 * moments as "optimizer.m.NAME" / "optimizer.v.NAME" and its step count in the metadata.
 */
public final class Checkpoint {
    private Checkpoint() {}

    /** Writes the parameters (and the optimizer's state when not null) with string metadata. */
    public static void save(Path file, Map<String, Parameter> params, AdamW optimizer, Map<String, String> metadata) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        params.forEach((name, p) -> tensors.put(name, p.value()));
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        if (optimizer != null) {
            optimizer.state().forEach((name, mv) -> {
                tensors.put("optimizer.m." + name, mv[0]);
                tensors.put("optimizer.v." + name, mv[1]);
            });
            meta.put("optimizer.steps", Long.toString(optimizer.steps()));
        }
        Safetensors.write(file, tensors, meta);
    }

    /**
     * Copies the file's tensors into the parameters of the same names (every parameter must be there
     * with its shape), and the optimizer's state when given; returns the metadata.
     */
    public static Map<String, String> load(Path file, Map<String, Parameter> params, AdamW optimizer) throws IOException {
        try (Safetensors.File f = Safetensors.read(file)) {
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                Tensor src = f.tensors().get(e.getKey());
                if (src == null) throw new IOException(file + ": no tensor for parameter '" + e.getKey() + "'");
                copy(file, e.getKey(), src, e.getValue().value());
            }
            if (optimizer != null) {
                for (Map.Entry<String, Tensor[]> e : optimizer.state().entrySet()) {
                    Tensor m = f.tensors().get("optimizer.m." + e.getKey()), v = f.tensors().get("optimizer.v." + e.getKey());
                    if (m == null || v == null) throw new IOException(file + ": no optimizer state for '" + e.getKey() + "'");
                    copy(file, "optimizer.m." + e.getKey(), m, e.getValue()[0]);
                    copy(file, "optimizer.v." + e.getKey(), v, e.getValue()[1]);
                }
                optimizer.setSteps(Long.parseLong(f.metadata().getOrDefault("optimizer.steps", "0")));
            }
            return f.metadata();
        }
    }

    /** dst = src, refused (naming {@code file} and the tensor) unless shape and dtype agree. */
    public static void copy(Path file, String name, Tensor src, Tensor dst) throws IOException {
        if (!Arrays.equals(src.shape(), dst.shape()) || src.dtype() != dst.dtype()) {
            throw new IOException(file + ": '" + name + "' is " + src + ", the model expects " + dst);
        }
        dst.copyFrom(src);
    }
}
