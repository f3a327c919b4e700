package org.tune4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of the options every command runs before it does any work, so a mistake costs the user one line
 * and exit code 2, never a minute of training or a file left behind. Each message names the option.
 * Public for the commands other modules contribute ({@code tune4j bench}).
 */
public final class OptionChecks {
    private OptionChecks() {}

    public static void atLeast(String option, long value, long min) {
        if (value < min) throw new IllegalArgumentException(option + " must be >= " + min + ", not " + value);
    }

    public static void atMost(String option, long value, long max) {
        if (value > max) throw new IllegalArgumentException(option + " must be <= " + max + ", not " + value);
    }

    /** A finite number in [min, max] (NaN and infinities are refused: a NaN limit would pass anything). */
    public static void inRange(String option, double value, double min, double max) {
        if (!(Double.isFinite(value) && value >= min && value <= max)) {
            throw new IllegalArgumentException(option + " must be a finite number in [" + min + ", " + max + "], not " + value);
        }
    }

    /** A finite number above 0. */
    public static void positive(String option, double value) {
        if (!(Double.isFinite(value) && value > 0)) throw new IllegalArgumentException(option + " must be a finite number > 0, not " + value);
    }

    /** A file the command will write: not a directory, and its folder writable or one that can be made. */
    public static void writableFile(String option, Path file) {
        if (Files.isDirectory(file)) throw new IllegalArgumentException(option + " " + file + " is a directory; give a file name");
        Path parent = file.toAbsolutePath().getParent();
        writableDirectory(option, parent);
    }

    /**
     * A folder the command will write into: a writable directory, or one that can be made (the nearest
     * existing folder above it is a writable directory). Nothing is created here, so a command refused
     * later leaves nothing behind; the command makes the folder when it writes.
     */
    public static void writableDirectory(String option, Path dir) {
        Path existing = dir.toAbsolutePath();
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null || !Files.isDirectory(existing)) {
            throw new IllegalArgumentException(option + " " + dir + ": " + (existing == null ? "no existing folder above it" : existing + " is a file, not a directory"));
        }
        if (!Files.isWritable(existing)) throw new IllegalArgumentException(option + " " + dir + ": " + existing + " is not writable");
    }

    /** Images the model can take: {@code what} names where they came from. */
    public static void imagesFit(String what, org.tune4j.data.ImageDataset images, org.tune4j.nn.VisionTransformer model) {
        int side = model.config().image();
        if (images.height() != side || images.width() != side) {
            throw new IllegalArgumentException(what + ": the images are " + images.height() + "x" + images.width() + ", the model takes " + side + "x" + side);
        }
    }

    /** How a BERT's projections are stored, as the commands spell it: f32 (null), int8, 2:4 or int8-2:4. */
    public static org.tune4j.nn.CompressedLinear.Format weights(String option, String value) {
        if (value.equals("f32")) return null;
        for (var f : org.tune4j.nn.CompressedLinear.Format.values()) if (f.label().replace(' ', '-').equals(value)) return f;
        throw new IllegalArgumentException(option + " must be f32, int8, 2:4 or int8-2:4, is '" + value + "'");
    }

    /** A file the command reads, when given. */
    public static void readableFile(String option, Path file) {
        if (file == null || Files.isRegularFile(file)) return;
        throw new IllegalArgumentException(option + " " + file + (Files.isDirectory(file) ? ": a directory; give a file" : ": no such file"));
    }
}
