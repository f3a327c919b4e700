package org.tune4j.backend;

import static org.tune4j.backend.BackendChecks.writable;

import java.util.Arrays;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The checks of the ops that keep a step's data where the backend computes (a loss or a norm written to a scalar,
 * clipping, the ViT's patch gather and tokens, a PGD step, AdamW's schedule), beside {@link BackendChecks}: shapes,
 * dtypes and memories only, since a device's tensors cannot be read on the host.
 */
public final class StepChecks {
    private StepChecks() {}

    /** t not null, F32 and contiguous. */
    private static void contiguousF32(String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != DType.F32 || !t.isContiguous()) throw new IllegalArgumentException(name + " must be contiguous F32, is " + t);
    }

    /** t's memory not freed, and {@code where} ({@code whose}: whose memory that is, for the message). */
    private static void aliveIn(String name, Tensor t, Memory where, String whose) {
        if (!t.isAlive()) throw new IllegalArgumentException(name + ": its memory was freed (the arena is closed)");
        if (t.memory() != where) throw new IllegalArgumentException(name + " lives in " + t.memory().name() + " memory; " + whose + " is " + where.name());
    }

    /** One F32 value in {@code where}: a loss or a norm an op writes. */
    static void scalar(String name, Tensor t, Memory where) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != DType.F32 || t.numel() != 1) throw new IllegalArgumentException(name + " must be one F32 value, is " + t);
        aliveIn(name, t, where, "this backend's");
        writable(name, t);
    }

    /** value into a checked scalar, wherever it lives. */
    static void storeScalar(float value, Tensor scalar) {
        if (scalar.isHost()) {
            scalar.setFloat(0, value);
            return;
        }
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            Tensor h = Tensor.zeros(a, DType.F32, 1);
            h.setFloat(0, value);
            scalar.copyFrom(h);
        }
    }

    /** Gradients (F32, contiguous, alive, in {@code where}), maxNorm finite and > 0, the norm one F32 value there. */
    public static void clipGradNorm(Tensor[] grads, float maxNorm, Tensor norm, Memory where) {
        if (grads == null) throw new IllegalArgumentException("grads is null");
        if (!(maxNorm > 0 && maxNorm < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("maxNorm must be finite and > 0, is " + maxNorm);
        for (int i = 0; i < grads.length; i++) {
            Tensor g = grads[i];
            String name = "grads[" + i + "]";
            contiguousF32(name, g);
            aliveIn(name, g, where, "this backend's");
            writable(name, g);
        }
        scalar("norm", norm, where);
    }

    /** x and y [m, n] F32 (any row stride, y writable), index [n] contiguous I32, all in one memory; returns n. */
    public static long gatherColumns(Tensor x, Tensor index, Tensor y) {
        for (String name : new String[] {"x", "y"}) {
            Tensor t = name.equals("x") ? x : y;
            if (t == null) throw new IllegalArgumentException(name + " is null");
            if (t.dtype() != DType.F32 || t.rank() != 2) throw new IllegalArgumentException(name + " must be an F32 matrix, is " + t);
        }
        if (y.dim(0) != x.dim(0) || y.dim(1) != x.dim(1)) throw new IllegalArgumentException("y must be " + x.dim(0) + "x" + x.dim(1) + ", is " + y.dim(0) + "x" + y.dim(1));
        if (index == null) throw new IllegalArgumentException("index is null");
        if (index.dtype() != DType.I32 || index.numel() != x.dim(1) || !index.isContiguous())
            throw new IllegalArgumentException("index must be " + x.dim(1) + " contiguous I32 values, is " + index);
        for (Tensor t : new Tensor[] {x, index, y})
            if (!t.isAlive()) throw new IllegalArgumentException("gatherColumns: a tensor's memory was freed (the arena is closed)");
        if (index.memory() != x.memory() || y.memory() != x.memory()) throw new IllegalArgumentException("x, index and y must live in one memory");
        writable("y", y);
        return x.dim(1);
    }

    /** vitTokens' arguments: patches [batch·p, d], cls [d], pos [(p+1)·d], y [batch·(p+1), d], contiguous F32 in one memory, batch >= 1; returns p. */
    public static long vitTokens(Tensor patches, Tensor cls, Tensor pos, int batch, Tensor y) {
        String[] names = {"patches", "cls", "pos", "y"};
        Tensor[] ts = {patches, cls, pos, y};
        for (int i = 0; i < 4; i++) {
            contiguousF32(names[i], ts[i]);
            aliveIn(names[i], ts[i], patches.memory(), "patches'");
        }
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, is " + batch);
        if (patches.rank() != 2 || patches.dim(0) % batch != 0) throw new IllegalArgumentException("patches must be [batch·p, d] for batch " + batch + ", has shape " + Arrays.toString(patches.shape()));
        long p = patches.dim(0) / batch, d = patches.dim(1);
        if (d < 1 || cls.numel() != d) throw new IllegalArgumentException("cls must hold d = " + d + " values, holds " + cls.numel());
        if (pos.numel() != (p + 1) * d) throw new IllegalArgumentException("pos must hold (p+1)·d = " + (p + 1) * d + " values, holds " + pos.numel());
        if (y.rank() != 2 || y.dim(0) != batch * (p + 1) || y.dim(1) != d)
            throw new IllegalArgumentException("y must be " + batch * (p + 1) + "x" + d + ", has shape " + Arrays.toString(y.shape()));
        writable("y", y);
        return p;
    }

    /** adv, grad, orig: contiguous F32 of one size, alive, in one memory, adv writable; stepSize and epsilon finite and >= 0. */
    public static void pgdStep(Tensor adv, Tensor grad, Tensor orig, float stepSize, float epsilon) {
        if (!(stepSize >= 0 && stepSize < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("stepSize must be finite and >= 0, is " + stepSize);
        if (!(epsilon >= 0 && epsilon < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("epsilon must be finite and >= 0, is " + epsilon);
        String[] names = {"adv", "grad", "orig"};
        Tensor[] ts = {adv, grad, orig};
        for (int i = 0; i < 3; i++) {
            contiguousF32(names[i], ts[i]);
            if (ts[i].numel() != adv.numel()) throw new IllegalArgumentException(names[i] + " holds " + ts[i].numel() + " values, adv " + adv.numel());
            aliveIn(names[i], ts[i], adv.memory(), "adv's");
        }
        writable("adv", adv);
    }

    /** An optimizer's schedule: [2] F32 (rate, step), alive, in {@code where}. */
    public static void schedule(Tensor schedule, Memory where) {
        if (schedule == null) throw new IllegalArgumentException("schedule is null");
        if (schedule.dtype() != DType.F32 || schedule.numel() != 2 || !schedule.isContiguous()) throw new IllegalArgumentException("schedule must be 2 contiguous F32 values (rate, step), is " + schedule);
        aliveIn("schedule", schedule, where, "this backend's");
    }

    /** A host schedule's step: a whole number in [1, 2^24) (F32 holds those exactly). */
    public static long scheduleStep(Tensor hostSchedule) {
        float step = hostSchedule.getFloat(1);
        if (!(step >= 1 && step < (1 << 24) && step == Math.rint(step))) throw new IllegalArgumentException("schedule's step must be a whole number in [1, 2^24), is " + step);
        return (long) step;
    }
}
