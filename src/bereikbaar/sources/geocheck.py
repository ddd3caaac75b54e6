"""Plausibility checks of geometric inputs: the Netherlands' extent, geometry types, overlap.

Every loader of a geometric input (gemeenten, CBS cells, NWB wegvakken) and the pipeline
(road networks of any source, the study area) checks its data here before anything is
computed, and reports **every** problem at once, each with file, row and column
(:class:`~bereikbaar.exceptions.Problems`):

* :func:`check_in_netherlands`: after transforming to RD New, a layer must lie in
  :data:`NL_EXTENT_RD` padded by :data:`EXTENT_SLACK_M`; otherwise its CRS is almost
  certainly declared wrong (EPSG:3857 on RD metres, lon/lat declared as RD, no CRS), and
  the error names the declared CRS, the bounds found and the CRS that would fit
  (:func:`likely_crs`).
* :func:`check_network_extent`: the same for a road network (most of its nodes).
* :func:`check_overlap`: the road network must reach the cells and the libraries.
* :func:`check_cell_codes`: a cell's gemeentecode must be in the gemeenten file.

The extent is the European Netherlands only (the Caribbean municipalities Bonaire, Sint
Eustatius and Saba are not in RD New and have no CBS grid).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from ..engine.network import Network
from ..exceptions import BereikbaarWarning, InputError, NetworkError, Problems, location, where
from ..schema import CRS_RD, GEMEENTECODE, GEMEENTENAAM, POPULATION

__all__ = [
    "EXTENT_SLACK_M",
    "NL_EXTENT_RD",
    "bbox_text",
    "check_cell_codes",
    "check_in_netherlands",
    "check_network_extent",
    "check_overlap",
    "declared_crs_of",
    "likely_crs",
]

Bounds = tuple[float, float, float, float]

NL_EXTENT_RD: Final[Bounds] = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
"""(xmin, ymin, xmax, ymax) of the European Netherlands in RD New (EPSG:28992), metres.

The customary RD box of the Netherlands (land, the Wadden islands and the coastal
waters; Cadzand at x ≈ 13 km, the south of Limburg at y ≈ 307 km, the border near Denekamp at
x ≈ 278 km, Rottumeroog at y ≈ 620 km). The BES islands are not included."""

EXTENT_SLACK_M: Final = 30_000.0
"""Padding (m) around :data:`NL_EXTENT_RD`: inputs cut generously at the border (a road
network with a study-area buffer, an extract reaching into Belgium or Germany) still fit;
coordinates in a wrong CRS miss by hundreds of kilometres or more."""

NETWORK_INSIDE_SHARE: Final = 0.5
"""Least share of a road network's nodes that must lie in the padded extent (long
ferry lines to England may leave a few nodes outside)."""

CANDIDATE_CRS: Final[tuple[tuple[str, str], ...]] = (
    ("EPSG:28992", "RD New, metres"),
    ("EPSG:4326", "WGS84 lon/lat, degrees"),
    ("EPSG:3857", "Web Mercator, metres"),
    ("EPSG:25831", "ETRS89 / UTM 31N, metres"),
    ("EPSG:25832", "ETRS89 / UTM 32N, metres"),
)
"""CRSs tried by :func:`likely_crs`, with their description."""


def _padded(slack_m: float = EXTENT_SLACK_M) -> Bounds:
    xmin, ymin, xmax, ymax = NL_EXTENT_RD
    return (xmin - slack_m, ymin - slack_m, xmax + slack_m, ymax + slack_m)


def bbox_text(bounds: Sequence[float], unit: str = "m") -> str:
    """A bounding box as text: ``x 180000..220000, y 540000..570000 m``.

    Parameters
    ----------
    bounds
        (xmin, ymin, xmax, ymax).
    unit
        Unit written after the box (``m`` or ``°``).

    Returns
    -------
    str

    Examples
    --------
    >>> bbox_text((180000.0, 540000.0, 220000.4, 570000.0))
    'x 180000..220000, y 540000..570000 m'
    >>> bbox_text((3.5, 51.0, 5.25, 52.5), "°")
    'x 3.5..5.25, y 51..52.5 °'
    """
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    if unit == "m" and min(abs(xmax - xmin), abs(ymax - ymin)) >= 100:
        return f"x {xmin:.0f}..{xmax:.0f}, y {ymin:.0f}..{ymax:.0f} m"
    return f"x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g} {unit}"


def _inside(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], box: Bounds) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _corners(bounds: Sequence[float]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    xs = np.array([xmin, xmax, xmin, xmax, (xmin + xmax) / 2])
    ys = np.array([ymin, ymin, ymax, ymax, (ymin + ymax) / 2])
    return xs, ys


def likely_crs(raw_bounds: Sequence[float]) -> list[str]:
    """The CRSs in which coordinates with these bounds would lie in the Netherlands.

    Parameters
    ----------
    raw_bounds
        (xmin, ymin, xmax, ymax) of the coordinates as stored in the file.

    Returns
    -------
    list of str
        ``"EPSG:xxxx (description)"`` for each of :data:`CANDIDATE_CRS` that fits, and
        ``"EPSG:4326 with x and y swapped (lat/lon)"`` when that fits; empty when none does.

    Examples
    --------
    >>> likely_crs((5.6, 51.9, 5.7, 52.0))
    ['EPSG:4326 (WGS84 lon/lat, degrees)']
    >>> likely_crs((172953.0, 442900.0, 174687.0, 444828.0))
    ['EPSG:28992 (RD New, metres)']
    """
    if not all(math.isfinite(float(b)) for b in raw_bounds):
        return []
    box = _padded()
    xs, ys = _corners(raw_bounds)
    out: list[str] = []
    for code, label in CANDIDATE_CRS:
        tx, ty = _to_rd(code, xs, ys)
        if bool(_inside(tx, ty, box).all()):
            out.append(f"{code} ({label})")
    tx, ty = _to_rd("EPSG:4326", ys, xs)
    if bool(_inside(tx, ty, box).all()):
        out.append("EPSG:4326 with x and y swapped (lat/lon)")
    return out


@functools.lru_cache(maxsize=16)
def _transformer(crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs, CRS_RD, always_xy=True)


def _to_rd(
    crs: str, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if crs == CRS_RD:
        return x, y
    if crs == "EPSG:4326" and (np.abs(y) > 90).any():
        nan = np.full(len(x), np.nan)
        return nan, nan
    tx, ty = _transformer(crs).transform(x, y, errcheck=False)
    return np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)


def _crs_name(crs: object) -> str:
    if crs is None:
        return "none"
    to_string = getattr(crs, "to_string", None)
    return str(to_string()) if callable(to_string) else str(crs)


def _guess_text(raw_bounds: Sequence[float], declared: object) -> str:
    guesses = [g for g in likely_crs(raw_bounds) if not g.startswith(f"{_crs_name(declared)} (")]
    if guesses:
        return f"the coordinates fit {' or '.join(guesses)}: declare that CRS in the file"
    return (
        "no common CRS (RD New, WGS84, Web Mercator, UTM) puts them in the Netherlands:"
        " is this data of another region?"
    )


def check_in_netherlands(
    path: object,
    what: str,
    declared_crs: object,
    raw_bounds: Sequence[float],
    rd_x: npt.ArrayLike,
    rd_y: npt.ArrayLike,
    *,
    rows: npt.ArrayLike | None = None,
    column: str = "geometry",
    labels: Sequence[object] | None = None,
) -> None:
    """Raise InputError unless every feature lies in the (padded) Netherlands in RD New.

    Parameters
    ----------
    path
        The file (for the message).
    what
        What the features are, in the message (``"gemeente polygons"``).
    declared_crs
        The CRS the file declares (a :class:`pyproj.CRS`, a string, or None).
    raw_bounds
        (xmin, ymin, xmax, ymax) of the coordinates as stored (in ``declared_crs``).
    rd_x, rd_y
        A representative point of each feature after transformation to RD New (m).
    rows
        1-based row number of each feature (default ``1..n``).
    column
        The column named in the message.
    labels
        Optional label of each feature (a code), named next to its row.

    Raises
    ------
    InputError
        All features outside: the CRS is declared wrong (the message names the declared
        CRS, the bounds found and the likely intended CRS). Some outside: the rows.
    """
    x = np.asarray(rd_x, dtype=float)
    y = np.asarray(rd_y, dtype=float)
    if len(x) == 0:
        return
    box = _padded()
    inside = _inside(x, y, box)
    if inside.all():
        return
    extent = (
        f"the Netherlands ({bbox_text(NL_EXTENT_RD)} in EPSG:28992,"
        f" ± {EXTENT_SLACK_M / 1000:.0f} km)"
    )
    finite = np.isfinite(x) & np.isfinite(y)
    found = (
        bbox_text((x[finite].min(), y[finite].min(), x[finite].max(), y[finite].max()))
        if finite.any()
        else "not finite"
    )
    if not inside.any():
        unit = "°" if getattr(declared_crs, "is_geographic", False) else "m"
        msg = (
            f"{where(path)}: the {what} do not lie in {extent}; the file declares CRS"
            f" {_crs_name(declared_crs)}, its coordinates span {bbox_text(raw_bounds, unit)}"
            f" (in EPSG:28992: {found}); {_guess_text(raw_bounds, declared_crs)}"
        )
        raise InputError(msg)
    row_numbers = np.arange(1, len(x) + 1) if rows is None else np.asarray(rows)
    problems = Problems(path, f"the {what}")
    for i in np.flatnonzero(~inside):
        label = f"{labels[int(i)]} " if labels is not None else ""
        problems.add(
            location(int(row_numbers[i]), column),
            f"{label}lies outside the Netherlands, at x={x[i]:.0f}, y={y[i]:.0f} m",
        )
    problems.fix = f"the {what} must lie in {extent}; remove these rows or correct them"
    problems.raise_if_any()


def check_network_extent(network: Network, path: Path) -> None:
    """Raise NetworkError when most of a road network lies outside the Netherlands.

    Parameters
    ----------
    network
        The network (RD New).
    path
        Its file (for the message, with the CRS it declares: :func:`declared_crs_of`).

    Raises
    ------
    NetworkError
        Fewer than :data:`NETWORK_INSIDE_SHARE` of the nodes lie in the padded extent.
    """
    if network.n_nodes == 0:
        return
    x, y = np.asarray(network.x, dtype=float), np.asarray(network.y, dtype=float)
    inside = _inside(x, y, _padded())
    if inside.mean() >= NETWORK_INSIDE_SHARE:
        return
    finite = np.isfinite(x) & np.isfinite(y)
    found = (
        bbox_text((x[finite].min(), y[finite].min(), x[finite].max(), y[finite].max()))
        if finite.any()
        else "not finite"
    )
    msg = (
        f"{where(path)}: {int((~inside).sum())} of {network.n_nodes} road network nodes lie"
        f" outside the Netherlands ({bbox_text(NL_EXTENT_RD)} in EPSG:28992,"
        f" ± {EXTENT_SLACK_M / 1000:.0f} km); the network spans {found} in EPSG:28992"
        f" (declared CRS {declared_crs_of(Path(path))}); give a road network of the study"
        " region, or declare the file's CRS correctly"
    )
    raise NetworkError(msg)


def _xy_bounds(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Bounds | None:
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    return (float(x[ok].min()), float(y[ok].min()), float(x[ok].max()), float(y[ok].max()))


def check_overlap(
    network: Network,
    network_path: object,
    layers: Iterable[tuple[str, object, npt.ArrayLike, npt.ArrayLike]],
    *,
    reach_m: float,
) -> None:
    """Raise NetworkError when the road network does not reach the cells or the libraries.

    Parameters
    ----------
    network
        The road network (RD New).
    network_path
        Its file (for the message).
    layers
        ``(what, path, x, y)`` per input whose points must lie near the network
        (RD New, m), e.g. the cell centroids and the full-service libraries.
    reach_m
        How far outside the network's bounding box a point may lie (the snap limit).

    Raises
    ------
    NetworkError
        No point of some layer lies within ``reach_m`` of the network's bounding box;
        the message gives both bounding boxes.
    """
    net_box = _xy_bounds(np.asarray(network.x, dtype=float), np.asarray(network.y, dtype=float))
    if net_box is None:
        return
    grown = (net_box[0] - reach_m, net_box[1] - reach_m, net_box[2] + reach_m, net_box[3] + reach_m)
    apart: list[str] = []
    for what, path, xs, ys in layers:
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        box = _xy_bounds(x, y)
        if box is None or _inside(x, y, grown).any():
            continue
        apart.append(f"{what} ({where(path)}: {bbox_text(box)})")
    if apart:
        msg = (
            f"the road network ({where(network_path)}: {bbox_text(net_box)} in EPSG:28992)"
            f" does not overlap the {' nor the '.join(apart)}; the inputs cover different"
            " regions: give a road network that covers the cells and the libraries"
        )
        raise NetworkError(msg)


def declared_crs_of(path: Path) -> str:
    """The CRS a road network file declares, for messages.

    Parameters
    ----------
    path
        A road network file: OSM (always WGS84) or NWB wegvakken (GML, GeoPackage, ...).

    Returns
    -------
    str
        ``"EPSG:4326 (OSM)"``, the declared CRS (``"EPSG:28992"``), ``"none (read as
        EPSG:28992)"`` or ``"unknown"`` when the file cannot be inspected.
    """
    name = path.name.lower()
    if not name.endswith((".gml", ".gpkg", ".shp", ".shp.zip", ".geojson")):
        return "EPSG:4326 (OSM)"
    try:
        import pyogrio

        crs = pyogrio.read_info(path, **({"WRITE_GFS": "NO"} if name.endswith(".gml") else {}))[
            "crs"
        ]
    except Exception:  # only for a message; the loader has reported read errors
        return "unknown"
    return str(crs) if crs else "none (read as EPSG:28992)"


def check_cell_codes(
    cells: gpd.GeoDataFrame,
    gemeenten: gpd.GeoDataFrame,
    cells_path: object,
    gemeenten_path: object,
) -> None:
    """Never drop cells silently: check the cells' gemeentecodes against the gemeenten.

    A cell's own ``gemeentecode`` decides where it is counted. A code that is not in the
    gemeenten file would drop the cell from every figure; when the cell lies inside one
    of the file's gemeenten, those residents would silently be missing from it.

    Parameters
    ----------
    cells
        The cells (RD New), optionally with ``gemeentecode``.
    gemeenten
        All gemeenten of the gemeenten file (``gemeentecode``, ``gemeentenaam``).
    cells_path, gemeenten_path
        The two files (for the messages).

    Raises
    ------
    InputError
        Cells lying inside a gemeente of the file carry a code the file does not have;
        the message names the codes, the number of cells and residents, the gemeenten
        they lie in and the fix.

    Warns
    -----
    BereikbaarWarning
        Cells that lie outside every gemeente of the file (not aggregated; counted).
    """
    if len(cells) == 0:
        return
    known = set(gemeenten[GEMEENTECODE].astype(str))
    names = dict(zip(gemeenten[GEMEENTECODE].astype(str), gemeenten[GEMEENTENAAM], strict=True))
    if GEMEENTECODE in cells.columns:
        given = cells[GEMEENTECODE]
        filled = (given.notna() & (given.astype("string").str.strip() != "")).to_numpy(dtype=bool)
        codes = given.astype("string").fillna("").to_numpy(dtype=object)
    else:
        filled = np.zeros(len(cells), dtype=bool)
        codes = np.full(len(cells), "", dtype=object)
    absent = filled & ~np.isin(codes, list(known))
    geoms = gemeenten.to_crs(CRS_RD).geometry.to_numpy()
    centres = shapely.centroid(cells.to_crs(CRS_RD).geometry.to_numpy())
    tree = shapely.STRtree(geoms)
    pts, gem = tree.query(centres, predicate="intersects")
    located = np.full(len(cells), -1, dtype=np.int64)
    located[pts[::-1]] = gem[::-1]  # the first gemeente where a centroid is on a border
    pop = cells[POPULATION].to_numpy(dtype=float) if POPULATION in cells.columns else None

    def residents(mask: np.ndarray) -> float:
        return float(np.nansum(pop[mask])) if pop is not None else float("nan")

    labels = cells.index.to_numpy()
    file_rows = (
        labels.astype(np.int64) + 1  # the loader's index is the file order
        if np.issubdtype(labels.dtype, np.integer)
        else np.arange(1, len(cells) + 1)
    )
    wrong = absent & (located >= 0)
    if wrong.any():
        bad_codes = sorted(set(codes[wrong]))
        hosts = sorted({str(gemeenten[GEMEENTECODE].iloc[g]) for g in located[wrong]})
        rows = ", ".join(str(r) for r in file_rows[wrong][:5])
        shown = ", ".join(bad_codes[:5]) + (", …" if len(bad_codes) > 5 else "")
        lie_in = ", ".join(f"{h} ({names[h]})" for h in hosts[:5]) + (
            ", …" if len(hosts) > 5 else ""
        )
        msg = (
            f"{where(cells_path, int(file_rows[wrong][0]), GEMEENTECODE)}:"
            f" {int(wrong.sum())} cells ({residents(wrong):.0f} residents; rows {rows}"
            f"{', …' if wrong.sum() > 5 else ''}) have gemeentecode {shown}, which is not in"
            f" {where(gemeenten_path)}, although they lie in {lie_in}; they would be left out"
            " of every gemeente's figures. Fix: correct the codes, use gemeente boundaries of"
            " the same year as the grid, or remove the gemeentecode column so that cells are"
            " assigned by location"
        )
        raise InputError(msg)
    lost = (absent | ~filled) & (located < 0)
    if lost.any():
        msg = (
            f"{where(cells_path)}: {int(lost.sum())} of {len(cells)} cells"
            f" ({residents(lost):.0f} residents) lie outside every gemeente of"
            f" {where(gemeenten_path)} and are not counted in any gemeente"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
