package org.tune4j.bench.peers;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes the one-node ONNX models the peer runs, as plain protobuf (field numbers from onnx.proto):
 * C = A·B (MatMul) or C = op(A)·op(B) (Gemm with transA/transB), with B a constant initializer so that
 * ONNX Runtime can pre-pack it at session creation, as it would for a model's weights.
 */
final class OnnxModels {
    private static final int FLOAT = 1;          // TensorProto.DataType.FLOAT
    private static final int ATTRIBUTE_INT = 2;  // AttributeProto.AttributeType.INT

    private OnnxModels() {}

    /** Protobuf wire-format writer: just what these models need. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long v) {
            tag(field, 0);
            raw(v);
            return this;
        }

        Proto bytes(int field, byte[] b) {
            tag(field, 2);
            raw(b.length);
            out.writeBytes(b);
            return this;
        }

        Proto string(int field, String s) {
            return bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto m) {
            return bytes(field, m.out.toByteArray());
        }

        private void tag(int field, int wireType) {
            raw(((long) field << 3) | wireType);
        }

        private void raw(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }

        byte[] toBytes() {
            return out.toByteArray();
        }
    }

    /** ValueInfoProto for a float matrix. */
    private static Proto matrixInfo(String name, long rows, long cols) {
        Proto shape = new Proto()
                .message(1, new Proto().varint(1, rows))   // TensorShapeProto.dim { dim_value }
                .message(1, new Proto().varint(1, cols));
        Proto tensorType = new Proto().varint(1, FLOAT).message(2, shape); // elem_type, shape
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType)); // name, type.tensor_type
    }

    /** C[m,n] = op(A) op(B); A is an input of shape (transA ? k×m : m×k), B a constant with the given values. */
    static byte[] gemm(boolean transA, boolean transB, int m, int n, int k, float[] bValues) {
        long bRows = transB ? n : k, bCols = transB ? k : n;
        ByteBuffer raw = ByteBuffer.allocate(bValues.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(bValues);
        Proto b = new Proto().varint(1, bRows).varint(1, bCols).varint(2, FLOAT).string(8, "B").bytes(9, raw.array());

        Proto node = new Proto().string(1, "A").string(1, "B").string(2, "C");
        if (!transA && !transB) {
            node.string(4, "MatMul");
        } else {
            node.string(4, "Gemm");
            node.message(5, new Proto().string(1, "transA").varint(3, transA ? 1 : 0).varint(20, ATTRIBUTE_INT));
            node.message(5, new Proto().string(1, "transB").varint(3, transB ? 1 : 0).varint(20, ATTRIBUTE_INT));
        }
        Proto graph = new Proto()
                .message(1, node)
                .string(2, "tune4j_peer")
                .message(5, b)
                .message(11, transA ? matrixInfo("A", k, m) : matrixInfo("A", m, k))
                .message(12, matrixInfo("C", m, n));
        return new Proto()
                .varint(1, 8)                                          // ir_version
                .string(2, "tune4j-bench")                             // producer_name
                .message(7, graph)
                .message(8, new Proto().string(1, "").varint(2, 13))   // opset_import: default domain, opset 13
                .toBytes();
    }
}
