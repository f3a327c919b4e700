package org.tune4j.bench;

import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.util.List;
import org.tune4j.bindings.NativeAccess;
import org.tune4j.bindings.tune4j_h;

/**
 * The fixed cost of crossing into native code: {@code t4j_noop} as bound (a critical downcall), against
 * the same function bound as an ordinary downcall, in the same run. Nanoseconds per call.
 */
final class DowncallSuite {
    private static final int CALLS = 2_000_000;

    static List<BenchRow> run(Measure measure) {
        MethodHandle plain = NativeAccess.downcall(tune4j_h.library(), "t4j_noop", FunctionDescriptor.ofVoid(), false);
        double critical = measure.medianMs(() -> {
            for (int i = 0; i < CALLS; i++) tune4j_h.t4j_noop();
        });
        double ordinary = measure.medianMs(() -> {
            try {
                for (int i = 0; i < CALLS; i++) plain.invokeExact();
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
        double ns = critical * 1e6 / CALLS, peerNs = ordinary * 1e6 / CALLS;
        return List.of(new BenchRow("ffm", "noop_downcall", "1 call", "-", 1, "ffm-critical", critical / CALLS, ns, "ns/call",
                "ffm ordinary downcall", ordinary / CALLS, peerNs / ns, null));
    }
}
