#!/usr/bin/env python3
"""Where a `bench serve` 70% run's tail comes from.

Run the bench with -Dtune4j.serve.samplesFile=FILE (JAVA_OPTS="-Dtune4j.serve.samplesFile=/tmp/serve.samples"
./tune4j bench serve), then: python3 tail.py FILE. It prints p50 and p99 as the bench computes them, the hypervisor's
steal over the run, the batch sizes (answers less than 2 ms apart count as one batch), and each cluster of requests
slower than twice p50 (requests due within 0.5 s of each other) with the steal and the adapter loads near it. The
server's own batch times are in FILE.metrics (Prometheus text, scraped at the end of the run).
"""
import sys
from collections import Counter


def main(path):
    reqs, loads, steal = [], [], []
    for line in open(path):
        f = line.split()
        if f[0] == "start":
            print("run started", f[1], "ms after the JVM (the uptime -Xlog prints)")
        elif f[0] == "req":
            reqs.append((float(f[1]), float(f[2]), int(f[3])))
        elif f[0] == "load":
            loads.append((float(f[1]), float(f[2])))
        elif f[0] == "steal":
            steal.append((float(f[1]), int(f[2])))
    reqs.sort()
    steal.sort()
    lat = sorted(done - due for due, done, status in reqs if status == 200)
    p50, p99 = lat[len(lat) // 2], lat[int(0.99 * len(lat))]
    errors = sum(1 for r in reqs if r[2] != 200)
    print(f"{len(reqs)} requests, {errors} errors: p50 {p50:.1f} ms, p99 {p99:.1f} ms = {p99 / p50:.2f}x p50, worst {lat[-1]:.1f} ms")

    def stolen(t0, t1):
        before = [v for t, v in steal if t <= t0]
        after = [v for t, v in steal if t >= t1]
        return (after[0] if after else steal[-1][1]) - (before[-1] if before else steal[0][1])

    print(f"steal: {steal[-1][1] - steal[0][1]} ms over {(steal[-1][0] - steal[0][0]) / 1e3:.1f} s")
    done = sorted(r[1] for r in reqs)
    batches, current = [], [done[0]]
    for d in done[1:]:
        if d - current[-1] < 2:
            current.append(d)
        else:
            batches.append(current)
            current = [d]
    batches.append(current)
    print("batch sizes (size, count):", sorted(Counter(len(b) for b in batches).items()))
    slow = [(due, done - due) for due, done, status in reqs if done - due > 2 * p50]
    print(f"{len(slow)} requests above 2x p50 ({2 * p50:.0f} ms), in clusters:")
    clusters = []
    for due, ms in slow:
        if clusters and due - clusters[-1][-1][0] < 500:
            clusters[-1].append((due, ms))
        else:
            clusters.append([(due, ms)])
    for c in clusters:
        t0, t1 = c[0][0] - 200, c[-1][0] + c[-1][1]
        near = [(round(a / 1e3, 2), round(b - a, 1)) for a, b in loads if b >= t0 - 500 and a <= t1]
        print(f"  at {c[0][0] / 1e3:6.2f} s: {len(c)} requests, worst {max(ms for _, ms in c):6.1f} ms, steal {stolen(t0, t1)} ms in"
              f" {t1 - t0:.0f} ms, loads (start s, ms) near: {near}")


if __name__ == "__main__":
    main(sys.argv[1])
