"""Per-gemeente, person-weighted statistics and the "te groot" rule.

Cells are assigned to gemeenten by their centroid. Every statistic is weighted
by persons, like CBS's Nabijheidsstatistiek (every person gets the distance of
where they live):

* ``mean_distance_km``: person-weighted mean over residents who can reach a
  library (the CBS-comparable figure);
* ``median_distance_km``, ``p90_distance_km``: person-weighted quantiles
  (the smallest distance within which at least 50 % / 90 % of residents live);
* ``population_beyond``: residents farther than the threshold **or** with no
  route at all; ``share_beyond`` is that over all residents with a known count.

Cells with a suppressed population (NaN) carry no weight; they are counted in
``suppressed_cells``.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from .exceptions import BereikbaarWarning, InputError
from .schema import (
    CRS_RD,
    DISTANCE_M,
    FULL_SERVICE,
    FULL_SERVICE_LIBRARIES,
    GEMEENTECODE,
    GEMEENTENAAM,
    GROUP_COLUMNS,
    MEAN_DISTANCE_KM,
    MEDIAN_DISTANCE_KM,
    P90_DISTANCE_KM,
    POPULATION,
    POPULATION_BEYOND,
    POPULATION_UNREACHABLE,
    REACHABLE,
    REASONS,
    SHARE_BEYOND,
    TE_GROOT,
    full_service_mask,
)
from .settings import FlagRule

log = logging.getLogger(__name__)

__all__ = [
    "aggregate_gemeenten",
    "area_stats",
    "assign_gemeenten",
    "branches_per_gemeente",
    "cell_gemeenten",
    "flag_reasons",
    "point_gemeenten",
    "weighted_quantile",
]


def weighted_quantile(values: npt.ArrayLike, weights: npt.ArrayLike, q: float) -> float:
    """Person-weighted quantile: the smallest value with at least ``q`` of the weight at or below.

    Parameters
    ----------
    values
        Values (e.g. distances); NaN values are ignored.
    weights
        Non-negative weights (e.g. residents); NaN weights are ignored.
    q
        Quantile in [0, 1].

    Returns
    -------
    float
        The quantile, or NaN when no weight remains.

    Examples
    --------
    >>> weighted_quantile([1.0, 2.0, 10.0], [50, 30, 20], 0.5)
    1.0
    >>> weighted_quantile([1.0, 2.0, 10.0], [50, 30, 20], 0.9)
    10.0
    """
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    v, w = v[ok], w[ok]
    if len(v) == 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    i = int(np.searchsorted(cum, q * cum[-1] - 1e-9 * cum[-1], side="left"))
    return float(v[min(i, len(v) - 1)])


def assign_gemeenten(cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Gemeentecode of the gemeente containing each cell's centroid (NaN outside all).

    Parameters
    ----------
    cells
        Cells (squares or points) in any CRS.
    gemeenten
        Gemeente polygons with ``gemeentecode``.

    Returns
    -------
    pandas.Series
        Indexed like ``cells``.
    """
    centroids = gpd.GeoDataFrame(
        geometry=cells.geometry.to_crs(CRS_RD).centroid, index=cells.index, crs=CRS_RD
    )
    gem = gemeenten[[GEMEENTECODE, "geometry"]].to_crs(CRS_RD)
    joined = gpd.sjoin(centroids, gem, how="left", predicate="intersects")
    # a centroid exactly on a shared border: take the first gemeente
    joined = joined[~joined.index.duplicated(keep="first")]
    out: pd.Series = joined[GEMEENTECODE].reindex(cells.index)
    return out


def cell_gemeenten(cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Gemeentecode of each cell as :func:`aggregate_gemeenten` counts it.

    A cell's own ``gemeentecode`` (when the column exists and the value is filled)
    wins; otherwise the gemeente containing its centroid (:func:`assign_gemeenten`).

    Parameters
    ----------
    cells
        Cells (squares or points) in any CRS, optionally with ``gemeentecode``.
    gemeenten
        Gemeente polygons with ``gemeentecode``.

    Returns
    -------
    pandas.Series
        Indexed like ``cells``; NaN for a cell without code outside all gemeenten.
    """
    code = assign_gemeenten(cells, gemeenten)
    if GEMEENTECODE in cells.columns:
        given = cells[GEMEENTECODE]
        code = given.where(given.notna() & (given.astype(str) != ""), code)
    return code


def _within(points: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Gemeentecode per (point, gemeente it lies within) pair, indexed by the point's label."""
    located = points[points.geometry.notna() & ~points.geometry.is_empty].to_crs(CRS_RD)
    hit = gpd.sjoin(
        located[["geometry"]],
        gemeenten[[GEMEENTECODE, "geometry"]].to_crs(CRS_RD),
        predicate="within",
    )
    pairs: pd.Series = hit[GEMEENTECODE]
    return pairs


def point_gemeenten(points: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Gemeentecode of the gemeente each point (e.g. a branch) lies within.

    Parameters
    ----------
    points
        Points (e.g. branches) in any CRS; rows without a location are allowed.
    gemeenten
        Gemeente polygons with ``gemeentecode``.

    Returns
    -------
    pandas.Series
        Indexed like ``points``; NaN without a location or outside all gemeenten
        (a point in two overlapping gemeenten: the first).
    """
    pairs = _within(points, gemeenten)
    out: pd.Series = pairs[~pairs.index.duplicated(keep="first")].reindex(points.index)
    return out


def branches_per_gemeente(libraries: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Number of branches lying within each gemeente (criterion a counts the full-service ones).

    Parameters
    ----------
    libraries
        The branches to count (filter them first, e.g. with
        :func:`~bereikbaar.schema.full_service_mask`); rows without a location do not count.
    gemeenten
        Gemeente polygons with ``gemeentecode``.

    Returns
    -------
    pandas.Series
        Int count per ``gemeentecode`` of every gemeente (0 where none).
    """
    n_lib = pd.Series(0, index=gemeenten[GEMEENTECODE].to_numpy())
    if len(libraries) == 0:
        return n_lib
    pairs = _within(libraries, gemeenten)
    if len(pairs) == 0:
        return n_lib
    counts = pairs.groupby(pairs).size()
    return n_lib.add(counts, fill_value=0).astype(int)


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def flag_reasons(
    mean_km: float, share_beyond: float, n_full_service: int, reachable_pop: float, rule: FlagRule
) -> list[str]:
    """The criteria of ``rule`` that fire for one gemeente, as Dutch sentences.

    Parameters
    ----------
    mean_km
        Person-weighted mean distance (km), NaN when nobody can reach a library.
    share_beyond
        Share (0-1) of residents beyond ``rule.threshold_km`` or with no route.
    n_full_service
        Number of full-service libraries inside the gemeente.
    reachable_pop
        Residents who can reach a library.
    rule
        The thresholds.

    Returns
    -------
    list of str
        Empty when the gemeente is not "te groot".

    Examples
    --------
    >>> flag_reasons(6.2, 0.4, 0, 1000, FlagRule())  # doctest: +NORMALIZE_WHITESPACE
    ['(a) geen volwaardige bibliotheek in de gemeente en gemiddelde afstand 6,2 km > 3,0 km',
     '(b) 40% van de inwoners woont verder dan 5,0 km (grens 25%)',
     '(c) gemiddelde afstand 6,2 km ≥ 5,0 km']
    """
    reasons: list[str] = []
    if reachable_pop <= 0 and share_beyond > 0:
        reasons.append("geen enkele inwoner kan over de weg een volwaardige bibliotheek bereiken")
    if n_full_service == 0 and np.isfinite(mean_km) and mean_km > rule.no_library_mean_km:
        reasons.append(
            f"(a) geen volwaardige bibliotheek in de gemeente en gemiddelde afstand "
            f"{_fmt(mean_km)} km > {_fmt(rule.no_library_mean_km)} km"
        )
    if np.isfinite(share_beyond) and share_beyond >= rule.max_share_beyond:
        reasons.append(
            f"(b) {share_beyond:.0%} van de inwoners woont verder dan "
            f"{_fmt(rule.threshold_km)} km (grens {rule.max_share_beyond:.0%})"
        )
    if np.isfinite(mean_km) and mean_km >= rule.max_mean_km:
        reasons.append(f"(c) gemiddelde afstand {_fmt(mean_km)} km ≥ {_fmt(rule.max_mean_km)} km")
    return reasons


def area_stats(
    dist_km: npt.NDArray[np.float64],
    pop: npt.NDArray[np.float64],
    reach: npt.NDArray[np.bool_],
    threshold_km: float,
) -> dict[str, float]:
    """Person-weighted distance statistics of one area (a gemeente, or any set of cells).

    Parameters
    ----------
    dist_km
        Road distance (km) per cell.
    pop
        Residents per cell (NaN: suppressed, no weight).
    reach
        Whether each cell can reach a library.
    threshold_km
        The "te groot" distance threshold (km).

    Returns
    -------
    dict
        ``population`` (known residents), ``reachable`` (residents who can reach a
        library), ``mean``, ``median``, ``p90`` (km, over reachable residents; NaN when
        none), ``beyond`` (residents beyond ``threshold_km`` or without route),
        ``share`` (``beyond`` over ``population``) and ``unreachable`` (residents without
        route).

    Examples
    --------
    >>> s = area_stats(np.array([1.0, 6.0, np.nan]), np.array([30.0, 10.0, 5.0]),
    ...                np.array([True, True, False]), 5.0)
    >>> s["mean"], s["beyond"], s["unreachable"]
    (2.25, 15.0, 5.0)
    """
    known = np.isfinite(pop)
    total = float(pop[known].sum())
    ok = known & reach & np.isfinite(dist_km)
    reach_pop = float(pop[ok].sum())
    mean = float((dist_km[ok] * pop[ok]).sum() / reach_pop) if reach_pop > 0 else float("nan")
    beyond = float(pop[ok & (dist_km > threshold_km)].sum() + pop[known & ~ok].sum())
    return {
        "population": total,
        "reachable": reach_pop,
        "mean": mean,
        "median": weighted_quantile(dist_km[ok], pop[ok], 0.5),
        "p90": weighted_quantile(dist_km[ok], pop[ok], 0.9),
        "beyond": beyond,
        "share": beyond / total if total > 0 else float("nan"),
        "unreachable": float(pop[known & ~ok].sum()),
    }


def aggregate_gemeenten(
    cells_result: gpd.GeoDataFrame,
    gemeenten: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame | None = None,
    *,
    rule: FlagRule | None = None,
) -> gpd.GeoDataFrame:
    """Person-weighted distance statistics per gemeente and the "te groot" flag.

    Parameters
    ----------
    cells_result
        Cells with ``population`` (NaN = suppressed), ``distance_m`` and
        ``reachable`` (the output of :func:`~bereikbaar.nearest_library` joined to
        the cells), geometry squares or points. A ``gemeentecode`` column is used
        when present and filled; otherwise cells are assigned by centroid.
        Optional ``population_0_15`` / ``population_65plus`` give per-group
        statistics.
    gemeenten
        Gemeente polygons with ``gemeentecode`` and ``gemeentenaam``.
    libraries
        Branches with ``full_service``; counts the full-service libraries inside
        each gemeente (criterion a). Without it every gemeente counts as having none.
    rule
        Thresholds of the "te groot" rule (default :class:`FlagRule`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per gemeente (EPSG:28992) with ``population``,
        ``mean_distance_km``, ``median_distance_km``, ``p90_distance_km``,
        ``population_beyond``, ``share_beyond``, ``population_unreachable``,
        ``full_service_libraries``, ``te_groot``, ``reasons`` (Dutch, ``; ``-joined)
        and per target group ``mean_distance_km_<group>`` etc. The sum of
        ``population`` plus residents outside every gemeente equals the cells' total.
    """
    rule = rule or FlagRule()
    for col in (POPULATION, DISTANCE_M):
        if col not in cells_result.columns:
            msg = f"cells_result has no '{col}' column (join nearest_library's result to the cells)"
            raise InputError(msg)
    for col in (GEMEENTECODE, GEMEENTENAAM):
        if col not in gemeenten.columns:
            msg = f"gemeenten have no '{col}' column"
            raise InputError(msg)
    gem = gemeenten.to_crs(CRS_RD)
    code = cell_gemeenten(cells_result, gem)
    outside = code.isna()
    pop_all = cells_result[POPULATION].to_numpy(dtype=float)
    if outside.any():
        log.info(
            "%d cells (%.0f residents) lie outside every gemeente and are not aggregated",
            int(outside.sum()),
            np.nansum(pop_all[outside.to_numpy()]),
        )
    dist_km = cells_result[DISTANCE_M].to_numpy(dtype=float) / 1000.0
    reach = (
        cells_result[REACHABLE].to_numpy(dtype=bool)
        if REACHABLE in cells_result.columns
        else np.isfinite(dist_km)
    )
    groups = [g for g in GROUP_COLUMNS if g in cells_result.columns]

    if libraries is None:
        n_lib = pd.Series(0, index=gem[GEMEENTECODE].to_numpy())
    else:
        full = full_service_mask(libraries) if FULL_SERVICE in libraries.columns else None
        n_lib = branches_per_gemeente(libraries if full is None else libraries[full], gem)

    codes = code.to_numpy()
    rows = []
    for _, g in gem.iterrows():
        gc = g[GEMEENTECODE]
        m = codes == gc
        s = area_stats(dist_km[m], pop_all[m], reach[m], rule.threshold_km)
        nfs = int(n_lib.get(gc, 0))
        reasons = flag_reasons(s["mean"], s["share"], nfs, s["reachable"], rule)
        row = {
            GEMEENTECODE: gc,
            GEMEENTENAAM: g[GEMEENTENAAM],
            POPULATION: s["population"],
            MEAN_DISTANCE_KM: s["mean"],
            MEDIAN_DISTANCE_KM: s["median"],
            P90_DISTANCE_KM: s["p90"],
            POPULATION_BEYOND: s["beyond"],
            SHARE_BEYOND: s["share"],
            POPULATION_UNREACHABLE: s["unreachable"],
            FULL_SERVICE_LIBRARIES: nfs,
            TE_GROOT: bool(reasons),
            REASONS: "; ".join(reasons),
            "cells": int(m.sum()),
            "suppressed_cells": int(np.isnan(pop_all[m]).sum()),
        }
        for grp in groups:
            gp = cells_result[grp].to_numpy(dtype=float)[m]
            gs = area_stats(dist_km[m], gp, reach[m], rule.threshold_km)
            suffix = grp.removeprefix("population_")
            row[f"{POPULATION}_{suffix}"] = gs["population"]
            row[f"{MEAN_DISTANCE_KM}_{suffix}"] = gs["mean"]
            row[f"{POPULATION_BEYOND}_{suffix}"] = gs["beyond"]
            row[f"{SHARE_BEYOND}_{suffix}"] = gs["share"]
        row["geometry"] = g.geometry
        rows.append(row)
    summary = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS_RD)
    empty = summary[POPULATION] == 0
    if empty.any():
        warnings.warn(
            f"{int(empty.sum())} gemeenten have no populated cells (outside the grid?): "
            f"{', '.join(summary.loc[empty, GEMEENTECODE].astype(str).head(5))}",
            BereikbaarWarning,
            stacklevel=2,
        )
    log.info("%d gemeenten aggregated, %d te groot", len(summary), int(summary[TE_GROOT].sum()))
    return summary
