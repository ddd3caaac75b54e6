"""The cost curve: engine and loader at 100k, 250k, 1M, 2M and 4M graph nodes.

    python benchmarks/bench_curve.py [--sizes 100000 250000 1000000 2000000 4000000]

Runs ``bench_engine.py`` and ``bench_loader.py --no-osmnx`` per size, each in a
fresh process, writes ``docs/performance_curve.json`` and the plot
``docs/performance_curve.png`` (matplotlib, from the dev extra), and prints the
growth check: the time per ``n log2 n`` must not grow between the smallest and
the largest size (growth no faster than n log n).
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
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        eng = run_stage(HERE / "bench_engine.py", "--nodes", str(n), "--repeat", "2")
        load = run_stage(HERE / "bench_loader.py", "--nodes", str(n), "--no-osmnx")
        row = {
            "nodes": eng["nodes"],
            "arcs": eng["arcs"],
            "snapping_s": eng["snapping_s"],
            "engine_dijkstra_s": eng["engine_dijkstra_s"],
            "scipy_floor_s": eng["scipy_floor_s"],
            "loader_s": load["ours"]["wall_s"],
            "loader_rss_mb": load["ours"]["peak_rss_mb"],
            "pyosmium_pass_s": load["pyosmium_pass"]["wall_s"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    docs = ROOT / "docs"
    (docs / "performance_curve.json").write_text(json.dumps(rows, indent=1))
    for key in ("snapping_s", "engine_dijkstra_s", "scipy_floor_s", "loader_s"):
        first, last = rows[0], rows[-1]
        per = [r[key] / (r["nodes"] * math.log2(r["nodes"])) for r in (first, last)]
        print(f"{key}: time/(n log n) {per[0]:.3e} → {per[1]:.3e}; ok={per[1] <= per[0] * 1.25}")
    plot(rows, docs / "performance_curve.png")


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
        "snapping_s": "snapping (400k-proportional origins)",
        "engine_dijkstra_s": "engine Dijkstra + origin costs",
        "scipy_floor_s": "raw scipy dijkstra(min_only)",
    }
    for key, label in labels.items():
        ax.plot(n, [r[key] for r in rows], marker="o", label=label)
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
