"""The national synthetic case, files to map: cold run, then a rerun with the cached Network.

    python benchmarks/bench_national.py [--nodes 1600000] [--no-sites]

Each run is a fresh process (peak RSS per run) calling :func:`bereikbaar.pipeline.run`
on the synthetic case (≥ 1.5 M graph nodes, 400,000 cells, 1,250 branches, 342
gemeenten) with ``cache_dir`` set: the first run builds and caches the Network,
the second loads it. Prints the pipeline's own per-stage timings (``run.json``),
the peak RSS per stage (sampled), wall time and peak RSS of both runs, as one
JSON line (and each run's line as soon as it ends).
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


class _RssSampler:
    """Peak RSS per pipeline stage: a thread samples /proc/self/statm every 20 ms."""

    def __init__(self, log: Path | None = None) -> None:
        import os
        import threading

        self._page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20  # MiB, as common.peak_rss_mb
        self._log = log
        self._t0 = self._t_stage = time.perf_counter()
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _rss_mb(self) -> float:
        with Path("/proc/self/statm").open() as f:
            return int(f.read().split()[1]) * self._page_mb

    def _sample(self) -> None:
        with self._lock:
            rss = self._rss_mb()
            self.peaks[self.stage] = round(max(self.peaks.get(self.stage, 0.0), rss), 1)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def enter(self, name: str) -> None:
        self._sample()
        now = time.perf_counter()
        if self._log is not None:  # each finished stage at once: a stopped run keeps it
            line = {
                "stage": self.stage,
                "wall_s": round(now - self._t_stage, 1),
                "since_start_s": round(now - self._t0, 1),
                "peak_rss_mb": self.peaks.get(self.stage),
            }
            with self._log.open("a") as f:
                f.write(json.dumps(line) + "\n")
        with self._lock:
            self.stage = name
            self._t_stage = now
        self._sample()

    def stop(self) -> dict[str, float]:
        self._sample()
        self._stop.set()
        self._thread.join()
        return self.peaks


def child(config: str, cache: str, out: str, *, sites: bool = True) -> None:
    import warnings

    import bereikbaar.pipeline as pipeline
    from bereikbaar.settings import Settings

    settings = dataclasses.replace(
        Settings.from_toml(config), cache_dir=Path(cache), out_dir=Path(out)
    )
    log = Path(out).with_name(Path(out).name + "_progress.jsonl")
    sampler = _RssSampler(log)
    suggested = pipeline._suggested_sites

    def marked(*a: Any, **k: Any) -> Any:
        sampler.enter("rapport schrijven")
        return suggested(*a, **k) if sites else None

    pipeline._suggested_sites = marked
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pipeline.run(settings, progress=sampler.enter)
    res: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 1)}
    res["stages_s"] = result.provenance["timings_s"]
    sampler.enter("end")
    res["stages_peak_rss_mb"] = sampler.stop()
    res["site_suggestions"] = sites
    res["counts"] = result.provenance["counts"]
    emit(res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_600_000)
    ap.add_argument("--child", nargs=3)
    ap.add_argument(
        "--no-sites",
        action="store_true",
        help="dossier without the site suggestions per flagged gemeente (timed apart)",
    )
    ap.add_argument(
        "--runs",
        nargs="+",
        choices=("cold", "cached"),
        default=["cold", "cached"],
        help="which runs; 'cached' alone reuses the cache of an earlier cold run",
    )
    args = ap.parse_args()
    if args.child:
        child(*args.child, sites=not args.no_sites)
        return
    inputs = case(args.nodes)
    cache = DATA / f"national_cache_{args.nodes}"
    if "cold" in args.runs:
        shutil.rmtree(cache, ignore_errors=True)
    out_dir = DATA / f"national_out_{args.nodes}"
    res: dict[str, Any] = {"graph_nodes": inputs.n_graph_nodes}
    for name in args.runs:
        extra = ["--no-sites"] if args.no_sites else []
        res[name] = run_stage(HERE, "--child", str(inputs.config), str(cache), str(out_dir), *extra)
        print(json.dumps({name: res[name]}), flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
