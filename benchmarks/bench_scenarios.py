"""Benchmark: closure-impact ranking, serial vs Dask, on the demo region and a 1M-node network.

Run from the repository root::

    python benchmarks/bench_scenarios.py [--side 1000] [--branches 1250] [--origins 200000]

Prints wall times (s) for

* the demo region (``bereikbaar.demo``): every full-service branch, serial vs Dask;
* a synthetic road-like network: a perturbed ``side × side`` grid (1M nodes by
  default; jittered node positions, ~8 % of the streets missing, ~5 % one-way,
  lengths = straight line × a small detour factor), built directly as arrays,
  with ``--branches`` libraries and ``--origins`` homes placed on random arcs:
  the baseline Dijkstra, then one Dijkstra per branch serially, on a Dask
  ``LocalCluster`` of threads and on one of 2 processes.

The Dask rankings are checked to be identical to the serial one. Times are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bereikbaar import scenarios as sc
from bereikbaar.accessibility import Snapped
from bereikbaar.demo import run_demo
from bereikbaar.network import Network


def synthetic_network(side: int, seed: int = 1) -> Network:
    """A perturbed grid of ``side²`` nodes, 100 m apart, as a road-like Network (RD New)."""
    rng = np.random.default_rng(seed)
    n = side * side
    ii, jj = np.divmod(np.arange(n), side)
    x = 100_000.0 + jj * 100.0 + rng.uniform(-30, 30, n)
    y = 400_000.0 + ii * 100.0 + rng.uniform(-30, 30, n)
    ids = np.arange(n).reshape(side, side)
    a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    keep = rng.random(len(a)) > 0.08
    a, b = a[keep], b[keep]
    one_way = rng.random(len(a)) < 0.05
    u = np.concatenate([a, b[~one_way]])
    v = np.concatenate([b, a[~one_way]])
    detour = np.concatenate([rng.uniform(1.0, 1.15, len(a))])
    base_len = np.hypot(x[a] - x[b], y[a] - y[b]) * detour
    length = np.concatenate([base_len, base_len[~one_way]])
    return Network(x, y, u, v, length, mode="car")


def random_snaps(net: Network, k: int, rng: np.random.Generator, core: np.ndarray) -> Snapped:
    """``k`` points on random core arcs (offset uniform along the arc, snap leg 0-50 m)."""
    arcs = np.flatnonzero(core[net.u] & core[net.v])
    arc = rng.choice(arcs, size=k)
    return Snapped(
        arc.astype(np.int64),
        rng.uniform(0, 1, k) * net.length_m[arc],
        rng.uniform(0, 50, k),
    )


def timed(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"{label:<58s} {time.perf_counter() - t0:8.2f} s", flush=True)
    return out


def bench_demo() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(Path(tmp) / "out", raw_dir=Path(tmp) / "raw")
        base = sc.prepare_baseline(result)
        print(
            f"demo region: {result.network.n_nodes} nodes, {len(result.cells)} cells, "
            f"{int(result.libraries['full_service'].sum())} full-service branches"
        )
        s = timed("demo: closure ranking, serial", sc.closure_impact, base, scheduler="serial")
        d = timed(
            "demo: closure ranking, Dask LocalCluster (2 threads)",
            sc.closure_impact,
            base,
            processes=False,
        )
        p = timed(
            "demo: closure ranking, Dask LocalCluster (2 processes)",
            sc.closure_impact,
            base,
            processes=True,
        )
        same = s.ranking.equals(d.ranking) and s.ranking.equals(p.ranking)
        print(f"demo: Dask ranking identical to serial: {same}")


def bench_synthetic(side: int, n_branches: int, n_origins: int) -> None:
    rng = np.random.default_rng(7)
    net = timed(f"synthetic: build {side}×{side} grid", synthetic_network, side)
    print(f"synthetic: {net.n_nodes:,} nodes, {net.n_arcs:,} arcs")
    core = timed("synthetic: strongly connected core", net.core_nodes)
    timed("synthetic: twin arcs", net.reverse_arc)
    origins = random_snaps(net, n_origins, rng, core)
    libs = random_snaps(net, n_branches, rng, core)
    engine, cost = timed(
        "synthetic: baseline (one multi-source Dijkstra)",
        sc.build_closure_engine,
        net,
        origins,
        libs,
    )
    js = np.unique(engine.origin_lib[engine.origin_lib >= 0]).tolist()
    print(
        f"synthetic: {len(js)} of {n_branches} branches serve someone; "
        f"mean distance {np.nanmean(cost) / 1000:.2f} km"
    )
    serial = timed(
        f"synthetic: {len(js)} closure Dijkstras, serial",
        sc.run_closures,
        engine,
        js,
        scheduler="serial",
    )
    threads = timed(
        "synthetic: same on Dask LocalCluster (2 threads)",
        sc.run_closures,
        engine,
        js,
        processes=False,
        n_workers=2,
    )
    procs = timed(
        "synthetic: same on Dask LocalCluster (2 processes)",
        sc.run_closures,
        engine,
        js,
        processes=True,
        n_workers=2,
    )
    ok = all(
        np.array_equal(serial[j][0], other[j][0])
        and np.array_equal(serial[j][1], other[j][1], equal_nan=True)
        for other in (threads, procs)
        for j in js
    )
    print(f"synthetic: Dask results identical to serial: {ok}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=1000, help="grid side (nodes = side²)")
    ap.add_argument("--branches", type=int, default=1250)
    ap.add_argument("--origins", type=int, default=200_000)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    if not args.skip_demo:
        bench_demo()
    bench_synthetic(args.side, args.branches, args.origins)


if __name__ == "__main__":
    main()
