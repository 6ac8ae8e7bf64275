#!/usr/bin/env python3
"""From slurm-scaling.sh's measurements, what an archive costs on a cluster.

  extrapolate.py RESULT.txt [--images 1000000] [--nodes 20] [--cores 32]

Model (every input is a line of RESULT.txt):
  s     seconds per image on one core   = 1 / (images/s/core of `nodules batch --jobs 1`, median)
  t0    fixed cost of one shard          = `nodules batch` over an empty shard (median)
  merge seconds = a + b * images + c * shards   (least squares over the merge lines)
  A shard of M images on C cores takes t0 + M * s / C (per-core throughput assumed
  to hold on C cores, as independent images do; the jobs=2 line shows the 2-core
  efficiency measured here). With slots = nodes * cores / C shards at once, the
  N = images / M shards run in ceil(N / slots) waves; the merge then runs alone.
  Slurm's scheduling latency (about 1 s per wave on the test cluster) is added per wave.
"""
import math
import re
import statistics
import sys


def fields(line):
    return dict(re.findall(r"(\w+)=('[^']*'|\S+)", line))


def solve3(rows):
    """Least squares for y = a + b*x1 + c*x2 via the normal equations."""
    X = [(1.0, x1, x2) for x1, x2, _ in rows]
    y = [r[2] for r in rows]
    A = [[sum(X[k][i] * X[k][j] for k in range(len(X))) for j in range(3)] for i in range(3)]
    v = [sum(X[k][i] * y[k] for k in range(len(X))) for i in range(3)]
    # Gaussian elimination
    for i in range(3):
        p = max(range(i, 3), key=lambda r: abs(A[r][i]))
        A[i], A[p], v[i], v[p] = A[p], A[i], v[p], v[i]
        for r in range(i + 1, 3):
            f = A[r][i] / A[i][i]
            A[r] = [A[r][j] - f * A[i][j] for j in range(3)]
            v[r] -= f * v[i]
    x = [0.0] * 3
    for i in reversed(range(3)):
        x[i] = (v[i] - sum(A[i][j] * x[j] for j in range(i + 1, 3))) / A[i][i]
    return x


def main():
    args = sys.argv[1:]
    path = args[0]
    opts = {"--images": 1_000_000, "--nodes": 20, "--cores": 32}
    for i in range(1, len(args), 2):
        opts[args[i]] = int(args[i + 1])
    images, nodes, cores = opts["--images"], opts["--nodes"], opts["--cores"]
    lines = [l for l in open(path) if not l.startswith("#")]
    per_core = {1: [], 2: []}
    t0s, merges = [], []
    for l in lines:
        f = fields(l)
        if l.startswith("throughput "):
            per_core[int(f["jobs"])].append(float(f["images_per_s_per_core"]))
        elif l.startswith("shard_overhead "):
            t0s.append(float(f["seconds"]))
        elif l.startswith("merge "):
            merges.append((float(f["images"]), float(f["shards"]), float(f["seconds"])))
    rate1 = statistics.median(per_core[1])
    rate2 = statistics.median(per_core[2]) if per_core[2] else float("nan")
    s = 1 / rate1
    t0 = statistics.median(t0s)
    a, b, c = solve3(merges)
    sched = 1.0
    merge_total = lambda n: a + b * images + c * n

    out = []
    out.append(f"# extrapolation ({images:,} images, {nodes} nodes x {cores} cores = {nodes * cores} cores)")
    out.append(f"# per core: {rate1:.3f} images/s (s = {s:.3f} s/image); 2 jobs on 2 cores: {rate2:.3f} images/s/core "
               f"({rate2 / rate1:.0%} of 1 job)")
    out.append(f"# shard fixed cost t0 = {t0:.3f} s; merge = {a:.3f} + {b * 1000:.4f} ms * images + {c:.4f} s * shards "
               f"(fit over {len(merges)} runs; 1M images in 1 store: {merge_total(1) / 60:.1f} min)")
    out.append(f"# pure compute: {images * s / 3600:.1f} core-hours; ideal wall on {nodes * cores} cores "
               f"{images * s / (nodes * cores) / 60:.1f} min")
    for C in (32, 8):
        slots = nodes * cores // C
        out.append(f"# C = {C} cpus per shard ({slots} shards at once)")
        out.append("#   images/shard  shards  waves  shard_min  compute_min  merge_min  total_min  merge_share")
        best = None
        for M in (250, 500, 1000, 2000, 3125, 5000, 12500, 25000, 50000):
            n = math.ceil(images / M)
            waves = math.ceil(n / slots)
            shard = t0 + M * s / C
            compute = waves * (shard + sched)
            merge = merge_total(n)
            total = compute + merge
            out.append(f"#   {M:12d}  {n:6d}  {waves:5d}  {shard / 60:9.1f}  {compute / 60:11.1f}  {merge / 60:9.1f}  "
                       f"{total / 60:9.1f}  {merge / total:11.0%}")
            if best is None or total < best[1]:
                best = (M, total)
        # balance: one shard lasts as long as the merge
        n_guess = images / 1000
        for _ in range(20):
            M_bal = (merge_total(n_guess) - t0) * C / s
            n_guess = images / M_bal
        out.append(f"#   balance (one shard as long as the merge, {merge_total(n_guess) / 60:.1f} min): "
                   f"{M_bal:,.0f} images/shard, {math.ceil(images / M_bal)} shards; "
                   f"lowest total in the table: {best[0]} images/shard, {best[1] / 60:.1f} min")
    print("\n".join(out))


if __name__ == "__main__":
    main()
