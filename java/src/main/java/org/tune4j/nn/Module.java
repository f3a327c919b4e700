package org.tune4j.nn;

import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.autograd.Parameter;

/**
 * A tree of layers with named parameters, as in PyTorch: {@link #namedParameters()} gives
 * "blocks.0.attn.qkv.weight" style names, used for freezing, LoRA injection by name and checkpoints.
 */
public abstract class Module {
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    protected final Parameter register(String name, Parameter p) {
        params.put(name, p);
        return p;
    }

    protected final <M extends Module> M register(String name, M child) {
        children.put(name, child);
        return child;
    }

    /** Replaces the child called {@code name} (LoRA injection swaps a Linear for a LoraLinear). */
    final void replace(String name, Module child) {
        if (!children.containsKey(name)) throw new IllegalArgumentException("no child module '" + name + "'");
        children.put(name, child);
        onChildReplaced(name, child);
    }

    /**
     * Replaces the module at the dotted {@code path} ("blocks.0.mlp.fc1"), as PyTorch's set_submodule:
     * compression swaps a Linear for its int8 or sparse version this way.
     */
    public final void replaceModule(String path, Module module) {
        int dot = path.lastIndexOf('.');
        Module parent = dot < 0 ? this : namedModules().get(path.substring(0, dot));
        if (parent == null) throw new IllegalArgumentException("no module '" + path.substring(0, dot) + "'");
        parent.replace(path.substring(dot + 1), module);
    }

    /** Lets a module update its own field when a child is replaced. */
    protected void onChildReplaced(String name, Module child) {}

    /** Every parameter of the tree by its dotted path, in registration order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        params.forEach((n, p) -> out.put(prefix + n, p));
        children.forEach((n, c) -> c.collect(prefix + n + ".", out));
    }

    /** Every module of the tree by its dotted path ("" is this one). */
    public final Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        out.put("", this);
        children.forEach((n, c) -> c.namedModules().forEach((k, v) -> out.put(k.isEmpty() ? n : n + "." + k, v)));
        return out;
    }

    final Map<String, Module> children() {
        return children;
    }

    /** The child called {@code name} as a layer, looked up at each call so that a replaced child (LoRA, int8) is the one used. */
    final Layer layer(String name) {
        if (children.get(name) instanceof Layer l) return l;
        throw new IllegalStateException("child '" + name + "' is " + (children.get(name) == null ? "missing" : "not a layer"));
    }

    /**
     * Moves every parameter into {@code memory} (a {@code CudaBackend}'s to train or serve on the GPU, or back to
     * the host), new tensors in {@code arena}: the model then runs on the backend of that memory, through the same
     * code. Optimizers are made after the move. Layers with host-only weights (int8, sparse) keep them there.
     */
    public final void moveTo(org.tune4j.tensor.Memory memory, java.lang.foreign.Arena arena) {
        for (Parameter p : namedParameters().values()) p.moveTo(memory, arena);
    }

    /** Trainable (or all) parameter count. */
    public final long parameterCount(boolean trainableOnly) {
        return namedParameters().values().stream().filter(p -> !trainableOnly || p.trainable()).mapToLong(Parameter::numel).sum();
    }

    /** Freezes (or unfreezes) every parameter of the tree. */
    public final void setTrainable(boolean trainable) {
        namedParameters().values().forEach(p -> p.setTrainable(trainable));
    }

    /** Training mode (dropout on) or evaluation mode, for the whole tree. */
    public final void train(boolean on) {
        training = on;
        children.values().forEach(c -> c.train(on));
    }

    public final boolean training() {
        return training;
    }
}
