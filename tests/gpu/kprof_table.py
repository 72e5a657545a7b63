#!/usr/bin/env python3
"""kprof_table.py — per-kernel GPU time tables from Nsight Compute's CSV (tests/gpu/kprof.sh).

    kprof_table.py A.csv [--per STEPS] [--top N]    one profile: kernels by name, then by
                                                    (name, grid), slowest first; per step when
                                                    A holds STEPS steps' kernels
    kprof_table.py A.csv B.csv --per STEPS [--top N]  what B has more than A, per step: B profiled
                                                    STEPS more decoding steps than A, so the
                                                    difference is the steps' kernels alone

A.csv is what `ncu --csv --metrics gpu__time_duration.sum --log-file A.csv ...` wrote: lines of
its own first (==PROF==), then a header row and one row per kernel launch and metric. Kernels
run one at a time under ncu, so the sum of their times is the GPU's busy time with no overlap
and no launch gaps; the wall time of the same work outside ncu, less this sum, is time the GPU
waited on the host. Exit status 1 with the file and the problem when a file cannot be read.
Standard library only (the GPU machine's python3)."""
import csv
import os
import sys
from collections import defaultdict

UNITS = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0, "s": 1e3, "second": 1e3}


def read(path):
    """[(kernel name, grid, ms)] in launch order, or exit 2 with the file and the problem."""
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        sys.exit(f"kprof_table: {path}: {e.strerror}")
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        sys.exit(f"kprof_table: {path}: no CSV header (\"ID\",...): did ncu profile any kernel?")
    rows = csv.reader(lines[start:])
    head = next(rows)
    try:
        ki, gi, mi, ui, vi = (head.index(c) for c in ("Kernel Name", "Grid Size", "Metric Name", "Metric Unit",
                                                      "Metric Value"))
    except ValueError as e:
        sys.exit(f"kprof_table: {path}: a column is missing ({e})")
    out = []
    for r in rows:
        if len(r) <= max(ki, gi, mi, ui, vi) or r[mi] != "gpu__time_duration.sum":
            continue
        unit = UNITS.get(r[ui].strip())
        if unit is None:
            sys.exit(f"kprof_table: {path}: unknown time unit '{r[ui]}'")
        try:
            v = float(r[vi].replace(",", ""))
        except ValueError:
            sys.exit(f"kprof_table: {path}: a time that is not a number: '{r[vi]}'")
        out.append((r[ki], r[gi], v * unit))
    if not out:
        sys.exit(f"kprof_table: {path}: no gpu__time_duration.sum rows")
    return out


def group(rows, key):
    """{key: [calls, ms]}"""
    g = defaultdict(lambda: [0, 0.0])
    for r in rows:
        k = key(r)
        g[k][0] += 1
        g[k][1] += r[2]
    return g


def short(name, n=72):
    return name if len(name) <= n else name[: n - 3] + "..."


def table(title, g, total, top, scale=1.0, calls_fmt="{:>7d}"):
    print(title)
    print(f"{'kernel':<74} {'calls':>7} {'total ms':>10} {'share':>7} {'mean us':>9}")
    for k, (n, ms) in sorted(g.items(), key=lambda kv: -abs(kv[1][1]))[:top]:
        name = k if isinstance(k, str) else f"{k[0]} {k[1]}"
        c = n / scale
        calls = calls_fmt.format(int(round(c))) if abs(c - round(c)) < 1e-9 else f"{c:>7.2f}"
        mean = 1e3 * ms / n if n else 0.0
        print(f"{short(name):<74} {calls} {ms / scale:>10.4f} {100 * ms / total if total else 0:>6.1f}% {mean:>9.1f}")


def main(argv):
    args, top, per = [], 25, None
    i = 0
    while i < len(argv):
        if argv[i] == "--top" and i + 1 < len(argv):
            top, i = int(argv[i + 1]), i + 2
        elif argv[i] == "--per" and i + 1 < len(argv):
            per, i = float(argv[i + 1]), i + 2
        else:
            args, i = args + [argv[i]], i + 1
    if len(args) not in (1, 2) or (len(args) == 2 and per is None) or (per is not None and per <= 0):
        sys.exit(__doc__.split("\n\n")[1])
    a = read(args[0])
    if len(args) == 1:
        total, sc = sum(r[2] for r in a), per or 1.0
        each = f" per step ({sc:g} steps profiled)" if per else ""
        print(f"{len(a) / sc:g} kernels, {total / sc:.3f} ms of GPU time{each} (one at a time under ncu)")
        table(f"by kernel{each}:", group(a, lambda r: r[0]), total, top, scale=sc)
        print()
        table(f"by kernel and grid{each}:", group(a, lambda r: (r[0], r[1])), total, top, scale=sc)
        return 0
    b = read(args[1])
    ga, gb = group(a, lambda r: r[0]), group(b, lambda r: r[0])
    d = {}
    for k in set(ga) | set(gb):
        na, ma = ga.get(k, [0, 0.0])
        nb, mb = gb.get(k, [0, 0.0])
        if nb != na or abs(mb - ma) > 1e-9:
            d[k] = [nb - na, mb - ma]
    total = sum(v[1] for v in d.values())
    print(f"per decoding step ({per:g} steps more in {os.path.basename(args[1])} than in {os.path.basename(args[0])}): {sum(v[0] for v in d.values()) / per:.1f}"
          f" kernels, {total / per:.4f} ms of GPU time")
    table("by kernel, per step:", d, total, top, scale=per)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
