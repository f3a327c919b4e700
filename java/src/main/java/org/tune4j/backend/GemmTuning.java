package org.tune4j.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The tiled GEMM's cache blocks (A block mc × kc, B panel kc × nc) chosen for the machine, as FFTW's planner does:
 * {@link #tune} times a few candidates around the level's own blocks (coordinate search: kc, then mc, then nc, each
 * kept only when it beats the incumbent by {@value #MARGIN_PERCENT}%, so noise does not move it) and the winner is
 * cached per CPU model, SIMD level and library ABI in the user's cache folder. At start-up {@link #applyAtStartup}
 * takes, in order: the blocks pinned by {@value #PIN_PROPERTY} (or {@code TUNE4J_GEMM_BLOCKS}), the cached winner
 * for this CPU, the built-in table of CPUs measured so far, or the level's own. A K block splits the sum, so one
 * setting gives the same bits for any thread count; another setting may differ in the last bits (ARCHITECTURE.md,
 * "Numerics").
 */
public final class GemmTuning {
    /** System property (or environment variable TUNE4J_GEMM_BLOCKS) pinning the blocks: "mc,kc,nc". */
    public static final String PIN_PROPERTY = "tune4j.gemm.blocks";
    /** How much faster, in percent, a candidate must be to replace the incumbent. */
    public static final int MARGIN_PERCENT = 3;
    /** Jackson, made when a cache file is read or written (not at every start-up). */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    private GemmTuning() {}

    /** Cache blocks: A block mc × kc, B panel kc × nc (mc and nc rounded down to the register tile by the kernels). */
    public record Blocks(long mc, long kc, long nc) {
        public Blocks {
            if (mc < 8 || mc > 4096) throw new IllegalArgumentException("mc must be in [8, 4096], is " + mc);
            if (kc < 16 || kc > 8192) throw new IllegalArgumentException("kc must be in [16, 8192], is " + kc);
            if (nc < 16 || nc > 65536) throw new IllegalArgumentException("nc must be in [16, 65536], is " + nc);
        }

        /** "mc,kc,nc", as {@value #PIN_PROPERTY} takes it. */
        static Blocks parse(String s) {
            String[] p = s.split(",");
            if (p.length != 3) throw new IllegalArgumentException("GEMM blocks must be mc,kc,nc, are '" + s + "'");
            try {
                return new Blocks(Long.parseLong(p[0].strip()), Long.parseLong(p[1].strip()), Long.parseLong(p[2].strip()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("GEMM blocks must be three integers mc,kc,nc, are '" + s + "'");
            }
        }

        @Override
        public String toString() {
            return "mc " + mc + ", kc " + kc + ", nc " + nc;
        }
    }

    /** The blocks in use and where they came from ("level default", "pinned", "tuned here ...", "table: ..."). */
    public record Choice(Blocks blocks, String source) {
        @Override
        public String toString() {
            return blocks + " (" + source + ")";
        }
    }

    /**
     * CPUs measured so far, by the key of {@link #cpuKey} and level: the blocks their tuning chose. The level's own
     * blocks were tuned on an AMD Zen 4 (family 25 model 17), which needs no entry.
     */
    static final Map<String, Blocks> KNOWN = Map.of();

    private static volatile Choice current;

    /** The blocks the GEMM uses now, and their source. */
    public static Choice current() {
        Choice c = current;
        return c != null ? c : new Choice(inUse(), "level default");
    }

    /** The blocks in use at the current SIMD level. */
    static Blocks inUse() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 3);
            tune4j_h.t4j_gemm_blocks(out);
            return new Blocks(out.getAtIndex(ValueLayout.JAVA_LONG, 0), out.getAtIndex(ValueLayout.JAVA_LONG, 1), out.getAtIndex(ValueLayout.JAVA_LONG, 2));
        }
    }

    /**
     * The register tile, "rows x columns", that the GEMM takes for an m x n result at the current SIMD level (AVX-512
     * has two and takes the one that pads the edge tiles least; both give the same bits).
     */
    public static String tile(long m, long n) {
        if (m < 1 || n < 1) throw new IllegalArgumentException("a GEMM result is at least 1 x 1, is " + m + " x " + n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 2);
            tune4j_h.t4j_gemm_tile(m, n, out);
            return out.getAtIndex(ValueLayout.JAVA_LONG, 0) + "x" + out.getAtIndex(ValueLayout.JAVA_LONG, 1);
        }
    }

    /** Runs the GEMM with {@code blocks} from now on (every level); null goes back to each level's own. */
    public static void set(Blocks blocks, String source) {
        int rc = blocks == null ? tune4j_h.t4j_gemm_set_blocks(0, 0, 0) : tune4j_h.t4j_gemm_set_blocks(blocks.mc(), blocks.kc(), blocks.nc());
        if (rc != tune4j_h.T4J_OK) throw new IllegalArgumentException("libtune4j refused the GEMM blocks " + blocks + " (status " + rc + ")");
        current = blocks == null ? null : new Choice(blocks, source);
    }

    /** This CPU as a cache key: vendor, family, model and model name ({@link CpuDescription#identity}). */
    public static String cpuKey() {
        return CpuDescription.identity().toString();
    }

    private static String cacheKey() {
        return cpuKey() + " | " + CpuBackend.simdLevel().label() + " | abi " + tune4j_h.t4j_abi_version();
    }

    /** Where tuned blocks are kept: $XDG_CACHE_HOME/tune4j/gemm-tuning.json, or ~/.cache/tune4j/gemm-tuning.json. */
    public static Path cacheFile() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("tune4j").resolve("gemm-tuning.json");
    }

    /**
     * Chooses the blocks at start-up (see the class comment) and returns the choice; a cache file that cannot be read
     * is passed over (the choice's source says so). A bad pinned value throws, naming it.
     */
    public static Choice applyAtStartup(Path cache) {
        String pinned = System.getProperty(PIN_PROPERTY, System.getenv("TUNE4J_GEMM_BLOCKS"));
        if (pinned != null && !pinned.isBlank()) {
            set(Blocks.parse(pinned), "pinned by " + PIN_PROPERTY);
            return current();
        }
        String note = "";
        try {
            Blocks cached = Files.isRegularFile(cache) ? readCache(cache, cacheKey()) : null;
            if (cached != null) {
                set(cached, "tuned on this CPU, " + cache);
                return current();
            }
        } catch (IOException | IllegalArgumentException e) {
            note = "; " + cache + " passed over: " + e.getMessage();
        }
        Blocks known = KNOWN.isEmpty() ? null : KNOWN.get(cpuKey() + " | " + CpuBackend.simdLevel().label());
        if (known != null) {
            set(known, "built-in table" + note);
            return current();
        }
        set(null, null);
        return note.isEmpty() ? current() : new Choice(inUse(), "level default" + note);
    }

    static Blocks readCache(Path cache, String key) throws IOException {
        JsonNode root = Json.MAPPER.readTree(cache.toFile());
        JsonNode e = root == null ? null : root.get(key);
        if (e == null) return null;
        if (!e.path("mc").canConvertToLong() || !e.path("kc").canConvertToLong() || !e.path("nc").canConvertToLong()) {
            throw new IOException("the entry for this CPU is not {mc, kc, nc}");
        }
        return new Blocks(e.get("mc").asLong(), e.get("kc").asLong(), e.get("nc").asLong());
    }

    /** One timed candidate: its blocks and the best GFLOP/s over the shapes' runs (their geometric mean). */
    public record Trial(Blocks blocks, double gflops) {}

    /** What {@link #tune} tried and chose. */
    public record Result(List<Trial> trials, Blocks chosen, Blocks levelDefault, double defaultGflops, double chosenGflops) {}

    /**
     * Times candidates around the level's blocks on GEMMs of the shapes the engine runs (a square one and a wide
     * one, {@code scale} 1 for 1024 × 1024 × 1024 and 128 × 2048 × 2048; smaller for a quick check), keeps the
     * best, applies it and writes it to {@code cache} (null: not written). A second or so at scale 1 on a current core.
     */
    public static Result tune(Path cache, double scale) throws IOException {
        set(null, null);
        Blocks base = inUse();
        int big = Math.max(32, (int) (1024 * scale)), wide = Math.max(32, (int) (2048 * scale)), rows = Math.max(8, (int) (128 * scale));
        long[][] shapes = {{big, big, big}, {rows, wide, wide}};
        List<Trial> trials = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            List<Tensor[]> operands = new ArrayList<>();
            SplittableRandom rng = new SplittableRandom(1);
            for (long[] s : shapes) operands.add(new Tensor[] {random(arena, rng, s[0], s[2]), random(arena, rng, s[1], s[2]), Tensor.zeros(arena, DType.F32, s[0], s[1])});
            Trial best = time(base, shapes, operands);
            trials.add(best);
            double defaultGflops = best.gflops();
            long[][] axes = {{256, 384, 512, 768}, {96, 144, 192, 288}, {512, 1024, 2048, 4096}}; // kc, mc, nc
            for (int axis : new int[] {0, 1, 2}) {
                for (long v : axes[axis]) {
                    Blocks b = axis == 0 ? new Blocks(best.blocks().mc(), v, best.blocks().nc()) : axis == 1 ? new Blocks(v, best.blocks().kc(), best.blocks().nc())
                            : new Blocks(best.blocks().mc(), best.blocks().kc(), v);
                    if (b.equals(best.blocks())) continue;
                    Trial t = time(b, shapes, operands);
                    trials.add(t);
                    if (t.gflops() > best.gflops() * (1 + MARGIN_PERCENT / 100.0)) best = t;
                }
            }
            set(best.blocks().equals(base) ? null : best.blocks(), "tuned here");
            if (cache != null) writeCache(cache, cacheKey(), best);
            return new Result(trials, best.blocks(), base, defaultGflops, best.gflops());
        }
    }

    private static Trial time(Blocks b, long[][] shapes, List<Tensor[]> operands) {
        set(b, "trial");
        double logSum = 0;
        for (int s = 0; s < shapes.length; s++) {
            Tensor[] o = operands.get(s);
            double flops = 2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2], bestSeconds = Double.MAX_VALUE;
            CpuBackend.get().gemm(false, true, 1f, o[0], o[1], 0f, o[2]); // warm: packing buffers grown
            for (int rep = 0; rep < 5; rep++) {
                long t0 = System.nanoTime();
                CpuBackend.get().gemm(false, true, 1f, o[0], o[1], 0f, o[2]);
                bestSeconds = Math.min(bestSeconds, (System.nanoTime() - t0) / 1e9);
            }
            logSum += Math.log(flops / bestSeconds / 1e9);
        }
        return new Trial(b, Math.exp(logSum / shapes.length));
    }

    private static void writeCache(Path cache, String key, Trial best) throws IOException {
        ObjectNode root = Json.MAPPER.createObjectNode();
        try {
            if (Files.isRegularFile(cache) && Json.MAPPER.readTree(cache.toFile()) instanceof ObjectNode old) root = old;
        } catch (IOException e) {
            // an unreadable cache is replaced
        }
        ObjectNode e = root.putObject(key);
        e.put("mc", best.blocks().mc()).put("kc", best.blocks().kc()).put("nc", best.blocks().nc()).put("gflops", Math.round(best.gflops() * 10) / 10.0)
                .put("tuned", java.time.Instant.now().toString());
        Files.createDirectories(cache.getParent());
        Path tmp = cache.resolveSibling(cache.getFileName() + ".tmp");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), root);
        Files.move(tmp, cache, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static Tensor random(Arena arena, SplittableRandom rng, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() - 0.5));
        return t;
    }
}
