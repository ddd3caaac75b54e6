"""Loader benchmark: PBF → Network vs osmnx ``graph_from_xml`` on the same extract.

    python benchmarks/bench_loader.py --nodes 100000

Writes (once) the synthetic case of that size plus its OSM XML (via pyosmium),
then runs each reader in its own fresh process so that peak RSS is per reader:

* ``ours``: :func:`bereikbaar.sources.osm.load_network` on the ``.osm.pbf``;
* ``pyosmium_pass``: one bare pyosmium pass over the same PBF (the physical floor);
* ``osmnx``: ``osmnx.graph_from_xml`` on the ``.osm`` XML (``simplify=True``,
  ``retain_all=True``), as a user of osmnx would load the same extract.

Prints one JSON line with times, peak RSS and the ratios of this run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from common import case, emit, run_stage

HERE = Path(__file__).resolve()


def child(tool: str, path: str) -> None:
    res: dict[str, Any] = {"tool": tool}
    t0, c0 = time.perf_counter(), time.process_time()
    if tool == "ours":
        from bereikbaar.sources.osm import load_network

        net = load_network(path)
        res["nodes"], res["arcs"] = net.n_nodes, net.n_arcs
    elif tool == "pyosmium_pass":
        import osmium

        n = 0
        for _ in osmium.FileProcessor(path):
            n += 1
        res["objects"] = n
    elif tool == "osmnx":
        import osmnx as ox

        g = ox.graph_from_xml(path, simplify=True, retain_all=True)
        res["nodes"], res["edges"] = g.number_of_nodes(), g.number_of_edges()
    res["wall_s"] = round(time.perf_counter() - t0, 3)
    res["cpu_s"] = round(time.process_time() - c0, 3)
    emit(res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--no-osmnx", action="store_true")
    ap.add_argument("--no-pass", action="store_true", help="skip the bare pyosmium pass")
    ap.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    inputs = case(args.nodes, osm_xml=not args.no_osmnx)
    pbf = str(inputs.network)
    xml = str(inputs.network.with_suffix("").with_suffix(".osm"))
    out: dict[str, Any] = {
        "nodes_target": args.nodes,
        "graph_nodes": inputs.n_graph_nodes,
        "osm_nodes": inputs.n_osm_nodes,
        "ways": inputs.n_ways,
        "pbf_mb": round(Path(pbf).stat().st_size / 1e6, 1),
    }
    out["ours"] = run_stage(HERE, "--child", "ours", pbf)
    if not args.no_pass:
        out["pyosmium_pass"] = run_stage(HERE, "--child", "pyosmium_pass", pbf)
    if not args.no_osmnx:
        out["xml_mb"] = round(Path(xml).stat().st_size / 1e6, 1)
        out["osmnx"] = run_stage(HERE, "--child", "osmnx", xml)
        out["osmnx_over_ours_time"] = round(out["osmnx"]["wall_s"] / out["ours"]["wall_s"], 1)
        out["ours_over_osmnx_rss"] = round(
            out["ours"]["peak_rss_mb"] / out["osmnx"]["peak_rss_mb"], 3
        )
    if not args.no_pass:
        out["ours_over_pass"] = round(out["ours"]["wall_s"] / out["pyosmium_pass"]["wall_s"], 2)
    print(__import__("json").dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
