package org.tune4j.nn;

/**
 * A layer converted from a dense f32 one, with what the conversion cost: the relative Frobenius error of
 * the new weights against the old, ‖W' − W‖ / ‖W‖, and the fraction of weights that are now zero.
 */
public record Conversion<T>(T layer, double relativeError, double sparsity) {}
