"""The cold run a user pays for: fresh processes, no caches, a PBF of a real composition.

    python benchmarks/bench_cold.py --sizes 5000000,20000000 [--repeat 3] [--first-nodes 1000000]
        [--skip first,compile,demo] [--no-pyrosm] [--before-src /path/to/other/src]

Every figure comes from a fresh Python process (``run_stage``), so imports, numba's kernel
loading and the first use of every index are included, and peak RSS is per process:

* **load**: for each size (OSM nodes in the file), a PBF written by
  :func:`bereikbaar.examples.synthetic.write_real_composition_pbf` (the road network inside
  buildings, landuse, water, barriers and POIs: ~90 % of nodes and ways are not roads, as in
  the Netherlands extract); ``ours`` is ``load_network(path)`` (no cache), ``run`` what a run
  pays for its file (the network and the maps' context: ``load_network_with_context`` and
  ``load_context(data=...)``; on a checkout without it ``load_network`` then ``load_context``,
  a second read), ``ours@before``/``run@before`` the same with ``--before-src``, ``plain`` a plain
  pyosmium pass that collects the road ways with their node locations
  (``FileProcessor(...).with_locations()`` with a ``KeyFilter``; ref, x, y of every way node
  into lists), ``pyrosm`` ``OSM(path).get_network("driving")`` when pyrosm imports. The
  runs alternate (ours, plain, pyrosm, ours, ...); the fastest of ``--repeat`` counts, the
  ratios ours/plain are of wall time, CPU time and peak RSS. The Netherlands figure is
  extrapolated linearly from the two largest sizes to 200 M nodes.
* **first call**: the synthetic case of ``--first-nodes`` graph nodes (400,000 cells, 1,250
  branches); a fresh process loads the network from its PBF, then times the first
  ``nearest_library`` (building the snapping grid, the twin and part masks, the Hilbert
  order), two warm calls, and the scipy floor (``dijkstra(min_only=True)`` on the CSR with
  one virtual node per library, as ``bench_engine.py``).
* **compile**: the first run after an install: ``bereikbaar demo`` in a fresh process with an
  empty ``NUMBA_CACHE_DIR``, minus a second such run (CPU and wall), with the kernels the
  install compiled ahead of time (``BEREIKBAAR_KERNELS=auto``) and, as the reference in the
  same run, with numba's JIT (``BEREIKBAAR_KERNELS=jit``); whether numba was imported at all.
* **demo**: ``bereikbaar demo`` in a fresh process (numba's cache warm): the process's wall
  time against the sum of the stage timings it writes to ``run.json``.

Prints one JSON line per part and a summary of the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
NL_NODES = 200_000_000
ROAD_NODES_PER_GRAPH_NODE = 5.34  # make_road_grid: shape nodes and junctions per graph node


# ---------------------------------------------------------------------------- children
def child_load(tool: str, path: str) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    res: dict[str, Any] = {"tool": tool}
    if tool == "ours":
        from bereikbaar.sources.osm import load_network

        net = load_network(path)
        res.update(nodes=net.n_nodes, arcs=net.n_arcs)
    elif tool == "run":
        # what a run pays for its OSM file: the network and the maps' context (main roads,
        # ferries, places, street names); before issue 15 part 1 that was a second read
        from bereikbaar.sources import context, osm

        if hasattr(osm, "load_network_with_context"):
            net, data = osm.load_network_with_context(path)
            ctx = context.load_context(path, data=data)
        else:
            net = osm.load_network(path)
            ctx = context.load_context(path)
        res.update(nodes=net.n_nodes, arcs=net.n_arcs, context_lines=len(ctx.roads))
    elif tool == "plain":
        import osmium

        refs: list[int] = []
        xs: list[int] = []
        ys: list[int] = []
        size: list[int] = []
        processor = (
            osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway", "route"))
        )
        for way in processor:
            nodes = way.nodes  # type: ignore[union-attr]
            for node in nodes:
                refs.append(node.ref)
                xs.append(node.x)
                ys.append(node.y)
            size.append(len(nodes))
        res.update(ways=len(size), way_nodes=len(refs))
    elif tool == "pyrosm":
        import pyrosm

        nodes_gdf, edges = pyrosm.OSM(path).get_network("driving", nodes=True)
        res.update(nodes=len(nodes_gdf), edges=len(edges))
    res["wall_s"] = round(time.perf_counter() - t0, 3)
    res["cpu_s"] = round(time.process_time() - c0, 3)
    return res


def child_first(folder: str) -> dict[str, Any]:
    from scipy.sparse.csgraph import dijkstra

    from bereikbaar.accessibility import nearest_library, points_xy
    from bereikbaar.engine import library_graph, snap_to_arcs
    from bereikbaar.settings import Settings
    from bereikbaar.sources.cbs_grid import load_cbs_grid
    from bereikbaar.sources.libraries import load_libraries
    from bereikbaar.sources.osm import load_network

    f = Path(folder)
    warnings.simplefilter("ignore")
    net = load_network(f / "synthetic.osm.pbf")
    cells = load_cbs_grid(f / "synthetic_vierkant_100m.parquet")
    libs = load_libraries(f / "synthetic_bibliotheken.csv", settings=Settings())
    libs = libs[libs["full_service"]]
    o_xy = points_xy(cells, "origins")
    res: dict[str, Any] = {"nodes": net.n_nodes, "origins": len(o_xy), "libraries": len(libs)}
    t0 = time.perf_counter()
    nearest_library(net, o_xy, libs, with_time=False)
    res["first_s"] = round(time.perf_counter() - t0, 3)
    warm = []
    for _ in range(2):
        t0 = time.perf_counter()
        nearest_library(net, o_xy, libs, with_time=False)
        warm.append(time.perf_counter() - t0)
    res["warm_s"] = round(min(warm), 3)
    t0 = time.perf_counter()
    nearest_library(net, o_xy, libs, with_time=True)
    res["warm_with_time_s"] = round(time.perf_counter() - t0, 3)
    l_snap = snap_to_arcs(net, points_xy(libs, "libraries"))
    graph, virt = library_graph(net, "length", l_snap)
    floor = []
    for _ in range(2):
        t0 = time.perf_counter()
        dijkstra(graph, directed=True, indices=virt, min_only=True)
        floor.append(time.perf_counter() - t0)
    res["floor_s"] = round(min(floor), 3)
    res["first_over_floor"] = round(res["first_s"] / res["floor_s"], 2)
    res["warm_over_floor"] = round(res["warm_s"] / res["floor_s"], 2)
    return res


def child_demo(out: str) -> dict[str, Any]:
    from bereikbaar.cli import main
    from bereikbaar.engine._compiled import status

    t0, c0 = time.perf_counter(), time.process_time()
    code = main(["demo", "--out", str(Path(out) / "out"), "--raw", str(Path(out) / "raw")])
    return {
        "exit": code,
        "in_process_wall_s": round(time.perf_counter() - t0, 3),
        "in_process_cpu_s": round(time.process_time() - c0, 3),
        "kernels": status(),
        "numba_imported": "numba" in sys.modules,
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM; ``ru_maxrss`` would count the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------- parent
def _run(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=7200,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = round(time.perf_counter() - t0, 3)
    return res


def bench_compile(tmp: Path) -> dict[str, Any]:
    """The first demo run after an install (empty numba cache) minus a second, per kernel source."""
    out: dict[str, Any] = {}
    for kernels in ("auto", "jit"):  # the install's compiled module; numba's JIT (reference)
        env = {"NUMBA_CACHE_DIR": str(tmp / f"numba_{kernels}"), "BEREIKBAAR_KERNELS": kernels}
        cold = _run("demo", str(tmp / f"compile_{kernels}_1"), env=env)
        warm = _run("demo", str(tmp / f"compile_{kernels}_2"), env=env)
        out[kernels] = {
            "kernels": cold["kernels"],
            "numba_imported": cold["numba_imported"],
            "first_cpu_s": cold["in_process_cpu_s"],
            "second_cpu_s": warm["in_process_cpu_s"],
            "compile_cpu_s": round(cold["in_process_cpu_s"] - warm["in_process_cpu_s"], 3),
            "compile_wall_s": round(cold["process_wall_s"] - warm["process_wall_s"], 3),
            "first_process_wall_s": cold["process_wall_s"],
        }
    return out


def composition_file(n_osm_nodes: int) -> Path:
    from common import DATA

    from bereikbaar.examples.synthetic import SyntheticSpec, write_real_composition_pbf

    path = DATA / f"composition_{n_osm_nodes}.osm.pbf"
    if not path.is_file():
        graph_nodes = max(200, round(n_osm_nodes * 0.1 / ROAD_NODES_PER_GRAPH_NODE))
        spec = SyntheticSpec(n_nodes=graph_nodes, n_cells=10, n_branches=2, n_gemeenten=2)
        DATA.mkdir(parents=True, exist_ok=True)
        counts = write_real_composition_pbf(path, spec, non_road_share=0.9)
        path.with_suffix(".json").write_text(json.dumps(counts.__dict__))
    return path


def bench_load(
    sizes: list[int], repeat: int, pyrosm: bool, before_src: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tools = ["ours", "run", "plain"] + (["pyrosm"] if pyrosm else [])
    if before_src:  # the same tools on another checkout's package (PYTHONPATH)
        tools += ["ours@before", "run@before"]
    for n in sizes:
        path = composition_file(n)
        counts = json.loads(path.with_suffix(".json").read_text())
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
        for _ in range(repeat):
            for t in tools:
                tool, _, tag = t.partition("@")
                env = {"PYTHONPATH": before_src} if tag and before_src else None
                try:
                    runs[t].append(_run("load", tool, str(path), env=env))
                except RuntimeError as err:
                    print(f"{t} at {n:,}: {str(err)[-300:]}", file=sys.stderr)
        best = {t: min(r, key=lambda d: d["wall_s"]) for t, r in runs.items() if r}
        row: dict[str, Any] = {"file": counts, "pbf_mb": round(path.stat().st_size / 1e6, 1)}
        row.update(best)
        o, p = best["ours"], best["plain"]
        row["ours_over_plain"] = {
            "wall": round(o["wall_s"] / p["wall_s"], 2),
            "cpu": round(o["cpu_s"] / p["cpu_s"], 2),
            "peak_rss": round(o["peak_rss_mb"] / p["peak_rss_mb"], 2),
        }
        if "run" in best:
            r = best["run"]
            row["run_over_plain"] = {
                "wall": round(r["wall_s"] / p["wall_s"], 2),
                "cpu": round(r["cpu_s"] / p["cpu_s"], 2),
                "peak_rss": round(r["peak_rss_mb"] / p["peak_rss_mb"], 2),
            }
        if "pyrosm" in best:
            row["pyrosm_over_ours_wall"] = round(best["pyrosm"]["wall_s"] / o["wall_s"], 2)
        out[str(n)] = row
        print(json.dumps({"load": n, **row}), flush=True)
    if len(sizes) >= 2:
        a, b = sorted(sizes)[-2:]
        for t in ("ours", "run", "ours@before", "run@before"):
            if t not in out[str(a)] or t not in out[str(b)]:
                continue
            ra, rb = out[str(a)][t], out[str(b)][t]
            per_node_s = (rb["wall_s"] - ra["wall_s"]) / (b - a)
            per_node_cpu = (rb["cpu_s"] - ra["cpu_s"]) / (b - a)
            per_node_mb = (rb["peak_rss_mb"] - ra["peak_rss_mb"]) / (b - a)
            out[f"netherlands_extrapolated_{t}"] = {
                "nodes": NL_NODES,
                "load_s": round(rb["wall_s"] + per_node_s * (NL_NODES - b), 1),
                "cpu_s": round(rb["cpu_s"] + per_node_cpu * (NL_NODES - b), 1),
                "peak_rss_gb": round((rb["peak_rss_mb"] + per_node_mb * (NL_NODES - b)) / 1024, 2),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sizes", default="5000000,20000000", help="OSM nodes per file, comma-separated"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first-nodes", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="parts to skip: load,first,compile,demo")
    ap.add_argument("--no-pyrosm", action="store_true", help="leave pyrosm out of the load part")
    ap.add_argument(
        "--before-src", default=None, help="also load with the package in this src folder"
    )
    ap.add_argument("--child", nargs="+")
    args = ap.parse_args()
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        fn = {"load": child_load, "first": child_first}
        res = child_demo(*rest) if kind == "demo" else fn[kind](*rest)
        res["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(res))
        return
    skip = set(args.skip.split(","))
    result: dict[str, Any] = {"load_start": os.getloadavg(), "cpus": os.cpu_count()}
    if "load" not in skip:
        try:
            import pyrosm  # noqa: F401

            has_pyrosm = True
        except ImportError:
            has_pyrosm = False
        sizes = [int(float(s)) for s in args.sizes.split(",")]
        has_pyrosm = has_pyrosm and not args.no_pyrosm
        result["load"] = bench_load(sizes, args.repeat, has_pyrosm, args.before_src)
    if "first" not in skip:
        from common import DATA

        from bereikbaar.examples.synthetic import SyntheticSpec, write_synthetic_case

        folder = DATA / f"first_{args.first_nodes}"  # national cells and branches
        if not (folder / "synthetic.osm.pbf").is_file():
            write_synthetic_case(folder, SyntheticSpec(n_nodes=args.first_nodes))
        result["first_call"] = _run("first", str(folder))
        print(json.dumps({"first_call": result["first_call"]}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "compile" not in skip:
            result["compile"] = bench_compile(Path(tmp))
            print(json.dumps({"compile": result["compile"]}), flush=True)
        if "demo" not in skip:
            _run("demo", str(Path(tmp) / "demo_warmup"))  # numba's cache warm, files written
            res = _run("demo", str(Path(tmp) / "demo_run"))
            timings = json.loads((Path(tmp) / "demo_run" / "out" / "run.json").read_text())
            stages = float(sum(timings["timings_s"].values()))
            res["sum_of_stages_s"] = round(stages, 3)
            res["wall_over_stages"] = round(res["process_wall_s"] / stages, 2)
            result["demo"] = res
            print(json.dumps({"demo": res}), flush=True)
    result["load_end"] = os.getloadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
