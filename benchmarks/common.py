"""Shared helpers of the benchmark scripts (not part of the package).

Every measurement that needs its own peak memory runs in a fresh subprocess
(``run_stage``); the child reports wall time, CPU time and peak RSS as JSON.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bereikbaar.examples.synthetic import SyntheticInputs, SyntheticSpec, write_synthetic_case

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BEREIKBAAR_BENCH_DIR", ROOT / "benchmarks" / "out"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextmanager
def timed(results: dict[str, Any], name: str) -> Iterator[None]:
    """Record wall and CPU seconds of a block under ``results[name]``."""
    w0, c0 = time.perf_counter(), time.process_time()
    yield
    results[name] = {
        "wall_s": round(time.perf_counter() - w0, 3),
        "cpu_s": round(time.process_time() - c0, 3),
    }


def spec_for(n_nodes: int) -> SyntheticSpec:
    """The synthetic case sized for ``n_nodes`` graph nodes (national proportions).

    Below 1.5 M nodes, cells, branches and gemeenten scale with the network; from
    1.5 M on they stay national (400,000 cells, 1,250 branches, 342 gemeenten).
    Above 2 M nodes the street grid gets denser so that the country keeps its size.
    """
    if n_nodes > 2_000_000:  # denser streets: the default 200 m grid would leave the Netherlands
        return SyntheticSpec(n_nodes=n_nodes, spacing_m=200.0 * math.sqrt(2_000_000 / n_nodes))
    if n_nodes >= 1_500_000:
        return SyntheticSpec(n_nodes=n_nodes)
    scale = n_nodes / 1_600_000
    return SyntheticSpec(
        n_nodes=n_nodes,
        n_cells=max(200, int(400_000 * scale)),
        n_branches=max(20, int(1_250 * scale)),
        n_gemeenten=max(5, int(342 * scale)),
    )


def case(n_nodes: int, *, osm_xml: bool = False) -> SyntheticInputs:
    """Write (or reuse) the synthetic case of ``n_nodes`` under the bench folder."""
    folder = DATA / f"synthetic_{n_nodes}"
    marker = folder / "inputs.json"
    if marker.is_file() and (not osm_xml or (folder / "synthetic.osm").is_file()):
        d = json.loads(marker.read_text())
        fields: dict[str, Any] = {k: Path(v) if k in _PATHS else v for k, v in d.items()}
        return SyntheticInputs(**fields)
    inputs = write_synthetic_case(folder, spec_for(n_nodes), osm_xml=osm_xml)
    marker.write_text(
        json.dumps({k: str(v) if k in _PATHS else v for k, v in inputs.__dict__.items()})
    )
    return inputs


_PATHS = ("network", "cells", "libraries", "gemeenten", "config")


def run_stage(script: Path, *args: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``script`` in a fresh Python; it prints one JSON line last; add peak RSS (MB)."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def emit(result: dict[str, Any]) -> None:
    """Print the child's result as the last JSON line, with its peak RSS."""
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``n`` runs (noisy shared machine) and the last result."""
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
