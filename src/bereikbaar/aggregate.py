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
import shapely

from .exceptions import BereikbaarWarning, InputError
from .schema import (
    AREA_LEVELS,
    CRS_RD,
    DISTANCE_M,
    FULL_SERVICE,
    FULL_SERVICE_LIBRARIES,
    GEMEENTECODE,
    GEMEENTENAAM,
    GROUP_COLUMNS,
    MEAN_DISTANCE_KM,
    MEDIAN_DISTANCE_KM,
    ONVOLLEDIG,
    P90_DISTANCE_KM,
    POPULATION,
    POPULATION_BEYOND,
    POPULATION_COVERED,
    POPULATION_UNREACHABLE,
    REACHABLE,
    REASON_COLUMNS,
    REASON_NO_LOCATION,
    REASON_OUTSIDE,
    REASONS,
    SHARE_BEYOND,
    SHARE_COVERED,
    TE_GROOT,
    UNREACHABLE_REASON,
    VERDICT,
    VERDICT_OK,
    VERDICT_ONVOLLEDIG,
    VERDICT_TE_GROOT,
    WIJKCODE,
    full_service_mask,
)
from .settings import FlagRule

log = logging.getLogger(__name__)

__all__ = [
    "aggregate_areas",
    "aggregate_gemeenten",
    "area_stats",
    "assign_gemeenten",
    "branches_per_gemeente",
    "cell_covered",
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
    # the spatial join of the centroids with the gemeenten, without building frames: the
    # gemeenten's spatial index answers every centroid in one query (as geopandas' sjoin
    # asks it); a centroid exactly on a shared border takes the first gemeente it returns
    centroids = shapely.centroid(cells.geometry.values.to_crs(CRS_RD))
    polygons = gemeenten["geometry"].values.to_crs(CRS_RD)  # the same array when in RD New
    hit, area = polygons.sindex.query(centroids, predicate="intersects")
    first = np.full(len(cells), -1, dtype=np.intp)
    placed, at = np.unique(hit, return_index=True)  # each centroid's first answer
    first[placed] = area[at]
    code = gemeenten[GEMEENTECODE].reset_index(drop=True).reindex(first)
    # a label shared by several cells: every one of them gets the first one's gemeente
    out: pd.Series = pd.Series(
        code.to_numpy(), index=cells.index, name=GEMEENTECODE, dtype=code.dtype
    )
    if not out.index.is_unique:
        out = out[~out.index.duplicated(keep="first")].reindex(cells.index)
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
    if GEMEENTECODE not in cells.columns:
        return assign_gemeenten(cells, gemeenten)
    given: pd.Series = cells[GEMEENTECODE]
    known = given.notna() & (given.astype(str) != "")
    if known.all():
        return given
    # only the cells without a code are placed by their centroid
    placed = assign_gemeenten(cells[~known], gemeenten).reindex(cells.index)
    code: pd.Series = given.where(known, placed)
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
    covered: npt.NDArray[np.bool_] | None = None,
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
    covered
        Whether each cell lies inside the road network's coverage (default: all).
        Residents outside it are counted in ``population`` only: the network says
        nothing about them (they are neither near nor far).

    Returns
    -------
    dict
        ``population`` (known residents), ``covered`` (of those, inside the coverage),
        ``share_covered`` (``covered`` over ``population``), ``reachable`` (residents
        who can reach a library), ``mean``, ``median``, ``p90`` (km, over reachable
        residents; NaN when none), ``beyond`` (covered residents beyond
        ``threshold_km`` or without route), ``share`` (``beyond`` over ``covered``)
        and ``unreachable`` (covered residents without route).

    Examples
    --------
    >>> s = area_stats(np.array([1.0, 6.0, np.nan]), np.array([30.0, 10.0, 5.0]),
    ...                np.array([True, True, False]), 5.0)
    >>> s["mean"], s["beyond"], s["unreachable"]
    (2.25, 15.0, 5.0)
    """
    known_all = np.isfinite(pop)
    total = float(pop[known_all].sum())
    known = known_all if covered is None else known_all & covered
    in_cover = float(pop[known].sum())
    ok = known & reach & np.isfinite(dist_km)
    reach_pop = float(pop[ok].sum())
    mean = float((dist_km[ok] * pop[ok]).sum() / reach_pop) if reach_pop > 0 else float("nan")
    beyond = float(pop[ok & (dist_km > threshold_km)].sum() + pop[known & ~ok].sum())
    return {
        "population": total,
        "covered": in_cover,
        "share_covered": in_cover / total if total > 0 else float("nan"),
        "reachable": reach_pop,
        "mean": mean,
        "median": weighted_quantile(dist_km[ok], pop[ok], 0.5),
        "p90": weighted_quantile(dist_km[ok], pop[ok], 0.9),
        "beyond": beyond,
        "share": beyond / in_cover if in_cover > 0 else float("nan"),
        "unreachable": float(pop[known & ~ok].sum()),
    }


def cell_covered(cells_result: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which cells lie inside the road network's coverage (by ``unreachable_reason``).

    A cell is not covered when its reason is "buiten het wegennet" or "geen locatie";
    without the column every cell counts as covered.
    """
    if UNREACHABLE_REASON not in cells_result.columns:
        return np.ones(len(cells_result), dtype=bool)
    reason = cells_result[UNREACHABLE_REASON].to_numpy(dtype=object)
    return np.asarray(~np.isin(reason, [REASON_OUTSIDE, REASON_NO_LOCATION]))


def _verdict_fields(
    s: dict[str, float], reasons: list[str], min_share_covered: float, flag: bool
) -> dict[str, object]:
    """``onvolledig``, ``te_groot``, ``oordeel`` and ``reasons`` of one area."""
    short = np.isfinite(s["share_covered"]) and s["share_covered"] < min_share_covered
    if short:
        text = (
            f"onvolledig: {s['share_covered']:.0%} van de inwoners woont binnen het gebied"
            f" van het wegennet (grens {min_share_covered:.0%}); geen oordeel"
        )
        return {ONVOLLEDIG: True, TE_GROOT: False, VERDICT: VERDICT_ONVOLLEDIG, REASONS: text}
    out: dict[str, object] = {ONVOLLEDIG: False}
    if flag:
        out[TE_GROOT] = bool(reasons)
        out[VERDICT] = VERDICT_TE_GROOT if reasons else VERDICT_OK
        out[REASONS] = "; ".join(reasons)
    return out


def aggregate_areas(
    cells_result: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level: str = "gemeente",
    libraries: gpd.GeoDataFrame | None = None,
    rule: FlagRule | None = None,
    min_share_covered: float = 0.95,
    codes: pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """Person-weighted distance statistics per area: gemeente, wijk or buurt (one routine).

    Every level gets the same statistics (:func:`area_stats`) and the coverage
    verdict: an area of which less than ``min_share_covered`` of the residents lives
    inside the road network's coverage is ``onvolledig``. Gemeenten also get the
    "te groot" rule (``te_groot``, ``oordeel``, ``reasons``).

    Parameters
    ----------
    cells_result
        Cells with ``population``, ``distance_m``, ``reachable`` (and
        ``unreachable_reason``), squares or points.
    areas
        Area polygons with the level's code and name column
        (:data:`~bereikbaar.schema.AREA_LEVELS`).
    level
        ``"gemeente"``, ``"wijk"`` or ``"buurt"``.
    libraries
        Branches with ``full_service`` (criterion a; gemeenten only).
    rule
        The "te groot" rule (default :class:`FlagRule`).
    min_share_covered
        Below this share of covered residents an area is ``onvolledig``.
    codes
        The area code of each cell (default: a gemeente's own ``gemeentecode``
        column, else the area containing the cell's centroid).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area (EPSG:28992): code, name, ``population``,
        ``population_covered``, ``share_covered``, ``mean_distance_km``,
        ``median_distance_km``, ``p90_distance_km``, ``population_beyond``,
        ``share_beyond``, ``population_unreachable``, residents without a distance per
        reason (:data:`~bereikbaar.schema.REASON_COLUMNS`), ``onvolledig``, ``cells``,
        ``suppressed_cells`` (gemeenten also ``full_service_libraries``,
        ``te_groot``, ``oordeel``, ``reasons`` and the per-group figures).
    """
    if level not in AREA_LEVELS:
        msg = f"level must be one of {', '.join(AREA_LEVELS)}, got {level!r}"
        raise InputError(msg)
    code_col, name_col = AREA_LEVELS[level]
    rule = rule or FlagRule()
    for col in (POPULATION, DISTANCE_M):
        if col not in cells_result.columns:
            msg = f"cells_result has no '{col}' column (join nearest_library's result to the cells)"
            raise InputError(msg)
    for col in (code_col, name_col):
        if col not in areas.columns:
            msg = f"{level} areas have no '{col}' column"
            raise InputError(msg)
    gem = areas.to_crs(CRS_RD)
    is_gemeente = level == "gemeente"
    if codes is None:
        code = (
            cell_gemeenten(cells_result, gem)
            if is_gemeente
            else _assign(cells_result, gem, code_col)
        )
    else:
        code = codes.reindex(cells_result.index)
    outside = code.isna()
    pop_all = cells_result[POPULATION].to_numpy(dtype=float)
    if outside.any():
        log.info(
            "%d cells (%.0f residents) lie outside every %s and are not aggregated",
            int(outside.sum()),
            np.nansum(pop_all[outside.to_numpy()]),
            level,
        )
    dist_km = cells_result[DISTANCE_M].to_numpy(dtype=float) / 1000.0
    reach = (
        cells_result[REACHABLE].to_numpy(dtype=bool)
        if REACHABLE in cells_result.columns
        else np.isfinite(dist_km)
    )
    covered = cell_covered(cells_result)
    reason_of = (
        cells_result[UNREACHABLE_REASON].to_numpy(dtype=object)
        if UNREACHABLE_REASON in cells_result.columns
        else np.full(len(cells_result), None, dtype=object)
    )
    groups = [g for g in GROUP_COLUMNS if g in cells_result.columns] if is_gemeente else []

    n_lib = pd.Series(0, index=gem[code_col].to_numpy())
    if is_gemeente and libraries is not None:
        full = full_service_mask(libraries) if FULL_SERVICE in libraries.columns else None
        n_lib = branches_per_gemeente(libraries if full is None else libraries[full], gem)

    # cells grouped by area once (sorted), not one mask per area
    cell_codes = code.astype(object).where(code.notna(), None).to_numpy(dtype=object)
    area_codes = gem[code_col].astype(object).to_numpy()
    pos = pd.Index(area_codes).get_indexer(cell_codes)
    order = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[order], np.arange(len(gem) + 1), side="left")
    rows = []
    for i, g in enumerate(gem.itertuples(index=False)):
        m = order[bounds[i] : bounds[i + 1]]
        gc = area_codes[i]
        s = area_stats(dist_km[m], pop_all[m], reach[m], rule.threshold_km, covered[m])
        row: dict[str, object] = {
            code_col: gc,
            name_col: getattr(g, name_col),
            POPULATION: s["population"],
            MEAN_DISTANCE_KM: s["mean"],
            MEDIAN_DISTANCE_KM: s["median"],
            P90_DISTANCE_KM: s["p90"],
            POPULATION_BEYOND: s["beyond"],
            SHARE_BEYOND: s["share"],
            POPULATION_UNREACHABLE: s["unreachable"],
        }
        reasons: list[str] = []
        if is_gemeente:
            nfs = int(n_lib.get(gc, 0))
            row[FULL_SERVICE_LIBRARIES] = nfs
            reasons = flag_reasons(s["mean"], s["share"], nfs, s["reachable"], rule)
        verdict = _verdict_fields(s, reasons, min_share_covered, is_gemeente)
        if is_gemeente:
            row[TE_GROOT] = verdict[TE_GROOT]
            row[REASONS] = verdict[REASONS]
        row["cells"] = len(m)
        row["suppressed_cells"] = int(np.isnan(pop_all[m]).sum())
        row[POPULATION_COVERED] = s["covered"]
        row[SHARE_COVERED] = s["share_covered"]
        known = np.isfinite(pop_all[m])
        for reason, col in REASON_COLUMNS.items():
            row[col] = float(pop_all[m][known & (reason_of[m] == reason)].sum())
        row[ONVOLLEDIG] = verdict[ONVOLLEDIG]
        if is_gemeente:
            row[VERDICT] = verdict[VERDICT]
        for grp in groups:
            gp = cells_result[grp].to_numpy(dtype=float)[m]
            gs = area_stats(dist_km[m], gp, reach[m], rule.threshold_km, covered[m])
            suffix = grp.removeprefix("population_")
            row[f"{POPULATION}_{suffix}"] = gs["population"]
            row[f"{MEAN_DISTANCE_KM}_{suffix}"] = gs["mean"]
            row[f"{POPULATION_BEYOND}_{suffix}"] = gs["beyond"]
            row[f"{SHARE_BEYOND}_{suffix}"] = gs["share"]
        for extra in (GEMEENTECODE, WIJKCODE):  # the parent areas of a buurt or wijk
            if extra != code_col and extra in gem.columns:
                row[extra] = getattr(g, extra)
        row["geometry"] = g.geometry
        rows.append(row)
    summary = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS_RD)
    if len(summary):  # the coverage columns last: the earlier columns keep their places
        new = [POPULATION_COVERED, SHARE_COVERED, *REASON_COLUMNS.values(), ONVOLLEDIG, VERDICT]
        summary = summary[
            [c for c in summary.columns if c not in new] + [c for c in new if c in summary.columns]
        ]
    empty = summary[POPULATION] == 0 if len(summary) else pd.Series([], dtype=bool)
    if is_gemeente and empty.any():
        warnings.warn(
            f"{int(empty.sum())} gemeenten have no populated cells (outside the grid?): "
            f"{', '.join(summary.loc[empty, GEMEENTECODE].astype(str).head(5))}",
            BereikbaarWarning,
            stacklevel=3,
        )
    short = int(summary[ONVOLLEDIG].sum()) if len(summary) else 0
    if short:
        warnings.warn(
            f"{short} {level}(en) onvolledig: less than {min_share_covered:.0%} of their"
            " residents live inside the road network's coverage; no verdict, not compared with"
            f" CBS ({', '.join(summary.loc[summary[ONVOLLEDIG], code_col].astype(str).head(5))}"
            f"{', …' if short > 5 else ''})",
            BereikbaarWarning,
            stacklevel=3,
        )
    if is_gemeente:
        log.info("%d gemeenten aggregated, %d te groot", len(summary), int(summary[TE_GROOT].sum()))
    return summary


def _assign(cells: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, code_col: str) -> pd.Series:
    """Code of the area containing each cell's centroid (NaN outside all)."""
    centroids = gpd.GeoDataFrame(
        geometry=cells.geometry.to_crs(CRS_RD).centroid, index=cells.index, crs=CRS_RD
    )
    joined = gpd.sjoin(centroids, areas[[code_col, "geometry"]], how="left", predicate="intersects")
    # a centroid in two areas (a shared border, generalised polygons that overlap): the first
    # area in file order
    right = joined["index_right"].to_numpy(dtype=float)
    order = np.lexsort((right, cells.index.get_indexer(joined.index)))
    joined = joined.iloc[order]
    joined = joined[~joined.index.duplicated(keep="first")]
    out: pd.Series = joined[code_col].reindex(cells.index)
    return out


def aggregate_gemeenten(
    cells_result: gpd.GeoDataFrame,
    gemeenten: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame | None = None,
    *,
    rule: FlagRule | None = None,
    min_share_covered: float = 0.95,
) -> gpd.GeoDataFrame:
    """Person-weighted distance statistics per gemeente and the "te groot" flag.

    :func:`aggregate_areas` at the gemeente level.

    Parameters
    ----------
    cells_result
        Cells with ``population`` (NaN = suppressed), ``distance_m`` and
        ``reachable`` (the output of :func:`~bereikbaar.nearest_library` joined to
        the cells; with its ``unreachable_reason``, cells outside the network's
        coverage count as not covered), geometry squares or points. A
        ``gemeentecode`` column is used when present and filled; otherwise cells
        are assigned by centroid. Optional ``population_0_15`` /
        ``population_65plus`` give per-group statistics.
    gemeenten
        Gemeente polygons with ``gemeentecode`` and ``gemeentenaam``.
    libraries
        Branches with ``full_service``; counts the full-service libraries inside
        each gemeente (criterion a). Without it every gemeente counts as having none.
    rule
        Thresholds of the "te groot" rule (default :class:`FlagRule`).
    min_share_covered
        A gemeente with a smaller share of its residents inside the network's
        coverage is ``onvolledig`` (``te_groot`` false, ``oordeel`` "onvolledig").

    Returns
    -------
    geopandas.GeoDataFrame
        One row per gemeente (EPSG:28992) with ``population``,
        ``mean_distance_km``, ``median_distance_km``, ``p90_distance_km``,
        ``population_beyond``, ``share_beyond``, ``population_unreachable``,
        ``full_service_libraries``, ``te_groot``, ``reasons`` (Dutch, ``; ``-joined),
        ``population_covered``, ``share_covered``, ``onvolledig``, ``oordeel``
        and per target group ``mean_distance_km_<group>`` etc. The sum of
        ``population`` plus residents outside every gemeente equals the cells' total.
    """
    for col in (GEMEENTECODE, GEMEENTENAAM):
        if col not in gemeenten.columns:
            msg = f"gemeenten have no '{col}' column"
            raise InputError(msg)
    return aggregate_areas(
        cells_result,
        gemeenten,
        level="gemeente",
        libraries=libraries,
        rule=rule,
        min_share_covered=min_share_covered,
    )
