#!/usr/bin/env python3
"""kernels/emulator/transform.py SRC.cu OUT.cpp: a kernels/src file as C++ for the host emulator. Each launch
`k<<<grid, block, shared, stream>>>(args);` becomes `t4j_emu_launch(dim3(grid), stream, [=] { k(args); });`
(block and shared size dropped: one thread per block, the shared memory a global buffer), and
`extern __shared__ float sh[];` points at that buffer."""
import re
import sys


def split_top(s):
    """s split at the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def closing(s, i):
    """The index of the parenthesis closing the one at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses after " + s[i:i + 60])


def transform(src):
    src = re.sub(r"extern\s+__shared__\s+float\s+(\w+)\s*\[\s*\]\s*;", r"float *\1 = t4j_emu_shared;", src)
    out, pos = [], 0
    for m in re.finditer(r"([A-Za-z_][\w:<>, ]*?)<<<", src):
        if m.start() < pos:
            continue
        kernel = m.group(1).strip()
        end = src.index(">>>", m.end())
        config = split_top(src[m.end():end])
        open_paren = src.index("(", end)
        close = closing(src, open_paren)
        args = src[open_paren + 1:close]
        stream = config[3] if len(config) > 3 else "0"
        out.append(src[pos:m.start()])
        out.append(f"t4j_emu_launch(dim3({config[0]}), {stream}, [=] {{ {kernel}({args}); }})")
        pos = close + 1
    out.append(src[pos:])
    return "".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        text = transform(f.read())
    with open(sys.argv[2], "w") as f:
        f.write(text)
