package org.tune4j.tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tune4j.bindings.NativeAccess;
import org.tune4j.bindings.tune4j_h;

/**
 * Where host tensors and packed weights get their memory (ARCHITECTURE.md "Host memory"): from {@link #HUGE_PAGE} up,
 * fresh pages from the OS ({@code t4j_host_alloc}), 2 MiB aligned and on transparent huge pages where the OS has
 * them, so that a kernel streaming a large weight matrix is not held up by a TLB miss and a prefetcher stop every
 * 4 KiB; smaller ones from the arena. Zeroed either way, 64-byte aligned, freed when the arena closes.
 * {@code -Dtune4j.host.hugepages=false} takes all of it from the arena (small pages, zeroed at once).
 */
public final class HostMemory {
    /** The size of a huge page on x86-64: memory from this size up is mapped for them. */
    public static final long HUGE_PAGE = 2L << 20;

    private static final boolean HUGE_PAGES = Boolean.parseBoolean(System.getProperty("tune4j.host.hugepages", "true"));

    private HostMemory() {}

    /**
     * What large host tensors get on this machine, for {@code tune4j info}, bench headers and provenance: "huge pages
     * (transparent, madvise)", or "small pages (...)" and why (opted out, switched off, not Linux).
     */
    public static String describe() {
        if (!HUGE_PAGES) return "small pages (-Dtune4j.host.hugepages=false)";
        String mode = transparentHugePages();
        if (mode == null) return "small pages (no transparent huge pages on this OS)";
        if (mode.equals("never")) return "small pages (transparent huge pages switched off: never)";
        return "huge pages from " + (HUGE_PAGE >> 20) + " MiB (transparent, " + mode + ")";
    }

    /** The kernel's transparent huge page mode (always, madvise, never), or null where it has none. */
    private static String transparentHugePages() {
        try {
            Matcher m = Pattern.compile("\\[(\\w+)\\]").matcher(Files.readString(Path.of("/sys/kernel/mm/transparent_hugepage/enabled")));
            return m.find() ? m.group(1) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** {@code bytes} (≥ 1) of zeroed host memory in {@code arena}. */
    public static MemorySegment allocate(Arena arena, long bytes) {
        if (bytes < 1) throw new IllegalArgumentException("host memory of " + bytes + " bytes");
        if (bytes < HUGE_PAGE || !HUGE_PAGES) return arena.allocate(bytes, 64);
        MemorySegment p = tune4j_h.t4j_host_alloc(bytes);
        if (p.address() == 0) throw new OutOfMemoryError("the OS gave no " + bytes + " bytes of host memory");
        try {
            return NativeAccess.owned(p, bytes, arena, s -> tune4j_h.t4j_host_free(s, bytes));
        } catch (RuntimeException e) { // a closed arena, or a confined one of another thread: nothing owns the pages
            tune4j_h.t4j_host_free(p, bytes);
            throw e;
        }
    }
}
