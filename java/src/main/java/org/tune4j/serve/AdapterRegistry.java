package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.PeftAdapter;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.AdapterRouting;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.MultiLoraLinear;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The LoRA adapters resident over one frozen BERT-family encoder (f32, int8 or 2:4), loaded and unloaded while
 * it serves (ARCHITECTURE.md "Many adapters"). Each adapter is checked before it takes traffic (PEFT layout,
 * every module a projection of this encoder, A [r, in] and B [out, r] of the base's shape, finite values, no
 * DoRA), its bytes counted against a budget; when a load would exceed it, the least recently used adapters are
 * evicted. A batch holds a {@link Lease} on the adapters it uses: an adapter unloaded, replaced or evicted under
 * a batch stops taking new batches at once, and its memory is freed when the last lease on it closes, so no
 * kernel ever reads freed memory. Thread-safe.
 */
public final class AdapterRegistry implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdapterRegistry.class);
    /** An adapter id: what a request names, and a folder name (a letter or digit, then letters, digits, '.', '_', '-'; at most 128: never "..", never a path). */
    public static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    /** A classifier head saved beside an adapter (BertAdapter's classifier.safetensors): [classes, hidden], [classes]. */
    public record Head(float[][] weight, float[] bias, List<String> classes, BertClassifier.Pooling pooling) {}

    /** A resident adapter. */
    public static final class Adapter {
        private final String id;
        private final Map<String, AdapterRouting.Factors> factors;
        private final int rank;
        private final long bytes;
        private final Head head;
        private final AutoCloseable storage; // the file's memory, or the device copies
        private int leases;      // guarded by the registry
        private boolean retired; // guarded by the registry: no new leases; freed when leases reach 0

        private Adapter(String id, Map<String, AdapterRouting.Factors> factors, int rank, long bytes, Head head, AutoCloseable storage) {
            this.id = id;
            this.factors = factors;
            this.rank = rank;
            this.bytes = bytes;
            this.head = head;
            this.storage = storage;
        }

        public String id() {
            return id;
        }

        /** Factors by layer path ("encoder.layer.0.attention.self.query"). */
        public Map<String, AdapterRouting.Factors> factors() {
            return factors;
        }

        public int rank() {
            return rank;
        }

        public long bytes() {
            return bytes;
        }

        /** The classifier head, or null for an adapter that only embeds. */
        public Head head() {
            return head;
        }
    }

    /** The adapters a batch uses, alive until closed (once). */
    public final class Lease implements AutoCloseable {
        private final List<Adapter> adapters;
        private boolean closed;

        private Lease(List<Adapter> adapters) {
            this.adapters = adapters;
        }

        /** The adapters, in the order they were asked for. */
        public List<Adapter> adapters() {
            return adapters;
        }

        @Override
        public void close() {
            List<Adapter> freed = new ArrayList<>();
            synchronized (AdapterRegistry.this) {
                if (closed) return;
                closed = true;
                for (Adapter a : adapters) if (release(a)) freed.add(a);
            }
            freeAll(freed);
        }
    }

    private final Map<String, MultiLoraLinear> layers;
    private final long hidden;
    private final Memory memory;
    private final long budgetBytes;
    private final LinkedHashMap<String, Adapter> resident = new LinkedHashMap<>(16, 0.75f, true); // access order: LRU first
    private final AdapterMemory files; // the files' host memory, reused from load to load
    private long bytes;
    private long evictions;
    private boolean closed;

    /** Serves adapters over {@code model} (made ready with {@link BertModel#serveManyAdapters}) within {@code budgetBytes}, on the host. */
    public AdapterRegistry(BertModel model, long budgetBytes) {
        this(model, budgetBytes, Memory.HOST);
    }

    /** As {@link #AdapterRegistry(BertModel, long)}, the factors kept in {@code memory} (a GPU's, where the model computes). */
    public AdapterRegistry(BertModel model, long budgetBytes, Memory memory) {
        this(model, budgetBytes, memory, 0);
    }

    /**
     * As {@link #AdapterRegistry(BertModel, long, Memory)}, with {@code reserveBytes} of host memory for the adapters'
     * files allocated and touched now, at most the budget: loads into it, until it is spent, write into mapped pages
     * (a load below the budget otherwise faults its pages in, on the core that serves requests).
     */
    public AdapterRegistry(BertModel model, long budgetBytes, Memory memory, long reserveBytes) {
        if (budgetBytes < 1) throw new IllegalArgumentException("the adapter budget must be at least 1 byte, is " + budgetBytes);
        if (reserveBytes < 0 || reserveBytes > budgetBytes) throw new IllegalArgumentException("the adapter memory reserve must be within [0, the budget " + budgetBytes + "] bytes, is " + reserveBytes);
        this.layers = model.serveManyAdapters();
        this.hidden = model.config().hidden();
        this.budgetBytes = budgetBytes;
        this.memory = java.util.Objects.requireNonNull(memory, "memory");
        this.files = new AdapterMemory(Math.clamp(budgetBytes, KEEP_MIN_BYTES, KEEP_BYTES), reserveBytes);
    }

    /**
     * Freed adapters' memory kept for the next loads: the budget, within these bounds (a registry at its budget frees
     * about one adapter a load; its blocks are whole pages, so even a tiny budget keeps a few).
     */
    static final long KEEP_MIN_BYTES = 4L << 20, KEEP_BYTES = 64L << 20;

    /**
     * Allocations of file memory so far, one a load: reused from freed adapters, carved from the reserve, and new ones
     * (page faults).
     */
    public long[] memoryReuse() {
        return files.counts();
    }

    /** The reserve's bytes no load has taken yet. */
    public long reserveLeft() {
        return files.reserveLeft();
    }

    /**
     * Reads and checks the adapter in {@code dir} (PEFT layout, a classifier head beside it optional), then makes it
     * resident as {@code id}, replacing one of that id, evicting least recently used adapters to stay in budget.
     *
     * @throws IOException naming the file and what is wrong; nothing changes then
     */
    public Adapter load(String id, Path dir) throws IOException {
        checkId(id);
        Adapter a = read(id, dir); // outside the lock: serving goes on while a file is read
        List<Adapter> freed = new ArrayList<>();
        try {
            synchronized (this) {
                if (closed) {
                    freed.add(a);
                    throw new IllegalStateException("the adapter registry is closed");
                }
                if (a.bytes > budgetBytes) {
                    freed.add(a);
                    throw new IOException(dir + ": the adapter needs " + a.bytes + " bytes, more than the whole budget of " + budgetBytes);
                }
                Adapter old = resident.remove(id);
                if (old != null && retire(old)) freed.add(old);
                while (bytes + a.bytes > budgetBytes) {
                    Adapter lru = resident.values().iterator().next();
                    resident.remove(lru.id);
                    if (retire(lru)) freed.add(lru);
                    evictions++;
                    LOG.info("adapter {} evicted, the least recently used, to make room for {} ({} bytes) within the budget of {} bytes", lru.id, id, a.bytes, budgetBytes);
                }
                resident.put(id, a);
                bytes += a.bytes;
                LOG.debug("adapter {} loaded from {}: rank {}, {} bytes; {} resident, {} bytes", id, dir, a.rank(), a.bytes, resident.size(), bytes);
                return a;
            }
        } finally {
            freeAll(freed);
        }
    }

    /** Takes {@code id} out of service; batches that hold it finish first. Returns whether it was resident. */
    public boolean unload(String id) {
        Adapter a;
        boolean free;
        synchronized (this) {
            a = resident.remove(id);
            if (a == null) return false;
            free = retire(a);
        }
        if (free) freeAll(List.of(a));
        LOG.debug("adapter {} unloaded", id);
        return true;
    }

    /**
     * Leases the adapters named by {@code ids} (null: the base alone, no adapter) for one batch.
     *
     * @throws UnknownAdapterException naming the first id not resident
     */
    public synchronized Lease acquire(List<String> ids) {
        if (closed) throw new IllegalStateException("the adapter registry is closed");
        List<Adapter> out = new ArrayList<>(ids.size());
        for (String id : ids) {
            Adapter a = id == null ? null : resident.get(id); // get: marks it recently used
            if (id != null && a == null) throw new UnknownAdapterException(id);
            out.add(a);
        }
        for (Adapter a : out) if (a != null) a.leases++;
        return new Lease(java.util.Collections.unmodifiableList(out));
    }

    /** An adapter id no resident adapter has: the request's fault (HTTP 404), never the server's. */
    public static final class UnknownAdapterException extends IllegalArgumentException {
        public UnknownAdapterException(String id) {
            super("no adapter '" + id + "' is loaded");
        }
    }

    public synchronized List<String> ids() {
        return List.copyOf(resident.keySet());
    }

    /** Whether {@code id} is resident with a classifier head. */
    public synchronized boolean hasHead(String id) {
        Adapter a = resident.get(id);
        return a != null && a.head != null;
    }

    public synchronized boolean contains(String id) {
        return resident.containsKey(id);
    }

    public synchronized int size() {
        return resident.size();
    }

    /** Bytes of the resident adapters (retired ones still leased are not counted). */
    public synchronized long bytes() {
        return bytes;
    }

    public long budgetBytes() {
        return budgetBytes;
    }

    /** Adapters evicted to make room since the registry was made. */
    public synchronized long evictions() {
        return evictions;
    }

    @Override
    public void close() {
        List<Adapter> freed = new ArrayList<>();
        synchronized (this) {
            closed = true;
            for (Adapter a : resident.values()) if (retire(a)) freed.add(a);
            resident.clear();
            bytes = 0;
        }
        freeAll(freed);
        files.close(); // adapters still leased give their memory back to the system when freed
    }

    /** Takes {@code a} out of service; whether it is to be freed now (no lease holds it). Holds the lock. */
    private boolean retire(Adapter a) {
        if (a.retired) return false;
        a.retired = true;
        bytes -= a.bytes;
        return a.leases == 0;
    }

    /**
     * Frees adapters out of service, outside the lock: closing a shared arena waits on every thread (a handshake, up to
     * milliseconds while the kernels run), which under the lock held up every batch's {@link #acquire}.
     */
    private static void freeAll(List<Adapter> adapters) {
        for (Adapter a : adapters) free(a);
    }

    private static void free(Adapter a) {
        try {
            a.storage.close();
        } catch (Exception e) {
            throw new IllegalStateException("freeing adapter " + a.id + ": " + e.getMessage(), e);
        }
    }

    /** Ends one lease on {@code a}; whether it is to be freed now (retired, and that was the last). Holds the lock. */
    private boolean release(Adapter a) {
        return a != null && --a.leases == 0 && a.retired;
    }

    private static void checkId(String id) {
        if (id == null || !ID.matcher(id).matches()) throw new IllegalArgumentException("adapter id " + (id == null ? "null" : "'" + id + "'") + " must match " + ID.pattern());
    }

    /** The adapter in dir, checked against this encoder. */
    private Adapter read(String id, Path dir) throws IOException {
        PeftAdapter.Loaded peft = PeftAdapter.load(dir, files.arena());
        try {
            PeftAdapter.Config c = peft.config();
            if (c.useDora()) throw new IOException(dir + ": a DoRA adapter (use_dora) cannot be batched unmerged; serve it merged, alone");
            float scale = (float) (c.useRslora() ? c.alpha() / Math.sqrt(c.r()) : c.alpha() / c.r());
            if (!Float.isFinite(scale)) throw new IOException(dir + ": lora_alpha " + c.alpha() + " and r " + c.r() + " give a scale of " + scale);
            Map<String, AdapterRouting.Factors> factors = new LinkedHashMap<>();
            long total = 0;
            for (Map.Entry<String, PeftAdapter.Lora> e : peft.modules().entrySet()) {
                String path = e.getKey().startsWith("bert.") ? e.getKey().substring("bert.".length()) : e.getKey();
                MultiLoraLinear layer = layers.get(path);
                if (layer == null) throw new IOException(dir + ": module '" + e.getKey() + "' is not a projection of this encoder (" + layers.size() + " are, e.g. " + layers.keySet().iterator().next() + ")");
                long[] base = layer.baseShape();
                Tensor a = e.getValue().a(), b = e.getValue().b();
                if (a.dim(1) != base[1] || b.dim(0) != base[0]) {
                    throw new IOException(dir + ": " + path + ": lora_A " + a + " and lora_B " + b + " do not fit the base's " + base[0] + "x" + base[1]);
                }
                factors.put(path, new AdapterRouting.Factors(a, b, scale));
                total += (a.numel() + b.numel()) * 4L;
            }
            Head head = null;
            Path headFile = dir.resolve(BertAdapter.HEAD_FILE);
            if (Files.isRegularFile(headFile)) {
                head = readHead(headFile);
                total += (head.bias().length * (hidden + 1)) * 4L;
            }
            if (memory == Memory.HOST) return new Adapter(id, Map.copyOf(factors), c.r(), total, head, peft);
            Arena device = Arena.ofShared(); // the factors where the model computes; the file's memory goes at once
            try {
                Map<String, AdapterRouting.Factors> moved = new LinkedHashMap<>();
                factors.forEach((path, f) -> moved.put(path, new AdapterRouting.Factors(f.a().copy(device, memory), f.b().copy(device, memory), f.scale())));
                peft.close();
                return new Adapter(id, Map.copyOf(moved), c.r(), total, head, device);
            } catch (RuntimeException e) {
                device.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            peft.close();
            throw e;
        }
    }

    private Head readHead(Path file) throws IOException {
        // confined: read and copied out on this thread, so closing it makes no handshake with the serving threads
        try (Safetensors.File f = Safetensors.read(file, Safetensors.Options.defaults(), Arena.ofConfined())) {
            List<String> classes = List.of(f.metadata().getOrDefault("classes", "").split("\n"));
            Tensor w = f.tensors().get("classifier.weight"), b = f.tensors().get("classifier.bias");
            if (w == null || b == null) throw new IOException(file + ": needs classifier.weight and classifier.bias");
            if (w.rank() != 2 || w.dim(0) != classes.size() || w.dim(1) != hidden || b.numel() != classes.size()) {
                throw new IOException(file + ": a head of " + w + " and " + b + " for " + classes.size() + " classes over hidden size " + hidden);
            }
            BertClassifier.Pooling pooling;
            try {
                pooling = BertClassifier.Pooling.valueOf(f.metadata().getOrDefault("pooling", "mean").toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": pooling '" + f.metadata().get("pooling") + "' is not mean or cls");
            }
            float[][] weight = new float[classes.size()][(int) hidden];
            for (int k = 0; k < classes.size(); k++) for (int j = 0; j < hidden; j++) weight[k][j] = w.getFloat(k, j);
            return new Head(weight, b.toFloatArray(), classes, pooling);
        }
    }
}
