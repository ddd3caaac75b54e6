"""Engine benchmark: snapping + one multi-source Dijkstra vs scipy (floor), networkx, pandana.

    python benchmarks/bench_engine.py --nodes 1600000 [--networkx] [--pandana]

Uses the synthetic case of that size (written once under benchmarks/out/) and the
cached Network. Prints one JSON line: per stage wall/CPU seconds, peak RSS (MB)
and the ratios measured in this same process:

* ``nearest_library_s``: the whole public call ``nearest_library(network,
  origins_xy, libraries, with_time=False)`` for all origins: snapping the
  libraries, the compiled Dijkstra (GIL released) running in a thread while the
  origins are snapped, then the origin costs and the result frame;
* ``snapping_s`` / ``engine_dijkstra_s``: the two parts one after the other;
  ``engine_search_s`` the search alone (``node_costs``: every node's cost to its
  nearest library, without the origins);
* ``floor``: the raw ``scipy.sparse.csgraph.dijkstra(min_only=True)`` call on
  the CSR with one virtual node per library, both in the Network's own node
  order and in the Hilbert order the engine searches (the faster one counts);
* ``networkx``: ``multi_source_dijkstra_path_length`` on the same graph (graph
  build timed separately); its distances are checked against scipy's;
* ``pandana``: ``nearest_pois`` on the same nodes/arcs, when pandana imports.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from common import DATA, case, emit, timed
from scipy.sparse.csgraph import dijkstra

from bereikbaar.accessibility import nearest_library, points_xy
from bereikbaar.engine import (
    Network,
    library_graph,
    library_terms,
    node_costs,
    snap_to_arcs,
    solve,
)
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.osm import load_network


def hilbert_library_graph(net: Network, l_snap: Any) -> tuple[sp.csr_array, np.ndarray]:
    """The floor's graph in the engine's (Hilbert) node order, with virtual library rows."""
    base, rank = net.search_csr("length")
    g0, virt0 = library_graph(net, "length", l_snap)
    n = net.n_nodes
    virt_rows = g0[virt0].tocoo()  # library rows: virtual j -> arc ends (original numbers)
    k = len(virt0)
    indptr = np.concatenate(
        [
            base.indptr.astype(np.int64),
            base.indptr[-1] + np.cumsum(np.bincount(virt_rows.row, minlength=k)),
        ]
    )
    order = np.lexsort((virt_rows.col, virt_rows.row))
    cols = rank[virt_rows.col[order]]
    graph = sp.csr_array(
        (
            np.concatenate([base.data, virt_rows.data[order]]),
            np.concatenate([base.indices, cols]).astype(np.int32),
            indptr.astype(np.int32),
        ),
        shape=(n + k, n + k),
    )
    return graph, n + np.arange(k)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=250_000)
    ap.add_argument("--networkx", action="store_true")
    ap.add_argument("--pandana", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    res: dict[str, Any] = {"nodes_target": args.nodes, "load_start": os.getloadavg()}
    inputs = case(args.nodes)
    with timed(res, "load_network_cached"):
        net = load_network(inputs.network, cache_dir=DATA / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = load_cbs_grid(inputs.cells)
        libs = load_libraries(inputs.libraries, settings=Settings())
    libs = libs[libs["full_service"]]
    res.update(nodes=net.n_nodes, arcs=net.n_arcs, origins=len(cells), libraries=len(libs))
    o_xy = points_xy(cells, "origins")
    l_xy = points_xy(libs, "libraries")
    # indexes, Hilbert order, compiled kernels (from disk)
    with timed(res, "first_call"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = nearest_library(net, o_xy, libs, with_time=False)
    o_snap = snap_to_arcs(net, o_xy)
    l_snap = snap_to_arcs(net, l_xy)
    graph, virt = library_graph(net, "length", l_snap)
    hgraph, hvirt = hilbert_library_graph(net, l_snap)
    # repeat the noisy stages; keep the fastest
    t_near, c_near, snap_t, solve_t, floor_t, hfloor_t, scipy_t = [], [], [], [], [], [], []
    search_t: list[float] = []
    terms = library_terms(net, "length", l_snap)
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            near = nearest_library(net, o_xy, libs, with_time=False)
        t_near.append(time.perf_counter() - w0)
        c_near.append(time.process_time() - c0)
        t0 = time.perf_counter()
        o_snap = snap_to_arcs(net, o_xy)
        l_snap = snap_to_arcs(net, l_xy)
        snap_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cost, _ = solve(net, "length", o_snap, l_snap)
        solve_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        node_costs(net, "length", l_snap, terms)
        search_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cost_sp, _ = solve(net, "length", o_snap, l_snap, engine="scipy")
        scipy_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dist = dijkstra(graph, directed=True, indices=virt, min_only=True)
        floor_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hdist = dijkstra(hgraph, directed=True, indices=hvirt, min_only=True)
        hfloor_t.append(time.perf_counter() - t0)
    res["nearest_library_s"] = round(min(t_near), 3)
    res["nearest_library_cpu_s"] = round(min(c_near), 3)
    res["snapping_s"] = round(min(snap_t), 3)
    res["engine_dijkstra_s"] = round(min(solve_t), 3)
    res["engine_search_s"] = round(min(search_t), 3)
    res["scipy_engine_dijkstra_s"] = round(min(scipy_t), 3)
    res["scipy_floor_s"] = round(min(floor_t), 3)
    res["scipy_floor_hilbert_s"] = round(min(hfloor_t), 3)
    floor = min(res["scipy_floor_s"], res["scipy_floor_hilbert_s"])
    res["floor_s"] = floor
    res["snap_plus_dijkstra_over_floor"] = round(res["nearest_library_s"] / floor, 2)
    res["sequential_snap_plus_dijkstra_over_floor"] = round(
        (res["snapping_s"] + res["engine_dijkstra_s"]) / floor, 2
    )
    res["dijkstra_only_over_floor"] = round(res["engine_dijkstra_s"] / floor, 2)
    res["reachable"] = int(np.isfinite(cost).sum())
    # the engines agree: numba == scipy per origin; both floors == per node
    res["numba_equals_scipy_engine"] = bool(np.array_equal(cost, cost_sp, equal_nan=True))
    res["nearest_library_equals_solve"] = bool(
        np.array_equal(near["distance_m"].to_numpy(), cost, equal_nan=True)
        and np.array_equal(first["distance_m"].to_numpy(), cost, equal_nan=True)
    )
    _, rank = net.search_csr("length")
    res["hilbert_floor_equals_floor"] = bool(
        np.array_equal(hdist[: net.n_nodes][rank], dist[: net.n_nodes])
    )
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
        res["networkx_over_engine_dijkstra"] = round(
            res["networkx_dijkstra_s"] / res["engine_dijkstra_s"], 1
        )
        res["networkx_over_nearest_library"] = round(
            res["networkx_dijkstra_s"] / res["nearest_library_s"], 1
        )
        res["networkx_build_plus_dijkstra_over_nearest_library"] = round(
            (res["networkx_build_s"] + res["networkx_dijkstra_s"]) / res["nearest_library_s"], 1
        )
        del g, d_nx
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
