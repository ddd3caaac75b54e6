"""Engine benchmark: snapping + one multi-source Dijkstra vs scipy (floor), networkx, pandana.

    python benchmarks/bench_engine.py --nodes 1600000 [--networkx] [--pandana]

Uses the synthetic case of that size (written once under benchmarks/out/) and the
cached Network. Prints one JSON line: per stage wall/CPU seconds, peak RSS (MB)
and the ratios measured in this same process:

* ``floor``: the raw ``scipy.sparse.csgraph.dijkstra(min_only=True)`` call on the
  very CSR the engine builds (libraries as virtual sources, reversed graph);
* ``networkx``: ``multi_source_dijkstra_path_length`` on the same graph (graph
  build timed separately); its distances are checked against scipy's;
* ``pandana``: ``nearest_pois`` on the same nodes/arcs, when pandana imports.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from common import DATA, case, emit, timed
from scipy.sparse.csgraph import dijkstra

from bereikbaar.accessibility import _points_xy, _solve, library_graph, snap_to_arcs
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.osm import load_network


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=250_000)
    ap.add_argument("--networkx", action="store_true")
    ap.add_argument("--pandana", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    res: dict[str, Any] = {"nodes_target": args.nodes}
    inputs = case(args.nodes)
    with timed(res, "load_network_cached"):
        net = load_network(inputs.network, cache_dir=DATA / "cache")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = load_cbs_grid(inputs.cells)
        libs = load_libraries(inputs.libraries, settings=Settings())
    libs = libs[libs["full_service"]]
    res.update(nodes=net.n_nodes, arcs=net.n_arcs, origins=len(cells), libraries=len(libs))
    o_xy = _points_xy(cells, "origins")
    l_xy = _points_xy(libs, "libraries")
    net.core_nodes()  # warm cached properties outside the timed stages ...
    net.reverse_arc()
    net.arc_geometry()
    with timed(res, "snap_first"):  # ... except the STRtree, built inside snapping
        o_snap = snap_to_arcs(net, o_xy)
        l_snap = snap_to_arcs(net, l_xy)
    # repeat the noisy stages; keep the fastest
    snap_t, solve_t, floor_t = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        o_snap = snap_to_arcs(net, o_xy)
        l_snap = snap_to_arcs(net, l_xy)
        snap_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cost, _ = _solve(net, "length", o_snap, l_snap)
        solve_t.append(time.perf_counter() - t0)
        graph, virt = library_graph(net, "length", l_snap)
        t0 = time.perf_counter()
        dist = dijkstra(graph, directed=True, indices=virt, min_only=True)
        floor_t.append(time.perf_counter() - t0)
    res["snapping_s"] = round(min(snap_t), 3)
    res["engine_dijkstra_s"] = round(min(solve_t), 3)
    res["scipy_floor_s"] = round(min(floor_t), 3)
    res["snap_plus_dijkstra_over_floor"] = round(
        (res["snapping_s"] + res["engine_dijkstra_s"]) / res["scipy_floor_s"], 2
    )
    res["dijkstra_only_over_floor"] = round(res["engine_dijkstra_s"] / res["scipy_floor_s"], 2)
    res["reachable"] = int(np.isfinite(cost).sum())
    if args.networkx:
        import networkx as nx

        t0 = time.perf_counter()
        g = nx.from_scipy_sparse_array(graph, create_using=nx.DiGraph, edge_attribute="weight")
        res["networkx_build_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        d_nx = nx.multi_source_dijkstra_path_length(g, set(virt.tolist()), weight="weight")
        res["networkx_dijkstra_s"] = round(time.perf_counter() - t0, 3)
        ref = np.full(graph.shape[0], np.inf)
        ref[list(d_nx)] = list(d_nx.values())
        fin = np.isfinite(dist)
        res["networkx_same_reachable"] = bool(np.array_equal(fin, np.isfinite(ref)))
        res["networkx_max_abs_diff_m"] = float(np.max(np.abs(ref[fin] - dist[fin])))
        res["networkx_over_engine"] = round(
            res["networkx_dijkstra_s"] / res["engine_dijkstra_s"], 1
        )
        res["networkx_over_snap_plus_engine"] = round(
            (res["networkx_dijkstra_s"]) / (res["snapping_s"] + res["engine_dijkstra_s"]),
            1,
        )
    if args.pandana:
        print(json.dumps(res), flush=True)  # the figures so far, in case pandana never ends
        try:
            import pandana  # type: ignore[import-not-found]
            import pandas as pd
        except ImportError as err:
            res["pandana"] = f"not installed ({err})"
        else:
            coo = net.csr("length").tocoo()
            t0 = time.perf_counter()
            pn = pandana.Network(
                pd.Series(net.x),
                pd.Series(net.y),
                pd.Series(coo.row),
                pd.Series(coo.col),
                pd.DataFrame({"length": coo.data}),
                twoway=False,
            )
            res["pandana_build_s"] = round(time.perf_counter() - t0, 3)
            la = l_snap.arc[l_snap.ok]
            t0 = time.perf_counter()
            pn.set_pois("lib", 1e9, 1, pd.Series(net.x[net.u[la]]), pd.Series(net.y[net.u[la]]))
            pn.nearest_pois(1e9, "lib", num_pois=1)
            res["pandana_nearest_pois_s"] = round(time.perf_counter() - t0, 3)
    emit(res)


if __name__ == "__main__":
    main()
