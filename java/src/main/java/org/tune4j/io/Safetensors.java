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
 * relative to the end of the header, back to back. Reading maps the file (FFM) and wraps the tensors
 * in place, without copying.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper();
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
            long bytes = t.numel() * t.dtype().byteSize();
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", dtypeName(t.dtype()));
            var shape = info.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            info.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.position() < head.capacity()) head.put((byte) ' ');
            head.flip();
            while (head.hasRemaining()) ch.write(head);
            for (Tensor t : tensors.values()) {
                ByteBuffer data = t.segment().asSlice(0, t.numel() * t.dtype().byteSize()).asByteBuffer();
                while (data.hasRemaining()) ch.write(data);
            }
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** An opened safetensors file: its tensors map the file and live until {@link #close}. */
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
     * Maps {@code file} and checks its header (every tensor's dtype, shape and offsets, no gaps or
     * overlaps, nothing past the end).
     *
     * @throws IOException naming the file and what is wrong with it
     */
    public static File read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("safetensors file not found: " + file);
        Arena arena = Arena.ofShared();
        try {
            MemorySegment all;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            if (all.byteSize() < 8) throw new IOException(file + ": too short for a safetensors file");
            long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (n < 2 || n > MAX_HEADER || 8 + n > all.byteSize()) throw new IOException(file + ": header length " + n + " does not fit the file of " + all.byteSize() + " bytes");
            String json = new String(all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            JsonNode header;
            try {
                header = JSON.readTree(json);
            } catch (JsonProcessingException e) {
                throw new IOException(file + ": the header is not JSON: " + e.getOriginalMessage(), e);
            }
            if (header == null || !header.isObject()) throw new IOException(file + ": the header is not a JSON object");
            MemorySegment data = all.asSlice(8 + n);
            Map<String, String> metadata = new LinkedHashMap<>();
            List<long[]> spans = new ArrayList<>();
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), tensor(file, e.getKey(), e.getValue(), data, spans));
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

    private static Tensor tensor(Path file, String name, JsonNode info, MemorySegment data, List<long[]> spans) throws IOException {
        String where = file + ": tensor '" + name + "'";
        if (!info.isObject() || !info.has("dtype") || !info.has("shape") || !info.has("data_offsets")) {
            throw new IOException(where + " needs dtype, shape and data_offsets");
        }
        DType dtype = dtype(info.get("dtype").asText(), where);
        JsonNode shapeNode = info.get("shape"), off = info.get("data_offsets");
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) throw new IOException(where + ": bad shape " + shapeNode);
            count = Math.multiplyExact(count, shape[i]);
        }
        if (off.size() != 2) throw new IOException(where + ": data_offsets must be [begin, end]");
        long begin = off.get(0).asLong(-1), end = off.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > data.byteSize()) throw new IOException(where + ": data_offsets " + off + " outside the data (" + data.byteSize() + " bytes)");
        if (end - begin != count * dtype.byteSize()) throw new IOException(where + ": " + (end - begin) + " bytes for shape " + shapeNode + " of " + dtype);
        spans.add(new long[] {begin, end});
        return Tensor.wrap(data.asSlice(begin, end - begin), dtype, shape);
    }

    private static String dtypeName(DType d) {
        return switch (d) {
            case F32 -> "F32";
            case I32 -> "I32";
            case I8 -> "I8";
        };
    }

    private static DType dtype(String name, String where) throws IOException {
        return switch (name) {
            case "F32" -> DType.F32;
            case "I32" -> DType.I32;
            case "I8" -> DType.I8;
            default -> throw new IOException(where + ": dtype " + name + " is not supported (F32, I32, I8)");
        };
    }
}
