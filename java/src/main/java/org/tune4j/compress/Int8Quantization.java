package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Layer;
import org.tune4j.nn.Module;
import org.tune4j.tensor.Tensor;

/**
 * int8 post-training quantization: weights per output channel, activations per token (the kernel
 * quantizes each input row on the fly, so no activation range is fixed in advance). A calibration set
 * decides where int8 is safe: one pass in f32 feeds each target layer its real inputs and measures the
 * relative error of its int8 output, ‖y_int8 − y‖ / ‖y‖ over the whole set; a layer above {@code
 * maxOutputError} stays f32 (mixed precision, as the report says), the rest are swapped in place for
 * {@link CompressedLinear}s that run on the int8 kernels.
 */
public final class Int8Quantization {
    /** What to quantize: layers by name (PEFT-style), and the largest relative output error allowed. */
    public record Options(List<String> targets, double maxOutputError) {
        public Options {
            targets = List.copyOf(targets);
            if (!(maxOutputError > 0 && maxOutputError < Double.POSITIVE_INFINITY)) throw new IllegalArgumentException("maxOutputError must be > 0, is " + maxOutputError);
        }

        /** Every linear layer of the ViT, 5% output error. */
        public static Options defaults() {
            return new Options(List.of("patch_embed", "qkv", "proj", "fc1", "fc2", "head"), 0.05);
        }
    }

    /** One layer: its weight error, its output error on the calibration set, and whether it was quantized. */
    public record LayerResult(String path, int in, int out, double weightError, double outputError, boolean quantized) {}

    public record Result(int calibrationImages, List<LayerResult> layers) {
        public long quantizedLayers() {
            return layers.stream().filter(LayerResult::quantized).count();
        }
    }

    private Int8Quantization() {}

    /**
     * Quantizes {@code model} in place (its new weights live in {@code arena}) after calibrating on
     * {@code calibration} (a few hundred images are plenty), in batches of {@code batchSize}.
     */
    public static Result quantize(Arena arena, Backend backend, Classifier model, ImageDataset calibration, Options o, int batchSize) {
        if (calibration.size() == 0) throw new IllegalArgumentException("the calibration set is empty");
        return quantize(arena, backend, model.module(), () -> Evaluate.predict(backend, model, calibration, batchSize), calibration.size(), o);
    }

    /**
     * Quantizes the targets of any model {@code root} in place: {@code calibrate} runs the model over its
     * calibration data ({@code calibrationItems} inputs, in evaluation mode) while a probe in each target
     * measures its int8 output's error; layers within {@code o.maxOutputError()} are swapped for int8.
     */
    public static Result quantize(Arena arena, Backend backend, Module root, Runnable calibrate, int calibrationItems, Options o) {
        if (calibrationItems < 1) throw new IllegalArgumentException("the calibration set is empty");
        Map<String, Module> targets = Targets.linears(root, o.targets());
        Map<String, Probe> probes = new LinkedHashMap<>();
        for (Map.Entry<String, Module> e : targets.entrySet()) {
            Probe p = new Probe(backend, (Layer) e.getValue(), Targets.compress(arena, backend, e.getValue(), CompressedLinear.Format.INT8));
            probes.put(e.getKey(), p);
            root.replaceModule(e.getKey(), p);
        }
        try {
            calibrate.run(); // the probes measure on the way
        } finally {
            probes.forEach((path, p) -> root.replaceModule(path, targets.get(path)));
        }
        List<LayerResult> layers = new ArrayList<>();
        probes.forEach((path, p) -> {
            double err = p.outputError();
            boolean quantize = err <= o.maxOutputError();
            if (quantize) root.replaceModule(path, p.quantized);
            layers.add(new LayerResult(path, p.quantized.in(), p.quantized.out(), p.quantized.relativeError(), err, quantize));
        });
        return new Result(calibrationItems, layers);
    }

    /** Stands in for a layer during calibration: passes the f32 output on, and measures the int8 one beside it. */
    private static final class Probe extends Module implements Layer {
        private final Backend backend;
        private final Layer original;
        private final CompressedLinear quantized;
        private double errorSquares;
        private double outputSquares;

        Probe(Backend backend, Layer original, CompressedLinear quantized) {
            this.backend = backend;
            this.original = original;
            this.quantized = quantized;
        }

        @Override
        public Var forward(Tape t, Var x) {
            Var y = original.forward(t, x);
            Tensor yq = t.zeros(y.value().shape());
            quantized.infer(backend, x.value(), yq, Activation.NONE, quantized.scratchColumns() == 0 ? null : t.zeros(x.value().dim(0), quantized.scratchColumns()));
            outputSquares += backend.sumSquares(y.value());
            backend.axpy(-1f, y.value(), yq);
            errorSquares += backend.sumSquares(yq);
            return y;
        }

        double outputError() {
            return outputSquares == 0 ? 0 : Math.sqrt(errorSquares / outputSquares);
        }
    }
}
