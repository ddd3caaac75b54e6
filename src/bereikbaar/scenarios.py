"""What-if scenarios, closure impact, suggested sites and capacity-weighted access.

Everything here reuses the engine of :mod:`bereikbaar.accessibility`: origins
and libraries projected onto road arcs, and Dijkstras on the **reversed** graph
from a virtual node per library, so every cost is the road distance from a home
**to** a library (one-way streets respected in that direction).

* :func:`scenario` closes, opens and re-types branches and measures the result
  against the baseline run; its numbers are identical to a full re-run of the
  pipeline with the edited branch list (:func:`write_branch_list` writes it).
* :func:`closure_impact` ranks every full-service branch by the residents who
  would end up beyond the threshold if it closed. Per branch only the nodes
  whose nearest library it is are searched again (a Dijkstra on that region,
  seeded from its border with the unchanged costs outside), as a batch of
  independent tasks on Dask or serially, with identical results.
* :func:`suggest_sites` solves the maximal covering location problem: where to
  put up to ``k`` new branches to bring the most residents within the
  threshold; coverage per candidate from a Dijkstra bounded at the threshold
  (run on the part of the network around the candidate, checked to give the
  whole-network result bit for bit), greedy with lazy gains, and exact with
  :func:`scipy.optimize.milp` when small. :func:`best_sites_for_gemeenten` does
  this for all flagged gemeenten of the dossier at once.
* :func:`two_step_fca` gives the capacity-weighted view: 2SFCA and enhanced
  2SFCA (Gaussian or step decay).

Everything is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from .accessibility import (
    _EPS,
    LibraryTerms,
    Snapped,
    _arc_cost,
    _leg_cost,
    _library_seeds,
    _points_xy,
    library_graph,
    library_terms,
    nearest_from_snapped,
    origin_costs,
    snap_to_arcs,
)
from .aggregate import _stats, aggregate_gemeenten, assign_gemeenten, flag_reasons
from .exceptions import BereikbaarWarning, GeocodeError, InputError
from .network import FloatArray, IntArray, Network, Weight
from .schema import (
    ADDRESS,
    BRANCH_TYPE,
    CAPACITY_COLUMNS,
    CELL_ID,
    CRS_RD,
    CRS_WGS84,
    DISTANCE_M,
    FULL_SERVICE,
    FULL_SERVICE_LIBRARIES,
    GEMEENTECODE,
    GEMEENTENAAM,
    GEOCODE_QUALITY,
    LIBRARY_ID,
    MEAN_DISTANCE_KM,
    NAME,
    NEEDS_GEOCODING,
    PLACE,
    POPULATION,
    POPULATION_BEYOND,
    POSTCODE,
    REACHABLE,
    REASONS,
    SNAP_M,
    TE_GROOT,
    TIME_S,
)
from .settings import FlagRule, Settings
from .sources.geocode import AddressQuery, Geocoder

if TYPE_CHECKING:
    from dask.distributed import Client

    from .pipeline import RunResult

log = logging.getLogger(__name__)

__all__ = [
    "Baseline",
    "ClosureImpact",
    "NewBranch",
    "ScenarioResult",
    "SiteSuggestion",
    "TwoStepFCA",
    "best_sites_for_gemeente",
    "best_sites_for_gemeenten",
    "closure_impact",
    "fca_from_costs",
    "max_coverage_greedy",
    "max_coverage_milp",
    "prepare_baseline",
    "scenario",
    "suggest_sites",
    "travel_costs",
    "two_step_fca",
    "write_branch_list",
    "write_scenario",
]

RESULT_COLUMNS = (LIBRARY_ID, DISTANCE_M, SNAP_M, TIME_S, REACHABLE)
"""Columns :func:`~bereikbaar.nearest_library` adds to the cells."""

DEFAULT_CATCHMENT_KM = 10.0
"""Default 2SFCA catchment (km of road)."""


_DENSE_BUDGET = 20_000_000  # floats per batch of bounded Dijkstras


# --------------------------------------------------------------------------- baseline


@dataclass
class Baseline:
    """A run prepared for scenarios: the cells snapped once, the libraries snapped once.

    Build it with :func:`prepare_baseline`; every function of this module also
    accepts a :class:`~bereikbaar.pipeline.RunResult` and prepares it on the fly.

    Attributes
    ----------
    network
        Road network (RD New).
    cells
        Cells with the nearest-library columns (``distance_m`` … ``reachable``).
    summary
        Gemeente summary of this situation (its polygons are the gemeenten).
    libraries
        The branch list of this situation.
    settings
        Settings of the run (flag rule, full-service types, snap distance).
    origins
        The cells projected onto the network (as the pipeline does).
    library_snaps
        Each branch (row of ``libraries``) projected onto the network.
    """

    network: Network
    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    libraries: gpd.GeoDataFrame
    settings: Settings
    origins: Snapped
    library_snaps: Snapped

    @property
    def rule(self) -> FlagRule:
        """The "te groot" rule."""
        return self.settings.flag_rule

    @property
    def gemeenten(self) -> gpd.GeoDataFrame:
        """Gemeente polygons (code, name, geometry) in RD New."""
        return self.summary[[GEMEENTECODE, GEMEENTENAAM, "geometry"]]


def _settings_from_provenance(provenance: Mapping[str, Any]) -> Settings:
    data = provenance.get("settings") or {}
    kwargs: dict[str, Any] = {}
    if "flag_rule" in data:
        kwargs["flag_rule"] = FlagRule(**data["flag_rule"])
    if "full_service_types" in data:
        kwargs["full_service_types"] = tuple(data["full_service_types"])
    for key in ("max_snap_m", "mode"):
        if key in data:
            kwargs[key] = data[key]
    if "dask_scheduler" in data:
        kwargs["dask_scheduler"] = data["dask_scheduler"]
    return Settings(**kwargs)


def _slice_snapped(s: Snapped, idx: npt.ArrayLike) -> Snapped:
    i = np.asarray(idx, dtype=np.int64)
    return Snapped(s.arc[i], s.offset_m[i], s.snap_m[i])


def _concat_snapped(parts: Sequence[Snapped]) -> Snapped:
    return Snapped(
        np.concatenate([p.arc for p in parts]).astype(np.int64),
        np.concatenate([p.offset_m for p in parts]),
        np.concatenate([p.snap_m for p in parts]),
    )


def prepare_baseline(result: RunResult | Baseline, settings: Settings | None = None) -> Baseline:
    """Snap the cells and branches of a run once, for many scenarios.

    Parameters
    ----------
    result
        The run (:func:`bereikbaar.run`); a :class:`Baseline` is returned as is.
    settings
        The run's settings; default rebuilt from ``result.provenance["settings"]``
        (flag rule, full-service types, ``max_snap_m``).

    Returns
    -------
    Baseline
        The prepared baseline.
    """
    if isinstance(result, Baseline):
        return result
    if settings is None:
        settings = _settings_from_provenance(result.provenance)
    network = result.network
    origins = snap_to_arcs(
        network, _points_xy(result.cells, "cells"), max_snap_m=settings.max_snap_m
    )
    libs = result.libraries
    lib_snaps = snap_to_arcs(network, _points_xy(libs, "libraries"), max_snap_m=settings.max_snap_m)
    return Baseline(network, result.cells, result.summary, libs, settings, origins, lib_snaps)


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class NewBranch:
    """A branch to open in a scenario.

    Parameters
    ----------
    x, y
        Location in RD New (m).
    branch_type
        Normalised branch type (default ``vestiging``, a full-service library).
    name
        Name shown in tables and on the map.
    address
        Address it was geocoded from, if any.
    """

    x: float
    y: float
    branch_type: str = "vestiging"
    name: str | None = None
    address: str | None = None


OpenSpec = NewBranch | tuple[float, float] | tuple[float, float, str] | str | tuple[str, str]


def _normalise_type(value: str) -> str:
    from .sources.libraries import normalise_branch_type

    try:
        return normalise_branch_type(value)
    except ValueError as err:
        raise InputError(str(err)) from err


def _geocode(address: str, geocoder: Geocoder | Callable[[str], Any] | None) -> tuple[float, float]:
    """RD New point of an address: a :class:`~bereikbaar.sources.geocode.Geocoder`
    (e.g. ``PdokGeocoder``, online) or a callable returning ``(x, y)`` or a Point."""
    if geocoder is None:
        msg = (
            f"cannot open a branch at the address {address!r} without a geocoder; "
            "give RD New coordinates (x, y) or pass geocoder=..."
        )
        raise InputError(msg)
    if isinstance(geocoder, Geocoder):
        answers = geocoder.geocode([AddressQuery.from_address(address)])
        hit = answers[0] if answers else None
        if hit is None or not hit.found or hit.x is None or hit.y is None:
            why = f" ({hit.error})" if hit is not None and hit.error else ""
            msg = f"the geocoder found no location for {address!r}{why}"
            raise GeocodeError(msg)
        return float(hit.x), float(hit.y)
    try:
        found = geocoder(address)
    except GeocodeError:
        raise
    except Exception as err:
        msg = f"geocoding {address!r} failed: {err}"
        raise GeocodeError(msg) from err
    if found is None:
        msg = f"the geocoder found no location for {address!r}"
        raise GeocodeError(msg)
    if isinstance(found, shapely.Point):
        return float(found.x), float(found.y)
    return float(found[0]), float(found[1])


def _new_branches(
    items: Iterable[OpenSpec], geocoder: Geocoder | Callable[[str], Any] | None
) -> list[NewBranch]:
    out: list[NewBranch] = []
    for k, item in enumerate(items, start=1):
        if isinstance(item, NewBranch):
            nb = item
        elif isinstance(item, str):
            x, y = _geocode(item, geocoder)
            nb = NewBranch(x, y, address=item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            x, y = _geocode(item[0], geocoder)
            nb = NewBranch(x, y, str(item[1]), address=item[0])
        elif isinstance(item, tuple) and len(item) in (2, 3):
            btype = str(item[2]) if len(item) == 3 else "vestiging"  # type: ignore[misc]
            nb = NewBranch(float(item[0]), float(item[1]), btype)
        else:
            msg = f"open: item {k} ({item!r}) is not (x, y), (x, y, type), an address or NewBranch"
            raise InputError(msg)
        if not (math.isfinite(nb.x) and math.isfinite(nb.y)):
            msg = f"open: item {k} has no finite RD New coordinates ({nb.x}, {nb.y})"
            raise InputError(msg)
        out.append(dataclasses.replace(nb, branch_type=_normalise_type(nb.branch_type)))
    return out


@dataclass
class ScenarioResult:
    """A what-if situation measured against its baseline.

    Attributes
    ----------
    cells
        Cells with the new ``library_id``, ``distance_m`` … ``reachable``, plus
        ``distance_m_before`` and ``delta_m`` (m, new minus before; NaN where
        either is unreachable).
    summary
        The new gemeente summary (same columns as the pipeline's).
    deltas
        One row per gemeente: before/after/delta of ``mean_distance_km`` and
        ``population_beyond``, ``te_groot_before``/``te_groot_after``,
        ``flag_change`` (Dutch) and the new ``reasons``.
    libraries
        The edited branch list (closed rows removed, re-typed rows changed,
        opened rows appended with ids ``nieuw-1`` …).
    closed, retyped, opened
        What was changed.
    baseline
        The baseline it was measured against.
    """

    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    deltas: pd.DataFrame
    libraries: gpd.GeoDataFrame
    closed: tuple[str, ...]
    retyped: Mapping[str, str]
    opened: gpd.GeoDataFrame
    baseline: Baseline
    library_snaps: Snapped = field(repr=False)

    @property
    def changed(self) -> pd.DataFrame:
        """Gemeenten whose flag changed."""
        return self.deltas[self.deltas["flag_change"] != ""]

    def table(self) -> pd.DataFrame:
        """The per-gemeente delta table (what :func:`write_scenario` writes as CSV)."""
        return self.deltas

    def as_baseline(self) -> Baseline:
        """This situation as a baseline for a further scenario or site suggestion."""
        b = self.baseline
        cells = self.cells.drop(columns=["distance_m_before", "delta_m"])
        return Baseline(
            b.network,
            cells,
            self.summary,
            self.libraries,
            b.settings,
            b.origins,
            self.library_snaps,
        )

    def map_layer(self, name: str = "Scenario: verandering van de afstand") -> folium.FeatureGroup:
        """A folium layer showing where the distance rose or fell, and the changed branches.

        Returns
        -------
        folium.FeatureGroup
            Add it to the map of :func:`~bereikbaar.make_map` (before its layer control).
        """
        return scenario_layer(self, name=name)


def _edit_libraries(
    base: Baseline,
    close: Sequence[str],
    retype: Mapping[str, str],
    opened: Sequence[NewBranch],
) -> tuple[gpd.GeoDataFrame, Snapped, gpd.GeoDataFrame, dict[str, str]]:
    libs = base.libraries
    ids = libs[LIBRARY_ID].astype(str)
    known = set(ids)
    for what, wanted in (("close", close), ("retype", list(retype))):
        unknown = [i for i in wanted if str(i) not in known]
        if unknown:
            msg = (
                f"{what}: unknown library_id {', '.join(map(repr, unknown))}; "
                f"known ids: {', '.join(sorted(known)[:20])}{' …' if len(known) > 20 else ''}"
            )
            raise InputError(msg)
    keep = ~ids.isin([str(c) for c in close]).to_numpy()
    edited = libs[keep].copy()
    snaps = _slice_snapped(base.library_snaps, np.flatnonzero(keep))
    types = {str(k): _normalise_type(v) for k, v in retype.items()}
    fs_types = base.settings.full_service_types
    if types:
        eid = edited[LIBRARY_ID].astype(str)
        for lid, t in types.items():
            m = (eid == lid).to_numpy()
            edited.loc[m, BRANCH_TYPE] = t
            edited.loc[m, FULL_SERVICE] = t in fs_types
    rows = []
    used = set(ids)
    n = 0
    for nb in opened:
        n += 1
        while f"nieuw-{n}" in used:
            n += 1
        lid = f"nieuw-{n}"
        used.add(lid)
        rows.append(
            {
                LIBRARY_ID: lid,
                NAME: nb.name or f"Nieuwe {nb.branch_type} {lid.split('-')[1]}",
                BRANCH_TYPE: nb.branch_type,
                FULL_SERVICE: nb.branch_type in fs_types,
                ADDRESS: nb.address,
                GEOCODE_QUALITY: "geocoded" if nb.address else "coordinates",
                NEEDS_GEOCODING: False,
                "geometry": shapely.Point(nb.x, nb.y),
            }
        )
    new = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS_RD) if rows else None
    if new is not None:
        new_snaps = snap_to_arcs(
            base.network,
            np.array([[nb.x, nb.y] for nb in opened]),
            max_snap_m=base.settings.max_snap_m,
        )
        if not new_snaps.ok.all():
            bad = [opened[int(i)] for i in np.flatnonzero(~new_snaps.ok)]
            warnings.warn(
                f"{len(bad)} opened branch(es) lie more than {base.settings.max_snap_m:g} m "
                f"from the road network and are not used: "
                + ", ".join(f"({b.x:.0f}, {b.y:.0f})" for b in bad),
                BereikbaarWarning,
                stacklevel=3,
            )
        edited = pd.concat([edited, new.reindex(columns=edited.columns)], ignore_index=True)
        edited = gpd.GeoDataFrame(edited, geometry="geometry", crs=CRS_RD)
        snaps = _concat_snapped([snaps, new_snaps])
    else:
        edited = edited.reset_index(drop=True)
        new = gpd.GeoDataFrame({LIBRARY_ID: []}, geometry=[], crs=CRS_RD)
    return edited, snaps, new, types


def _flag_change(before: bool, after: bool) -> str:
    if after and not before:
        return "wordt te groot"
    if before and not after:
        return "niet meer te groot"
    return ""


def _deltas(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    b = before.set_index(GEMEENTECODE)
    a = after.set_index(GEMEENTECODE)
    out = pd.DataFrame(index=a.index)
    out[GEMEENTENAAM] = a[GEMEENTENAAM]
    out[POPULATION] = a[POPULATION]
    for col in (MEAN_DISTANCE_KM, POPULATION_BEYOND, FULL_SERVICE_LIBRARIES):
        out[f"{col}_before"] = b[col].reindex(a.index)
        out[f"{col}_after"] = a[col]
        out[f"{col}_delta"] = a[col] - out[f"{col}_before"]
    out[f"{TE_GROOT}_before"] = b[TE_GROOT].reindex(a.index).astype(bool)
    out[f"{TE_GROOT}_after"] = a[TE_GROOT].astype(bool)
    out["flag_change"] = [
        _flag_change(bool(x), bool(y))
        for x, y in zip(out[f"{TE_GROOT}_before"], out[f"{TE_GROOT}_after"], strict=True)
    ]
    out[REASONS] = a[REASONS]
    return out.reset_index()


def _aggregate_quietly(
    cells: gpd.GeoDataFrame, base: Baseline, libraries: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """aggregate_gemeenten; its BereikbaarWarnings (already shown for the baseline) are logged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BereikbaarWarning)
        summary = aggregate_gemeenten(cells, base.gemeenten, libraries, rule=base.rule)
    for w in caught:
        if issubclass(w.category, BereikbaarWarning):
            log.info("%s", w.message)
        else:  # pragma: no cover - not ours: pass on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return summary


def scenario(
    result: RunResult | Baseline | ScenarioResult,
    *,
    close: Sequence[str] = (),
    open: Sequence[OpenSpec] = (),
    retype: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    geocoder: Geocoder | Callable[[str], Any] | None = None,
) -> ScenarioResult:
    """Close, open or re-type branches and measure the effect against the baseline.

    The cells keep their projection onto the road network (snapped once); only
    the libraries change. The numbers equal a full re-run of the pipeline with
    the edited branch list (:func:`write_branch_list`), exactly.

    Parameters
    ----------
    result
        The baseline: a run (:func:`bereikbaar.run`), a :class:`Baseline`, or an
        earlier scenario (which then is the baseline).
    close
        ``library_id`` of branches to close.
    open
        Branches to open: ``(x, y)`` or ``(x, y, type)`` in RD New (m), an address
        (needs ``geocoder``), ``(address, type)``, or :class:`NewBranch`. The type
        defaults to ``vestiging``; it counts as full service when it is one of
        ``settings.full_service_types``.
    retype
        ``{library_id: new type}``, e.g. ``{"lib-0004": "servicepunt"}``.
    settings
        Settings of the run (default from the run's provenance).
    geocoder
        Used for addresses in ``open``: a callable or an object with
        ``geocode(address)`` returning RD New ``(x, y)``. Goes online if it does.

    Returns
    -------
    ScenarioResult
        New cells, summary, per-gemeente deltas and the edited branch list.

    Raises
    ------
    InputError
        Unknown ``library_id``, unknown branch type, or an address without geocoder.
    """
    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
    base = prepare_baseline(result, settings)
    opened = _new_branches(open, geocoder)
    libs, snaps, new, types = _edit_libraries(base, close, retype or {}, opened)
    fs = libs[FULL_SERVICE].fillna(False).astype(bool).to_numpy()
    fs_idx = np.flatnonzero(fs)
    res = nearest_from_snapped(
        base.network,
        base.origins,
        _slice_snapped(snaps, fs_idx),
        libs[LIBRARY_ID].to_numpy()[fs_idx],
        with_time=True,
        index=base.cells.index,
    )
    cells = base.cells.drop(columns=[c for c in RESULT_COLUMNS if c in base.cells.columns])
    cells = cells.join(res)
    summary = _aggregate_quietly(cells, base, libs)
    before = base.cells[DISTANCE_M].to_numpy(dtype=float)
    cells["distance_m_before"] = before
    cells["delta_m"] = cells[DISTANCE_M].to_numpy(dtype=float) - before
    deltas = _deltas(base.summary, summary)
    log.info(
        "scenario: %d closed, %d opened, %d re-typed; %d gemeenten change flag",
        len(close),
        len(opened),
        len(types),
        int((deltas["flag_change"] != "").sum()),
    )
    return ScenarioResult(
        cells, summary, deltas, libs, tuple(map(str, close)), types, new, base, snaps
    )


def write_branch_list(libraries: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a branch list that :func:`~bereikbaar.load_libraries` reads back unchanged.

    Coordinates are written as RD New ``x``/``y`` (m) with full precision, ids in
    an ``id`` column, so a pipeline run on this file reproduces the scenario.

    Parameters
    ----------
    libraries
        Branches (EPSG:28992).
    path
        Output CSV (``;``-separated, UTF-8).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from .report import atomic_path, neutralise_frame

    path = Path(path)
    libs = libraries.to_crs(CRS_RD)
    geoms = libs.geometry.to_numpy()
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy = np.full((len(libs), 2), np.nan)
    if has.any():
        xy[has] = shapely.get_coordinates(geoms[has])

    def text(col: str) -> list[str]:
        if col not in libs.columns:
            return [""] * len(libs)
        return [
            "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in libs[col]
        ]

    frame = pd.DataFrame(
        {
            "id": libs[LIBRARY_ID].astype(str).to_numpy(),
            "naam": text(NAME),
            "type": libs[BRANCH_TYPE].astype(str).to_numpy(),
            "adres": text(ADDRESS),
            "postcode": text(POSTCODE),
            "plaats": text(PLACE),
            "gemeentecode": text(GEMEENTECODE),
            "x": [repr(float(v)) if h else "" for v, h in zip(xy[:, 0], has, strict=True)],
            "y": [repr(float(v)) if h else "" for v, h in zip(xy[:, 1], has, strict=True)],
        }
    )
    with atomic_path(path) as tmp:
        neutralise_frame(frame).to_csv(
            tmp, sep=";", index=False, encoding="utf-8", lineterminator="\n"
        )
    return path


def scenario_layer(
    result: ScenarioResult, *, name: str = "Scenario: verandering van de afstand"
) -> folium.FeatureGroup:
    """Folium layer: cells where the distance rose (red) or fell (green), changed branches.

    Cells whose distance did not change are transparent; cells that can no
    longer reach a library are grey. Drawn as one PNG raster, like the cell
    layer of :func:`~bereikbaar.make_map`.

    Parameters
    ----------
    result
        A scenario.
    name
        Layer name in the layer control (Dutch).

    Returns
    -------
    folium.FeatureGroup
        The layer.
    """
    from .maps import escape_text, rasterize_cells

    group = folium.FeatureGroup(name=name, show=True)
    cells = result.cells
    before = cells["distance_m_before"].to_numpy(dtype=float)
    after = cells[DISTANCE_M].to_numpy(dtype=float)
    changed = ~((before == after) | (np.isnan(before) & np.isnan(after)))
    if changed.any():
        # shift the change (km) so the class bounds are positive: classes
        # <-2, -2..-1, -1..0 (fell), 0..1, 1..2, 2..5, >5 km (rose); NaN: unreachable
        shift = 100.0
        bins = tuple(shift + b for b in (-2.0, -1.0, 0.0, 1.0, 2.0, 5.0))
        delta_km = (after - before) / 1000.0
        frame = cells.loc[changed, ["geometry"]].copy()
        frame[DISTANCE_M] = (shift + delta_km[changed]) * 1000.0
        frame[REACHABLE] = np.isfinite(after[changed])
        raster = rasterize_cells(frame, bins_km=bins)
        if raster is not None:
            folium.raster_layers.ImageOverlay(
                image=raster.to_data_uri(),
                bounds=[list(raster.bounds_wgs84[0]), list(raster.bounds_wgs84[1])],
                opacity=0.85,
                pixelated=True,
            ).add_to(group)
    closed = result.baseline.libraries
    closed = closed[closed[LIBRARY_ID].astype(str).isin(result.closed)]
    for frame, colour, label in (
        (closed, "#d7191c", "gesloten"),
        (result.opened, "#1a9850", "nieuw"),
    ):
        if len(frame) == 0:
            continue
        pts = frame[frame.geometry.notna()].to_crs(CRS_WGS84)
        for _, row in pts.iterrows():
            folium.CircleMarker(
                location=[row.geometry.y, row.geometry.x],
                radius=9,
                color=colour,
                weight=3,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=0.9,
                tooltip=folium.Tooltip(f"{escape_text(row.get(NAME, ''))} ({label})"),
            ).add_to(group)
    return group


def write_scenario(result: ScenarioResult, out_dir: str | Path) -> dict[str, Path]:
    """Write a scenario's tables, edited branch list and map, atomically.

    Files: ``scenario_gemeenten.csv`` (per-gemeente deltas), ``scenario_cellen.csv``
    (cells whose distance changed), ``scenario_bibliotheken.csv`` (the edited
    branch list, re-runnable with ``bereikbaar run``) and ``scenario_kaart.html``.

    Parameters
    ----------
    result
        A scenario.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    dict
        Output name → path.
    """
    from .maps import make_map, write_map
    from .report import atomic_path, neutralise_frame

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    p = out / "scenario_gemeenten.csv"
    with atomic_path(p) as tmp:
        neutralise_frame(result.deltas).to_csv(
            tmp, sep=";", decimal=",", index=False, encoding="utf-8-sig"
        )
    paths["scenario_gemeenten"] = p
    c = result.cells
    changed = c[
        ~(
            (c["distance_m_before"] == c[DISTANCE_M])
            | (c["distance_m_before"].isna() & c[DISTANCE_M].isna())
        )
    ]
    cols = [k for k in (CELL_ID, GEMEENTECODE, POPULATION, LIBRARY_ID) if k in changed.columns]
    p = out / "scenario_cellen.csv"
    with atomic_path(p) as tmp:
        neutralise_frame(changed[[*cols, "distance_m_before", DISTANCE_M, "delta_m"]]).to_csv(
            tmp, sep=";", decimal=",", index=False, encoding="utf-8-sig"
        )
    paths["scenario_cellen"] = p
    paths["scenario_bibliotheken"] = write_branch_list(
        result.libraries, out / "scenario_bibliotheken.csv"
    )
    fmap = make_map(
        result.cells,
        result.summary,
        result.libraries,
        title="Scenario: afstand tot een volwaardige bibliotheek",
        threshold_km=result.baseline.rule.threshold_km,
        show_cells=False,
    )
    layer = result.map_layer()
    layer.add_to(fmap)
    # keep the layer control last so it lists the scenario layer
    for key, child in list(fmap._children.items()):
        if isinstance(child, folium.LayerControl):
            del fmap._children[key]
            fmap.add_child(child, name=key)
    paths["scenario_kaart"] = write_map(fmap, out / "scenario_kaart.html")
    return paths


# --------------------------------------------------------------------------- closure impact


def _cell_gemeenten(cells: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> npt.NDArray[Any]:
    """Gemeentecode per cell exactly as :func:`aggregate_gemeenten` assigns it."""
    code = assign_gemeenten(cells, gemeenten)
    if GEMEENTECODE in cells.columns:
        given = cells[GEMEENTECODE]
        code = given.where(given.notna() & (given.astype(str) != ""), code)
    return code.to_numpy()


def _library_gemeenten(libs: gpd.GeoDataFrame, gemeenten: gpd.GeoDataFrame) -> pd.Series:
    """Gemeentecode containing each branch (as aggregate counts them), NaN outside."""
    pts = libs[libs.geometry.notna() & ~libs.geometry.is_empty].to_crs(CRS_RD)
    hit = gpd.sjoin(
        pts[["geometry"]], gemeenten[[GEMEENTECODE, "geometry"]].to_crs(CRS_RD), predicate="within"
    )
    hit = hit[~hit.index.duplicated(keep="first")]
    out: pd.Series = hit[GEMEENTECODE].reindex(libs.index)
    return out


@dataclass
class _ClosureEngine:
    """Everything one closure task needs (pickled once to every Dask worker)."""

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
        sub_o = _slice_snapped(self.origins, affected)
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


def _run_chunk(engine: _ClosureEngine, js: Sequence[int]) -> list[tuple[int, IntArray, FloatArray]]:
    return engine.run(js)


def build_closure_engine(
    network: Network, origins: Snapped, libraries: Snapped, *, weight: Weight = "length"
) -> tuple[_ClosureEngine, FloatArray]:
    """The closure engine and the baseline cost per origin (internal; used by benchmarks).

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
    light = dataclasses.replace(network, geometry=None)
    # carry the cached twin-arc table along (the engine is pickled to workers)
    light.__dict__["_reverse_arc"] = network.reverse_arc()
    engine = _ClosureEngine(
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
    engine: _ClosureEngine,
    js: Sequence[int],
    *,
    scheduler: str | Client | Literal["serial"] | None = None,
    n_workers: int = 2,
    processes: bool = True,
    n_chunks: int | None = None,
) -> dict[int, tuple[IntArray, FloatArray]]:
    """Run the closure Dijkstras for libraries ``js``, serially or on Dask (internal).

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
    import time

    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
    base = prepare_baseline(result, settings)
    if scheduler is None:
        scheduler = getattr(base.settings, "dask_scheduler", None)
    libs = base.libraries
    fs_idx = np.flatnonzero(libs[FULL_SERVICE].fillna(False).astype(bool).to_numpy())
    l_snap = _slice_snapped(base.library_snaps, fs_idx)
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
    codes = _cell_gemeenten(cells, base.gemeenten)
    dist_m = cells[DISTANCE_M].to_numpy(dtype=float)
    reach = cells[REACHABLE].to_numpy(dtype=bool)
    summ = base.summary.set_index(GEMEENTECODE)
    lib_gem = _library_gemeenten(libs, base.gemeenten)
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
                s_old = _stats(dist_km_old[mk], pop[mk], reach[mk], thr)
                s_new = _stats(dist_km_new[mk], pop[mk], new_reach[mk], thr)
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


# --------------------------------------------------------------------------- bounded coverage


def _gather(indptr: IntArray, data: IntArray, rows: IntArray) -> IntArray:
    """Concatenate ``data[indptr[r]:indptr[r+1]]`` for every ``r`` in ``rows``."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return np.asarray(data[np.arange(total) + offs], dtype=np.int64)


_LOCAL_BUDGET = 2_000_000  # floats per batch of local bounded Dijkstras
_TILE_M = 5000.0  # side (m) of the tiles of sites that share one part of the network


@dataclass
class _BoundedSearch:
    """Bounded Dijkstras from many sites (internal).

    By default (:meth:`costs` ``method="compiled"``) each site is searched by a
    compiled loop on the whole network that touches only the nodes within the
    limit. The local path (``method="local"``, scipy) works on parts: the search
    graph is :func:`library_graph` of all ``sites``, built once; the sites are
    grouped in square tiles (:data:`_TILE_M`); the Dijkstras of a tile run on the
    road nodes in the bounding box of its sites' arcs widened by a radius (the
    limit times the largest metres per unit of cost of any arc), plus the tile's
    virtual nodes. Such a part is exact when no arc leaving it can be
    reached within the limit: then every node outside costs more than the limit,
    and every node inside has the cost of the whole-network search (the same
    additions along the same shortest paths). That is checked after every
    Dijkstra; a site whose check fails is searched again with twice the radius,
    at worst on the whole network. Costs of the origins are then computed with
    the arithmetic of :func:`bounded_costs` (``method="full"``), so both give
    the same matrix, bit for bit.
    """

    network: Network
    weight: Weight
    sites: Snapped = field(repr=False)
    terms: LibraryTerms = field(repr=False)
    limit: float
    slot: IntArray = field(repr=False)
    scratch: list[tuple[FloatArray, IntArray]] = field(default_factory=list, repr=False)

    @classmethod
    def build(
        cls, network: Network, sites: Snapped, limit: float, *, weight: Weight = "length"
    ) -> _BoundedSearch:
        """The search of ``sites`` (snapped onto ``network``), bounded at ``limit``."""
        terms = library_terms(network, weight, sites)
        slot = np.full(len(sites.arc), -1, dtype=np.int64)
        slot[terms.lib_ok] = np.arange(len(terms.lib_ok))
        return cls(network, weight, sites, terms, float(limit), slot)

    # what only the local (scipy) path needs, built on its first use
    @cached_property
    def _library_graph(self) -> tuple[sp.csr_array, IntArray]:
        return library_graph(self.network, self.weight, self.sites, self.terms)

    @property
    def graph(self) -> sp.csr_array:
        """The search graph: :func:`library_graph` of all sites."""
        return self._library_graph[0]

    @property
    def virt(self) -> IntArray:
        """The virtual node of each usable site in :attr:`graph`."""
        return self._library_graph[1]

    @cached_property
    def by_x(self) -> IntArray:
        """Nodes sorted by x."""
        return np.argsort(self.network.x, kind="stable")

    @cached_property
    def x_sorted(self) -> FloatArray:
        """x of the nodes in :attr:`by_x` order."""
        return np.asarray(self.network.x[self.by_x], dtype=np.float64)

    @cached_property
    def m_per_cost(self) -> float:
        """The most metres per unit of cost on any arc (how far ``limit`` can reach)."""
        net = self.network
        w = net.weights(self.weight)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(net.length_m > 0, net.length_m / w, 0.0)
        m_per_cost = float(ratio.max()) if len(ratio) else 1.0
        if not math.isfinite(m_per_cost):
            m_per_cost = math.inf
        return max(m_per_cost, 0.0)

    @cached_property
    def local(self) -> IntArray:
        """Scratch: each node's number in the current part (-1 outside it)."""
        return np.full(self.graph.shape[0], -1, dtype=np.int64)

    def costs(
        self, origins: Snapped, rows: IntArray, *, method: Literal["compiled", "local"] = "compiled"
    ) -> sp.csr_array:
        """``bounded_costs(network, origins, sites[rows], limit)``.

        Parameters
        ----------
        origins
            Snapped origins (homes).
        rows
            Which sites (rows of the ``sites`` the search was built for), in the
            order of the rows of the result.
        method
            ``"compiled"`` (default): one compiled bounded search per site on the
            whole network (:func:`bereikbaar._kernels.bounded_site_costs`), in two
            threads; ``"local"``: scipy's bounded Dijkstra on a part of the network
            around each tile of sites. Both equal :func:`bounded_costs`
            ``(method="full")`` bit for bit.

        Returns
        -------
        scipy.sparse.csr_array
            ``(len(rows), n_origins)`` costs ``<= limit``, as :func:`bounded_costs`.
        """
        if method == "compiled":
            return self._costs_compiled(origins, np.asarray(rows, dtype=np.int64))
        rows = np.asarray(rows, dtype=np.int64)
        n_rows, n_orig = len(rows), len(origins.arc)
        js = self.slot[rows]
        pos = np.flatnonzero(js >= 0)
        o_ok = np.flatnonzero(origins.ok)
        if len(pos) == 0 or len(o_ok) == 0:
            return sp.csr_array((n_rows, n_orig))
        net, t = self.network, self.terms
        oarc = np.where(origins.ok, origins.arc, 0)
        to_pt, from_pt = _arc_cost(net, self.weight, origins)
        oleg = _leg_cost(net, self.weight, origins)
        rev = net.reverse_arc()
        can_back = (rev[oarc] >= 0) | (origins.offset_m <= _EPS)
        twin = rev[oarc] >= 0
        ou, ov = net.u[oarc[o_ok]], net.v[oarc[o_ok]]
        # tiles by the tail of each site's arc
        tail = net.u[t.arc[js[pos]]]
        tx = np.floor(net.x[tail] / _TILE_M).astype(np.int64)
        ty = np.floor(net.y[tail] / _TILE_M).astype(np.int64)
        _keys, tile = np.unique(np.column_stack([tx, ty]), axis=0, return_inverse=True)
        tile = tile.ravel()
        out_r: list[IntArray] = []
        out_c: list[IntArray] = []
        out_v: list[FloatArray] = []
        for g in np.unique(tile).tolist():
            pending = pos[tile == g]
            radius = self.limit * self.m_per_cost * 1.01 + 1.0
            while len(pending):
                pending, radius = self._search_part(
                    pending,
                    radius,
                    js,
                    (o_ok, ou, ov, oarc, to_pt, from_pt, oleg, can_back, twin),
                    (out_r, out_c, out_v),
                )
        return _triplets_csr(out_r, out_c, out_v, (n_rows, n_orig))

    def _costs_compiled(self, origins: Snapped, rows: IntArray) -> sp.csr_array:
        """:meth:`costs` with the compiled bounded search (all cores, GIL released)."""
        from ._kernels import bounded_site_costs

        n_rows, n_orig = len(rows), len(origins.arc)
        js = self.slot[rows]
        o_ok = np.flatnonzero(origins.ok)
        if not (js >= 0).any() or len(o_ok) == 0:
            return sp.csr_array((n_rows, n_orig))
        net, t = self.network, self.terms
        graph, rank = net.search_csr(self.weight)
        # seeds of each requested row, in row order (none for an unusable site)
        seed_j, seed_node, seed_cost = self._seeds
        per_j = np.bincount(seed_j, minlength=len(t.lib_ok))
        j_start = np.cumsum(per_j) - per_j
        cnt = np.where(js >= 0, per_j[np.maximum(js, 0)], 0)
        ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(cnt, out=ptr[1:])
        take = np.repeat(j_start[np.maximum(js, 0)] - ptr[:-1], cnt) + np.arange(ptr[-1])
        s_node, s_cost = rank[seed_node[take]], seed_cost[take]
        safe = np.maximum(js, 0)
        site_arc = np.where(js >= 0, t.arc[safe], -1)
        site_to_lib = t.to_lib[safe]
        site_leg = t.leg[safe]
        # the usable origins, renumbered 0..len(o_ok)-1, with their arc terms
        oarc = origins.arc[o_ok]
        to_pt, from_pt = _arc_cost(net, self.weight, origins)
        oleg = _leg_cost(net, self.weight, origins)
        rev = net.reverse_arc()
        can_back = (rev[oarc] >= 0) | (origins.offset_m[o_ok] <= _EPS)
        twin = rev[oarc] >= 0
        o_u, o_v = rank[net.u[oarc]], rank[net.v[oarc]]
        ends = np.concatenate([o_u, o_v])
        both = np.tile(np.arange(len(o_ok), dtype=np.int64), 2)
        node_orig = both[np.argsort(ends, kind="stable")]
        node_ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=net.n_nodes), out=node_ptr[1:])
        arc_order = np.argsort(oarc, kind="stable")
        lim = self.limit * (1.0 + 1e-12) + 1e-9
        args = (
            lim,
            self.limit,
            node_ptr,
            node_orig,
            oarc[arc_order],
            arc_order.astype(np.int64),
            oarc,
            o_u,
            o_v,
            to_pt[o_ok],
            from_pt[o_ok],
            oleg[o_ok],
            can_back,
            twin,
            _EPS,
        )

        workers = min(os.cpu_count() or 1, 2) if n_rows >= 64 else 1
        scratch = self._scratch(graph.shape[0], workers)

        def run(part: int, lo: int, hi: int) -> tuple[IntArray, IntArray, FloatArray]:
            r, c, v = bounded_site_costs(
                graph.indptr,
                graph.indices,
                graph.data,
                ptr[lo : hi + 1] - ptr[lo],
                s_node[ptr[lo] : ptr[hi]],
                s_cost[ptr[lo] : ptr[hi]],
                site_arc[lo:hi],
                site_to_lib[lo:hi],
                site_leg[lo:hi],
                *args,
                *scratch[part],
            )
            return r + lo, o_ok[c], v

        # contiguous halves of the rows (sites of one gemeente are near each other)
        bounds = np.linspace(0, n_rows, workers + 1).astype(np.int64).tolist()
        if workers == 1:
            parts = [run(0, 0, n_rows)]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(run, range(workers), bounds[:-1], bounds[1:]))
        return _triplets_csr(
            [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], (n_rows, n_orig)
        )

    def _scratch(self, n: int, workers: int) -> list[tuple[FloatArray, IntArray]]:
        """Per thread a distance array (all ``inf``) and a touched-node list, kept."""
        while len(self.scratch) < workers:
            self.scratch.append((np.full(n, np.inf), np.empty(max(n, 1), dtype=np.int64)))
        return self.scratch[:workers]

    @cached_property
    def _seeds(self) -> tuple[IntArray, IntArray, FloatArray]:
        """Seeds of every usable site, sorted by site: ``(j, node, cost)``."""
        j, node, cost = _library_seeds(self.network, self.sites, self.terms)
        order = np.argsort(j, kind="stable")
        return j[order], node[order], cost[order]

    def _part(self, js: IntArray, radius: float) -> IntArray:
        """Road nodes near the arcs of usable sites ``js``, then their virtual nodes."""
        net = self.network
        ends = np.concatenate([net.u[self.terms.arc[js]], net.v[self.terms.arc[js]]])
        if not math.isfinite(radius):
            nodes = np.arange(net.n_nodes, dtype=np.int64)
        else:
            ex, ey = net.x[ends], net.y[ends]
            lo = np.searchsorted(self.x_sorted, ex.min() - radius, side="left")
            hi = np.searchsorted(self.x_sorted, ex.max() + radius, side="right")
            near = self.by_x[lo:hi]
            yy = net.y[near]
            nodes = np.sort(near[(yy >= ey.min() - radius) & (yy <= ey.max() + radius)])
        return np.concatenate([nodes, self.virt[js]]).astype(np.int64)

    def _search_part(
        self,
        pending: IntArray,
        radius: float,
        js_all: IntArray,
        orig: tuple[Any, ...],
        out: tuple[list[IntArray], list[IntArray], list[FloatArray]],
    ) -> tuple[IntArray, float]:
        """Search ``pending`` (result rows) on one part; return the rows whose check failed."""
        o_ok, ou, ov, oarc, to_pt, from_pt, oleg, can_back, twin = orig
        net, t = self.network, self.terms
        js = js_all[pending]
        part = self._part(js, radius)
        whole = len(part) - len(js) == net.n_nodes
        local = self.local
        local[part] = np.arange(len(part))
        try:
            g = self.graph
            starts = g.indptr[part].astype(np.int64)
            counts = g.indptr[part + 1].astype(np.int64) - starts
            total = int(counts.sum())
            offs = np.repeat(starts - (np.cumsum(counts) - counts), counts)
            at = np.arange(total, dtype=np.int64) + offs
            row_of = np.repeat(np.arange(len(part), dtype=np.int64), counts)
            col = local[g.indices[at]]
            data = g.data[at]
            inside = col >= 0
            sub_ptr = np.zeros(len(part) + 1, dtype=np.int64)
            np.cumsum(np.bincount(row_of[inside], minlength=len(part)), out=sub_ptr[1:])
            sub = sp.csr_array(
                (data[inside], col[inside].astype(np.int32), sub_ptr.astype(np.int32)),
                shape=(len(part), len(part)),
            )
            b_row, b_cost = row_of[~inside], data[~inside]
            lu, lv = local[ou], local[ov]
            near = np.flatnonzero((lu >= 0) | (lv >= 0))
            lu, lv = lu[near], lv[near]
            src = local[self.virt[js]]
        finally:
            local[part] = -1
        o = o_ok[near]
        lim = self.limit * (1.0 + 1e-12) + 1e-9
        width = max(len(part), len(o), 1)
        batch = max(1, min(len(js), _LOCAL_BUDGET // width))
        failed: list[IntArray] = []
        for b0 in range(0, len(js), batch):
            sl = slice(b0, b0 + batch)
            d = np.atleast_2d(dijkstra(sub, directed=True, indices=src[sl], limit=lim))
            if not whole and len(b_row):
                bad = ((d[:, b_row] + b_cost) <= lim).any(axis=1)
            else:
                bad = np.zeros(len(d), dtype=bool)
            if bad.any():
                failed.append(pending[sl][bad])
            good = np.flatnonzero(~bad)
            if len(good) == 0 or len(o) == 0:
                continue
            d = d[good]
            j = js[sl][good]
            # as bounded_costs(method="full"), for every nearby origin at once
            cu = np.where(lu >= 0, d[:, np.maximum(lu, 0)], np.inf)
            cv = np.where(lv >= 0, d[:, np.maximum(lv, 0)], np.inf)
            cost = from_pt[o] + cv
            back = np.where(can_back[o], to_pt[o] + cu, np.inf)
            cost = np.where(back < cost, back, cost)
            on = oarc[o][None, :] == t.arc[j][:, None]
            if on.any():
                r_on, c_on = np.nonzero(on)
                s_o = to_pt[o][c_on]
                s_l = t.to_lib[j][r_on]
                forward = s_l >= s_o - _EPS
                along = np.where(forward, s_l - s_o, np.where(twin[o][c_on], s_o - s_l, np.inf))
                direct = along + t.leg[j][r_on]
                here = cost[r_on, c_on]
                cost[r_on, c_on] = np.where(direct < here, direct, here)
            cost = cost + oleg[o]
            keep = np.isfinite(cost) & (cost <= self.limit)
            r_k, c_k = np.nonzero(keep)
            out[0].append(pending[sl][good][r_k])
            out[1].append(o[c_k])
            out[2].append(cost[r_k, c_k])
        left = np.concatenate(failed) if failed else np.zeros(0, dtype=np.int64)
        return left, (math.inf if whole else radius * 2.0)


def bounded_costs(
    network: Network,
    origins: Snapped,
    sites: Snapped,
    limit: float,
    *,
    weight: Weight = "length",
    method: Literal["compiled", "local", "full"] = "compiled",
) -> sp.csr_array:
    """Cost from each origin to each site, where at most ``limit`` (sparse).

    One Dijkstra per site on the **reversed** graph, from the site's virtual
    node, bounded at ``limit`` (scipy ``limit=``): the cost from a home **to**
    the site, one-way streets respected, exactly as :func:`nearest_library`
    measures it when that site is the only library.

    With ``method="compiled"`` (default) each site's search is a compiled loop
    that touches only the nodes within ``limit`` and computes the origins' costs
    as it goes (two threads). With ``method="local"`` the sites are grouped in
    tiles and scipy's Dijkstra runs on the part of the network around each tile,
    which is checked to hold everything within ``limit`` (else the part grows).
    Both are identical, bit for bit, to ``method="full"`` (scipy's Dijkstra on
    the whole network per site, the reference), which costs time proportional to
    the whole network per site.

    Parameters
    ----------
    network
        Road network (RD New).
    origins
        Snapped origins (homes).
    sites
        Snapped sites (libraries or candidates); unsnapped sites reach nobody.
    limit
        Largest cost kept (m for ``length``, s for ``time``).
    weight
        ``"length"`` or ``"time"``.
    method
        ``"compiled"`` (default), ``"local"`` or ``"full"``: same result (see above).

    Returns
    -------
    scipy.sparse.csr_array
        ``(n_sites, n_origins)``; stored entries are costs ``<= limit`` (a stored
        0 is a cost of zero).
    """
    if method in ("compiled", "local"):
        search = _BoundedSearch.build(network, sites, limit, weight=weight)
        return search.costs(origins, np.arange(len(sites.arc)), method=method)
    if method != "full":
        msg = f"method must be 'compiled', 'local' or 'full', got {method!r}"
        raise InputError(msg)
    n = network.n_nodes
    n_sites = len(sites.arc)
    n_orig = len(origins.arc)
    terms = library_terms(network, weight, sites)
    k = len(terms.lib_ok)
    if k == 0 or n_orig == 0:
        return sp.csr_array((n_sites, n_orig))
    graph, virt = library_graph(network, weight, sites, terms)
    # node → origins whose arc ends there
    o_ok = np.flatnonzero(origins.ok)
    oa = origins.arc[o_ok]
    ends = np.concatenate([network.u[oa], network.v[oa]])
    who = np.concatenate([o_ok, o_ok])
    order = np.argsort(ends, kind="stable")
    node_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=n), out=node_ptr[1:])
    node_orig = who[order]
    # arc → origins on it (same-arc direct travel)
    arc_sorted = np.argsort(oa, kind="stable")
    arc_keys = oa[arc_sorted]
    size = n + k
    batch = max(1, min(k, _DENSE_BUDGET // max(size, 1)))
    lim = limit * (1.0 + 1e-12) + 1e-9
    rows_out: list[IntArray] = []
    cols_out: list[IntArray] = []
    vals_out: list[FloatArray] = []
    u, v = network.u, network.v
    oarc = np.where(origins.ok, origins.arc, 0)
    to_pt, from_pt = _arc_cost(network, weight, origins)
    oleg = _leg_cost(network, weight, origins)
    rev = network.reverse_arc()
    can_back = (rev[oarc] >= 0) | (origins.offset_m <= _EPS)
    twin = rev[oarc] >= 0
    for b0 in range(0, k, batch):
        js = np.arange(b0, min(k, b0 + batch))
        d = dijkstra(graph, directed=True, indices=virt[js], limit=lim)
        d = np.atleast_2d(d)
        for r, j in enumerate(js.tolist()):
            node_cost = d[r, :n]
            reached = np.flatnonzero(np.isfinite(node_cost))
            cand = _gather(node_ptr, node_orig, reached)
            a = terms.arc[j]
            lo, hi = np.searchsorted(arc_keys, [a, a + 1])
            cand = np.unique(np.concatenate([cand, o_ok[arc_sorted[lo:hi]]]))
            if len(cand) == 0:
                continue
            # as origin_costs with this site as the only library (same arithmetic)
            ca = oarc[cand]
            cost = from_pt[cand] + node_cost[v[ca]]
            back = np.where(can_back[cand], to_pt[cand] + node_cost[u[ca]], np.inf)
            cost = np.where(back < cost, back, cost)
            on = ca == a
            if on.any():
                s_o = to_pt[cand][on]
                s_l = terms.to_lib[j]
                forward = s_l >= s_o - _EPS
                along = np.where(forward, s_l - s_o, np.where(twin[cand][on], s_o - s_l, np.inf))
                direct = along + terms.leg[j]
                cost[on] = np.where(direct < cost[on], direct, cost[on])
            cost = cost + oleg[cand]
            keep = np.isfinite(cost) & (cost <= limit)
            rows_out.append(np.full(int(keep.sum()), terms.lib_ok[j], dtype=np.int64))
            cols_out.append(cand[keep])
            vals_out.append(cost[keep])
    return _triplets_csr(rows_out, cols_out, vals_out, (n_sites, n_orig))


def _triplets_csr(
    rows: Sequence[IntArray],
    cols: Sequence[IntArray],
    vals: Sequence[FloatArray],
    shape: tuple[int, int],
) -> sp.csr_array:
    """CSR from parts of (row, col, value) triplets without duplicates.

    Built by hand so that explicit zero costs stay stored entries.
    """
    if not rows:
        return sp.csr_array(shape)
    rr, cc, vv = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    order = np.argsort(rr * np.int64(max(shape[1], 1)) + cc)  # one key: 2-3x a lexsort
    rr, cc, vv = rr[order], cc[order], vv[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rr, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((vv, cc, indptr), shape=shape)


# --------------------------------------------------------------------------- max coverage


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
    codes = _cell_gemeenten(cells, base.gemeenten)
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


def _near_demand(demand_xy: FloatArray, cand_xy: FloatArray, thr_m: float) -> npt.NDArray[np.bool_]:
    """Candidates within ``thr_m`` in a straight line of some demand point.

    Straight line <= road distance: the others cannot cover anyone.
    """
    if not (len(demand_xy) and len(cand_xy)):
        return np.zeros(len(cand_xy), dtype=bool)
    from scipy.spatial import cKDTree

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
    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
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
    cand_snap = snap_to_arcs(base.network, cand_xy, max_snap_m=base.settings.max_snap_m)
    costs = bounded_costs(base.network, _slice_snapped(base.origins, demand), cand_snap, thr_m)
    cov, useful = _coverage(costs)
    cand_xy, cand_cell = cand_xy[useful], cand_cell[useful]
    chosen, gains = max_coverage_greedy(cov, demand_w, k)
    alone = np.asarray(cov @ demand_w).ravel()
    greedy_value = float(sum(gains))
    site_gem = _point_gemeenten(cand_xy, base.gemeenten)

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


def _point_gemeenten(xy: FloatArray, gemeenten: gpd.GeoDataFrame) -> npt.NDArray[Any]:
    if len(xy) == 0:
        return np.zeros(0, dtype=object)
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS_RD)
    hit = gpd.sjoin(pts, gemeenten[[GEMEENTECODE, "geometry"]].to_crs(CRS_RD), predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    out: npt.NDArray[Any] = hit[GEMEENTECODE].reindex(pts.index).to_numpy(dtype=object)
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
    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
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
        snap = snap_to_arcs(base.network, cells.xy[cand], max_snap_m=base.settings.max_snap_m)
        plans.append((code, demand, cand, snap))
    search = _BoundedSearch.build(base.network, _concat_snapped([p[3] for p in plans]), thr_m)
    out: dict[str, gpd.GeoDataFrame] = {}
    first = 0
    for code, demand, cand, _snap in plans:
        site_rows = np.arange(first, first + len(cand), dtype=np.int64)
        first += len(cand)
        costs = search.costs(_slice_snapped(base.origins, demand), site_rows)
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


# --------------------------------------------------------------------------- 2SFCA


def _capacity(libs: gpd.GeoDataFrame, capacity: str | Mapping[str, float] | None) -> FloatArray:
    if isinstance(capacity, Mapping):
        ids = libs[LIBRARY_ID].astype(str)
        missing = [i for i in ids if i not in capacity]
        if missing:
            msg = f"capacity: no value for library_id {', '.join(missing[:5])}"
            raise InputError(msg)
        return np.array([float(capacity[i]) for i in ids])
    col = capacity
    if col is None:
        col = next((c for c in CAPACITY_COLUMNS if c in libs.columns), None)
        if col is None:
            log.info(
                "no capacity column (%s): every branch has capacity 1", ", ".join(CAPACITY_COLUMNS)
            )
            return np.ones(len(libs))
    if col not in libs.columns:
        msg = f"libraries have no capacity column {col!r}"
        raise InputError(msg)
    values = pd.to_numeric(libs[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} branches have no valid '{col}'; they count with capacity 0",
            BereikbaarWarning,
            stacklevel=3,
        )
        values = np.where(bad, 0.0, values)
    return np.asarray(values, dtype=np.float64)


def travel_costs(
    result: RunResult | Baseline | ScenarioResult,
    *,
    max_km: float = DEFAULT_CATCHMENT_KM,
    full_service_only: bool = True,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Road distance from every cell to every library within ``max_km`` (long format).

    Parameters
    ----------
    result
        The run (or scenario).
    max_km
        Largest distance kept (km).
    full_service_only
        Only full-service branches.
    settings
        Settings (default from the run).

    Returns
    -------
    pandas.DataFrame
        ``origin`` (cell index label), ``library_id``, ``cost_km`` (home → library,
        km of road, snap legs included).
    """
    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
    base = prepare_baseline(result, settings)
    libs = base.libraries
    mask = np.ones(len(libs), dtype=bool)
    if full_service_only:
        mask = libs[FULL_SERVICE].fillna(False).astype(bool).to_numpy()
    idx = np.flatnonzero(mask)
    costs = bounded_costs(
        base.network, base.origins, _slice_snapped(base.library_snaps, idx), max_km * 1000.0
    )
    coo = costs.tocoo()
    return pd.DataFrame(
        {
            "origin": base.cells.index.to_numpy()[coo.col],
            LIBRARY_ID: libs[LIBRARY_ID].to_numpy()[idx][coo.row],
            "cost_km": coo.data / 1000.0,
        }
    ).sort_values(["origin", LIBRARY_ID], kind="stable", ignore_index=True)


def fca_from_costs(
    costs: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    *,
    max_cost: float,
    weight_fn: Callable[[FloatArray], FloatArray] | None = None,
    origin: str = "origin",
    dest: str = LIBRARY_ID,
    cost: str = "cost_km",
) -> tuple[pd.Series, pd.Series]:
    """Two-step floating catchment area from a travel-cost table (dense NumPy).

    Step 1: ``R_j = S_j / Σ_i f(d_ij) P_i`` over ``d_ij <= max_cost``;
    step 2: ``A_i = Σ_j f(d_ij) R_j``. With ``weight_fn`` None, ``f = 1``
    (classic 2SFCA); with a decay it is the enhanced 2SFCA.

    Parameters
    ----------
    costs
        Long table of ``origin``, ``dest`` and ``cost``.
    demand
        Residents per origin (index = origin).
    supply
        Capacity per destination (index = destination).
    max_cost
        Catchment (same unit as ``cost``).
    weight_fn
        Vectorised decay ``f(cost)``.
    origin, dest, cost
        Column names in ``costs``.

    Returns
    -------
    access, ratio
        ``A_i`` per origin (0 where no library in reach; index of ``demand``) and
        ``R_j`` per destination (NaN where nobody is in reach).

    Examples
    --------
    >>> c = pd.DataFrame({"origin": [0, 1, 1], "library_id": ["a", "a", "b"],
    ...                   "cost_km": [1.0, 2.0, 3.0]})
    >>> acc, r = fca_from_costs(c, pd.Series([100.0, 300.0]), pd.Series({"a": 2.0, "b": 3.0}),
    ...                         max_cost=5)
    >>> r.tolist(), acc.tolist()
    ([0.005, 0.01], [0.005, 0.015])
    """
    c = costs[costs[cost] <= max_cost]
    oi = demand.index.get_indexer(pd.Index(c[origin]))
    dj = supply.index.get_indexer(pd.Index(c[dest]))
    ok = (oi >= 0) & (dj >= 0)
    oi, dj = oi[ok], dj[ok]
    d = c[cost].to_numpy(dtype=float)[ok]
    f = np.ones_like(d) if weight_fn is None else np.asarray(weight_fn(d), dtype=float)
    p = np.nan_to_num(demand.to_numpy(dtype=float))
    s = supply.to_numpy(dtype=float)
    weighted_demand = np.bincount(dj, weights=f * p[oi], minlength=len(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(weighted_demand > 0, s / weighted_demand, np.nan)
    contrib = f * np.nan_to_num(ratio[dj])
    acc = np.bincount(oi, weights=contrib, minlength=len(p))
    return pd.Series(acc, index=demand.index, name="access"), pd.Series(
        ratio, index=supply.index, name="ratio"
    )


def gaussian_decay(sigma: float) -> Callable[[FloatArray], FloatArray]:
    """Gaussian decay ``exp(-d² / (2 σ²))`` (as PySAL ``access.weights.gaussian``).

    Examples
    --------
    >>> round(float(gaussian_decay(2.0)(np.array([2.0]))[0]), 4)
    0.6065
    """

    def f(d: FloatArray) -> FloatArray:
        return np.asarray(np.exp(-d * d / (2.0 * sigma**2)))

    return f


def step_decay(steps: Mapping[float, float]) -> Callable[[FloatArray], FloatArray]:
    """Step decay: weight of the first bound ``>=`` the cost, 0 beyond the last.

    Examples
    --------
    >>> step_decay({5: 1.0, 10: 0.68, 15: 0.22})(np.array([0.0, 5.0, 7.0, 15.0, 16.0])).tolist()
    [1.0, 1.0, 0.68, 0.22, 0.0]
    """
    bounds = np.array(sorted(steps), dtype=float)
    values = np.array([steps[b] for b in sorted(steps)], dtype=float)

    def f(d: FloatArray) -> FloatArray:
        i = np.searchsorted(bounds, d, side="left")
        return np.where(i < len(bounds), values[np.minimum(i, len(bounds) - 1)], 0.0)

    return f


@dataclass
class TwoStepFCA:
    """Capacity-weighted accessibility (2SFCA / enhanced 2SFCA).

    Attributes
    ----------
    cells
        Per cell: ``access`` (capacity within reach per resident) and
        ``access_per_10k`` (per 10 000 residents).
    libraries
        Per library: ``capacity`` and ``ratio`` (capacity per weighted resident in
        its catchment).
    gemeenten
        Per gemeente: person-weighted mean ``access_per_10k``.
    costs
        The travel-cost table used (``origin``, ``library_id``, ``cost_km``).
    method
        ``"2sfca"`` or ``"e2sfca-gaussian"`` / ``"e2sfca-step"``.
    """

    cells: pd.DataFrame
    libraries: pd.DataFrame
    gemeenten: pd.DataFrame
    costs: pd.DataFrame
    method: str


def two_step_fca(
    result: RunResult | Baseline | ScenarioResult,
    *,
    catchment_km: float = DEFAULT_CATCHMENT_KM,
    decay: Literal["none", "gaussian", "step"] = "none",
    sigma_km: float | None = None,
    steps: Mapping[float, float] | None = None,
    capacity: str | Mapping[str, float] | None = None,
    settings: Settings | None = None,
) -> TwoStepFCA:
    """Two-step floating catchment area accessibility per cell and per gemeente.

    Parameters
    ----------
    result
        The run (or scenario).
    catchment_km
        Catchment (km of road, home → library).
    decay
        ``"none"`` (2SFCA), ``"gaussian"`` or ``"step"`` (enhanced 2SFCA).
    sigma_km
        Gaussian width (km); default ``catchment_km / 2``.
    steps
        Step zones ``{upper bound km: weight}``; default Luo & Qi's
        ``{c/3: 1, 2c/3: 0.68, c: 0.22}`` for catchment ``c``.
    capacity
        Column of the branch list (e.g. opening hours per week or collection
        size) or ``{library_id: capacity}``; default the first column of
        :data:`CAPACITY_COLUMNS` present, else 1 per branch.
    settings
        Settings (default from the run).

    Returns
    -------
    TwoStepFCA
        Per cell, per library and per gemeente values.
    """
    if isinstance(result, ScenarioResult):
        result = result.as_baseline()
    base = prepare_baseline(result, settings)
    costs = travel_costs(base, max_km=catchment_km)
    libs = base.libraries[base.libraries[FULL_SERVICE].fillna(False).astype(bool)]
    supply = pd.Series(_capacity(libs, capacity), index=libs[LIBRARY_ID].to_numpy())
    demand = pd.Series(base.cells[POPULATION].to_numpy(dtype=float), index=base.cells.index)
    fn: Callable[[FloatArray], FloatArray] | None
    if decay == "none":
        fn, method = None, "2sfca"
    elif decay == "gaussian":
        fn, method = gaussian_decay(sigma_km or catchment_km / 2.0), "e2sfca-gaussian"
    elif decay == "step":
        c = catchment_km
        fn = step_decay(steps or {c / 3.0: 1.0, 2.0 * c / 3.0: 0.68, c: 0.22})
        method = "e2sfca-step"
    else:
        msg = f"decay must be 'none', 'gaussian' or 'step', got {decay!r}"
        raise InputError(msg)
    acc, ratio = fca_from_costs(costs, demand, supply, max_cost=catchment_km, weight_fn=fn)
    cells = pd.DataFrame({"access": acc, "access_per_10k": acc * 10_000.0}, index=demand.index)
    if CELL_ID in base.cells.columns:
        cells.insert(0, CELL_ID, base.cells[CELL_ID].to_numpy())
    codes = _cell_gemeenten(base.cells, base.gemeenten)
    cells[GEMEENTECODE] = codes
    pop = np.nan_to_num(demand.to_numpy())
    frame = pd.DataFrame({"g": codes, "w": pop, "wa": pop * cells["access_per_10k"].to_numpy()})
    agg = frame.groupby("g").sum()
    gem = base.summary[[GEMEENTECODE, GEMEENTENAAM]].copy()
    wa = agg["wa"].reindex(gem[GEMEENTECODE]).to_numpy()
    w = agg["w"].reindex(gem[GEMEENTECODE]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        gem["access_per_10k"] = np.where(w > 0, wa / w, np.nan)
    gem[POPULATION] = w
    lib_table = pd.DataFrame(
        {LIBRARY_ID: supply.index, "capacity": supply.to_numpy(), "ratio": ratio.to_numpy()}
    )
    return TwoStepFCA(cells, lib_table, gem.reset_index(drop=True), costs, method)


# --------------------------------------------------------------------------- command line


def parse_open(text: str) -> OpenSpec:
    """Parse ``--open``: ``"x,y"`` or ``"x,y,type"`` (RD New, m), else an address.

    Examples
    --------
    >>> parse_open("206000, 560000")
    (206000.0, 560000.0)
    >>> parse_open("206000,560000,servicepunt")
    (206000.0, 560000.0, 'servicepunt')
    >>> parse_open("Kerkplein 3, Middeldorp")
    'Kerkplein 3, Middeldorp'
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) in (2, 3):
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            return text.strip()
        return (x, y) if len(parts) == 2 else (x, y, parts[2])
    return text.strip()


def parse_retype(text: str) -> tuple[str, str]:
    """Parse ``--type ID=TYPE``.

    Examples
    --------
    >>> parse_retype("lib-0004=servicepunt")
    ('lib-0004', 'servicepunt')
    """
    lid, sep, btype = text.partition("=")
    if not sep or not lid.strip() or not btype.strip():
        msg = f"--type {text!r}: expected ID=TYPE, e.g. lib-0004=servicepunt"
        raise InputError(msg)
    return lid.strip(), btype.strip()


def run_scenario_command(
    settings: Settings,
    *,
    close: Sequence[str] = (),
    open_specs: Sequence[str] = (),
    retype: Sequence[str] = (),
    out_dir: Path | None = None,
    n_sites: int = 0,
    rank: bool = False,
    scheduler: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[ScenarioResult, dict[str, Path], list[str]]:
    """What ``bereikbaar scenario`` does: baseline run, scenario, outputs, summary lines.

    The baseline is written to ``settings.out_dir`` (as ``bereikbaar run``),
    the scenario to ``out_dir`` (default ``settings.out_dir / "scenario"``).
    Addresses in ``open_specs`` are geocoded online with the PDOK Locatieserver.

    Returns
    -------
    result, outputs, lines
        The scenario, its output files and Dutch summary lines for the terminal.
    """
    from .pipeline import run

    opened = [parse_open(t) for t in open_specs]
    geocoder: Geocoder | None = None
    if any(isinstance(o, str) for o in opened):
        from .sources.geocode import PdokGeocoder

        geocoder = PdokGeocoder(settings.pdok_url)
    types = dict(parse_retype(t) for t in retype)
    baseline = run(settings, progress=progress)
    res = scenario(
        baseline, close=close, open=opened, retype=types, settings=settings, geocoder=geocoder
    )
    out = Path(out_dir) if out_dir is not None else Path(settings.out_dir) / "scenario"
    outputs = write_scenario(res, out)
    lines = [
        f"scenario: {len(res.closed)} gesloten, {len(res.opened)} geopend, "
        f"{len(res.retyped)} van type veranderd"
    ]
    for _, row in res.deltas.iterrows():
        d = row[f"{MEAN_DISTANCE_KM}_delta"]
        if row["flag_change"] or (isinstance(d, float) and math.isfinite(d) and d != 0):
            lines.append(
                f"  {row[GEMEENTECODE]} {row[GEMEENTENAAM]}: gemiddelde afstand "
                f"{row[f'{MEAN_DISTANCE_KM}_before']:.2f} → {row[f'{MEAN_DISTANCE_KM}_after']:.2f}"
                f" km, verder dan de drempel {row[f'{POPULATION_BEYOND}_before']:.0f} → "
                f"{row[f'{POPULATION_BEYOND}_after']:.0f}"
                + (f" ({row['flag_change']})" if row["flag_change"] else "")
            )
    if n_sites > 0:
        sug = suggest_sites(res, k=n_sites)
        p = out / "scenario_locaties.csv"
        from .report import atomic_path, neutralise_frame

        with atomic_path(p) as tmp:
            neutralise_frame(sug.sites.drop(columns="geometry")).to_csv(
                tmp, sep=";", decimal=",", index=False, encoding="utf-8-sig"
            )
        outputs["scenario_locaties"] = p
        lines.append(
            f"voorgestelde locaties (greedy {sug.greedy_population:.0f} inwoners erbij"
            + (f", optimaal {sug.milp_population:.0f}" if sug.milp_population is not None else "")
            + ")"
        )
    if rank:
        ci = closure_impact(res, settings=settings, scheduler=scheduler)
        p = out / "sluitingseffect.csv"
        from .report import atomic_path, neutralise_frame

        with atomic_path(p) as tmp:
            neutralise_frame(ci.ranking).to_csv(
                tmp, sep=";", decimal=",", index=False, encoding="utf-8-sig"
            )
        outputs["sluitingseffect"] = p
        lines.append(f"sluitingseffect van {len(ci.ranking)} vestigingen in {ci.elapsed_s:.1f} s")
    lines.extend(f"{name}: {path}" for name, path in outputs.items())
    return res, outputs, lines
