package org.tune4j.cli;

import org.tune4j.nn.CompressedLinear;
import picocli.CommandLine.Option;

/**
 * {@code --weights f32|int8|2:4|int8-2:4} on the commands that run a BERT for inference (a picocli mixin of embed and
 * classify): how the encoder's projections are stored. Compressed weights run on the CPU's int8 and sparse kernels.
 */
final class WeightsOption {
    @Option(names = "--weights", defaultValue = "f32", paramLabel = "FORMAT", description = "How the encoder's projections are stored: f32, int8 (per output channel, "
            + "activations per token), 2:4 (half the weights pruned by magnitude, no recovery: costs accuracy) or int8-2:4 (default: ${DEFAULT-VALUE}; "
            + "compressed weights run on the CPU).")
    String weights;

    /** The format, null for f32; checked against the device before any work. */
    CompressedLinear.Format format(DeviceOption device) {
        return format("--weights", weights, device);
    }

    /** {@code value} of {@code option} as a format (null for f32), refused with --device cuda: compressed weights run on the CPU's kernels. */
    static CompressedLinear.Format format(String option, String value, DeviceOption device) {
        CompressedLinear.Format f = OptionChecks.weights(option, value);
        if (f != null && device.cuda()) throw new IllegalArgumentException(option + " " + value + " runs on the CPU's kernels: use --device cpu");
        return f;
    }

    /** Says on standard error (standard output is the command's data) how compressed weights were stored; nothing for f32. */
    void report(double worstError) {
        if (!weights.equals("f32")) System.err.printf(java.util.Locale.ROOT, "encoder projections stored as %s (worst relative weight error %.4f)%n", weights, worstError);
    }
}
