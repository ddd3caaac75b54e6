"""The accessibility stage: the nearest (full-service) library for every origin.

:func:`nearest_library` takes tables (cells or points, a branch list) and a
road network and returns one row per origin: the nearest library, the road
distance and (where the network has travel times) the travel time. The numbers
come from the engine (:mod:`bereikbaar.engine`), as CBS builds its
Nabijheidsstatistiek:

* every origin and every library is projected perpendicular onto the nearest
  road (:func:`~bereikbaar.engine.snap.snap_to_arcs`), not onto the nearest
  node; the projection distance is the *snap leg*;
* distance = origin snap leg + offset along its arc to an arc end + network
  distance + offset along the library's arc + library snap leg;
* the network part is **one** multi-source Dijkstra on the reversed graph
  from all libraries at once (:mod:`bereikbaar.engine.search`), so one-way
  streets are respected in the direction home → library and no search runs
  per origin.

Everything is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from .engine.coverage import Coverage
from .engine.network import FloatArray, IntArray, Network, Weight
from .engine.search import (
    LibraryTerms,
    NodeSearch,
    costs_from_search,
    library_graph,
    library_terms,
    node_search,
    origin_costs,
)
from .engine.snap import Snapped, snap_to_arcs
from .exceptions import BereikbaarWarning, InputError, NetworkError
from .schema import (
    CRS_RD,
    DISTANCE_M,
    FULL_SERVICE,
    LIBRARY_ID,
    REACHABLE,
    REASON_NO_LOCATION,
    REASON_NO_ROUTE,
    REASON_OUTSIDE,
    REASON_TOO_FAR,
    SNAP_M,
    TIME_S,
    UNREACHABLE_REASON,
    UNREACHABLE_REASONS,
    full_service_mask,
    located_rows,
)
from .settings import Settings

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "LibraryTerms",
    "Snapped",
    "Snaps",
    "library_graph",
    "library_terms",
    "nearest_from_snapped",
    "nearest_library",
    "nearest_library_with_snaps",
    "origin_costs",
    "points_xy",
    "snap_to_arcs",
    "unreachable_reasons",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_SNAP_M: float = Settings().max_snap_m
"""Default of :func:`nearest_library`'s ``max_snap_m`` (m): ``Settings().max_snap_m``."""


@dataclass(frozen=True)
class Snaps:
    """The origins and libraries as :func:`nearest_library_with_snaps` snapped them.

    The pipeline keeps them in :attr:`RunResult.snaps <bereikbaar.RunResult.snaps>`, so
    that the questions asked of a run (:func:`~bereikbaar.scenarios.prepare_baseline`,
    site suggestions) do not snap the same points again. They are reused only where
    :meth:`fits` holds: the same network (the same object, so the same mode), the same
    snap limit and coverage, the same rows.

    Attributes
    ----------
    origins
        One per origin, in the order given (unsnapped: ``arc == -1``).
    libraries
        One per row of the libraries frame given, full service or not (rows without a
        location or outside the coverage unsnapped).
    network
        The network they lie on.
    max_snap_m, coverage_buffer_m, core_only
        The snapping settings used.
    coverage
        Whether only points inside the network's own coverage were snapped (True), or a
        given coverage or none was used (False: then :meth:`fits` never holds).
    origin_index, library_index
        Index of the origins (None for an array) and of the libraries frame.
    """

    origins: Snapped = field(repr=False)
    libraries: Snapped = field(repr=False)
    network: Network = field(repr=False, compare=False)
    max_snap_m: float
    coverage_buffer_m: float | None
    core_only: bool
    coverage: bool
    origin_index: pd.Index | None = field(repr=False, compare=False)
    library_index: pd.Index = field(repr=False, compare=False)

    def fits(
        self,
        network: Network,
        settings: Settings,
        origins: pd.DataFrame | None = None,
        libraries: pd.DataFrame | None = None,
    ) -> bool:
        """Whether snapping again would give these snaps.

        Parameters
        ----------
        network
            The network to snap onto (must be :attr:`network` itself).
        settings
            Settings whose ``max_snap_m`` and ``coverage_buffer_m`` must match.
        origins, libraries
            When given, frames whose index must equal :attr:`origin_index` /
            :attr:`library_index` (the same rows in the same order).

        Returns
        -------
        bool
            True when the snaps can be reused.
        """
        if network is not self.network or not (self.coverage and self.core_only):
            return False
        if settings.max_snap_m != self.max_snap_m:
            return False
        if settings.coverage_buffer_m != self.coverage_buffer_m:
            return False
        if origins is not None and (
            self.origin_index is None or not origins.index.equals(self.origin_index)
        ):
            return False
        return libraries is None or libraries.index.equals(self.library_index)


def points_xy(points: Any, what: str) -> FloatArray:
    """Coordinates ``(n, 2)`` in RD New of points, or of polygons' centroids.

    Parameters
    ----------
    points
        A GeoDataFrame or GeoSeries with a CRS (transformed to RD New; polygons
        give their centroid, missing or empty geometries NaN), or an ``(n, 2)``
        array of RD New x/y.
    what
        What the points are (``"origins"``, ``"libraries"``), for messages.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` RD New x/y (m), NaN rows where a geometry is missing.

    Raises
    ------
    InputError
        A frame without CRS, or an array that is not ``(n, 2)``.
    """
    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geo.crs is None:
            msg = f"{what} have no CRS; set it (RD New is EPSG:28992)"
            raise InputError(msg)
        if geo.crs != CRS_RD:
            geo = geo.to_crs(CRS_RD)
        arr = np.asarray(geo.array, dtype=object)
        empty = shapely.is_missing(arr) | shapely.is_empty(arr)
        poly = shapely.get_type_id(arr) != 0
        pts = arr.copy()
        if poly.any():
            pts[poly & ~empty] = shapely.centroid(arr[poly & ~empty])
        xy = np.full((len(arr), 2), np.nan)
        good = ~empty
        if good.any():
            xy[good] = shapely.get_coordinates(pts[good])
        return xy
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        msg = f"{what} must be a GeoDataFrame, GeoSeries or an (n, 2) array of RD x/y"
        raise InputError(msg)
    return xy


def unreachable_reasons(
    xy: FloatArray,
    covered: npt.NDArray[np.bool_],
    snapped: npt.NDArray[np.bool_],
    reachable: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.object_]:
    """Why each point has no distance (None where it has one), in Dutch.

    The reasons are tested in the order of :data:`~bereikbaar.schema.UNREACHABLE_REASONS`:
    no location, outside the network's coverage, too far from a usable road, no route.

    Parameters
    ----------
    xy
        ``(n, 2)`` coordinates (NaN: no location).
    covered
        Inside the network's coverage.
    snapped
        Snapped onto a road.
    reachable
        Has a distance (default: every snapped point).

    Returns
    -------
    numpy.ndarray
        Object array: one of the four reasons, or None.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [np.nan, np.nan], [5.0, 5.0], [9.0, 9.0]])
    >>> unreachable_reasons(xy, np.array([True, False, False, True]),
    ...                     np.array([True, False, False, False])).tolist()
    [None, 'geen locatie', 'buiten het wegennet', 'te ver van de weg']
    """
    out: npt.NDArray[np.object_] = _REASON_OF_CODE[_reason_codes(xy, covered, snapped, reachable)]
    return out


# code 0: no reason (a distance); code i: UNREACHABLE_REASONS[i - 1]
_REASON_OF_CODE: Final = np.array([None, *UNREACHABLE_REASONS], dtype=object)


def _reason_codes(
    xy: FloatArray,
    covered: npt.NDArray[np.bool_],
    snapped: npt.NDArray[np.bool_],
    reachable: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int8]:
    """:func:`unreachable_reasons` as codes (0: none, ``i``: ``UNREACHABLE_REASONS[i - 1]``)."""
    code = {r: np.int8(i + 1) for i, r in enumerate(UNREACHABLE_REASONS)}
    located = located_rows(xy)
    reach = snapped if reachable is None else reachable
    out = np.zeros(len(xy), dtype=np.int8)
    out[snapped & ~reach] = code[REASON_NO_ROUTE]
    out[located & covered & ~snapped] = code[REASON_TOO_FAR]
    out[located & ~covered] = code[REASON_OUTSIDE]
    out[~located] = code[REASON_NO_LOCATION]
    return out


def _reason_counts(codes: npt.NDArray[np.int8]) -> dict[str, int]:
    """Count per reason from :func:`_reason_codes`, every reason present (0 where none)."""
    counts = np.bincount(codes, minlength=len(_REASON_OF_CODE))
    return {r: int(counts[i + 1]) for i, r in enumerate(UNREACHABLE_REASONS)}


def _covered(area: Coverage | None, xy: FloatArray) -> npt.NDArray[np.bool_]:
    """Inside the coverage (every located point when there is none)."""
    if area is not None:
        return area.contains(xy)
    return located_rows(xy)


def _coverage_of(
    network: Network, coverage: bool | Coverage, buffer_m: float | None
) -> Coverage | None:
    if isinstance(coverage, Coverage):
        return coverage
    if not coverage:
        return None
    area = network.coverage(buffer_m=buffer_m)
    assert isinstance(area, Coverage)
    return area


def _check_weight(weight: object) -> None:
    if weight not in ("length", "time"):
        msg = f"weight must be 'length' (m, CBS-comparable) or 'time' (s); got {weight!r}"
        raise InputError(msg)


def _outside_this_module() -> int:
    """``stacklevel`` for a warning that points at the first caller outside this module.

    :func:`nearest_library` calls :func:`nearest_library_with_snaps`: their warnings point at
    the user's line either way.
    """
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def nearest_from_snapped(
    network: Network,
    origins: Snapped,
    libraries: Snapped,
    library_ids: npt.ArrayLike,
    *,
    weight: Weight = "length",
    with_time: bool = True,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """The result of :func:`nearest_library` for origins and libraries already snapped.

    Lets callers that measure many branch lists against the same origins (what-if
    scenarios) snap the origins once; the numbers are identical to
    :func:`nearest_library`'s.

    Parameters
    ----------
    network
        Road network (RD New).
    origins, libraries
        Output of :func:`snap_to_arcs` for the origins and the (full-service)
        libraries.
    library_ids
        ``library_id`` of each snapped library, same order.
    weight, with_time
        As in :func:`nearest_library`.
    index
        Index of the returned frame (default ``0..n-1``).

    Returns
    -------
    pandas.DataFrame
        ``library_id``, ``distance_m`` (m), ``snap_m`` (m), ``time_s`` (s, when
        computed) and ``reachable``, one row per origin.
    """
    _check_weight(weight)
    frame, _ = _measure(
        network,
        libraries,
        library_ids,
        lambda _: origins,
        weight=weight,
        with_time=with_time,
        index=index,
    )
    return frame


def _measure(
    network: Network,
    libraries: Snapped,
    library_ids: npt.ArrayLike,
    snap_origins: Callable[[int], Snapped],
    *,
    weight: Weight,
    with_time: bool,
    index: pd.Index | None,
) -> tuple[pd.DataFrame, Snapped]:
    """The nearest-library frame: library searches in threads, the origins snapped meanwhile.

    The searches from the libraries (one per weight) run in threads with the GIL
    released while ``snap_origins(cores)`` snaps the origins in chunks on every core:
    on two cores the snapping costs little extra time.
    """
    time_needed = weight == "time" or (with_time and network.time_s is not None)
    weights: list[Weight] = ["length", "time"] if time_needed else ["length"]
    with ThreadPoolExecutor(len(weights)) as pool:
        searches = {w: pool.submit(node_search, network, w, libraries) for w in weights}
        # the snapping's chunks run on every core: they fill the cores the searches leave
        # (a search ends first, its core then snaps too); the answer does not depend on it
        origins = snap_origins(os.cpu_count() or 1)
        frame = _result_frame(network, origins, searches, library_ids, weight=weight, index=index)
    return frame, origins


def _result_frame(
    network: Network,
    origins: Snapped,
    searches: dict[Weight, Future[NodeSearch]],
    library_ids: npt.ArrayLike,
    *,
    weight: Weight,
    index: pd.Index | None,
) -> pd.DataFrame:
    """The nearest-library frame from the node searches of one or two weights."""
    ids: Any = np.asarray(library_ids, dtype=object)
    costs: dict[Weight, tuple[FloatArray, IntArray]] = {}
    for w, fut in searches.items():
        costs[w] = costs_from_search(network, w, origins, fut.result())
    dist, lib_len = costs["length"]
    out: dict[str, Any] = {}
    time_needed = "time" in costs
    if time_needed:
        t, lib_time = costs["time"]
    chosen = lib_time if weight == "time" else lib_len
    out[LIBRARY_ID] = np.where(chosen >= 0, ids[np.maximum(chosen, 0)], None)
    out[DISTANCE_M] = dist
    out[SNAP_M] = origins.snap_m
    if time_needed:
        out[TIME_S] = t
    out[REACHABLE] = np.isfinite(dist)
    return pd.DataFrame(out, index=index)


def nearest_library(
    network: Network,
    origins: gpd.GeoDataFrame | gpd.GeoSeries | FloatArray,
    libraries: gpd.GeoDataFrame,
    *,
    weight: Weight = "length",
    full_service_only: bool = True,
    core_only: bool = True,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    with_time: bool = True,
    coverage: bool | Coverage = True,
    coverage_buffer_m: float | None = None,
) -> pd.DataFrame:
    """Road distance from every origin to its nearest (full-service) library.

    Origins and libraries are projected perpendicular onto the nearest road;
    the network part is one multi-source Dijkstra on the reversed graph, so
    one-way streets are respected from home to library.

    Parameters
    ----------
    network
        Road network for one mode (RD New).
    origins
        Points or polygons (centroids are used), e.g. CBS cells; or an
        ``(n, 2)`` array of RD New coordinates.
    libraries
        Branches with ``library_id`` and Point geometry; rows without geometry
        are skipped with a warning.
    weight
        Which library counts as nearest: by ``"length"`` (m, CBS-comparable) or
        by ``"time"`` (s).
    full_service_only
        Use only rows with ``full_service`` true (when the column exists).
    core_only
        Snap only onto the network's strongly connected core.
    max_snap_m
        Origins and libraries farther than this (m) from the road network are
        unreachable / unused (reported in a warning). Default: ``Settings().max_snap_m``
        (1 km), so nothing is ever snapped across a lake or the sea.
    with_time
        Also compute ``time_s`` when the network has travel times.
    coverage
        Snap only origins and libraries inside the network's coverage
        (:meth:`Network.coverage <bereikbaar.engine.network.Network.coverage>`; True,
        the default), inside a given :class:`~bereikbaar.engine.coverage.Coverage`,
        or everywhere (False).
    coverage_buffer_m
        Reach of the coverage beyond the roads (m); default
        :data:`~bereikbaar.engine.coverage.COVERAGE_BUFFER_M`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``origins``: ``library_id`` (nearest by ``weight``),
        ``distance_m`` (shortest road distance to the nearest library, snap legs
        included, m), ``snap_m`` (origin snap leg, m), ``time_s`` (shortest travel
        time to any library, s; only when the network has times), ``reachable``
        and ``unreachable_reason`` (None where reachable; else "buiten het
        wegennet", "te ver van de weg", "geen route" or "geen locatie").
        Unreachable origins have NaN distance, never a fake number.
        ``attrs["unreachable"]`` counts the origins per reason,
        ``attrs["libraries_unused"]`` the libraries not used per reason.

    Warns
    -----
    BereikbaarWarning
        When origins are unreachable or libraries unusable (counted).
    """
    frame, _ = nearest_library_with_snaps(
        network,
        origins,
        libraries,
        weight=weight,
        full_service_only=full_service_only,
        core_only=core_only,
        max_snap_m=max_snap_m,
        with_time=with_time,
        coverage=coverage,
        coverage_buffer_m=coverage_buffer_m,
    )
    return frame


def nearest_library_with_snaps(
    network: Network,
    origins: gpd.GeoDataFrame | gpd.GeoSeries | FloatArray,
    libraries: gpd.GeoDataFrame,
    *,
    weight: Weight = "length",
    full_service_only: bool = True,
    core_only: bool = True,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    with_time: bool = True,
    coverage: bool | Coverage = True,
    coverage_buffer_m: float | None = None,
    origin_snaps: Snapped | None = None,
) -> tuple[pd.DataFrame, Snaps]:
    """:func:`nearest_library`, and the origins and libraries as it snapped them.

    Every row of ``libraries`` is snapped (also those that are not full service), so
    that the questions asked of the run later (opening, closing, changing branches)
    need not snap them again; the nearest library is chosen, as in
    :func:`nearest_library`, among the full-service ones.

    Parameters
    ----------
    network, origins, libraries, weight, full_service_only, core_only
        As in :func:`nearest_library`.
    max_snap_m, with_time, coverage, coverage_buffer_m
        As in :func:`nearest_library`.
    origin_snaps
        The origins already snapped onto ``network`` with these settings (e.g. the
        :attr:`Snaps.origins` of an earlier call for the same origins); used as given,
        not checked. Default: snap them.

    Returns
    -------
    frame : pandas.DataFrame
        As :func:`nearest_library` returns.
    snaps : Snaps
        The snapped origins and libraries (every row) and what they depend on.

    Warns
    -----
    BereikbaarWarning
        As :func:`nearest_library`.
    """
    _check_weight(weight)
    if LIBRARY_ID not in libraries.columns:
        msg = f"libraries have no '{LIBRARY_ID}' column"
        raise InputError(msg)
    libs = libraries
    sel = np.arange(len(libraries), dtype=np.int64)
    if full_service_only and FULL_SERVICE in libs.columns:
        sel = np.flatnonzero(np.asarray(full_service_mask(libs), dtype=bool))
        libs = libs.iloc[sel]
    all_xy = points_xy(libraries, "libraries")
    lib_xy = all_xy[sel]
    missing = ~np.isfinite(lib_xy).all(axis=1)
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} libraries have no location and are not used",
            BereikbaarWarning,
            stacklevel=_outside_this_module(),
        )
    if len(libs) == 0 or missing.all():
        msg = "no (full-service) library with a location: nothing to measure the distance to"
        raise InputError(msg)
    o_xy = points_xy(origins, "origins")
    if origin_snaps is not None and len(origin_snaps.arc) != len(o_xy):
        msg = f"origin_snaps has {len(origin_snaps.arc)} points for {len(o_xy)} origins"
        raise InputError(msg)
    area = _coverage_of(network, coverage, coverage_buffer_m)
    all_cov = _covered(area, all_xy)
    l_cov = all_cov[sel]
    o_cov = _covered(area, o_xy)
    # every branch, full service or not: the scenarios open, close and change them later
    all_snap = snap_to_arcs(
        network,
        np.where(all_cov[:, None], all_xy, np.nan),
        core_only=core_only,
        max_snap_m=max_snap_m,
    )
    l_snap = Snapped(all_snap.arc[sel], all_snap.offset_m[sel], all_snap.snap_m[sel])
    lib_codes = _reason_codes(lib_xy, l_cov, l_snap.ok)
    lib_reasons = _REASON_OF_CODE[lib_codes]
    outside = int((lib_reasons == REASON_OUTSIDE).sum())
    if outside:
        warnings.warn(
            f"{outside} libraries lie outside the road network's coverage"
            f" ({REASON_OUTSIDE}) and are not used",
            BereikbaarWarning,
            stacklevel=_outside_this_module(),
        )
    unusable = lib_reasons == REASON_TOO_FAR
    if unusable.any():
        warnings.warn(
            f"{int(unusable.sum())} libraries are more than {max_snap_m:g} m from the road "
            "network and are not used",
            BereikbaarWarning,
            stacklevel=_outside_this_module(),
        )
    if not l_snap.ok.any():
        msg = "no library lies near the road network (inside its coverage)"
        raise NetworkError(msg)
    ids = libs[LIBRARY_ID].to_numpy()
    index = origins.index if isinstance(origins, gpd.GeoDataFrame | gpd.GeoSeries) else None
    o_snap_xy = np.where(o_cov[:, None], o_xy, np.nan)
    result, o_snap = _measure(
        network,
        l_snap,
        ids,
        lambda cores: (
            origin_snaps
            if origin_snaps is not None
            else snap_to_arcs(
                network, o_snap_xy, core_only=core_only, max_snap_m=max_snap_m, workers=cores
            )
        ),
        weight=weight,
        with_time=with_time,
        index=index,
    )
    reachable = result[REACHABLE].to_numpy()
    codes = _reason_codes(o_xy, o_cov, o_snap.ok, reachable)
    result[UNREACHABLE_REASON] = pd.Series(_REASON_OF_CODE[codes], index=result.index, dtype=object)
    counts = _reason_counts(codes)
    result.attrs["unreachable"] = counts
    result.attrs["libraries_unused"] = _reason_counts(lib_codes)
    n_bad = int((~reachable).sum())
    if n_bad:
        parts = {
            REASON_OUTSIDE: "outside the road network's coverage",
            REASON_TOO_FAR: f"farther than {max_snap_m:g} m from the road network",
            REASON_NO_ROUTE: "with no route",
            REASON_NO_LOCATION: "without a location",
        }
        detail = ", ".join(f"{n} {r} ({parts[r]})" for r, n in counts.items() if n)
        warnings.warn(
            f"{n_bad} of {len(result)} origins cannot reach a library: {detail};"
            " their distance is NaN",
            BereikbaarWarning,
            stacklevel=_outside_this_module(),
        )
    log.info(
        "nearest library for %d origins (%d unreachable) from %d libraries",
        len(result),
        n_bad,
        int(l_snap.ok.sum()),
    )
    snaps = Snaps(
        origins=o_snap,
        libraries=all_snap,
        network=network,
        max_snap_m=max_snap_m,
        coverage_buffer_m=coverage_buffer_m,
        core_only=core_only,
        coverage=coverage is True,
        origin_index=index,
        library_index=libraries.index,
    )
    return result, snaps
