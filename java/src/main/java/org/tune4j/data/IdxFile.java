package org.tune4j.data;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST: two zero bytes, a type byte (0x08 = unsigned byte, the only
 * type these data sets use), the number of dimensions, each dimension as a big-endian int32, then the
 * values row-major. Files may be gzip-compressed (recognised by their magic bytes, not their name).
 */
public final class IdxFile {
    private static final int UBYTE = 0x08;
    /** Refuse headers that promise more than this many values: a corrupt header, not a data set. */
    private static final long MAX_VALUES = Integer.MAX_VALUE - 8;

    /** Dimensions and unsigned-byte values of one IDX file. */
    public record Contents(int[] dims, byte[] values) {
        /** Number of items (the first dimension). */
        public int count() {
            return dims[0];
        }

        /** Values per item (the product of the other dimensions). */
        public int itemSize() {
            int s = 1;
            for (int i = 1; i < dims.length; i++) s *= dims[i];
            return s;
        }
    }

    private IdxFile() {}

    /**
     * Reads {@code path}.
     *
     * @throws IOException with a message naming the file when it is missing, truncated or not IDX
     */
    public static Contents read(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException("IDX file not found: " + path);
        try (InputStream in = Files.newInputStream(path)) {
            return read(in, path.toString());
        }
    }

    /** Reads an IDX stream (raw or gzip); {@code name} appears in error messages. */
    public static Contents read(InputStream raw, String name) throws IOException {
        BufferedInputStream buffered = new BufferedInputStream(raw, 1 << 16);
        buffered.mark(2);
        int b0 = buffered.read(), b1 = buffered.read();
        buffered.reset();
        try {
            InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new BufferedInputStream(new GZIPInputStream(buffered, 1 << 16), 1 << 16) : buffered;
            DataInputStream data = new DataInputStream(in);
            int zero0 = data.readUnsignedByte(), zero1 = data.readUnsignedByte(), type = data.readUnsignedByte(), rank = data.readUnsignedByte();
            if (zero0 != 0 || zero1 != 0) throw new IOException(name + ": not an IDX file (bad magic)");
            if (type != UBYTE) throw new IOException(name + ": IDX type 0x" + Integer.toHexString(type) + " is not supported (only unsigned bytes, 0x08)");
            if (rank < 1) throw new IOException(name + ": IDX file with no dimensions");
            int[] dims = new int[rank];
            long count = 1;
            for (int i = 0; i < rank; i++) {
                dims[i] = data.readInt();
                if (dims[i] < 0) throw new IOException(name + ": negative dimension " + dims[i]);
                count *= dims[i];
                if (count > MAX_VALUES) throw new IOException(name + ": header promises more than " + MAX_VALUES + " values");
            }
            // read as the bytes arrive (readNBytes grows its buffer), so a header that promises more than
            // the stream holds costs what the stream holds, not what the header says
            byte[] values = data.readNBytes((int) count);
            if (values.length != count) throw new IOException(name + ": truncated IDX file: the header promises " + count + " values, it holds " + values.length);
            if (data.read() != -1) throw new IOException(name + ": data after the " + count + " values the header promises");
            return new Contents(dims, values);
        } catch (EOFException e) {
            throw new IOException(name + ": truncated IDX file", e);
        } catch (java.util.zip.ZipException e) {
            throw new IOException(name + ": corrupt gzip data: " + e.getMessage(), e);
        }
    }

    /** Writes {@code contents} to {@code path}, gzip-compressed when the name ends in ".gz". */
    public static void write(Path path, Contents contents) throws IOException {
        long count = 1;
        for (int d : contents.dims()) count *= d;
        if (count != contents.values().length) {
            throw new IllegalArgumentException("dims " + Arrays.toString(contents.dims()) + " need " + count + " values, got " + contents.values().length);
        }
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        header.write(new byte[] {0, 0, UBYTE, (byte) contents.dims().length});
        for (int d : contents.dims()) header.write(new byte[] {(byte) (d >>> 24), (byte) (d >>> 16), (byte) (d >>> 8), (byte) d});
        try (OutputStream out = path.toString().endsWith(".gz") ? new GZIPOutputStream(Files.newOutputStream(path), 1 << 16) : Files.newOutputStream(path)) {
            out.write(header.toByteArray());
            out.write(contents.values());
        }
    }
}
