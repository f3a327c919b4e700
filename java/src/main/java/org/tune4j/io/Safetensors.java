package org.tune4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The safetensors format of Hugging Face: an 8-byte little-endian header length N, N bytes of JSON
 * ({@code {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__":
 * {string: string}}}, padded with spaces to a multiple of 8), then the tensors' little-endian bytes, offsets
 * relative to the end of the header, back to back. Reading copies the data into memory the reader owns
 * (a mapping is opt-in: {@link Options#mapped}), after every size in the header has been checked
 * against the file's.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper().enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    /** Headers above this size are refused as corrupt (the format allows 100 MB). */
    private static final long MAX_HEADER = 100L << 20;

    private Safetensors() {}

    /** Writes {@code tensors} (in their map order, contiguous F32, I32 or I8) and string metadata to {@code file}. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' cannot name a tensor");
            if (!t.isContiguous()) throw new IllegalArgumentException(e.getKey() + ": only contiguous tensors can be written");
            long bytes = t.dtype().bytes(t.numel());
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", dtypeName(t.dtype()));
            var shape = info.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            info.putArray("data_offsets").add(offset).add(Math.addExact(offset, bytes));
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        Path tmp = Folders.partialCopyOf(file);
        try {
            writeTo(tmp, padded, json, tensors);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp); // gone after the move; removes a partial file after a failure
        }
    }

    private static void writeTo(Path tmp, int padded, byte[] json, Map<String, Tensor> tensors) throws IOException {
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.position() < head.capacity()) head.put((byte) ' ');
            head.flip();
            while (head.hasRemaining()) ch.write(head);
            for (Tensor value : tensors.values()) {
                Tensor t = value.isHost() ? value : value.copy(Arena.ofAuto(), org.tune4j.tensor.Memory.HOST); // a device's tensor: written from a host copy
                MemorySegment bytes = t.segment().asSlice(0, t.dtype().bytes(t.numel()));
                for (long done = 0; done < bytes.byteSize(); ) {
                    ByteBuffer data = bytes.asSlice(done, Math.min(bytes.byteSize() - done, 1L << 30)).asByteBuffer();
                    done += data.remaining();
                    while (data.hasRemaining()) ch.write(data);
                }
            }
        }
    }

    /** An opened safetensors file: its tensors live until {@link #close}. */
    public static final class File implements AutoCloseable {
        private final Arena arena;
        private final Map<String, Tensor> tensors;
        private final Map<String, String> metadata;

        private File(Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
            this.arena = arena;
            this.tensors = tensors;
            this.metadata = metadata;
        }

        /** Tensors by name, in the file's order. */
        public Map<String, Tensor> tensors() {
            return tensors;
        }

        /** The tensor called {@code name}. */
        public Tensor get(String name) {
            Tensor t = tensors.get(name);
            if (t == null) throw new IllegalArgumentException("no tensor '" + name + "' in this safetensors file (it has " + tensors.keySet() + ")");
            return t;
        }

        public Map<String, String> metadata() {
            return metadata;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /**
     * How a file is read. {@code mapped}: the tensors stay on a read-only mapping of the file instead of
     * being copied into memory the reader owns; faster to open, but if the file is truncated or rewritten
     * while it is open, the next kernel that reads a tensor takes the JVM down with SIGBUS, so use it only
     * for files nobody else writes. {@code allowNonFinite}: keep NaN or infinite F32 values instead of
     * refusing the file (for debugging a diverged run).
     */
    public record Options(boolean mapped, boolean allowNonFinite) {
        /** Owned memory, finite values only. */
        public static Options defaults() {
            return new Options(false, false);
        }
    }

    /**
     * Reads {@code file} into memory the returned {@link File} owns, checking its header (every tensor's
     * dtype, shape and offsets, no gaps or overlaps, nothing past the end, sizes bounded by the file's
     * size before anything is allocated) and refusing NaN or infinite F32 values, naming the tensor.
     *
     * @throws IOException naming the file and what is wrong with it
     */
    public static File read(Path file) throws IOException {
        return read(file, Options.defaults());
    }

    /** As {@link #read(Path)}, mapped or with non-finite values allowed as {@code options} say. */
    public static File read(Path file, Options options) throws IOException {
        return read(file, options, Arena.ofShared());
    }

    /**
     * As {@link #read(Path, Options)}, the tensors in memory from {@code arena} (an adapter registry's pool of
     * recycled memory), which the returned {@link File} closes, and which is closed here if the file is refused.
     */
    public static File read(Path file, Options options, Arena arena) throws IOException {
        if (!Files.isRegularFile(file)) {
            arena.close();
            throw new IOException("safetensors file not found: " + file);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new IOException(file + ": too short for a safetensors file (" + size + " bytes)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, file);
            long n = lenBuf.getLong(0);
            if (n < 2 || n > MAX_HEADER || n > size - 8) throw new IOException(file + ": header length " + n + " does not fit the file of " + size + " bytes");
            ByteBuffer headBuf = ByteBuffer.allocate((int) n);
            readFully(ch, headBuf, 8, file);
            JsonNode header;
            try {
                header = JSON.readTree(new String(headBuf.array(), StandardCharsets.UTF_8));
            } catch (JsonProcessingException e) {
                throw new IOException(file + ": the header is not JSON: " + e.getOriginalMessage(), e);
            }
            if (header == null || !header.isObject()) throw new IOException(file + ": the header is not a JSON object");
            long dataBytes = size - 8 - n;
            MemorySegment data;
            if (options.mapped()) {
                // the format pads the header to 8 bytes; unpadded, a mapped tensor would sit at an odd address
                if (n % 8 != 0) throw new IOException(file + ": header length " + n + " is not a multiple of 8; read it without mapping");
                data = ch.map(FileChannel.MapMode.READ_ONLY, 8 + n, dataBytes, arena);
            } else {
                data = arena.allocate(Math.max(1, dataBytes), 64).asSlice(0, dataBytes);
                readFully(ch, data, 8 + n, file);
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            List<long[]> spans = new ArrayList<>();
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            float[] chunk = new float[(int) Math.min(Math.max(1, dataBytes / Float.BYTES), 1 << 14)];
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    metadata(file, e.getValue(), metadata);
                    continue;
                }
                Tensor t = tensor(file, e.getKey(), e.getValue(), data, spans, arena);
                if (!options.allowNonFinite()) requireFinite(file, e.getKey(), t, chunk);
                tensors.put(e.getKey(), t);
            }
            spans.sort((a, b) -> Long.compare(a[0], b[0]));
            long expect = 0;
            for (long[] s : spans) {
                if (s[0] != expect) throw new IOException(file + ": tensor data has a gap or an overlap at byte " + s[0]);
                expect = s[1];
            }
            if (expect != data.byteSize()) throw new IOException(file + ": " + (data.byteSize() - expect) + " bytes after the last tensor");
            return new File(arena, tensors, metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path file) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) throw new IOException(file + ": the file ended while it was read (truncated?)");
        }
    }

    /** Copies the file's bytes from {@code position} into {@code dst}, 1 GiB at a time (a ByteBuffer holds at most 2 GiB). */
    private static void readFully(FileChannel ch, MemorySegment dst, long position, Path file) throws IOException {
        for (long done = 0; done < dst.byteSize(); ) {
            long chunk = Math.min(dst.byteSize() - done, 1L << 30);
            readFully(ch, dst.asSlice(done, chunk).asByteBuffer(), position + done, file);
            done += chunk;
        }
    }

    /** The header's {@code __metadata__}: a flat object of strings, as the format defines it. */
    private static void metadata(Path file, JsonNode node, Map<String, String> out) throws IOException {
        if (!node.isObject()) throw new IOException(file + ": __metadata__ must be an object of strings");
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) throw new IOException(file + ": __metadata__ entry '" + m.getKey() + "' is not a string");
            out.put(m.getKey(), m.getValue().asText());
        }
    }

    /** Refuses NaN or infinite values in an F32 tensor, naming it and the first bad index. */
    /**
     * {@code chunk}: the file's one scratch array (tensors are copied out through it in bulk: an element-wise read of
     * the segment is ~30x slower; one array a tensor was 1.5 MB of garbage a MiniLM adapter, a young GC every ~150 loads).
     */
    private static void requireFinite(Path file, String name, Tensor t, float[] chunk) throws IOException {
        if (t.dtype() != DType.F32) return;
        MemorySegment seg = t.segment();
        long n = t.numel();
        for (long i0 = 0; i0 < n; i0 += chunk.length) {
            int len = (int) Math.min(chunk.length, n - i0);
            MemorySegment.copy(seg, LE_FLOAT, i0 * Float.BYTES, chunk, 0, len);
            for (int j = 0; j < len; j++) {
                if (!Float.isFinite(chunk[j])) {
                    throw new IOException(file + ": tensor '" + name + "' holds " + chunk[j] + " at index " + (i0 + j)
                            + " (non-finite weights are refused; Safetensors.Options.allowNonFinite loads them for debugging)");
                }
            }
        }
    }

    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A tensor of the header; F16 and BF16 (Hugging Face checkpoints) are widened to F32 in {@code arena}, exactly. */
    private static Tensor tensor(Path file, String name, JsonNode info, MemorySegment data, List<long[]> spans, Arena arena) throws IOException {
        String where = file + ": tensor '" + name + "'";
        if (!info.isObject() || !info.path("dtype").isTextual() || !info.path("shape").isArray() || !info.path("data_offsets").isArray()) {
            throw new IOException(where + " needs dtype (a string), shape and data_offsets (arrays)");
        }
        String dtypeName = info.get("dtype").asText();
        boolean half = dtypeName.equals("F16") || dtypeName.equals("BF16");
        DType dtype = half ? DType.F32 : dtype(dtypeName, where);
        long elementBytes = half ? 2 : dtype.byteSize();
        JsonNode shapeNode = info.get("shape"), off = info.get("data_offsets");
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(shapeNode.get(i), where + ": shape " + shapeNode);
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException overflow) {
                throw new IOException(where + ": shape " + shapeNode + " has more than 2^63 elements");
            }
        }
        if (off.size() != 2) throw new IOException(where + ": data_offsets must be [begin, end]");
        long begin = nonNegativeLong(off.get(0), where + ": data_offsets " + off), end = nonNegativeLong(off.get(1), where + ": data_offsets " + off);
        if (end < begin || end > data.byteSize()) throw new IOException(where + ": data_offsets " + off + " outside the data (" + data.byteSize() + " bytes)");
        if (begin % elementBytes != 0) throw new IOException(where + ": data_offsets " + off + " is not aligned to its " + elementBytes + "-byte elements");
        if (count > data.byteSize() || end - begin != count * elementBytes) {
            throw new IOException(where + ": " + (end - begin) + " bytes for shape " + shapeNode + " of " + dtypeName);
        }
        spans.add(new long[] {begin, end});
        if (half) return widen(data.asSlice(begin, end - begin), dtypeName.equals("BF16"), shape, arena);
        return Tensor.wrap(data.asSlice(begin, end - begin), dtype, shape);
    }

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** 16-bit floats to F32: IEEE half by {@link Float#float16ToFloat}, bfloat16 as the top half of an F32's bits. */
    private static Tensor widen(MemorySegment halves, boolean bf16, long[] shape, Arena arena) {
        Tensor out = Tensor.zeros(arena, DType.F32, shape);
        long n = halves.byteSize() / 2;
        for (long i = 0; i < n; i++) {
            short h = halves.getAtIndex(HALF, i);
            out.setFloat(i, bf16 ? Float.intBitsToFloat((h & 0xffff) << 16) : Float.float16ToFloat(h));
        }
        return out;
    }

    private static long nonNegativeLong(JsonNode n, String what) throws IOException {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0) throw new IOException(what + ": not a non-negative integer");
        return n.asLong();
    }

    private static String dtypeName(DType d) {
        return switch (d) {
            case F32 -> "F32";
            case I32 -> "I32";
            case I8 -> "I8";
            case BF16 -> "BF16";
        };
    }

    private static DType dtype(String name, String where) throws IOException {
        return switch (name) {
            case "F32" -> DType.F32;
            case "I32" -> DType.I32;
            case "I8" -> DType.I8;
            default -> throw new IOException(where + ": dtype " + name + " is not supported (F32, F16, BF16, I32, I8)");
        };
    }
}
