"""nearest_library vs networkx on the real TU Delft network (../shared/data), same graph, same run.

Usage: python benchmarks/bench_engine_tudelft.py [--repeat 5]
Prints the median times and the ratio networkx / bereikbaar.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from bereikbaar import load_network, nearest_library

DATA = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "osm" / "tudelft_2025.osm.pbf"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for mode in ("car", "bike"):
        net = load_network(DATA, mode=mode)
        core = np.flatnonzero(net.core_nodes())
        rng = np.random.default_rng(1)
        lib_nodes = rng.choice(core, size=10, replace=False)
        libs = gpd.GeoDataFrame(
            {"library_id": [f"L{i}" for i in range(10)], "full_service": True},
            geometry=shapely.points(net.x[lib_nodes], net.y[lib_nodes]),
            crs="EPSG:28992",
        )
        origins = np.column_stack([net.x[core], net.y[core]])
        t0 = time.perf_counter()
        g = net.to_networkx_digraph()  # weights only: the fairest networkx graph
        t_graph = time.perf_counter() - t0
        ids = np.arange(net.n_nodes)
        sources = {int(i) for i in lib_nodes}
        t_ours, t_nx, t_build = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = nearest_library(net, origins, libs, with_time=False)
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rg = g.reverse(copy=True)
            t_build.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = nx.multi_source_dijkstra_path_length(rg, sources, weight="weight")
            t_nx.append(time.perf_counter() - t0)
        exp = np.array([ref[int(ids[i])] for i in core])
        assert np.allclose(res["distance_m"].to_numpy(), exp, atol=1e-6)
        o, n, b = (statistics.median(t) for t in (t_ours, t_nx, t_build))
        print(
            f"{mode}: {net.n_nodes:,} nodes, {net.n_arcs:,} arcs, {len(core):,} origins | "
            f"bereikbaar nearest_library (snap+Dijkstra) {o * 1000:.1f} ms | "
            f"networkx multi_source_dijkstra {n * 1000:.1f} ms (+ reverse {b * 1000:.1f} ms) | "
            f"ratio networkx/bereikbaar {n / o:.2f}x (incl. building its graph "
            f"{(n + b + t_graph) / o:.2f}x)"
        )


if __name__ == "__main__":
    main()
