"""Closure impact: rank every full-service branch by the damage its closure would do.

Per branch only the residents whose nearest library it is can be affected, and
only the road nodes that reach it first are searched again: a Dijkstra on that
region, seeded from its border with the unchanged costs outside. The searches
are independent tasks, run on Dask (the :class:`ClosureEngine` is pickled once
to every worker) or serially, with identical results, equal to
:func:`~bereikbaar.scenarios.scenario` with ``close=[branch]``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..accessibility import LibraryTerms, Snapped, library_graph, library_terms, origin_costs
from ..aggregate import area_stats, cell_gemeenten, flag_reasons, point_gemeenten
from ..engine.network import FloatArray, IntArray, Network, Weight
from ..result import RunResult
from ..schema import (
    DISTANCE_M,
    FULL_SERVICE_LIBRARIES,
    GEMEENTECODE,
    LIBRARY_ID,
    NAME,
    POPULATION,
    REACHABLE,
    REASONS,
    TE_GROOT,
    full_service_mask,
)
from ..settings import Settings
from .baseline import Baseline, prepare_baseline, slice_snapped
from .whatif import ScenarioResult

if TYPE_CHECKING:
    from dask.distributed import Client

log = logging.getLogger(__name__)

__all__ = [
    "ClosureEngine",
    "ClosureImpact",
    "build_closure_engine",
    "closure_impact",
    "run_closures",
]


@dataclass
class ClosureEngine:
    """Everything one closure task needs (pickled once to every Dask worker).

    Build it with :func:`build_closure_engine`; :func:`run_closures` runs its tasks.

    Attributes
    ----------
    network
        Road network without arc geometry (light to pickle).
    weight
        ``"length"`` or ``"time"``.
    graph_t
        In-edges of the augmented reversed graph (one virtual node per usable library).
    dist
        Cost of every node (and virtual node) to its nearest library.
    region
        Per node: the usable library ``j`` whose region it is in (-1: none).
    origins
        The snapped origins.
    origin_lib
        Per origin: the usable library ``j`` it uses (-1: none).
    terms
        The libraries' arc terms.
    """

    network: Network
    weight: Weight
    graph_t: sp.csr_array  # in-edges of the augmented reversed graph
    dist: FloatArray  # cost of every node (and virtual node) to its nearest library
    region: IntArray  # per node: usable library j whose region it is in (-1: none)
    origins: Snapped
    origin_lib: IntArray  # per origin: usable library j it uses (-1: none)
    terms: LibraryTerms

    def impact(self, j: int) -> tuple[IntArray, FloatArray]:
        """Origins that used library ``j`` and their cost with ``j`` closed."""
        n = self.network.n_nodes
        affected = np.flatnonzero(self.origin_lib == j)
        if len(affected) == 0:
            return affected, np.zeros(0)
        region = np.flatnonzero(self.region == j)
        node_cost = self.dist[:n].copy()
        m = len(region)
        if m:
            sub = self.graph_t[region]
            q_local = np.repeat(np.arange(m), np.diff(sub.indptr))
            p = sub.indices.astype(np.int64)
            w = sub.data
            pos = np.searchsorted(region, p)
            pos_c = np.minimum(pos, m - 1)
            inside = region[pos_c] == p
            virt_j = n + j
            seed_mask = ~inside & (p != virt_j)
            seed_cost = self.dist[p[seed_mask]] + w[seed_mask]
            fin = np.isfinite(seed_cost)
            init = np.full(m, np.inf)
            np.minimum.at(init, q_local[seed_mask][fin], seed_cost[fin])
            seeded = np.flatnonzero(np.isfinite(init))
            rows = np.concatenate([pos_c[inside], np.full(len(seeded), m)])
            cols = np.concatenate([q_local[inside], seeded])
            data = np.concatenate([w[inside], init[seeded]])
            local = sp.csr_array((data, (rows, cols)), shape=(m + 1, m + 1))
            d = dijkstra(local, directed=True, indices=m)
            node_cost[region] = d[:m]
        sub_o = slice_snapped(self.origins, affected)
        cost, _ = origin_costs(
            self.network,
            self.weight,
            sub_o,
            node_cost,
            np.zeros(n, dtype=np.int64),
            self.terms.without(j),
        )
        return affected, cost

    def run(self, js: Sequence[int]) -> list[tuple[int, IntArray, FloatArray]]:
        """:meth:`impact` for several libraries."""
        return [(int(j), *self.impact(int(j))) for j in js]


def _run_chunk(engine: ClosureEngine, js: Sequence[int]) -> list[tuple[int, IntArray, FloatArray]]:
    return engine.run(js)


def build_closure_engine(
    network: Network, origins: Snapped, libraries: Snapped, *, weight: Weight = "length"
) -> tuple[ClosureEngine, FloatArray]:
    """The closure engine and the baseline cost per origin (used by benchmarks).

    Parameters
    ----------
    network
        Road network.
    origins, libraries
        Snapped origins and (full-service) libraries.
    weight
        ``"length"`` (m) or ``"time"`` (s).

    Returns
    -------
    engine, cost
        The engine and the baseline cost of every origin (as :func:`nearest_library`).
    """
    n = network.n_nodes
    terms = library_terms(network, weight, libraries)
    graph, virt = library_graph(network, weight, libraries, terms)
    dist, _, sources = dijkstra(
        graph, directed=True, indices=virt, min_only=True, return_predecessors=True
    )
    node_lib = np.where(sources[:n] >= n, sources[:n] - n, -1)
    cost, lib_index = origin_costs(network, weight, origins, dist[:n], node_lib, terms)
    # lib_index is an index into the snapped set; map back to usable j
    j_of = np.full(len(libraries.arc), -1, dtype=np.int64)
    j_of[terms.lib_ok] = np.arange(len(terms.lib_ok))
    origin_lib = np.where(lib_index >= 0, j_of[np.maximum(lib_index, 0)], -1)
    light = dataclasses.replace(network, geometry_coords=None, geometry_offsets=None)
    # carry the cached twin-arc table along (the engine is pickled to workers)
    light.__dict__["_reverse_arc"] = network.reverse_arc()
    engine = ClosureEngine(
        light,
        weight,
        sp.csr_array(graph.T.tocsr()),
        dist,
        node_lib,
        origins,
        origin_lib,
        terms,
    )
    return engine, cost


def run_closures(
    engine: ClosureEngine,
    js: Sequence[int],
    *,
    scheduler: str | Client | Literal["serial"] | None = None,
    n_workers: int = 2,
    processes: bool = True,
    n_chunks: int | None = None,
) -> dict[int, tuple[IntArray, FloatArray]]:
    """Run the closure Dijkstras for libraries ``js``, serially or on Dask.

    Parameters
    ----------
    engine
        From :func:`build_closure_engine`.
    js
        Usable-library indices.
    scheduler
        ``"serial"``; ``None`` for a new ``LocalCluster``; a scheduler address;
        or a ``dask.distributed.Client``.
    n_workers, processes
        For the ``LocalCluster``.
    n_chunks
        Number of tasks (default 4 per worker).

    Returns
    -------
    dict
        ``j → (affected origin indices, their cost with j closed)``.
    """
    js = [int(j) for j in js]
    if scheduler == "serial" or len(js) == 0:
        return {j: (a, c) for j, a, c in engine.run(js)}
    import dask.distributed

    dd: Any = dask.distributed

    # balance: largest regions first, dealt round-robin
    sizes = np.bincount(
        engine.origin_lib[engine.origin_lib >= 0], minlength=len(engine.terms.lib_ok)
    )
    order = sorted(js, key=lambda j: -int(sizes[j]))
    cluster = None
    own = False
    client: Any
    if isinstance(scheduler, dd.Client):
        client = scheduler
    elif isinstance(scheduler, str):
        client = dd.Client(scheduler)
        own = True
    else:
        cluster = dd.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        client = dd.Client(cluster)
        own = True
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        k = max(1, min(len(order), n_chunks or 4 * workers))
        chunks = [order[i::k] for i in range(k)]
        shared = client.scatter(engine, broadcast=True, hash=False)
        futures = [client.submit(_run_chunk, shared, ch, pure=False) for ch in chunks]
        parts = client.gather(futures)
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()
    return {j: (a, c) for part in parts for j, a, c in part}


@dataclass
class ClosureImpact:
    """Ranking of full-service branches by the effect of closing each one.

    Attributes
    ----------
    ranking
        One row per full-service branch, most harmful closure first:
        ``rank``, ``library_id``, ``name``, ``gemeentecode`` (where it lies),
        ``population_served`` (residents whose nearest library it is),
        ``population_newly_beyond`` (residents within the threshold now, beyond it
        or without route after the closure), ``mean_increase_km`` (largest rise of
        a gemeente's person-weighted mean, the CBS-comparable figure),
        ``gemeente_most_affected``, ``area_mean_increase_km`` (person-weighted
        mean over the whole study area) and ``gemeenten_te_groot`` (codes that
        would become "te groot").
    per_gemeente
        Long table: ``library_id``, ``gemeentecode``, ``mean_distance_km_before``,
        ``mean_distance_km_after``, ``population_beyond_before``/``_after``,
        ``te_groot_before``/``_after``.
    elapsed_s
        Wall time of the Dijkstras (s).
    """

    ranking: pd.DataFrame
    per_gemeente: pd.DataFrame
    elapsed_s: float


def closure_impact(
    result: RunResult | Baseline | ScenarioResult,
    *,
    settings: Settings | None = None,
    scheduler: str | Client | Literal["serial"] | None = None,
    n_workers: int = 2,
    processes: bool = True,
) -> ClosureImpact:
    """Rank every full-service branch by the damage its closure would do.

    For each branch only the residents whose nearest library it is can be
    affected; only the road nodes that reach it first are searched again (a
    Dijkstra over that region, seeded with the unchanged costs just outside).
    Branches that are nobody's nearest need no search. The searches are
    independent tasks run on Dask (``dask.distributed``) or serially; both give
    identical numbers, equal to :func:`scenario` with ``close=[branch]``.

    Parameters
    ----------
    result
        The baseline run.
    settings
        Settings (default from the run); ``settings.dask_scheduler`` is used when
        ``scheduler`` is None.
    scheduler
        ``"serial"`` (no Dask), ``None`` (the settings' scheduler address, else a
        new ``LocalCluster``), a scheduler address such as ``"tcp://host:8786"``,
        or a ``dask.distributed.Client``.
    n_workers, processes
        Size and kind of the ``LocalCluster`` (``processes=False``: threads in
        this process, light for small areas).

    Returns
    -------
    ClosureImpact
        The ranking and per-gemeente figures.
    """
    base = prepare_baseline(result, settings)
    if scheduler is None:
        scheduler = getattr(base.settings, "dask_scheduler", None)
    libs = base.libraries
    fs_idx = np.flatnonzero(full_service_mask(libs))
    l_snap = slice_snapped(base.library_snaps, fs_idx)
    t0 = time.perf_counter()
    engine, _cost = build_closure_engine(base.network, base.origins, l_snap)
    js = np.unique(engine.origin_lib[engine.origin_lib >= 0])
    impacts = run_closures(
        engine, js.tolist(), scheduler=scheduler, n_workers=n_workers, processes=processes
    )
    elapsed = time.perf_counter() - t0

    rule = base.rule
    thr = rule.threshold_km
    cells = base.cells
    pop = cells[POPULATION].to_numpy(dtype=float)
    codes = cell_gemeenten(cells, base.gemeenten).to_numpy()
    dist_m = cells[DISTANCE_M].to_numpy(dtype=float)
    reach = cells[REACHABLE].to_numpy(dtype=bool)
    summ = base.summary.set_index(GEMEENTECODE)
    lib_gem = point_gemeenten(libs, base.gemeenten)
    known = np.isfinite(pop)
    area_ok = known & reach & np.isfinite(dist_m)
    area_pop = float(pop[area_ok].sum())
    area_mean = float((dist_m[area_ok] * pop[area_ok]).sum() / area_pop / 1000.0)

    rows = []
    long_rows = []
    terms_ok = engine.terms.lib_ok
    for j in range(len(terms_ok)):
        row_idx = int(fs_idx[terms_ok[j]])
        lib = libs.iloc[row_idx]
        gem = lib_gem.iloc[row_idx]
        affected, new_cost = impacts.get(j, (np.zeros(0, dtype=np.int64), np.zeros(0)))
        served = float(np.nansum(pop[affected])) if len(affected) else 0.0
        rec: dict[str, Any] = {
            LIBRARY_ID: lib[LIBRARY_ID],
            NAME: lib.get(NAME),
            GEMEENTECODE: gem if isinstance(gem, str) else None,
            "population_served": served,
            "population_newly_beyond": 0.0,
            "mean_increase_km": 0.0,
            "gemeente_most_affected": None,
            "area_mean_increase_km": 0.0,
            "gemeenten_te_groot": "",
        }
        if len(affected):
            new_m = dist_m.copy()
            new_m[affected] = new_cost
            new_reach = reach.copy()
            new_reach[affected] = np.isfinite(new_cost)
            was_within = reach[affected] & (dist_m[affected] / 1000.0 <= thr)
            now_beyond = ~np.isfinite(new_cost) | (new_cost / 1000.0 > thr)
            rec["population_newly_beyond"] = float(
                np.nansum(pop[affected][was_within & now_beyond])
            )
            ok2 = known & new_reach & np.isfinite(new_m)
            p2 = float(pop[ok2].sum())
            rec["area_mean_increase_km"] = (
                float((new_m[ok2] * pop[ok2]).sum() / p2 / 1000.0) - area_mean
                if p2 > 0
                else float("nan")
            )
            best = -np.inf
            flips = []
            dist_km_new = new_m / 1000.0
            dist_km_old = dist_m / 1000.0
            for g in pd.unique(codes[affected]):
                if not isinstance(g, str) or g not in summ.index:
                    continue
                mk = codes == g
                s_old = area_stats(dist_km_old[mk], pop[mk], reach[mk], thr)
                s_new = area_stats(dist_km_new[mk], pop[mk], new_reach[mk], thr)
                nfs = int(summ.at[g, FULL_SERVICE_LIBRARIES]) - (1 if g == gem else 0)
                reasons = flag_reasons(s_new["mean"], s_new["share"], nfs, s_new["reachable"], rule)
                was = bool(summ.at[g, TE_GROOT])
                inc = s_new["mean"] - s_old["mean"]
                if math.isfinite(inc) and inc > best:
                    best = inc
                    rec["mean_increase_km"] = inc
                    rec["gemeente_most_affected"] = g
                if reasons and not was:
                    flips.append(g)
                long_rows.append(
                    {
                        LIBRARY_ID: lib[LIBRARY_ID],
                        GEMEENTECODE: g,
                        "mean_distance_km_before": s_old["mean"],
                        "mean_distance_km_after": s_new["mean"],
                        "population_beyond_before": s_old["beyond"],
                        "population_beyond_after": s_new["beyond"],
                        "te_groot_before": was,
                        "te_groot_after": bool(reasons),
                        REASONS: "; ".join(reasons),
                    }
                )
            rec["gemeenten_te_groot"] = ", ".join(flips)
        rows.append(rec)
    ranking = pd.DataFrame(rows)
    if len(ranking):
        ranking = ranking.sort_values(
            ["population_newly_beyond", "mean_increase_km", "population_served", LIBRARY_ID],
            ascending=[False, False, False, True],
            kind="stable",
        ).reset_index(drop=True)
        ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    log.info("closure impact of %d branches in %.2f s", len(ranking), elapsed)
    return ClosureImpact(ranking, pd.DataFrame(long_rows), elapsed)
