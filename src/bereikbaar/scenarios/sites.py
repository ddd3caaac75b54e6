"""Suggested sites: where new branches bring the most residents within the threshold.

The maximal covering location problem. Demand: populated cells beyond the
threshold (or without route); candidates: cell centroids (or own points),
snapped as an opened branch would be. Coverage per candidate comes from a
Dijkstra bounded at the threshold (:mod:`bereikbaar.engine.bounded`); the choice
is greedy with lazy gains (:func:`max_coverage_greedy`, within ``1 - 1/e``) and
exact with :func:`scipy.optimize.milp` when small (:func:`max_coverage_milp`).
:func:`best_sites_for_gemeenten` gives the dossier's table for many gemeenten at once.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from ..accessibility import points_xy as _points_xy
from ..aggregate import cell_gemeenten, point_gemeenten
from ..engine.bounded import BoundedSearch, bounded_costs
from ..engine.network import FloatArray, IntArray
from ..engine.snap import Snapped, snap_to_arcs
from ..exceptions import InputError
from ..result import RunResult
from ..schema import CELL_ID, CRS_RD, DISTANCE_M, GEMEENTECODE, POPULATION, REACHABLE
from ..settings import Settings
from .baseline import Baseline, concat_snapped, prepare_baseline, slice_snapped
from .whatif import NewBranch, ScenarioResult

log = logging.getLogger(__name__)

__all__ = [
    "SiteSuggestion",
    "best_sites_for_gemeente",
    "best_sites_for_gemeenten",
    "max_coverage_greedy",
    "max_coverage_milp",
    "suggest_sites",
]


def _coverage_values(
    coverage: sp.csr_array, weights: FloatArray
) -> tuple[sp.csr_array, FloatArray]:
    cov = sp.csr_array(coverage, dtype=bool).astype(np.float64)
    cov.sum_duplicates()
    return sp.csr_array(cov), np.asarray(weights, dtype=float)


def max_coverage_greedy(
    coverage: sp.csr_array | npt.ArrayLike, weights: npt.ArrayLike, k: int
) -> tuple[list[int], list[float]]:
    """Greedy maximal covering with lazy gains (CELF): within ``1 - 1/e`` of the optimum.

    Parameters
    ----------
    coverage
        ``(n_candidates, n_demand)`` boolean (sparse or dense): candidate ``c``
        covers demand point ``i``.
    weights
        Non-negative weight (residents) per demand point.
    k
        Largest number of candidates to choose.

    Returns
    -------
    chosen, gains
        Candidates in the order chosen and the weight each added (stops early when
        nothing more can be gained). Ties go to the lowest candidate index.

    Examples
    --------
    >>> max_coverage_greedy([[1, 1, 0], [0, 1, 1], [0, 0, 1]], [5, 1, 4], 2)
    ([0, 1], [6.0, 4.0])
    """
    cov, w = _coverage_values(
        sp.csr_array(np.asarray(coverage)) if not sp.issparse(coverage) else sp.csr_array(coverage),
        np.asarray(weights, dtype=float),
    )
    w = np.where(np.isfinite(w), w, 0.0)
    covered = np.zeros(cov.shape[1], dtype=bool)
    indptr, indices = cov.indptr, cov.indices
    gains0 = np.asarray(cov @ w).ravel()
    heap = [(-float(g), c) for c, g in enumerate(gains0.tolist()) if g > 0]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    while heap and len(chosen) < k:
        _neg, c = heapq.heappop(heap)
        cols = indices[indptr[c] : indptr[c + 1]]
        g = float(w[cols[~covered[cols]]].sum())
        if g <= 0:
            continue
        if not heap or g >= -heap[0][0] - 0.0:
            # ties with the next bound: recompute that one first if it has a lower index
            if heap and g == -heap[0][0] and heap[0][1] < c:
                heapq.heappush(heap, (-g, c))
                continue
            chosen.append(c)
            gains.append(g)
            covered[cols] = True
        else:
            heapq.heappush(heap, (-g, c))
    return chosen, gains


def max_coverage_milp(
    coverage: sp.csr_array | npt.ArrayLike,
    weights: npt.ArrayLike,
    k: int,
    *,
    time_limit_s: float | None = 60.0,
) -> tuple[list[int], float]:
    """Exact maximal covering with :func:`scipy.optimize.milp` (HiGHS).

    maximise ``Σ w_i y_i`` subject to ``y_i ≤ Σ_{c covers i} x_c``,
    ``Σ x_c ≤ k``, ``x`` binary, ``0 ≤ y ≤ 1``.

    Parameters
    ----------
    coverage, weights, k
        As in :func:`max_coverage_greedy`.
    time_limit_s
        Solver time limit (s); the best solution found so far is returned.

    Returns
    -------
    chosen, value
        Chosen candidates (ascending) and the covered weight.

    Examples
    --------
    >>> max_coverage_milp([[1, 1, 0], [0, 1, 1], [0, 0, 1]], [5, 1, 4], 2)
    ([0, 1], 10.0)
    """
    # scipy.optimize is slow to import and only the exact solution needs it
    from scipy.optimize import Bounds, LinearConstraint, milp

    cov, w = _coverage_values(
        sp.csr_array(np.asarray(coverage)) if not sp.issparse(coverage) else sp.csr_array(coverage),
        np.asarray(weights, dtype=float),
    )
    w = np.where(np.isfinite(w), w, 0.0)
    m, _d = cov.shape
    useful = np.flatnonzero((np.asarray(cov.sum(axis=0)).ravel() > 0) & (w > 0))
    if len(useful) == 0 or k <= 0:
        return [], 0.0
    a = sp.csr_array(cov[:, useful])
    nd = len(useful)
    # rows: y_i - Σ_c a[c, i] x_c <= 0 ; Σ x_c <= k
    a_t = sp.csr_array(a.T)
    cover_rows = sp.hstack([-a_t, sp.eye_array(nd)], format="csr")
    budget = sp.csr_array(np.concatenate([np.ones(m), np.zeros(nd)])[None, :])
    big = sp.vstack([cover_rows, budget], format="csr")
    lower = np.full(nd + 1, -np.inf)
    upper = np.concatenate([np.zeros(nd), [float(k)]])
    c = np.concatenate([np.zeros(m), -w[useful]])
    integrality = np.concatenate([np.ones(m), np.zeros(nd)])
    options: dict[str, Any] = {}
    if time_limit_s is not None:
        options["time_limit"] = time_limit_s
    res = milp(
        c,
        constraints=LinearConstraint(big, lower, upper),
        integrality=integrality,
        bounds=Bounds(0, 1),
        options=options,
    )
    if res.x is None:  # pragma: no cover - HiGHS failed
        msg = f"the MILP solver found no solution: {res.message}"
        raise RuntimeError(msg)
    chosen = sorted(int(i) for i in np.flatnonzero(res.x[:m] > 0.5))
    value = _covered_weight(cov, w, chosen)
    return chosen, value


def _covered_weight(cov: sp.csr_array, w: FloatArray, chosen: Sequence[int]) -> float:
    if not chosen:
        return 0.0
    hit = np.asarray(cov[np.asarray(chosen)].sum(axis=0)).ravel() > 0
    return float(w[hit].sum())


@dataclass
class SiteSuggestion:
    """Suggested sites for new branches (maximal covering location problem).

    Attributes
    ----------
    sites
        The greedy choice, in order (EPSG:28992 points): ``rank``, ``x``, ``y``,
        ``cell_id`` (candidate cell, when a cell centroid), ``gemeentecode``,
        ``population_gained`` (residents it brings within the threshold on top
        of the earlier sites), ``population_covered`` (residents beyond the
        threshold now that it alone brings within it).
    milp_sites
        The exact (MILP) choice when it ran, same columns, else None.
    greedy_population, milp_population
        Residents brought within the threshold by each choice (MILP None when
        it did not run).
    gap
        ``(milp - greedy) / milp`` (0 when equal, None without MILP).
    demand_population
        Residents beyond the threshold (or without route) that were considered.
    n_candidates
        Candidates that cover anyone.
    threshold_km
        The threshold.
    """

    sites: gpd.GeoDataFrame
    milp_sites: gpd.GeoDataFrame | None
    greedy_population: float
    milp_population: float | None
    gap: float | None
    demand_population: float
    n_candidates: int
    threshold_km: float

    def best(self) -> NewBranch | None:
        """The top site as a branch to open in :func:`scenario`."""
        if len(self.sites) == 0:
            return None
        r = self.sites.iloc[0]
        return NewBranch(float(r["x"]), float(r["y"]), name="Voorgestelde locatie 1")

    def to_open(self, branch_type: str = "vestiging") -> list[NewBranch]:
        """All greedy sites as branches for ``scenario(open=...)``."""
        return [
            NewBranch(
                float(r["x"]), float(r["y"]), branch_type, f"Voorgestelde locatie {int(r['rank'])}"
            )
            for _, r in self.sites.iterrows()
        ]


def _threshold_km(base: Baseline, threshold_km: float | None) -> float:
    thr_km = base.rule.threshold_km if threshold_km is None else float(threshold_km)
    if not thr_km > 0:
        msg = f"threshold_km must be positive, got {threshold_km!r}"
        raise InputError(msg)
    return thr_km


def _check_gemeenten(base: Baseline, wanted: Sequence[str]) -> None:
    known = set(base.summary[GEMEENTECODE])
    unknown = [g for g in wanted if g not in known]
    if unknown:
        msg = f"gemeente: unknown gemeentecode {', '.join(unknown)}"
        raise InputError(msg)


@dataclass(frozen=True)
class _DemandCells:
    """Per cell, what site suggestion needs (computed once per call; internal).

    Attributes
    ----------
    pop
        Residents (NaN where suppressed).
    code_str
        Gemeentecode as :func:`aggregate_gemeenten` assigns it, as text.
    demand
        Residents beyond the threshold (or without route) that could be served
        (populated and snapped onto the network).
    candidate
        Cells whose centroid may be a candidate site (populated or suppressed,
        with a location).
    xy
        Centroid (RD New, m).
    cell_id
        CBS cell code (None without a ``cell_id`` column).
    """

    pop: FloatArray
    code_str: npt.NDArray[Any]
    demand: npt.NDArray[np.bool_]
    candidate: npt.NDArray[np.bool_]
    xy: FloatArray
    cell_id: npt.NDArray[Any]


def _demand_cells(base: Baseline, thr_m: float) -> _DemandCells:
    cells = base.cells
    pop = cells[POPULATION].to_numpy(dtype=float)
    dist = cells[DISTANCE_M].to_numpy(dtype=float)
    reach = cells[REACHABLE].to_numpy(dtype=bool)
    codes = cell_gemeenten(cells, base.gemeenten).to_numpy()
    beyond = ~(reach & np.isfinite(dist) & (dist <= thr_m))
    demand = np.isfinite(pop) & (pop > 0) & beyond & base.origins.ok
    xy = _points_xy(cells, "cells")
    candidate = (np.isnan(pop) | (pop > 0)) & np.isfinite(xy).all(axis=1)
    cell_id = (
        cells[CELL_ID].to_numpy()
        if CELL_ID in cells.columns
        else np.full(len(cells), None, dtype=object)
    )
    return _DemandCells(pop, codes.astype(str), demand, candidate, xy, cell_id)


def _cell_sites(base: Baseline, rows: IntArray, xy: FloatArray) -> Snapped:
    """Cells ``rows`` (centroids ``xy``) snapped as candidate sites.

    A cell the baseline has snapped as an origin lies where a site there would lie: those
    snaps are reused; only the others (outside the coverage, which a site need not respect,
    or too far from a road) are snapped here.
    """
    got = slice_snapped(base.origins, rows)
    redo = np.flatnonzero(~got.ok)
    if not len(redo):
        return got
    new = snap_to_arcs(base.network, xy[redo], max_snap_m=base.settings.max_snap_m)
    arc, offset, snap = got.arc.copy(), got.offset_m.copy(), got.snap_m.copy()
    arc[redo], offset[redo], snap[redo] = new.arc, new.offset_m, new.snap_m
    return Snapped(arc, offset, snap)


def _near_demand(demand_xy: FloatArray, cand_xy: FloatArray, thr_m: float) -> npt.NDArray[np.bool_]:
    """Candidates within ``thr_m`` in a straight line of some demand point.

    Straight line <= road distance: the others cannot cover anyone.
    """
    if not (len(demand_xy) and len(cand_xy)):
        return np.zeros(len(cand_xy), dtype=bool)
    tree = cKDTree(demand_xy)
    near, _ = tree.query(np.nan_to_num(cand_xy, nan=1e12), k=1, distance_upper_bound=thr_m)
    return np.asarray(np.isfinite(near))


def _coverage(costs: sp.csr_array) -> tuple[sp.csr_array, IntArray]:
    """Boolean coverage of the candidates that cover anyone, and which candidates those are."""
    cov = sp.csr_array(costs.astype(bool))
    useful = np.flatnonzero(np.diff(cov.indptr) > 0)
    return sp.csr_array(cov[useful]), useful


def _sites_frame(
    cand_xy: FloatArray,
    cand_cell: npt.NDArray[Any],
    site_gem: npt.NDArray[Any],
    alone: FloatArray,
    idx: Sequence[int],
    gained: Sequence[float],
) -> gpd.GeoDataFrame:
    """The ``sites`` table of :class:`SiteSuggestion` for the chosen candidates ``idx``."""
    ii = np.asarray(idx, dtype=np.int64)
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(ii) + 1),
            "x": cand_xy[ii, 0] if len(ii) else [],
            "y": cand_xy[ii, 1] if len(ii) else [],
            CELL_ID: cand_cell[ii],
            GEMEENTECODE: site_gem[ii],
            "population_gained": np.asarray(gained, dtype=float),
            "population_covered": alone[ii],
        },
        geometry=shapely.points(cand_xy[ii]) if len(ii) else [],
        crs=CRS_RD,
    )


def _dossier_table(gemeentecode: str, t: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The dossier's Dutch table of :func:`best_sites_for_gemeente` from a ``sites`` table."""
    return gpd.GeoDataFrame(
        {
            GEMEENTECODE: [gemeentecode] * len(t),
            "rang": t["rank"].to_numpy(dtype=np.int64),
            "inwoners_erbij_binnen_bereik": np.rint(t["population_gained"]).astype(np.int64),
            "inwoners_binnen_bereik_alleen": np.rint(t["population_covered"]).astype(np.int64),
            "vierkant": t[CELL_ID].to_numpy(dtype=object),
        },
        geometry=t.geometry.to_numpy(),
        crs=CRS_RD,
    )


def suggest_sites(
    result: RunResult | Baseline | ScenarioResult,
    *,
    k: int = 3,
    threshold_km: float | None = None,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | FloatArray | None = None,
    gemeente: str | Sequence[str] | None = None,
    candidates_in_gemeente: bool = False,
    exact: bool | None = None,
    max_exact_candidates: int = 3000,
    time_limit_s: float | None = 60.0,
    settings: Settings | None = None,
) -> SiteSuggestion:
    """Where to put up to ``k`` new branches to bring the most residents within reach.

    Demand: populated cells farther than ``threshold_km`` from a full-service
    library (or with no route), optionally only in ``gemeente``. Candidates:
    the centroids of populated cells (or ``candidates``), projected onto the
    road network exactly as an opened branch would be; only those within
    ``threshold_km`` in a straight line of some demand cell can cover anyone.
    A resident is covered when the road distance **from home to the site** is
    at most the threshold: one Dijkstra per candidate, bounded at the
    threshold, on the reversed graph from the candidate.

    The greedy choice (lazy gains) always runs; the exact MILP runs when
    ``exact`` is True, or when None and there are at most
    ``max_exact_candidates`` candidates.

    Parameters
    ----------
    result
        The situation to improve (a run, baseline or scenario).
    k
        Largest number of new sites.
    threshold_km
        Coverage radius (km of road); default the flag rule's threshold.
    candidates
        Own candidate locations (points, EPSG:28992 or an ``(n, 2)`` RD array),
        e.g. schools or community centres.
    gemeente
        Only residents of this gemeente (code or codes) count as demand.
    candidates_in_gemeente
        With ``gemeente``: only candidate cells inside it.
    exact, max_exact_candidates, time_limit_s
        When and how long to solve exactly.
    settings
        Settings (default from the run).

    Returns
    -------
    SiteSuggestion
        Greedy sites, MILP sites, both values and the greedy gap.
    """
    base = prepare_baseline(result, settings)
    thr_km = _threshold_km(base, threshold_km)
    thr_m = thr_km * 1000.0
    cells = _demand_cells(base, thr_m)
    demand_mask = cells.demand
    wanted: list[str] | None = None
    if gemeente is not None:
        wanted = [gemeente] if isinstance(gemeente, str) else [str(g) for g in gemeente]
        _check_gemeenten(base, wanted)
        demand_mask = demand_mask & np.isin(cells.code_str, wanted)
    demand = np.flatnonzero(demand_mask)
    cand_cell: npt.NDArray[Any]
    if candidates is None:
        populated = cells.candidate
        if wanted is not None and candidates_in_gemeente:
            populated = populated & np.isin(cells.code_str, wanted)
        cand_rows = np.flatnonzero(populated)
        cand_xy = cells.xy[cand_rows]
        cand_cell = cells.cell_id[cand_rows]
    else:
        cand_xy = _points_xy(candidates, "candidates")
        cand_cell = np.full(len(cand_xy), None, dtype=object)
    demand_w = np.nan_to_num(cells.pop[demand])
    total_demand = float(demand_w.sum())
    keep = _near_demand(cells.xy[demand], cand_xy, thr_m)
    cand_xy = cand_xy[keep]
    cand_cell = cand_cell[keep]
    if candidates is None:
        cand_snap = _cell_sites(base, cand_rows[keep], cand_xy)
    else:
        cand_snap = snap_to_arcs(base.network, cand_xy, max_snap_m=base.settings.max_snap_m)
    costs = bounded_costs(base.network, slice_snapped(base.origins, demand), cand_snap, thr_m)
    cov, useful = _coverage(costs)
    cand_xy, cand_cell = cand_xy[useful], cand_cell[useful]
    chosen, gains = max_coverage_greedy(cov, demand_w, k)
    alone = np.asarray(cov @ demand_w).ravel()
    greedy_value = float(sum(gains))
    site_gem = _site_gemeenten(cand_xy, base.gemeenten)

    def frame(idx: Sequence[int], gained: Sequence[float]) -> gpd.GeoDataFrame:
        return _sites_frame(cand_xy, cand_cell, site_gem, alone, idx, gained)

    sites = frame(chosen, gains)
    run_exact = exact if exact is not None else cov.shape[0] <= max_exact_candidates
    milp_sites = None
    milp_value: float | None = None
    gap: float | None = None
    if run_exact and cov.shape[0]:
        opt, milp_value = max_coverage_milp(cov, demand_w, k, time_limit_s=time_limit_s)
        # order the exact sites greedily for marginal gains
        sub = sp.csr_array(cov[np.asarray(opt, dtype=np.int64)]) if opt else None
        if sub is not None:
            order, g2 = max_coverage_greedy(sub, demand_w, len(opt))
            milp_sites = frame([opt[i] for i in order], g2)
        else:
            milp_sites = frame([], [])
        gap = (milp_value - greedy_value) / milp_value if milp_value > 0 else 0.0
    elif run_exact:
        milp_value, gap, milp_sites = 0.0, 0.0, frame([], [])
    log.info(
        "suggest_sites: %d demand cells (%.0f residents), %d candidates, greedy %.0f, milp %s",
        len(demand),
        total_demand,
        cov.shape[0],
        greedy_value,
        "—" if milp_value is None else f"{milp_value:.0f}",
    )
    return SiteSuggestion(
        sites, milp_sites, greedy_value, milp_value, gap, total_demand, int(cov.shape[0]), thr_km
    )


def _site_gemeenten(xy: FloatArray, gemeenten: gpd.GeoDataFrame) -> npt.NDArray[Any]:
    """Gemeentecode of the gemeente each site (RD New point) lies within, None outside."""
    if len(xy) == 0:
        return np.zeros(0, dtype=object)
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS_RD)
    out: npt.NDArray[Any] = point_gemeenten(pts, gemeenten).to_numpy(dtype=object)
    return out


def best_sites_for_gemeente(
    result: RunResult | Baseline | ScenarioResult,
    gemeentecode: str,
    *,
    k: int = 3,
    threshold_km: float | None = None,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | FloatArray | None = None,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """The best sites for a new full-service library in one gemeente, for its dossier.

    Demand is the gemeente's residents beyond the threshold; candidates are the
    populated cells inside the gemeente (or ``candidates``).

    Parameters
    ----------
    result
        The run (or scenario).
    gemeentecode
        The gemeente, e.g. ``"GM9002"``.
    k
        Largest number of sites.
    threshold_km
        Coverage radius (km); default the flag rule's threshold.
    candidates
        Own candidate locations (EPSG:28992 points or an ``(n, 2)`` RD array).
    settings
        Settings (default from the run).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:28992 points with Dutch columns: ``gemeentecode``, ``rang``,
        ``inwoners_erbij_binnen_bereik`` (residents beyond the threshold it brings
        within, on top of the higher-ranked sites), ``inwoners_binnen_bereik_alleen``
        (the same for this site alone), ``vierkant`` (CBS cell) — the table the
        dossier shows. Empty when nothing can be gained.
    """
    s = suggest_sites(
        result,
        k=k,
        threshold_km=threshold_km,
        candidates=candidates,
        gemeente=gemeentecode,
        candidates_in_gemeente=candidates is None,
        exact=False,
        settings=settings,
    )
    return _dossier_table(gemeentecode, s.sites)


def best_sites_for_gemeenten(
    result: RunResult | Baseline | ScenarioResult,
    gemeentecodes: Sequence[str],
    *,
    k: int = 3,
    threshold_km: float | None = None,
    settings: Settings | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """:func:`best_sites_for_gemeente` for many gemeenten at once (the dossier's tables).

    Gives for every gemeente exactly the table of ``best_sites_for_gemeente(result,
    code, k=k)`` (same candidates, coverage, greedy order and ties), but does the
    work that does not depend on the gemeente once: the cells' gemeenten and
    centroids, and one search graph with the candidate sites of all gemeenten;
    each candidate's Dijkstra runs on the part of the network around it
    (``bounded_costs(method="local")``), not on the whole network.

    Parameters
    ----------
    result
        The run (or scenario).
    gemeentecodes
        The gemeenten, e.g. the flagged ones.
    k
        Largest number of sites per gemeente.
    threshold_km
        Coverage radius (km); default the flag rule's threshold.
    settings
        Settings (default from the run).

    Returns
    -------
    dict
        Gemeentecode → table (columns as :func:`best_sites_for_gemeente`), in the
        order of ``gemeentecodes``.

    Raises
    ------
    InputError
        An unknown gemeentecode or a threshold that is not positive.
    """
    base = prepare_baseline(result, settings)
    thr_km = _threshold_km(base, threshold_km)
    thr_m = thr_km * 1000.0
    wanted = list(dict.fromkeys(str(c) for c in gemeentecodes))
    _check_gemeenten(base, wanted)
    if not wanted:
        return {}
    cells = _demand_cells(base, thr_m)
    rows_of = pd.Series(np.arange(len(cells.code_str))).groupby(cells.code_str).indices
    empty = np.zeros(0, dtype=np.int64)
    # per gemeente: demand cells, candidate cells near them, candidates snapped as in suggest_sites
    plans: list[tuple[str, IntArray, IntArray, Snapped]] = []
    for code in wanted:
        mine = np.asarray(rows_of.get(code, empty), dtype=np.int64)
        demand = mine[cells.demand[mine]]
        cand = mine[cells.candidate[mine]]
        cand = cand[_near_demand(cells.xy[demand], cells.xy[cand], thr_m)]
        snap = _cell_sites(base, cand, cells.xy[cand])
        plans.append((code, demand, cand, snap))
    search = BoundedSearch.build(base.network, concat_snapped([p[3] for p in plans]), thr_m)
    out: dict[str, gpd.GeoDataFrame] = {}
    first = 0
    for code, demand, cand, _snap in plans:
        site_rows = np.arange(first, first + len(cand), dtype=np.int64)
        first += len(cand)
        costs = search.costs(slice_snapped(base.origins, demand), site_rows)
        cov, useful = _coverage(costs)
        demand_w = np.nan_to_num(cells.pop[demand])
        chosen, gains = max_coverage_greedy(cov, demand_w, k)
        alone = np.asarray(cov @ demand_w).ravel()
        cand_xy, cand_cell = cells.xy[cand][useful], cells.cell_id[cand][useful]
        no_gem = np.full(len(cand_xy), None, dtype=object)
        sites = _sites_frame(cand_xy, cand_cell, no_gem, alone, chosen, gains)
        out[code] = _dossier_table(code, sites)
        log.info(
            "best sites for %s: %d demand cells, %d candidates, greedy %.0f",
            code,
            len(demand),
            cov.shape[0],
            float(sum(gains)),
        )
    return out
