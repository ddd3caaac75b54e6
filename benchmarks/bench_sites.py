"""Site suggestions of the dossier for every flagged gemeente: before and after, one run.

    python benchmarks/bench_sites.py [--nodes 1600000] [--before-gemeenten N]

``--before-gemeenten 0`` skips the old path (it takes about 20 minutes for all).

Runs the pipeline once on the national synthetic case without site suggestions
(cached Network under ``benchmarks/out/cache``), then times the site-suggestion
stage for all flagged gemeenten (up to ``--before-gemeenten`` for the old path):

* after: ``bereikbaar.pipeline._suggested_sites`` (one search graph for all
  flagged gemeenten, every site's bounded search compiled, on two threads);
* local: the same with the previous search (``BoundedSearch.costs(method="local")``,
  scipy's bounded Dijkstra on a part of the network around each tile of sites);
* before: the code path it replaced, ``best_sites_for_gemeente`` once per gemeente
  as in ``scenarios.py`` of commit ``OLD_COMMIT`` (read with ``git show``), every
  bounded Dijkstra on the whole network.

Checks that both give the same table for every gemeente and prints one JSON line:
seconds before/after, the ratio (per gemeente when the old path ran on fewer),
the number of gemeenten and the load average at start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from common import DATA, ROOT, case  # noqa: E402

OLD_COMMIT = "a536991"  # last commit with one whole-network Dijkstra per candidate site


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _old_scenarios() -> types.ModuleType:
    """``bereikbaar/scenarios.py`` of ``OLD_COMMIT`` as module ``bereikbaar._scenarios_old``."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:src/bereikbaar/scenarios.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the per-area statistics it imported privately are public now (same function)
    src = src.replace(
        "from .aggregate import _stats,", "from .aggregate import area_stats as _stats,"
    )
    mod = types.ModuleType("bereikbaar._scenarios_old")
    mod.__package__ = "bereikbaar"
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"scenarios.py@{OLD_COMMIT}", "exec"), mod.__dict__)
    return mod


def main() -> None:
    import geopandas as gpd
    import pandas as pd

    import bereikbaar.pipeline as pipeline
    from bereikbaar.exceptions import BereikbaarError
    from bereikbaar.scenarios import prepare_baseline
    from bereikbaar.schema import GEMEENTECODE, POPULATION_BEYOND
    from bereikbaar.settings import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1_600_000)
    ap.add_argument(
        "--before-gemeenten",
        type=int,
        default=None,
        help="run the old path for only the first N flagged gemeenten (default: all)",
    )
    args = ap.parse_args()
    res: dict[str, Any] = {"loadavg_start": _loadavg(), "cpus": os.cpu_count()}
    inputs = case(args.nodes)
    out = Path(tempfile.mkdtemp(prefix="bench_sites_"))
    settings = dataclasses.replace(
        Settings.from_toml(inputs.config), cache_dir=DATA / "cache", out_dir=out
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pipeline.run(dataclasses.replace(settings, site_suggestions=0))
    res["pipeline_without_sites_s"] = round(time.perf_counter() - t0, 1)
    res["graph_nodes"] = result.network.n_nodes
    flagged = result.flagged.sort_values(
        [POPULATION_BEYOND, GEMEENTECODE], ascending=[False, True], kind="stable"
    )
    codes = flagged[GEMEENTECODE].astype(str).tolist()
    res["flagged_gemeenten"] = len(codes)
    k = settings.site_suggestions

    # after: the pipeline's stage itself, every flagged gemeente
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = pipeline._suggested_sites(result, settings)
    res["after_s"] = round(time.perf_counter() - t0, 2)
    assert after is not None
    res["after_gemeenten"] = int(after[GEMEENTECODE].nunique())
    res["after_sites"] = len(after)
    res["loadavg_after"] = _loadavg()

    # the same stage with the previous search of each site (scipy on a local part)
    from bereikbaar.engine.bounded import BoundedSearch

    compiled_costs = BoundedSearch.costs
    BoundedSearch.costs = functools.partialmethod(compiled_costs, method="local")  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = pipeline._suggested_sites(result, settings)
        res["local_s"] = round(time.perf_counter() - t0, 2)
    finally:
        BoundedSearch.costs = compiled_costs  # type: ignore[method-assign]
    assert local is not None
    res["local_over_compiled"] = round(res["local_s"] / res["after_s"], 2)
    res["local_identical"] = bool(
        pd.DataFrame(local).equals(pd.DataFrame(after))
        and local.geometry.geom_equals_exact(after.geometry, 0).all()
    )
    if args.before_gemeenten == 0:
        print(json.dumps(res))
        return

    # before: the old per-gemeente path (prepare_baseline once, as the old _suggested_sites)
    old = _old_scenarios()
    before_codes = codes[: args.before_gemeenten] if args.before_gemeenten else codes
    t0 = time.perf_counter()
    parts: list[gpd.GeoDataFrame] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = prepare_baseline(result, settings)
        obase = old.Baseline(*(getattr(base, f.name) for f in dataclasses.fields(base)))
        for code in before_codes:
            with contextlib.suppress(BereikbaarError):  # as the old pipeline: left out
                parts.append(old.best_sites_for_gemeente(obase, code, k=k, settings=settings))
    res["before_s"] = round(time.perf_counter() - t0, 2)
    res["before_gemeenten"] = len(before_codes)
    res["loadavg_end"] = _loadavg()
    before = pd.concat(parts, ignore_index=True)
    same_codes = after[after[GEMEENTECODE].isin(before_codes)].reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(pd.DataFrame(before), pd.DataFrame(same_codes))
        identical = bool(before.geometry.geom_equals_exact(same_codes.geometry, 0).all())
    except AssertionError:
        identical = False
    res["identical"] = identical
    if len(before_codes) == len(codes):
        res["ratio"] = round(res["before_s"] / res["after_s"], 1)
    else:  # per gemeente: the old path ran on the gemeenten with most residents beyond
        res["ratio_per_gemeente"] = round(
            (res["before_s"] / len(before_codes)) / (res["after_s"] / len(codes)), 1
        )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
