package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.LoraAdapters;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Which LoRA adapter each sequence of a batch uses, when one frozen base serves many adapters at once
 * (ARCHITECTURE.md "Many adapters"): the batch's token rows in segments (consecutive sequences on the same
 * adapter are one segment), and for each adapted layer the factors of the adapters that adapt it. Made for one
 * batch and used by one thread; its tensors live in the arena it was made in.
 */
public final class AdapterRouting {
    /** One adapter's factors for one layer: A [r, in], B [out, r], and its scale s. */
    public record Factors(Tensor a, Tensor b, float scale) {}

    /** A layer's share of the routing: its adapters (local indices) and each segment's local index (-1: none). */
    record LayerRoute(LoraAdapters adapters, Tensor segAdapter) {}

    private final Arena arena;
    private final List<Map<String, Factors>> adapters;
    private final Tensor segStart;
    private final int[] segAdapter;
    private final Map<String, LayerRoute> byLayer = new HashMap<>();

    private AdapterRouting(Arena arena, List<Map<String, Factors>> adapters, Tensor segStart, int[] segAdapter) {
        this.arena = arena;
        this.adapters = adapters;
        this.segStart = segStart;
        this.segAdapter = segAdapter;
    }

    /**
     * A batch of {@code sequenceAdapter.length} sequences of {@code seq} tokens each (rows b·seq … b·seq + seq − 1),
     * sequence b on adapters[sequenceAdapter[b]] (-1: the base alone). An adapter is its factors by layer path,
     * relative to the encoder ("encoder.layer.0.attention.self.query", PEFT's names); a layer it lacks is the base.
     */
    public static AdapterRouting of(Arena arena, List<Map<String, Factors>> adapters, int[] sequenceAdapter, int seq) {
        if (seq < 1) throw new IllegalArgumentException("seq must be >= 1, is " + seq);
        List<Integer> starts = new ArrayList<>(), ids = new ArrayList<>();
        for (int b = 0; b < sequenceAdapter.length; b++) {
            int id = sequenceAdapter[b];
            if (id < -1 || id >= adapters.size()) throw new IllegalArgumentException("sequence " + b + " names adapter " + id + " of " + adapters.size());
            if (ids.isEmpty() || ids.getLast() != id) {
                starts.add(b * seq);
                ids.add(id);
            }
        }
        Tensor segStart = Tensor.zeros(arena, DType.I32, ids.size() + 1);
        for (int s = 0; s < ids.size(); s++) segStart.setInt(s, starts.get(s));
        segStart.setInt(ids.size(), Math.multiplyExact(sequenceAdapter.length, seq));
        return new AdapterRouting(arena, List.copyOf(adapters), segStart, ids.stream().mapToInt(Integer::intValue).toArray());
    }

    Tensor segStart() {
        return segStart;
    }

    /** The route for the layer at {@code path}, or null when no adapter of the batch adapts it (made once per batch). */
    LayerRoute route(String path) {
        return byLayer.computeIfAbsent(path, this::makeRoute);
    }

    private LayerRoute makeRoute(String path) {
        int[] local = new int[adapters.size()];
        List<Tensor> a = new ArrayList<>(), b = new ArrayList<>();
        List<Float> scales = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) {
            Factors f = adapters.get(i).get(path);
            local[i] = f == null ? -1 : a.size();
            if (f == null) continue;
            a.add(f.a());
            b.add(f.b());
            scales.add(f.scale());
        }
        if (a.isEmpty()) return null;
        Tensor seg = Tensor.zeros(arena, DType.I32, segAdapter.length);
        for (int s = 0; s < segAdapter.length; s++) seg.setInt(s, segAdapter[s] < 0 ? -1 : local[segAdapter[s]]);
        float[] s = new float[scales.size()];
        for (int i = 0; i < s.length; i++) s[i] = scales.get(i);
        return new LayerRoute(new LoraAdapters(a, b, s), seg);
    }
}
