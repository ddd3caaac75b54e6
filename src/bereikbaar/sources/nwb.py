"""NWB wegvakken (Nationaal Wegenbestand, Rijkswaterstaat) → :class:`~bereikbaar.network.Network`.

The NWB is the road network CBS routes on for its nabijheid statistics. Each
*wegvak* (road segment) is a line from junction ``jte_id_beg`` to junction
``jte_id_end``; the junction ids give the topology, so no geometric node
matching is needed. ``rijrichtng`` gives the driving direction relative to the
digitisation direction:

- ``H`` (heen): only from begin to end junction — one arc ``beg→end``;
- ``T`` (terug): only from end to begin — one arc ``end→beg`` (reversed geometry);
- ``B`` (beide), ``O`` (onbekend) or empty: both directions — two arcs.

For ``bike`` and ``walk`` every wegvak is two-way (``rijrichtng`` is about motor
traffic). Lengths are the geometry length in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..engine.network import Network
from ..exceptions import InputError, NetworkError, Problems, location, where
from ..schema import CRS_RD, MODES
from ..settings import Settings
from ._errors import check_file, read_errors

__all__ = ["ACCEPTED_SUFFIXES", "load_nwb"]

log = logging.getLogger(__name__)

ACCEPTED_SUFFIXES: Final = (".gml", ".gpkg", ".shp", ".shp.zip", ".geojson")
"""File name endings :func:`load_nwb` reads."""

BEGIN_COLUMN: Final = "jte_id_beg"
END_COLUMN: Final = "jte_id_end"
DIRECTION_COLUMN: Final = "rijrichtng"
ROAD_MANAGER_COLUMN: Final = "wegbehsrt"
SUBTYPE_COLUMN: Final = "bst_code"

_BOTH: Final = frozenset({"B", "O", ""})
_DIRECTIONS: Final = frozenset({"H", "T"}) | _BOTH

# Car speeds (km/h) per road manager (wegbeheerdersoort): R rijk, P provincie,
# W waterschap, G gemeente, T other. NWB has no speed limits; these are rough.
NWB_CAR_SPEEDS_KMH: Final[Mapping[str, float]] = {
    "R": 100.0,
    "P": 70.0,
    "W": 50.0,
    "G": 40.0,
    "T": 30.0,
}
# Baansubsoort codes (present in newer NWB versions) a car may not use:
# fietspad, voetpad, voetgangersgebied/-domein, busbaan, ventweg-fiets.
_NOT_CAR_SUBTYPES: Final = frozenset({"FP", "VP", "VD", "VDF", "VDV", "BU", "BUS", "OVB"})
# For bikes and pedestrians: no motorway carriageways (road manager "rijk").
_NOT_SLOW_MANAGERS: Final = frozenset({"R"})


def _check_path(path: Path) -> None:
    check_file(path, ACCEPTED_SUFFIXES, "NWB")


def _pick_layer(path: Path) -> str | None:
    import pyogrio

    layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    if len(layers) == 1:
        return layers[0]
    for name in layers:
        if name.lower() in ("wegvakken", "nwb_wegvakken", "nwbwegen:wegvakken"):
            return name
    msg = (
        f"{where(path)}: {len(layers)} layers ({', '.join(layers)}) and none is called"
        " 'wegvakken'; give a file with only the wegvakken layer"
    )
    raise InputError(msg)


def read_wegvakken(path: str | Path) -> gpd.GeoDataFrame:
    """Read NWB wegvakken from GML, GeoPackage, shapefile or GeoJSON without writing anything.

    GDAL normally writes a ``.gfs`` schema file next to a GML file it reads for
    the first time; here that is switched off (``WRITE_GFS=NO``), so reading
    works from read-only folders and leaves them untouched. Column names are
    lower-cased (shapefiles have ``JTE_ID_BEG``).

    Parameters
    ----------
    path
        The wegvakken file; a GeoPackage may have several layers, one of them
        called ``wegvakken``.

    Returns
    -------
    geopandas.GeoDataFrame
        The wegvakken in RD New (EPSG:28992); files without a CRS are assumed to
        be RD New, as the NWB is.

    Raises
    ------
    InputError
        Missing, unreadable or unknown file type.
    """
    import pyogrio

    path = Path(path)
    _check_path(path)
    options: dict[str, Any] = {}
    is_gml = path.suffix.lower() == ".gml"
    if is_gml:
        # list_layers() cannot take open options and would write the .gfs: read the
        # first layer (a WFS response holds one feature type)
        options["WRITE_GFS"] = "NO"
    with read_errors(path, "cannot read as NWB wegvakken"):  # pyogrio: DataSourceError, …
        layer = None if is_gml else _pick_layer(path)
        with warnings.catch_warnings():
            # a NaN vertex: reported with its row by _lines
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            frame = pyogrio.read_dataframe(path, layer=layer, **options)
    frame.columns = [c if c == frame.geometry.name else str(c).lower() for c in frame.columns]
    if frame.crs is None:
        log.warning("%s: no CRS given; assuming RD New (EPSG:28992) as for all NWB data", path)
        frame = frame.set_crs(CRS_RD)
    elif frame.crs.to_epsg() != 28992:
        frame = frame.to_crs(CRS_RD)
    return frame


def _junction_ids(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    if column not in frame.columns:
        msg = (
            f"{where(path, column=column)}: required column missing (NWB wegvakken need"
            f" {BEGIN_COLUMN} and {END_COLUMN}); found: {', '.join(map(str, frame.columns))}"
        )
        raise InputError(msg)
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        row = int(bad[0]) + 1
        msg = (
            f"{where(path, row, column)}: {frame[column].iloc[bad[0]]!r} is not a junction id"
            f" (expected an integer; {len(bad)} row(s) affected)"
        )
        raise InputError(msg)
    return values.to_numpy(dtype=np.int64)


def _directions(frame: pd.DataFrame, path: Path) -> np.ndarray:
    if DIRECTION_COLUMN not in frame.columns:
        log.warning("%s: no %s column; every wegvak is two-way", path, DIRECTION_COLUMN)
        return np.full(len(frame), "B", dtype=object)
    values = frame[DIRECTION_COLUMN].fillna("").astype(str).str.strip().str.upper().to_numpy()
    bad = np.flatnonzero(~np.isin(values, list(_DIRECTIONS)))
    if len(bad):
        row = int(bad[0]) + 1
        msg = (
            f"{where(path, row, DIRECTION_COLUMN)}: driving direction {values[bad[0]]!r} is not"
            " one of H (with digitisation), T (against), B (both), O (unknown) or empty"
        )
        raise InputError(msg)
    return values


def _lines(frame: gpd.GeoDataFrame, path: Path) -> np.ndarray:
    """The wegvak lines (2D); InputError listing every row that is not a finite line."""
    geoms = np.asarray(frame.geometry.to_numpy(), dtype=object)
    out = np.empty(len(geoms), dtype=object)
    problems = Problems(path, "the wegvak geometries")
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    not_finite = np.zeros(len(geoms), dtype=bool)
    not_finite[index[~np.isfinite(coords).all(axis=1)]] = True
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            problems.add(location(i + 1, "geometry"), "empty geometry (expected a LineString)")
            continue
        if not_finite[i]:
            problems.add(location(i + 1, "geometry"), "a vertex with a NaN or infinite coordinate")
            continue
        if g.geom_type == "MultiLineString":
            merged = shapely.line_merge(g)
            if merged.geom_type != "LineString":
                parts = [c for part in g.geoms for c in part.coords]
                merged = shapely.LineString(parts)
            g = merged
        if g.geom_type != "LineString":
            problems.add(location(i + 1, "geometry"), f"a {g.geom_type} (expected a LineString)")
            continue
        out[i] = shapely.force_2d(g)
    problems.fix = "correct or remove these wegvakken"
    problems.raise_if_any()
    return out


JUNCTION_TOLERANCE_M: Final = 1.0
"""Largest distance (m) between the wegvak ends that name one junction id: NWB wegvakken
end exactly on their junctions (0.000 m spread in the real data)."""

WEGVAK_ID_COLUMN: Final = "wvk_id"


def _check_junctions(
    frame: pd.DataFrame, beg: np.ndarray, end: np.ndarray, lines: np.ndarray, path: Path
) -> None:
    """InputError naming every wegvak whose ends disagree with the junction ids.

    Each junction id must map to one location (within :data:`JUNCTION_TOLERANCE_M`)
    across all wegvakken that reference it, so that the begin of each geometry lies at
    ``jte_id_beg`` and its end at ``jte_id_end``; otherwise the topology routes over
    roads that do not meet (or swaps begin and end) and distances are silently wrong.
    """
    n = len(lines)
    if n == 0:
        return
    starts = shapely.get_coordinates(shapely.get_point(lines, 0))
    stops = shapely.get_coordinates(shapely.get_point(lines, -1))
    ends = np.hstack([starts, stops])
    table = pd.DataFrame(
        {
            "junction": np.concatenate([beg, end]),
            "x": np.concatenate([ends[:, 0], ends[:, 2]]),
            "y": np.concatenate([ends[:, 1], ends[:, 3]]),
        }
    )
    # the location most ends of a junction agree on (to the tolerance) is its location
    table["kx"] = np.round(table["x"] / JUNCTION_TOLERANCE_M).astype(np.int64)
    table["ky"] = np.round(table["y"] / JUNCTION_TOLERANCE_M).astype(np.int64)
    votes = table.groupby(["junction", "kx", "ky"], sort=False)["x"].transform("size")
    top = votes.groupby(table["junction"]).transform("max")
    by_junction = table.groupby("junction")
    spread_x = by_junction["x"].transform("max") - by_junction["x"].transform("min")
    spread_y = by_junction["y"].transform("max") - by_junction["y"].transform("min")
    spread = np.hypot(spread_x.to_numpy(), spread_y.to_numpy())
    disagree = spread > JUNCTION_TOLERANCE_M
    if not disagree.any():
        return
    winner = table[votes.to_numpy() == top.to_numpy()].groupby("junction")[["x", "y"]].first()
    ref = winner.reindex(table["junction"]).to_numpy()
    off = np.hypot(table["x"].to_numpy() - ref[:, 0], table["y"].to_numpy() - ref[:, 1])
    tied = (
        table[votes.to_numpy() == top.to_numpy()]
        .groupby("junction")[["kx", "ky"]]
        .nunique()
        .max(axis=1)
        .reindex(table["junction"])
        .to_numpy()
        > 1
    )
    wrong = disagree & ((votes.to_numpy() < top.to_numpy()) | tied)
    wegvak_ids = (
        frame[WEGVAK_ID_COLUMN].astype("string").fillna("?").to_numpy(dtype=object)
        if WEGVAK_ID_COLUMN in frame.columns
        else np.array([f"row {i + 1}" for i in range(n)], dtype=object)
    )
    junction = table["junction"].to_numpy()
    problems = Problems(path, "the wegvak ends (they disagree with their junction ids)")
    for i in np.flatnonzero(wrong[:n] | wrong[n:]):
        parts = []
        for k, column, side in ((i, BEGIN_COLUMN, "begins"), (n + i, END_COLUMN, "ends")):
            if wrong[k]:
                other = "the other wegvakken of" if not tied[k] else "another wegvak at"
                parts.append(
                    f"{side} {off[k] if not tied[k] else spread[k]:.0f} m from {other}"
                    f" junction {junction[k]} ({column})"
                )
        first_column = BEGIN_COLUMN if wrong[i] else END_COLUMN
        problems.add(
            location(int(i) + 1, first_column), f"wegvak {wegvak_ids[i]} {' and '.join(parts)}"
        )
    n_wegvak = int((wrong[:n] | wrong[n:]).sum())
    problems.fix = (
        f"{n_wegvak} of {n} wegvakken affected (largest spread {spread.max():.0f} m,"
        f" tolerance {JUNCTION_TOLERANCE_M:g} m): the geometry must begin at jte_id_beg and"
        " end at jte_id_end; use an unedited NWB extract or correct the junction ids"
    )
    problems.raise_if_any()


def load_nwb(path: str | Path, mode: str = "car", *, settings: Settings | None = None) -> Network:
    """Read NWB wegvakken into a routable :class:`~bereikbaar.network.Network`.

    Topology comes from the junction ids ``jte_id_beg``/``jte_id_end``; node
    coordinates from the wegvak end points (RD New). For ``car`` the driving
    direction ``rijrichtng`` is respected (``H`` one arc begin→end, ``T`` one arc
    end→begin, ``B``/``O``/empty two arcs) and wegvakken with a cycle, foot or
    bus ``bst_code`` (newer NWB versions) are left out; for ``bike`` and
    ``walk`` every wegvak is two-way and rijkswegen (``wegbehsrt`` R) are left out.

    Parameters
    ----------
    path
        NWB wegvakken as GML (e.g. a PDOK WFS response), GeoPackage, shapefile or
        GeoJSON; RD New, or any CRS that is declared.
    mode
        ``"car"``, ``"bike"`` or ``"walk"``.
    settings
        ``bike_speed_kmh`` / ``walk_speed_kmh`` (km/h) for ``time_s``; car speeds
        come from the road manager (:data:`NWB_CAR_SPEEDS_KMH`). Default ``Settings()``.

    Returns
    -------
    Network
        Coordinates and geometry in RD New (EPSG:28992, metres); ``length_m``
        the geometry length (m); ``time_s`` (s); ``node_id`` the junction ids.

    Raises
    ------
    InputError
        Missing or unreadable file, missing ``jte_id_beg``/``jte_id_end``, a
        junction id that is not an integer, an unknown ``rijrichtng``, a
        geometry that is not a line (the message names file, row and column), or
        wegvak ends that disagree with their junction ids (every wegvak named).
    NetworkError
        Unknown mode, or no wegvakken left for the mode.
    """
    path = Path(path)
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}; got {mode!r}"
        raise NetworkError(msg)
    settings = settings if settings is not None else Settings()
    frame = read_wegvakken(path)
    beg = _junction_ids(frame, BEGIN_COLUMN, path)
    end = _junction_ids(frame, END_COLUMN, path)
    direction = _directions(frame, path)
    lines = _lines(frame, path)
    _check_junctions(frame, beg, end, lines, path)

    def text_column(name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(frame), "", dtype=object)
        values = frame[name].fillna("").astype(str).str.strip().str.upper()
        return np.asarray(values.to_numpy(dtype=object), dtype=object)

    manager = text_column(ROAD_MANAGER_COLUMN)
    if mode == "car":
        keep = ~np.isin(text_column(SUBTYPE_COLUMN), list(_NOT_CAR_SUBTYPES))
    else:
        keep = ~np.isin(manager, list(_NOT_SLOW_MANAGERS))
        direction = np.full(len(frame), "B", dtype=object)
    beg, end, direction, lines, manager = (a[keep] for a in (beg, end, direction, lines, manager))
    if len(beg) == 0:
        msg = f"{where(path)}: no wegvakken usable for mode {mode!r}"
        raise NetworkError(msg)

    junctions, inverse = np.unique(np.concatenate([beg, end]), return_inverse=True)
    ib, ie = inverse[: len(beg)], inverse[len(beg) :]
    first = np.array([ln.coords[0] for ln in lines])
    last = np.array([ln.coords[-1] for ln in lines])
    xs = np.full(len(junctions), np.nan)
    ys = np.full(len(junctions), np.nan)
    # end points first, then begin points overwrite: each junction gets one coordinate
    xs[ie], ys[ie] = last[:, 0], last[:, 1]
    xs[ib], ys[ib] = first[:, 0], first[:, 1]
    length = shapely.length(lines).astype(float)

    forward = np.isin(direction, ["H", *_BOTH])
    backward = np.isin(direction, ["T", *_BOTH])
    u = np.concatenate([ib[forward], ie[backward]]).astype(np.int64)
    v = np.concatenate([ie[forward], ib[backward]]).astype(np.int64)
    reversed_lines = np.array([shapely.reverse(g) for g in lines[backward]], dtype=object)
    geometry = np.concatenate([lines[forward], reversed_lines]).astype(object)
    length_m = np.concatenate([length[forward], length[backward]])
    if mode == "car":
        speed = np.array([NWB_CAR_SPEEDS_KMH.get(m, 30.0) for m in manager], dtype=float)
        speed_kmh = np.concatenate([speed[forward], speed[backward]])
    else:
        s = settings.bike_speed_kmh if mode == "bike" else settings.walk_speed_kmh
        speed_kmh = np.full(len(u), s)
    time_s = length_m / (speed_kmh / 3.6)
    network = Network(
        x=xs,
        y=ys,
        u=u,
        v=v,
        length_m=length_m,
        time_s=time_s,
        geometry=geometry,
        node_id=junctions.astype(np.int64),
        ferry=np.zeros(len(u), dtype=bool),
        mode=mode,
    )
    log.info(
        "%s (%s): %d wegvakken (%d one-way) → %d junctions, %d arcs, %.1f km",
        path.name,
        mode,
        len(beg),
        int((~np.isin(direction, list(_BOTH))).sum()),
        network.n_nodes,
        network.n_arcs,
        float(length.sum()) / 1000.0,
    )
    return network
