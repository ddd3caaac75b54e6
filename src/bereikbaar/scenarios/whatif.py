"""What-if: close, open or re-type branches and measure the result against the baseline.

:func:`scenario` keeps the cells' projection onto the road network and only
changes the branch list; its numbers are identical to a full re-run of the
pipeline with the edited list (which :func:`bereikbaar.output.scenario.write_branch_list`
writes). Drawing and writing a scenario is :mod:`bereikbaar.output.scenario`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..accessibility import Snapped, nearest_from_snapped, snap_to_arcs
from ..aggregate import aggregate_gemeenten
from ..exceptions import BereikbaarWarning, GeocodeError, InputError
from ..result import RunResult
from ..schema import (
    ADDRESS,
    BRANCH_TYPE,
    CRS_RD,
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
    POPULATION,
    POPULATION_BEYOND,
    POPULATION_UNREACHABLE,
    REACHABLE,
    REASONS,
    SNAP_M,
    TE_GROOT,
    TIME_S,
    VERDICT,
    VERDICT_OK,
    VERDICT_TE_GROOT,
    full_service_mask,
)
from ..settings import Settings
from ..sources.geocode import AddressQuery, Geocoder
from ..sources.libraries import normalise_branch_type
from .baseline import Baseline, concat_snapped, prepare_baseline, slice_snapped

if TYPE_CHECKING:
    import folium

log = logging.getLogger(__name__)

__all__ = [
    "RESULT_COLUMNS",
    "NewBranch",
    "OpenSpec",
    "ScenarioResult",
    "scenario",
]

RESULT_COLUMNS = (LIBRARY_ID, DISTANCE_M, SNAP_M, TIME_S, REACHABLE)
"""Columns :func:`~bereikbaar.nearest_library` adds to the cells."""


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
        One row per gemeente: before/after/delta of ``mean_distance_km``,
        ``population_beyond``, ``full_service_libraries`` and
        ``population_unreachable`` (residents without a distance),
        ``te_groot_before``/``te_groot_after``, the verdict in words
        ``oordeel_before``/``oordeel_after`` (``"onvolledig"`` where too few residents
        are covered by the road network to give one), ``flag_change`` (Dutch: how the
        verdict changed, ``""`` if not) and the new ``reasons``.
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
        """The per-gemeente delta table (what :func:`~bereikbaar.output.scenario.write_scenario`
        writes as CSV)."""
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

        The same as :func:`bereikbaar.output.scenario.scenario_layer` (``result``, ``name``).

        Returns
        -------
        folium.FeatureGroup
            Add it to the map of :func:`~bereikbaar.make_map` (before its layer control).
        """
        # scenarios compute and never import folium (a Dask worker unpickling the
        # closure engine must not load it): the drawing lives in the output layer,
        # imported only when a map layer is asked for
        from ..output.scenario import scenario_layer

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
    snaps = slice_snapped(base.library_snaps, np.flatnonzero(keep))
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
        snaps = concat_snapped([snaps, new_snaps])
    else:
        edited = edited.reset_index(drop=True)
        new = gpd.GeoDataFrame({LIBRARY_ID: []}, geometry=[], crs=CRS_RD)
    return edited, snaps, new, types


def _flag_change(before: str, after: str) -> str:
    """The change of a gemeente's verdict (``oordeel``) in words; ``""`` when unchanged."""
    if before == after:
        return ""
    if after == VERDICT_TE_GROOT:
        return "wordt te groot"
    if before == VERDICT_TE_GROOT and after == VERDICT_OK:
        return "niet meer te groot"
    return f"{before} → {after}"  # to or from "onvolledig": no verdict on one side


def _deltas(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    b = before.set_index(GEMEENTECODE)
    a = after.set_index(GEMEENTECODE)
    out = pd.DataFrame(index=a.index)
    out[GEMEENTENAAM] = a[GEMEENTENAAM]
    out[POPULATION] = a[POPULATION]
    for col in (
        MEAN_DISTANCE_KM,
        POPULATION_BEYOND,
        FULL_SERVICE_LIBRARIES,
        POPULATION_UNREACHABLE,
    ):
        out[f"{col}_before"] = b[col].reindex(a.index)
        out[f"{col}_after"] = a[col]
        out[f"{col}_delta"] = a[col] - out[f"{col}_before"]
    out[f"{TE_GROOT}_before"] = b[TE_GROOT].reindex(a.index).astype(bool)
    out[f"{TE_GROOT}_after"] = a[TE_GROOT].astype(bool)
    # the verdict in words, so that "onvolledig" (no verdict: too few residents covered by
    # the road network) is never read as "niet te groot" in the scenario table
    out[f"{VERDICT}_before"] = b[VERDICT].reindex(a.index)
    out[f"{VERDICT}_after"] = a[VERDICT]
    out["flag_change"] = [
        _flag_change(str(x), str(y))
        for x, y in zip(out[f"{VERDICT}_before"], out[f"{VERDICT}_after"], strict=True)
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
    the edited branch list (:func:`~bereikbaar.output.scenario.write_branch_list`), exactly.

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
    base = prepare_baseline(result, settings)
    opened = _new_branches(open, geocoder)
    libs, snaps, new, types = _edit_libraries(base, close, retype or {}, opened)
    fs_idx = np.flatnonzero(full_service_mask(libs))
    res = nearest_from_snapped(
        base.network,
        base.origins,
        slice_snapped(snaps, fs_idx),
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
