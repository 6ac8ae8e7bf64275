#!/usr/bin/env python3
"""From slurm-scaling.sh's measurements, what an archive costs on a cluster.

  extrapolate.py RESULT.txt [--images 1000000] [--nodes 20] [--cores 32]

Model (every input is a line of RESULT.txt):
  s     seconds per image on one core   = CPU seconds (user + sys) per image of
                                          `nodules batch --jobs 1` (median): on a shared, loaded
                                          machine the wall clock overstates a dedicated core's cost
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
    t0s, merges, merges_cpu, big = [], [], [], {}
    for l in lines:
        f = fields(l)
        if l.startswith("throughput_2048 "):
            big.setdefault(int(f["jobs"]), (float(f["images_per_s_per_core"]), float(f["cpu_s_per_image"])))
        elif l.startswith("throughput "):
            per_core[int(f["jobs"])].append((float(f["images_per_s_per_core"]), float(f["cpu_s_per_image"])))
        elif l.startswith("shard_overhead "):
            t0s.append(float(f["seconds"]))
        elif l.startswith("merge "):
            merges.append((float(f["images"]), float(f["shards"]), float(f["seconds"])))
            merges_cpu.append((float(f["images"]), float(f["shards"]), float(f.get("cpu_seconds", "nan"))))
    wall1 = statistics.median(r for r, _ in per_core[1])
    cpu1 = statistics.median(c for _, c in per_core[1])
    wall2 = statistics.median(r for r, _ in per_core[2]) if per_core[2] else float("nan")
    t0 = statistics.median(t0s)
    a, b, c = solve3(merges)
    sched = 1.0
    merge_total = lambda n: a + b * images + c * n

    out = []
    out.append(f"# extrapolation ({images:,} images, {nodes} nodes x {cores} cores = {nodes * cores} cores)")
    out.append(f"# shard fixed cost t0 = {t0:.3f} s; merge = {a:.3f} + {b * 1000:.4f} ms * images + {c:.4f} s * shards "
               f"(fit over {len(merges)} runs; {images:,} images: {merge_total(1) / 60:.1f} min)")
    ac, bc, cc = solve3(merges_cpu)
    out.append(f"# (merge CPU time alone = {ac:.3f} + {bc * 1000:.4f} ms * images + {cc:.4f} s * shards: "
               f"{(ac + bc * images + cc) / 60:.1f} min for {images:,} images; the tables use the wall-clock fit above, "
               f"which includes I/O and this machine's contention)")
    cases = [("1024x1024 phantoms", wall1, cpu1, wall2)]
    if 1 in big:
        cases.append(("2048x2048 chest-like", big[1][0], big[1][1], big.get(2, (float("nan"), 0))[0]))
    for label, w1, c1, w2 in cases:
        out.append(f"## {label}: {c1:.3f} CPU s/image = {1 / c1:.2f} images/s per dedicated core "
                   f"(wall clock here, shared machine: {w1:.2f} images/s with --jobs 1, {w2:.2f} images/s/core with --jobs 2)")
        table(out, images, nodes, cores, c1, t0, merge_total, sched)
    print("\n".join(out))


def table(out, images, nodes, cores, s, t0, merge_total, sched):
    out.append(f"# pure compute: {images * s / 3600:.1f} core-hours; ideal wall on {nodes * cores} cores "
               f"{images * s / (nodes * cores) / 60:.1f} min")
    for C in (32, 8):
        slots = nodes * cores // C
        out.append(f"# C = {C} cpus per shard ({slots} shards at once)")
        out.append("#   images/shard  shards  waves  shard_min  compute_min  merge_min  total_min  merge_share")
        best = None
        for M in (250, 500, 1000, 2000, 3125, 4167, 5000, 12500, 25000, 50000):
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


if __name__ == "__main__":
    main()
