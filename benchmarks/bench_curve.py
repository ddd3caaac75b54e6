"""The cost curve: engine and loader at 100k, 250k, 1M, 2M and 4M graph nodes.

    python benchmarks/bench_curve.py [--sizes 100000 250000 1000000 2000000 4000000]

Runs ``bench_engine.py`` and ``bench_loader.py --no-osmnx`` per size, each in a
fresh process, writes ``docs/performance_curve.json`` (after every size, so a
stopped run keeps what it measured; ``--resume`` skips the sizes already in it)
and the plot ``docs/cost_curve.png`` (matplotlib, from the dev extra), and
prints the growth check: the time per ``n log2 n`` must not grow (more than 25 %
for noise) between the smallest and the largest size (growth no faster than
n log n).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from common import ROOT, run_stage

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 250_000, 1_000_000, 2_000_000, 4_000_000]
    )
    ap.add_argument("--resume", action="store_true", help="keep sizes already measured")
    ap.add_argument("--plot-only", action="store_true", help="redraw from the JSON")
    ap.add_argument(
        "--pass-max",
        type=int,
        default=2_000_000,
        help="run the bare pyosmium pass only up to this size (it takes minutes above)",
    )
    args = ap.parse_args()
    docs = ROOT / "docs"
    curve = docs / "performance_curve.json"
    rows: list[dict[str, Any]] = []
    if (args.resume or args.plot_only) and curve.is_file():
        rows = json.loads(curve.read_text())
    done = {r["nodes_target"] for r in rows if "nodes_target" in r}
    for n in [] if args.plot_only else args.sizes:
        if n in done:
            continue
        eng = run_stage(HERE / "bench_engine.py", "--nodes", str(n), "--repeat", "2")
        no_pass = ["--no-pass"] if n > args.pass_max else []
        load = run_stage(HERE / "bench_loader.py", "--nodes", str(n), "--no-osmnx", *no_pass)
        row = {
            "nodes_target": n,
            "nodes": eng["nodes"],
            "arcs": eng["arcs"],
            "nearest_library_s": eng["nearest_library_s"],
            "snapping_s": eng["snapping_s"],
            "engine_dijkstra_s": eng["engine_dijkstra_s"],
            "engine_search_s": eng["engine_search_s"],
            "scipy_floor_s": eng["scipy_floor_s"],
            "scipy_floor_hilbert_s": eng["scipy_floor_hilbert_s"],
            "snap_plus_dijkstra_over_floor": eng["snap_plus_dijkstra_over_floor"],
            "loader_s": load["ours"]["wall_s"],
            "loader_rss_mb": load["ours"]["peak_rss_mb"],
            "pyosmium_pass_s": load["pyosmium_pass"]["wall_s"] if not no_pass else None,
            "engine_peak_rss_mb": eng["peak_rss_mb"],
            "load": Path("/proc/loadavg").read_text().split()[:3],
        }
        rows.append(row)
        rows.sort(key=lambda r: r["nodes"])
        curve.write_text(json.dumps(rows, indent=1))
        print(json.dumps(row), flush=True)
    first, last = rows[0], rows[-1]
    keys = ("nearest_library_s", "snapping_s", "engine_dijkstra_s", "engine_search_s")
    keys = (*keys, "scipy_floor_s")
    for key in (*keys, "scipy_floor_hilbert_s", "loader_s"):
        if key not in first or key not in last:
            continue
        per = [r[key] / (r["nodes"] * math.log2(r["nodes"])) for r in (first, last)]
        print(
            f"{key}: time/(n log2 n) {per[0]:.3e} at {first['nodes']:,} -> {per[1]:.3e} at "
            f"{last['nodes']:,}; ratio {per[1] / per[0]:.2f}; ok={per[1] <= per[0] * 1.25}"
        )
    plot(rows, docs / "cost_curve.png")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Log-log plot of the stages against graph nodes, with an n log n guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["nodes"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = {
        "loader_s": "PBF → Network (bereikbaar)",
        "pyosmium_pass_s": "one pyosmium pass (floor)",
        "nearest_library_s": "nearest_library: snapping + Dijkstra (overlapped)",
        "snapping_s": "snapping (origins ∝ nodes, 400k from 1.6 M on)",
        "engine_dijkstra_s": "engine Dijkstra + origin costs",
        "engine_search_s": "engine Dijkstra alone (node_costs, blocked bands)",
        "scipy_floor_s": "raw scipy dijkstra(min_only), OSM node order",
        "scipy_floor_hilbert_s": "raw scipy dijkstra(min_only), Hilbert order",
    }
    for key, label in labels.items():
        pts = [(r["nodes"], r[key]) for r in rows if r.get(key) is not None]
        ax.plot([a for a, _ in pts], [b for _, b in pts], marker="o", label=label)
    ref = rows[-1]["loader_s"]
    guide = [ref * (m * math.log2(m)) / (n[-1] * math.log2(n[-1])) for m in n]
    ax.plot(n, guide, "k--", linewidth=0.8, label="n log n (through the last loader point)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("graph nodes")
    ax.set_ylabel("wall time (s)")
    ax.set_title("bereikbaar cost curve (synthetic networks, 2 cores)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
