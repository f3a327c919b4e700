#!/usr/bin/env python3
"""kernels/emulator/small_data.py SRC_DIR OUT_DIR TRAIN TEST: the first TRAIN training and TEST test images of a
Fashion-MNIST folder (IDX, gzip or raw), written as raw IDX files under the standard names: a data set the
emulator's single-threaded GEMMs get through in seconds."""
import gzip
import os
import struct
import sys


def read(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p) if p.endswith(".gz") else open(p, "rb")) as f:
                return f.read()
    raise FileNotFoundError(path)


def first(data, n):
    dims = data[3]
    shape = list(struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims]))
    per = 1
    for d in shape[1:]:
        per *= d
    shape[0] = min(n, shape[0])
    return data[:3] + bytes([dims]) + struct.pack(">" + "I" * dims, *shape) + data[4 + 4 * dims:4 + 4 * dims + shape[0] * per]


src, out, train, test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for name, n in (("train-images-idx3-ubyte", train), ("train-labels-idx1-ubyte", train), ("t10k-images-idx3-ubyte", test), ("t10k-labels-idx1-ubyte", test)):
    with open(os.path.join(out, name), "wb") as f:
        f.write(first(read(os.path.join(src, name)), n))
