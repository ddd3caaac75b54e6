"""The national synthetic case, files to map: cold run, then a rerun with the cached Network.

    python benchmarks/bench_national.py [--nodes 1600000]

Each run is a fresh process (peak RSS per run) calling :func:`bereikbaar.pipeline.run`
on the synthetic case (≥ 1.5 M graph nodes, 400,000 cells, 1,250 branches, 342
gemeenten) with ``cache_dir`` set: the first run builds and caches the Network,
the second loads it. Prints the pipeline's own per-stage timings (``run.json``),
wall time and peak RSS of both runs, as one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from common import DATA, case, emit, run_stage

HERE = Path(__file__).resolve()


def child(config: str, cache: str, out: str) -> None:
    import warnings

    from bereikbaar.pipeline import run
    from bereikbaar.settings import Settings

    settings = dataclasses.replace(
        Settings.from_toml(config), cache_dir=Path(cache), out_dir=Path(out)
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(settings)
    res: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 1)}
    res["stages_s"] = result.provenance["timings_s"]
    res["counts"] = result.provenance["counts"]
    emit(res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_600_000)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    inputs = case(args.nodes)
    cache = DATA / f"national_cache_{args.nodes}"
    shutil.rmtree(cache, ignore_errors=True)
    out_dir = DATA / f"national_out_{args.nodes}"
    res: dict[str, Any] = {"graph_nodes": inputs.n_graph_nodes}
    res["cold"] = run_stage(HERE, "--child", str(inputs.config), str(cache), str(out_dir))
    res["cached"] = run_stage(HERE, "--child", str(inputs.config), str(cache), str(out_dir))
    print(json.dumps(res))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
