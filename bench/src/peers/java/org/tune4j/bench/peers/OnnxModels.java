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
    private static final int UINT8 = 2;
    private static final int INT8 = 3;
    private static final int INT32 = 6;
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
        return matrixInfo(name, FLOAT, rows, cols);
    }

    private static Proto matrixInfo(String name, int elemType, long rows, long cols) {
        Proto shape = new Proto()
                .message(1, new Proto().varint(1, rows))   // TensorShapeProto.dim { dim_value }
                .message(1, new Proto().varint(1, cols));
        Proto tensorType = new Proto().varint(1, elemType).message(2, shape); // elem_type, shape
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType)); // name, type.tensor_type
    }

    private static byte[] model(Proto graph) {
        return new Proto()
                .varint(1, 8)                                          // ir_version
                .string(2, "tune4j-bench")                             // producer_name
                .message(7, graph)
                .message(8, new Proto().string(1, "").varint(2, 13))   // opset_import: default domain, opset 13
                .toBytes();
    }

    /**
     * C[m,n] (int32) = (A - 128) B: A uint8 [m,k] an input, a_zero_point = 128 (so that A carries
     * symmetric int8 activations shifted to unsigned, as our VNNI kernel does), B int8 [k,n] a constant.
     */
    static byte[] matMulInteger(int m, int n, int k, byte[] b) {
        Proto bTensor = new Proto().varint(1, k).varint(1, n).varint(2, INT8).string(8, "B").bytes(9, b);
        Proto zero = new Proto().varint(2, UINT8).string(8, "a_zero_point").bytes(9, new byte[] {(byte) 128});
        Proto node = new Proto().string(1, "A").string(1, "B").string(1, "a_zero_point").string(2, "C").string(4, "MatMulInteger");
        Proto graph = new Proto()
                .message(1, node)
                .string(2, "tune4j_peer_int8")
                .message(5, bTensor)
                .message(5, zero)
                .message(11, matrixInfo("A", UINT8, m, k))
                .message(12, matrixInfo("C", INT32, m, n));
        return model(graph);
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
        return model(graph);
    }
}
