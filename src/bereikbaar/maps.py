"""Folium maps of library accessibility, with Dutch labels for policy makers.

The map has one layer per theme (toggled with a layer control):

- gemeenten coloured by their person-weighted mean distance (classed, e.g. 0–1–2–3–5–>5 km),
  with tooltips giving the key figures;
- gemeenten flagged "te groot", outlined thick red, with the reasons in a popup;
- populated CBS grid cells coloured by distance, rendered as **one PNG raster** (not one
  GeoJSON feature per cell, which would cost ~480 bytes a cell): the cells are painted on their
  regular RD New grid, reprojected to Web Mercator by nearest-neighbour sampling, and embedded as
  a base64 data URI in an ``ImageOverlay``;
- library markers, full-service branches visibly larger and darker than other service points.

Every string that comes from input data (names, addresses, reasons) is HTML-escaped, and the
characters that are special inside JavaScript template literals are escaped too, because folium
puts popup and tooltip HTML inside backtick strings.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import logging
import math
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import branca.element
import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Element, Figure, MacroElement
from folium.plugins import Search
from folium.template import Template
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.report import atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "BACKGROUNDS",
    "DEFAULT_BINS_KM",
    "CellDetails",
    "RasterImage",
    "TextElement",
    "add_backgrounds",
    "branch_icon_svg",
    "catchment_areas",
    "cell_details",
    "class_colours",
    "class_labels",
    "classify_km",
    "encode_png",
    "escape_text",
    "inline_resources",
    "make_map",
    "make_offline",
    "make_safe",
    "merc_to_rd",
    "rasterize_cells",
    "render_page",
    "self_contained_html",
    "write_map",
]

DEFAULT_BINS_KM: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)
"""Upper class bounds in km (inclusive); the last class is everything above the last bound."""

SOURCE_LINE = "Bron: CBS, © OpenStreetMap-bijdragers, KB"

UNREACHABLE_COLOUR = "#6e6e6e"
"""Cells from which no full-service library can be reached over the network."""
NO_DATA_COLOUR = "#d4d4d4"
"""Gemeenten without a mean distance (no populated cells)."""
FLAG_COLOUR = "#d7191c"

# Green (near) → yellow → red (far); sampled to as many classes as there are.
_RAMP: tuple[str, ...] = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027")

_BRANCH_COLOURS: dict[str, str] = {
    "vestiging": "#08519c",
    "servicepunt": "#6a51a3",
    "afhaalpunt": "#fd8d3c",
    "zelfbediening": "#238b45",
    "bibliobus": "#e7298a",
    "bibliotheek_op_school": "#a6761d",
    "other": "#737373",
}

_NL_CENTRE = (52.2, 5.3)
_PDOK_ATTRIBUTION = 'Kaartgegevens &copy; <a href="https://www.kadaster.nl">Kadaster</a>'
_CHUNK_ROWS = 512
_MAX_GRID_CELLS = 200_000_000


# --------------------------------------------------------------------------- text helpers


def escape_text(value: object) -> str:
    """Escape text from input data for HTML inside a JavaScript template literal.

    ``html.escape`` handles ``< > & " '``; backticks, ``$`` and backslashes are escaped as
    HTML character references too, because folium embeds popup and tooltip HTML in backtick
    strings where ``${...}`` would otherwise be evaluated. Missing values give ``""``.

    Parameters
    ----------
    value
        Any value; ``None`` and NaN give an empty string.

    Returns
    -------
    str
        Text safe to place in folium popup/tooltip HTML.

    Examples
    --------
    >>> escape_text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape_text("`${x}`")
    '&#96;&#36;{x}&#96;'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def _nl_number(value: float, decimals: int) -> str:
    """Format a number the Dutch way: ``12.345,6``.

    Examples
    --------
    >>> _nl_number(12345.67, 1)
    '12.345,7'
    >>> _nl_number(2.0, 0)
    '2'
    """
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _is_missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def _truthy(value: object) -> bool:
    """``True`` only for a present, true value (NaN/None count as false)."""
    return not _is_missing(value) and bool(value)


def _bool_mask(series: pd.Series) -> NDArray[np.bool_]:
    """Boolean column with missing values as ``False``."""
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        return series.to_numpy(dtype=bool)
    values = series.to_numpy(dtype=object)
    return np.array([_truthy(v) for v in values], dtype=bool)


def _fmt_km(value: object) -> str:
    if _is_missing(value):
        return "onbekend"
    return f"{_nl_number(float(value), 1)} km"  # type: ignore[arg-type]


def _fmt_count(value: object) -> str:
    if _is_missing(value):
        return "onbekend"
    return _nl_number(float(value), 0)  # type: ignore[arg-type]


def _fmt_share(value: object) -> str:
    if _is_missing(value):
        return "onbekend"
    return f"{_nl_number(100.0 * float(value), 1)}%"  # type: ignore[arg-type]


def _fmt_bound(value: float) -> str:
    """Class bound without useless decimals.

    Examples
    --------
    >>> _fmt_bound(5.0), _fmt_bound(2.5), _fmt_bound(2.25)
    ('5', '2,5', '2,25')
    """
    return _nl_number(value, 2).rstrip("0").rstrip(",")


# --------------------------------------------------------------------------- classes


def _bins_with_threshold(bins_km: Sequence[float], threshold_km: float) -> tuple[float, ...]:
    bins = sorted({float(b) for b in bins_km} | {float(threshold_km)})
    if not bins or bins[0] <= 0 or any(not math.isfinite(b) for b in bins):
        msg = f"class bounds must be positive finite km values, got {bins_km!r} / {threshold_km!r}"
        raise InputError(msg)
    return tuple(bins)


def classify_km(values_km: ArrayLike, bins_km: Sequence[float]) -> NDArray[np.int64]:
    """Class index of each distance, computed with :class:`mapclassify.UserDefined`.

    Upper bounds are inclusive: with bounds ``(1, 2)`` a value of exactly 1 km is class 0,
    1.5 km class 1 and anything above 2 km class 2. Missing values (NaN) get class ``-1``.

    Parameters
    ----------
    values_km
        Distances in kilometres.
    bins_km
        Increasing upper class bounds in kilometres.

    Returns
    -------
    numpy.ndarray
        Integer class per value, ``0 .. len(bins_km)``, or ``-1`` for NaN.

    Examples
    --------
    >>> classify_km([0.5, 1.0, 1.5, 7.0, float("nan")], (1, 2, 3, 5)).tolist()
    [0, 0, 1, 4, -1]
    """
    values = np.asarray(values_km, dtype=float)
    bins = np.asarray(bins_km, dtype=float)
    out = np.full(values.shape, -1, dtype=np.int64)
    ok = ~np.isnan(values)
    if ok.any():
        # mapclassify appends max(values) as an extra bound when it exceeds the last bound.
        upper = np.append(bins, max(float(values[ok].max()), float(bins[-1]) + 1.0))
        out[ok] = mapclassify.UserDefined(values[ok], bins=upper).yb
    return out


def class_colours(n_classes: int) -> list[str]:
    """``n_classes`` hex colours from green (near) to red (far).

    Examples
    --------
    >>> class_colours(2)
    ['#1a9850', '#d73027']
    >>> len(class_colours(5))
    5
    """
    ramp = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in _RAMP], dtype=float)
    if n_classes == 1:
        return [_RAMP[0]]
    pos = np.linspace(0.0, len(_RAMP) - 1.0, n_classes)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_RAMP) - 1)
    frac = (pos - lo)[:, None]
    rgb = np.rint(ramp[lo] * (1 - frac) + ramp[hi] * frac).astype(int)
    return ["#{:02x}{:02x}{:02x}".format(*row) for row in rgb]


def class_labels(bins_km: Sequence[float]) -> list[str]:
    """Dutch legend labels for classes with these upper bounds.

    Examples
    --------
    >>> class_labels((1, 2.5, 5))
    ['0–1 km', '1–2,5 km', '2,5–5 km', '> 5 km']
    """
    bounds = [0.0, *[float(b) for b in bins_km]]
    labels = [f"{_fmt_bound(a)}–{_fmt_bound(b)} km" for a, b in itertools.pairwise(bounds)]
    labels.append(f"> {_fmt_bound(bounds[-1])} km")
    return labels


def _hex_to_rgba(colour: str) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)


# --------------------------------------------------------------------------- PNG + raster


def encode_png(indices: NDArray[np.uint8], palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Encode a palette image as PNG (colour type 3, 8 bit) with zlib and struct only.

    Parameters
    ----------
    indices
        2-D array (rows top to bottom) of palette indices.
    palette
        RGBA tuples (0–255); the alpha values go into a ``tRNS`` chunk.

    Returns
    -------
    bytes
        The PNG file.
    """
    if indices.ndim != 2 or indices.size == 0:
        msg = f"PNG image must be a non-empty 2-D array, got shape {indices.shape}"
        raise ValueError(msg)
    if not 1 <= len(palette) <= 256:
        msg = f"PNG palette must have 1–256 entries, got {len(palette)}"
        raise ValueError(msg)
    height, width = indices.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) per row
    rows[:, 1:] = indices
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    plte = b"".join(struct.pack("BBB", r, g, b) for r, g, b, _ in palette)
    trns = bytes(a for *_, a in palette)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"PLTE", plte)
        + chunk(b"tRNS", trns)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class RasterImage:
    """Cells as a Web Mercator palette image, ready for a Leaflet ``ImageOverlay``.

    Attributes
    ----------
    indices
        ``(height, width)`` palette indices, row 0 at the north; 0 is transparent,
        ``1 .. n`` are the distance classes, ``n + 1`` is "niet bereikbaar".
    palette
        RGBA colour per index.
    bounds_wgs84
        ``((south, west), (north, east))`` in degrees (EPSG:4326) of the image edges.
    pixel_size
        Pixel size in Web Mercator metres (EPSG:3857); on the ground it is about the cell size.
    """

    indices: NDArray[np.uint8]
    palette: tuple[tuple[int, int, int, int], ...]
    bounds_wgs84: tuple[tuple[float, float], tuple[float, float]]
    pixel_size: float

    def to_png(self) -> bytes:
        """The image as PNG bytes."""
        return encode_png(self.indices, self.palette)

    def to_data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.to_png()).decode("ascii")


def _to_rd(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        msg = f"{what} have no CRS; expected {s.CRS_RD} (RD New)"
        raise InputError(msg)
    if gdf.crs != pyproj.CRS(s.CRS_RD):
        return gdf.to_crs(s.CRS_RD)
    return gdf


def _has_geometry(gdf: gpd.GeoDataFrame) -> NDArray[np.bool_]:
    geoms = gdf.geometry.to_numpy()
    return ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)  # type: ignore[no-any-return]


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"{what} lack column(s) {missing}; present: {list(df.columns)}"
        raise InputError(msg)


def _cell_codes(cells: gpd.GeoDataFrame, bins_km: Sequence[float]) -> NDArray[np.uint8]:
    """Palette index per cell: 1..n distance class, n+1 unreachable."""
    distance_km = cells[s.DISTANCE_M].to_numpy(dtype=float) / 1000.0
    unreachable = np.isnan(distance_km)
    if s.REACHABLE in cells.columns:
        unreachable |= ~_bool_mask(cells[s.REACHABLE])
    codes = (classify_km(np.where(unreachable, np.nan, distance_km), bins_km) + 1).astype(np.uint8)
    codes[unreachable] = len(bins_km) + 2
    return codes


@dataclass(frozen=True)
class _CellGrid:
    """Position of every cell on the regular RD grid of the smallest cell size."""

    x0: float
    y_top: float
    size: float
    n_cols: int
    n_rows: int
    row: NDArray[np.int64]
    col: NDArray[np.int64]
    span: NDArray[np.int64]


def _cell_grid(cells: gpd.GeoDataFrame) -> _CellGrid:
    """Grid rows/columns (row 0 at the north) of cells in RD New, sized by the smallest cell."""
    bounds = shapely.bounds(cells.geometry.to_numpy())
    width_m = bounds[:, 2] - bounds[:, 0]
    size = float(np.min(width_m))
    if not size > 0:
        msg = "cells: a cell geometry has zero width; expected squares on the RD grid"
        raise InputError(msg)
    span = np.maximum(np.rint(width_m / size).astype(np.int64), 1)
    x0 = float(bounds[:, 0].min())
    y_top = float(bounds[:, 3].max())
    col = np.rint((bounds[:, 0] - x0) / size).astype(np.int64)
    row = np.rint((y_top - bounds[:, 3]) / size).astype(np.int64)
    n_cols = int((col + span).max())
    n_rows = int((row + span).max())
    if n_cols * n_rows > _MAX_GRID_CELLS:
        msg = f"cells span a {n_rows} × {n_cols} grid of {size:g} m; too large to draw"
        raise InputError(msg)
    return _CellGrid(x0, y_top, size, n_cols, n_rows, row, col, span)


def _populated(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells with a geometry and population > 0 or suppressed (NaN)."""
    keep = _has_geometry(cells)
    if s.POPULATION in cells.columns:
        pop = cells[s.POPULATION].to_numpy(dtype=float)
        keep &= np.isnan(pop) | (pop > 0)
    return cells[keep]


def rasterize_cells(
    cells: gpd.GeoDataFrame,
    *,
    bins_km: Sequence[float] = DEFAULT_BINS_KM,
    max_pixels: int = 4096,
    oversample: float = 2.0,
    control_step: int = 16,
) -> RasterImage | None:
    """Paint populated cells, coloured by distance class, as a Web Mercator image.

    The cells (squares on the regular RD New grid, EPSG:28992, typically 100 m or 500 m) are
    first painted on an RD grid of the smallest cell size. Each output pixel's centre is then
    taken from Web Mercator (EPSG:3857) to RD with pyproj, and the RD grid is sampled there
    (nearest neighbour). Pixels are ``cell size / oversample`` on the ground, so that every cell
    contains at least one pixel centre (with pixels the size of a cell, nearest-neighbour
    sampling of the slightly rotated grid would drop some isolated cells). The exact transform
    is computed every ``control_step`` pixels and interpolated bilinearly in between (error well
    below a metre for 16 pixels of 50 m).

    Parameters
    ----------
    cells
        Cells with ``distance_m`` (metres, NaN when unreachable), optionally ``reachable`` and
        ``population`` (cells with population 0 are left out; NaN = suppressed counts as
        populated), geometry the cell squares.
    bins_km
        Upper class bounds in kilometres (see :func:`classify_km`).
    max_pixels
        Largest image width or height; the pixel grows to respect it.
    oversample
        Pixels per cell side (ground distance); 2 keeps every cell visible.
    control_step
        Pixels between exact coordinate transforms.

    Returns
    -------
    RasterImage or None
        ``None`` when there are no populated cells with a geometry.
    """
    _require(cells, [s.DISTANCE_M], "cells")
    cells = _to_rd(cells, "cells")
    cells = _populated(cells)
    if len(cells) == 0:
        return None

    g = _cell_grid(cells)
    x0, y_top, size, n_cols, n_rows = g.x0, g.y_top, g.size, g.n_cols, g.n_rows
    row, col, span = g.row, g.col, g.span
    grid = np.zeros((n_rows, n_cols), dtype=np.uint8)
    codes = _cell_codes(cells, bins_km)
    for k in sorted(set(span.tolist()), reverse=True):  # large cells first, detail on top
        sel = span == k
        for di in range(k):
            for dj in range(k):
                grid[row[sel] + di, col[sel] + dj] = codes[sel]
    x1 = x0 + n_cols * size
    y_bottom = y_top - n_rows * size

    to_merc = pyproj.Transformer.from_crs(s.CRS_RD, "EPSG:3857", always_xy=True)
    to_rd = pyproj.Transformer.from_crs("EPSG:3857", s.CRS_RD, always_xy=True)
    to_wgs = pyproj.Transformer.from_crs("EPSG:3857", s.CRS_WGS84, always_xy=True)
    mx0, my0, mx1, my1 = to_merc.transform_bounds(x0, y_bottom, x1, y_top, densify_pts=21)
    _, lat_c = to_wgs.transform((mx0 + mx1) / 2, (my0 + my1) / 2)
    pixel = size / max(oversample, 1e-9) / math.cos(math.radians(lat_c))
    pixel = max(pixel, (mx1 - mx0) / max_pixels, (my1 - my0) / max_pixels)
    width = max(1, math.ceil((mx1 - mx0) / pixel))
    height = max(1, math.ceil((my1 - my0) / pixel))
    my0 = my1 - height * pixel
    mx1 = mx0 + width * pixel

    # Exact RD coordinates at control pixels (beyond the last pixel, so every pixel is covered).
    step = max(1, int(control_step))
    cj = np.arange(0, width + step, step)
    ci = np.arange(0, height + step, step)
    cmx, cmy = np.meshgrid(mx0 + (cj + 0.5) * pixel, my1 - (ci + 0.5) * pixel)
    cx, cy = to_rd.transform(cmx, cmy)
    j = np.arange(width)
    kj, tj = j // step, (j % step) / step
    cx_cols = cx[:, kj] * (1 - tj) + cx[:, kj + 1] * tj  # (len(ci), width)
    cy_cols = cy[:, kj] * (1 - tj) + cy[:, kj + 1] * tj

    out = np.zeros((height, width), dtype=np.uint8)
    for i0 in range(0, height, _CHUNK_ROWS):
        i = np.arange(i0, min(i0 + _CHUNK_ROWS, height))
        ki, ti = i // step, ((i % step) / step)[:, None]
        x = cx_cols[ki] * (1 - ti) + cx_cols[ki + 1] * ti
        y = cy_cols[ki] * (1 - ti) + cy_cols[ki + 1] * ti
        gc = np.floor((x - x0) / size).astype(np.int64)
        gr = np.floor((y_top - y) / size).astype(np.int64)
        inside = (gc >= 0) & (gc < n_cols) & (gr >= 0) & (gr < n_rows)
        block = np.zeros(x.shape, dtype=np.uint8)
        block[inside] = grid[gr[inside], gc[inside]]
        out[i0 : i0 + len(i)] = block

    west, south = to_wgs.transform(mx0, my0)
    east, north = to_wgs.transform(mx1, my1)
    n_classes = len(bins_km) + 1
    palette = (
        (0, 0, 0, 0),
        *(_hex_to_rgba(c) for c in class_colours(n_classes)),
        _hex_to_rgba(UNREACHABLE_COLOUR),
    )
    logger.debug(
        "rasterized %d cells of %g m into a %d × %d Web Mercator image",
        len(cells),
        size,
        width,
        height,
    )
    return RasterImage(
        indices=out,
        palette=palette,
        bounds_wgs84=((float(south), float(west)), (float(north), float(east))),
        pixel_size=float(pixel),
    )


# --------------------------------------------------------------------------- offline resources

_SCRIPT_LINK = re.compile(
    r'<script\s+src="(?P<url>https?://[^"]+)"\s*>\s*</script>', flags=re.IGNORECASE
)
_CSS_LINK = re.compile(
    r'<link\s+rel="stylesheet"\s+href="(?P<url>https?://[^"]+)"\s*/?>', flags=re.IGNORECASE
)
_ICON_FONT_URLS = (
    "leaflet.awesome-markers",
    "fontawesome",
    "bootstrap-glyphicons",
    "leaflet.awesome.rotate",
)
_ICON_FONT_USE = re.compile(r"AwesomeMarkers|glyphicon|\bfa-[a-z]")
_RELATIVE_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?!data:|https?:|#)[^)'"]*\1\s*\)""")
"""``url(...)`` pointing next to the CDN file (``../images/loader.gif``): nothing there offline."""
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def _offline_resources() -> dict[str, str]:
    """URL → text of the JS/CSS files folium links to, from the ``folium-offline`` package.

    ``folium-offline`` (PyPI, MIT, Sandia National Laboratories) is a copy of folium whose
    ``offlinefolium.elements._res`` dictionary holds the text of every CDN resource folium
    0.20 and its plugins link to, keyed by the exact CDN URL. Only that dictionary is used;
    the maps themselves are built with folium.
    """
    try:
        from offlinefolium.elements import _res
    except ImportError as err:  # pragma: no cover - it is a dependency
        msg = "self-contained maps need the 'folium-offline' package (pip install folium-offline)"
        raise OutputError(msg) from err
    return dict(_res)


def inline_resources(html_text: str, *, keep_icon_fonts: bool | None = None) -> str:
    """Replace the CDN ``<script src>`` and stylesheet links of a folium page by inline copies.

    The page then renders with the network cut off (only background map tiles, which are
    loaded by Leaflet at run time, stay online). The JavaScript and CSS come from the
    ``folium-offline`` package, looked up by their exact CDN URL. A ``</script`` or
    ``</style`` inside a file is escaped so it cannot close the inline element early, and
    relative ``url(...)`` references in stylesheets (files next to the CDN copy, such as the
    search plugin's ``../images/loader.gif``) become a blank image, so that the page never
    asks for a missing file.

    Parameters
    ----------
    html_text
        A complete HTML page as folium renders it (``m.get_root().render()``).
    keep_icon_fonts
        Whether to keep Font Awesome, the Glyphicons and the Awesome Markers plugin
        (about 0.9 MB). ``None`` keeps them only when the page uses them
        (``L.AwesomeMarkers``, ``glyphicon`` or ``fa-…`` classes).

    Returns
    -------
    str
        The page with every linked JS/CSS file inlined.

    Raises
    ------
    OutputError
        When the page links to a resource that ``folium-offline`` does not ship (a plugin
        folium-offline does not know); the message names the URL(s).
    """
    resources = _offline_resources()
    if keep_icon_fonts is None:
        rest = _CSS_LINK.sub("", _SCRIPT_LINK.sub("", html_text))
        keep_icon_fonts = _ICON_FONT_USE.search(rest) is not None
    missing: list[str] = []

    def drop(url: str) -> bool:
        return not keep_icon_fonts and any(key in url for key in _ICON_FONT_URLS)

    def inline(match: re.Match[str], tag: str) -> str:
        url = match.group("url")
        if drop(url):
            return ""
        if url not in resources:
            missing.append(url)
            return match.group(0)
        body = re.sub(rf"</({tag})", r"<\\/\1", resources[url], flags=re.IGNORECASE)
        if tag == "style":
            body = _RELATIVE_CSS_URL.sub(f"url({_BLANK_GIF})", body)
        return f"<{tag}>/* {url} (folium-offline) */\n{body}\n</{tag}>"

    def script(match: re.Match[str]) -> str:
        return inline(match, "script")

    def style(match: re.Match[str]) -> str:
        return inline(match, "style")

    out = _CSS_LINK.sub(style, _SCRIPT_LINK.sub(script, html_text))
    if missing:
        msg = (
            f"cannot make the map self-contained: folium-offline has no copy of {missing}; "
            "remove the plugin or add the resource"
        )
        raise OutputError(msg)
    return out


class TextElement(Element):
    """A branca element whose text is emitted verbatim, never compiled as a Jinja template.

    ``branca.element.Element(text)`` compiles ``text`` as a template, so ``{{ … }}`` or
    ``{% … %}`` inside it would run. Use this class for every piece of finished HTML/JS.

    Parameters
    ----------
    text
        The finished text.
    """

    def __init__(self, text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "TextElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text, unchanged."""
        return self.text


class _VerbatimTemplate:
    """Stands in for ``jinja2.Template`` while a figure renders: its source is its output."""

    def __init__(self, source: str, *args: Any, **kwargs: Any) -> None:
        self.source = source

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.source


_RENDER_LOCK = threading.RLock()


@contextmanager
def _rendered_text_is_data() -> Iterator[None]:
    """While a figure renders, text wrapped into a new ``Element`` is never compiled.

    branca and folium render an element to text and then wrap that text in
    ``Element(text)`` (``MacroElement.render``, ``Popup.render``, ``GeoJson`` styles, …),
    whose constructor compiles the text as a new Jinja template: a branch name such as
    ``{{ cycler.__init__.__globals__.os.system('…') }}``, already rendered once as a value,
    would then run. During one render (under a lock) the ``Template`` name that
    ``branca.element.Element`` compiles with is swapped for :class:`_VerbatimTemplate`, and
    restored afterwards, also when rendering fails. Class-level templates (the elements'
    own macros) were compiled at import and are not affected.
    """
    with _RENDER_LOCK:
        original = getattr(branca.element, "Template")  # noqa: B009 (not re-exported)
        setattr(branca.element, "Template", _VerbatimTemplate)  # noqa: B010
        try:
            yield
        finally:
            setattr(branca.element, "Template", original)  # noqa: B010


def render_page(root: Figure) -> str:
    """Render a branca figure with every element's output treated as data, not template.

    Parameters
    ----------
    root
        The figure (``m.get_root()`` of a folium map).

    Returns
    -------
    str
        The HTML page as folium renders it, minus the second template pass.
    """
    with _rendered_text_is_data():
        return str(root.render())  # type: ignore[no-untyped-call]


class _SafeFigure(Figure):
    """A branca Figure that always renders element output as data (:func:`render_page`).

    ``m.save(...)``, ``m.get_root().render()`` and the notebook display all go through it.
    """

    def render(self, **kwargs: Any) -> str:
        with _rendered_text_is_data():
            return str(super().render(**kwargs))  # type: ignore[no-untyped-call]


class _OfflineFigure(_SafeFigure):
    """A safe figure whose rendered page has every JS/CSS file inlined."""

    def render(self, **kwargs: Any) -> str:
        return inline_resources(super().render(**kwargs))


def _attach_figure(m: folium.Map, kind: type[_SafeFigure]) -> folium.Map:
    root = m.get_root()
    if not isinstance(root, kind):
        figure = kind()
        if isinstance(root, Figure):
            figure.width, figure.height = root.width, root.height
        figure.add_child(m)  # type: ignore[no-untyped-call]
    return m


def make_safe(m: folium.Map) -> folium.Map:
    """Attach the map to a figure that never compiles element output as a template.

    Parameters
    ----------
    m
        A folium map.

    Returns
    -------
    folium.Map
        The same map (for chaining).
    """
    return _attach_figure(m, _SafeFigure)


def make_offline(m: folium.Map) -> folium.Map:
    """Attach the map to a figure that inlines all JS/CSS whenever it is rendered.

    After this, ``m.save(...)``, ``m.get_root().render()`` and the notebook display
    (``_repr_html_``) all give a self-contained page, rendered as data (:func:`render_page`).

    Parameters
    ----------
    m
        A folium map.

    Returns
    -------
    folium.Map
        The same map (for chaining).
    """
    return _attach_figure(m, _OfflineFigure)


def self_contained_html(m: folium.Map | Figure) -> str:
    """The complete HTML page of a folium map with every JS/CSS file inlined.

    Use it for any folium map (for instance a small map in the dossier) that must open on a
    computer without internet access; only background tiles are fetched online.

    Parameters
    ----------
    m
        A folium map (or the branca Figure holding it).

    Returns
    -------
    str
        One HTML page; embed it in an ``<iframe srcdoc="...">`` (HTML-escaped) or save it.

    Examples
    --------
    >>> import folium
    >>> page = self_contained_html(folium.Map(tiles=None))
    >>> "cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js\\"" in page
    False
    """
    root = m.get_root()
    if not isinstance(root, Figure):
        msg = "cannot render the map: it is not inside a branca Figure"
        raise OutputError(msg)
    return inline_resources(render_page(root))


# --------------------------------------------------------------------------- backgrounds

_PDOK_WMTS = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/{layer}/EPSG:3857/{{z}}/{{x}}/{{y}}.png"
)
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap-bijdragers</a>'
)
BACKGROUNDS: tuple[str, ...] = (
    "PDOK BRT-Achtergrondkaart grijs",
    "PDOK BRT-Achtergrondkaart standaard",
    "OpenStreetMap",
    "Geen achtergrond",
)
"""Names of the background layers, in the order of the layer control; the first is shown."""


def add_backgrounds(m: folium.Map, *, default: str = BACKGROUNDS[0]) -> None:
    """Add the background layers (PDOK grijs/standaard, OpenStreetMap, none) to a map.

    PDOK's BRT-Achtergrondkaart is the Kadaster's Web Mercator (EPSG:3857) WMTS, attributed
    "Kaartgegevens © Kadaster". Tiles are the only part of a map that is loaded online.

    Parameters
    ----------
    m
        The map (created with ``tiles=None``).
    default
        The background shown when the map opens; one of :data:`BACKGROUNDS`.
    """
    if default not in BACKGROUNDS:
        msg = f"unknown background {default!r}; expected one of {list(BACKGROUNDS)}"
        raise InputError(msg)
    grey, standard, osm, none = BACKGROUNDS
    for name, layer in ((grey, "grijs"), (standard, "standaard")):
        folium.TileLayer(
            tiles=_PDOK_WMTS.format(layer=layer),
            attr=_PDOK_ATTRIBUTION,
            name=name,
            max_zoom=19,
            max_native_zoom=19,
            show=name == default,
        ).add_to(m)
    folium.TileLayer(
        tiles=_OSM_URL, attr=_OSM_ATTRIBUTION, name=osm, max_zoom=19, show=osm == default
    ).add_to(m)
    folium.FeatureGroup(name=none, overlay=False, control=True, show=none == default).add_to(m)


# --------------------------------------------------------------------------- branch icons

_BRANCH_GLYPH: dict[str, str] = {
    "vestiging": (
        '<rect x="1.5" y="1.5" width="21" height="21" rx="4" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/><path d="M5 7.5Q8.5 5.8 11.5 7.5V18Q8.5 16.3 5 18Z'
        'M19 7.5Q15.5 5.8 12.5 7.5V18Q15.5 16.3 19 18Z" fill="#ffffff"/>'
    ),
    "servicepunt": (
        '<circle cx="12" cy="12" r="10.5" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
        "{letter}"
    ),
    "afhaalpunt": (
        '<polygon points="12,1 23,12 12,23 1,12" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/>{letter}'
    ),
    "zelfbediening": (
        '<polygon points="6.5,2 17.5,2 23,12 17.5,22 6.5,22 1,12" fill="{fill}"'
        ' stroke="{stroke}" stroke-width="{sw}"/>{letter}'
    ),
    "bibliobus": (
        '<rect x="1.5" y="4" width="21" height="14" rx="3" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/><rect x="4" y="6.5" width="6" height="4.5" fill="#ffffff"/>'
        '<rect x="12" y="6.5" width="8" height="4.5" fill="#ffffff"/>'
        '<circle cx="6.5" cy="19.5" r="2.5" fill="#222222"/>'
        '<circle cx="17.5" cy="19.5" r="2.5" fill="#222222"/>'
    ),
    "bibliotheek_op_school": (
        '<polygon points="12,1.5 23,22 1,22" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/>{letter_low}'
    ),
    "other": (
        '<circle cx="12" cy="12" r="8" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
    ),
}
_BRANCH_LETTER: dict[str, str] = {
    "servicepunt": "S",
    "afhaalpunt": "A",
    "zelfbediening": "Z",
    "bibliotheek_op_school": "S",
}


def branch_icon_svg(branch_type: str, full_service: bool, size_px: int | None = None) -> str:
    """Inline SVG pictogram of a library branch (no icon font, works offline).

    The shape and colour give the branch type (vestiging: book, servicepunt: circle "S",
    afhaalpunt: diamond "A", zelfbediening: hexagon "Z", bibliobus: bus, bibliotheek op
    school: triangle "S", other: dot); full-service branches are larger with a black rim.

    Parameters
    ----------
    branch_type
        One of :data:`bereikbaar.schema.BRANCH_TYPES`; unknown types draw as ``other``.
    full_service
        Whether the branch is a full-service library.
    size_px
        Width and height in CSS pixels; default 26 (full service) or 18.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> branch_icon_svg("afhaalpunt", False).startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    True
    """
    kind = branch_type if branch_type in _BRANCH_GLYPH else "other"
    size = size_px if size_px is not None else (26 if full_service else 18)
    letter = _BRANCH_LETTER.get(kind, "")
    text = (
        '<text x="12" y="{y}" text-anchor="middle" font-family="Arial,Helvetica,sans-serif"'
        ' font-size="{fs}" font-weight="bold" fill="#ffffff">{t}</text>'
    )
    body = _BRANCH_GLYPH[kind].format(
        fill=_BRANCH_COLOURS.get(kind, _BRANCH_COLOURS["other"]),
        stroke="#000000" if full_service else "#ffffff",
        sw="2" if full_service else "1.5",
        letter=text.format(y="16.5", fs="12", t=letter),
        letter_low=text.format(y="19.5", fs="10", t=letter),
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}"'
        f' viewBox="0 0 24 24" style="display:block;overflow:visible">{body}</svg>'
    )


# --------------------------------------------------------------------------- catchments


def catchment_areas(
    cells: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame | None = None,
    *,
    resolution_m: float = 500.0,
    fill_m: float = 1500.0,
    simplify_m: float = 250.0,
) -> gpd.GeoDataFrame:
    """Catchment area of each library: the populated cells for which it is the nearest.

    The figures (cells, residents, distances) are exact per cell. The outline is drawn on a
    coarser block grid so that it stays small for the whole country: every block of
    ``resolution_m`` (RD New) containing populated cells goes to the library serving most of
    its residents (most cells when counts are suppressed), empty blocks close by go to the
    nearest populated block (``fill_m``); the blocks of each library are
    dissolved (``shapely.coverage_union_all``) and the outlines simplified together
    (``shapely.coverage_simplify``, so neighbouring areas keep a shared border).

    Parameters
    ----------
    cells
        Cells with ``library_id`` and ``distance_m`` (metres), optionally ``population``
        and ``reachable``; geometry the squares (any CRS, handled in RD New, EPSG:28992).
        Unreachable cells and cells with population 0 belong to no catchment.
    libraries
        Optional branches with ``library_id`` and ``name``, to name the areas.
    resolution_m
        Block size of the outlines in metres; 0 or less dissolves the cells themselves.
    fill_m
        Empty blocks within this distance (metres) of a populated block join the area of
        the nearest populated block, which turns scattered cells into territories with
        simple borders (0: only blocks with populated cells).
    simplify_m
        Simplification tolerance of the outlines in metres; 0 keeps them as they are.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per library (EPSG:28992): ``library_id``, ``name``, ``cells``,
        ``population`` (suppressed cells count 0), ``mean_distance_km`` (person-weighted;
        NaN without known residents), ``max_distance_km``, geometry (Multi)Polygon (empty
        when all its cells lie in blocks of other libraries).
    """
    _require(cells, [s.LIBRARY_ID, s.DISTANCE_M], "cells")
    cells = _populated(_to_rd(cells, "cells"))
    dist = cells[s.DISTANCE_M].to_numpy(dtype=float)
    ok = ~np.isnan(dist) & ~cells[s.LIBRARY_ID].isna().to_numpy()
    if s.REACHABLE in cells.columns:
        ok &= _bool_mask(cells[s.REACHABLE])
    cells = cells[ok]
    columns = [s.LIBRARY_ID, s.NAME, "cells", s.POPULATION, s.MEAN_DISTANCE_KM, "max_distance_km"]
    if len(cells) == 0:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=s.CRS_RD)
    codes, ids = pd.factorize(cells[s.LIBRARY_ID].astype(str), sort=True)
    dist_km = cells[s.DISTANCE_M].to_numpy(dtype=float) / 1000.0
    if s.POPULATION in cells.columns:
        pop = np.nan_to_num(cells[s.POPULATION].to_numpy(dtype=float), nan=0.0)
    else:
        pop = np.zeros(len(cells))
    n_lib = len(ids)
    n_cells = np.bincount(codes, minlength=n_lib)
    people = np.bincount(codes, weights=pop, minlength=n_lib)
    weighted = np.bincount(codes, weights=pop * dist_km, minlength=n_lib)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_km = np.where(people > 0, weighted / np.where(people > 0, people, 1.0), np.nan)
    max_km = np.full(n_lib, -np.inf)
    np.maximum.at(max_km, codes, dist_km)

    if resolution_m > 0:
        b = shapely.bounds(cells.geometry.to_numpy())
        bx = np.floor((b[:, 0] + b[:, 2]) / 2 / resolution_m).astype(np.int64)
        by = np.floor((b[:, 1] + b[:, 3]) / 2 / resolution_m).astype(np.int64)
        bx0, by0 = int(bx.min()), int(by.min())
        width = int(by.max()) - by0 + 1
        block_key, block_of = np.unique((bx - bx0) * width + (by - by0), return_inverse=True)
        block = np.column_stack([block_key // width + bx0, block_key % width + by0])
        # winner per block: most residents, then most cells (tiny weight)
        score = pd.DataFrame({"b": block_of, "l": codes, "w": pop + 1e-3})
        score = score.groupby(["b", "l"], sort=False)["w"].sum().reset_index()
        score = score.sort_values(["b", "w"], ascending=[True, False], kind="stable")
        score = score.drop_duplicates("b")
        owner = score["l"].to_numpy()
        bxy = block[score["b"].to_numpy()]
        if fill_m > 0:
            # Empty blocks near populated ones go to the nearest populated block's library,
            # so the areas become territories with simple shared borders.
            reach = math.ceil(fill_m / resolution_m)
            lo, hi = bxy.min(axis=0) - reach, bxy.max(axis=0) + reach
            gx, gy = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
            every = np.column_stack([gx.ravel(), gy.ravel()])
            gap, nearest = cKDTree(bxy).query(every, distance_upper_bound=reach + 0.01)
            keep = np.isfinite(gap)
            bxy, owner = every[keep], owner[nearest[keep]]
        bxy = bxy * resolution_m
        geoms = shapely.box(
            bxy[:, 0], bxy[:, 1], bxy[:, 0] + resolution_m, bxy[:, 1] + resolution_m
        )
    else:
        owner = codes
        geoms = cells.geometry.to_numpy()
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.arange(n_lib + 1))
    geoms = geoms[order]
    polys = [
        shapely.coverage_union_all(geoms[a:b]) if b > a else shapely.Polygon()
        for a, b in itertools.pairwise(starts.tolist())
    ]
    areas = np.asarray(polys, dtype=object)
    if simplify_m > 0:
        try:
            areas = shapely.coverage_simplify(areas, simplify_m)
        except (shapely.errors.GEOSException, AttributeError, ValueError):
            areas = shapely.simplify(areas, simplify_m, preserve_topology=True)
    names: list[object] = list(ids)
    if libraries is not None and s.LIBRARY_ID in libraries and s.NAME in libraries:
        lookup = dict(zip(libraries[s.LIBRARY_ID].astype(str), libraries[s.NAME], strict=False))
        names = [lookup.get(i, i) for i in ids]
    return gpd.GeoDataFrame(
        {
            s.LIBRARY_ID: list(ids),
            s.NAME: names,
            "cells": n_cells.astype(np.int64),
            s.POPULATION: people,
            s.MEAN_DISTANCE_KM: mean_km,
            "max_distance_km": max_km,
        },
        geometry=list(areas),
        crs=s.CRS_RD,
    )


_CATCHMENT_COLOURS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#1f78b4",
)


def _add_catchments(m: folium.Map, areas: gpd.GeoDataFrame, pane: str, show: bool) -> None:
    areas = areas[_has_geometry(areas)]
    if len(areas) == 0:
        return
    lines = [
        [
            f"Verzorgingsgebied van {'' if _is_missing(row[s.NAME]) else row[s.NAME]}",
            f"Inwoners: {_fmt_count(row[s.POPULATION])}",
            f"Gemiddelde afstand: {_fmt_km(row[s.MEAN_DISTANCE_KM])}",
            f"Grootste afstand: {_fmt_km(row['max_distance_km'])}",
        ]
        for _, row in areas.iterrows()
    ]
    colours = [_CATCHMENT_COLOURS[k % len(_CATCHMENT_COLOURS)] for k in range(len(areas))]
    ids = [f"c{k}" for k in range(len(areas))]
    data = _geojson(areas, {"lines": lines, "kleur": colours}, ids)
    group = folium.FeatureGroup(name="Verzorgingsgebieden van volwaardige bibliotheken", show=show)
    group.add_to(m)
    m.add_child(_LazyAreas(group, data, pane, "bereikbaar-catchment"))


def _json_for_html(data: object) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&`` characters)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_DOM_LINES_JS = """
  function bereikbaarLines(lines) {
    var div = document.createElement("div");
    lines.forEach(function (text, k) {
      var line = document.createElement(k === 0 ? "b" : "div");
      line.textContent = text;
      div.appendChild(line);
    });
    return div;
  }
"""


class _BranchMarkers(MacroElement):
    """Branch markers built in the browser from one JSON array (fast for 1,000s of branches).

    Name, address and place are set as DOM text (never parsed as HTML); popups are built
    when opened.
    """

    _template = Template(
        """
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var groups = [{{ this.full.get_name() }}, {{ this.other.get_name() }}];
  var icons = {{ this.icons_json }};
  var rows = JSON.parse(document.getElementById("{{ this.get_name() }}_data").textContent);
  Object.keys(icons).forEach(function (key) {
    var icon = icons[key], half = icon.size / 2;
    icon.leaflet = L.icon({
      iconUrl: "data:image/svg+xml;base64," + btoa(icon.svg),
      iconSize: [icon.size, icon.size],
      iconAnchor: [half, half],
      popupAnchor: [0, -half],
      tooltipAnchor: [half, 0],
      className: icon.className
    });
  });
"""
        + _DOM_LINES_JS
        + """
  rows.forEach(function (r) {
    var icon = icons[r.icon];
    var marker = L.marker([r.lat, r.lon], {
      icon: icon.leaflet,
      zIndexOffset: r.full ? 1000 : 0,
      alt: r.lines[0],
      keyboard: false
    });
    marker.bindPopup(function () { return bereikbaarLines(r.lines); }, {maxWidth: 300});
    var tip = document.createElement("span");
    tip.textContent = r.lines[0];
    marker.bindTooltip(tip);
    marker.addTo(groups[r.full ? 0 : 1]);
  });
})();
{% endmacro %}
"""
    )

    def __init__(
        self,
        full: folium.FeatureGroup,
        other: folium.FeatureGroup,
        rows: list[dict[str, Any]],
        icons: dict[str, dict[str, Any]],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "BranchMarkers"
        self.full = full
        self.other = other
        self.data_json = _json_for_html(rows)
        self.icons_json = _json_for_html(icons)


class _LazyAreas(MacroElement):
    """Polygons (GeoJSON) drawn into a layer group the first time it is switched on.

    Each feature has ``kleur`` (colour) and ``lines`` (tooltip text lines, set as DOM text).
    """

    _template = Template(
        """
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this.group.get_name() }};
  var built = false;
"""
        + _DOM_LINES_JS
        + """
  function build() {
    if (built) { return; }
    built = true;
    var data = JSON.parse(document.getElementById("{{ this.get_name() }}_data").textContent);
    L.geoJson(data, {
      pane: "{{ this.pane }}",
      style: function (f) {
        return {color: f.properties.kleur, fillColor: f.properties.kleur, weight: 1.5,
                fillOpacity: 0.25, className: "{{ this.class_name }}"};
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () { return bereikbaarLines(f.properties.lines); },
                          {sticky: true});
      }
    }).addTo(group);
  }
  group.on("add", build);
  if ({{ this._parent.get_name() }}.hasLayer(group)) { build(); }
})();
{% endmacro %}
"""
    )

    def __init__(
        self, group: folium.FeatureGroup, data: dict[str, Any], pane: str, class_name: str
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LazyAreas"
        self.group = group
        self.data_json = _json_for_html(data)
        self.pane = pane
        self.class_name = class_name


class _MetricScale(MacroElement):
    """Scale bar in metres/kilometres only."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MetricScale"


# --------------------------------------------------------------------------- cell details

_NO_VALUE = 65535


def _fit_merc_to_rd(
    rd_bounds: tuple[float, float, float, float], max_degree: int = 9
) -> dict[str, Any]:
    """Polynomial from Web Mercator (EPSG:3857) to RD New (EPSG:28992) over an extent.

    The browser has no projection library, so the hover lookup evaluates this polynomial
    in normalised Mercator coordinates. The degree grows until the largest error on an
    independent check grid is below 0.5 m (or ``max_degree`` is reached).
    """
    x0, y0, x1, y1 = rd_bounds
    pad = 1000.0
    to_merc = pyproj.Transformer.from_crs(s.CRS_RD, "EPSG:3857", always_xy=True)
    to_rd = pyproj.Transformer.from_crs("EPSG:3857", s.CRS_RD, always_xy=True)
    mx0, my0, mx1, my1 = to_merc.transform_bounds(
        x0 - pad, y0 - pad, x1 + pad, y1 + pad, densify_pts=21
    )
    mc, mcy = (mx0 + mx1) / 2, (my0 + my1) / 2
    ms = max(mx1 - mx0, my1 - my0, 1.0) / 2

    def sample(n: int, shift: float) -> tuple[NDArray[np.float64], ...]:
        t = (np.arange(n) + shift) / (n - 1 + 2 * shift)
        gx, gy = np.meshgrid(mx0 + t * (mx1 - mx0), my0 + t * (my1 - my0))
        rx, ry = to_rd.transform(gx.ravel(), gy.ravel())
        return (gx.ravel() - mc) / ms, (gy.ravel() - mcy) / ms, np.asarray(rx), np.asarray(ry)

    def design(u: NDArray[np.float64], v: NDArray[np.float64], deg: int) -> NDArray[np.float64]:
        return np.column_stack([u**i * v**j for i in range(deg + 1) for j in range(deg + 1 - i)])

    u, v, rx, ry = sample(41, 0.0)
    cu, cv, crx, cry = sample(29, 0.37)
    best: dict[str, Any] = {}
    for deg in range(2, max_degree + 1):
        a = design(u, v, deg)
        cx = np.linalg.lstsq(a, rx, rcond=None)[0]
        cy = np.linalg.lstsq(a, ry, rcond=None)[0]
        b = design(cu, cv, deg)
        err = float(np.max(np.hypot(b @ cx - crx, b @ cy - cry)))
        best = {
            "mx": mc,
            "my": mcy,
            "ms": ms,
            "deg": deg,
            "cx": cx.tolist(),
            "cy": cy.tolist(),
            "max_error_m": err,
        }
        if err < 0.5:
            break
    return best


def merc_to_rd(params: dict[str, Any], mx: ArrayLike, my: ArrayLike) -> NDArray[np.float64]:
    """Evaluate the Mercator→RD polynomial of the hover lookup (as the browser does).

    Parameters
    ----------
    params
        ``meta["poly"]`` of :func:`cell_details`.
    mx, my
        Web Mercator coordinates (EPSG:3857, metres).

    Returns
    -------
    numpy.ndarray
        ``(..., 2)`` RD New coordinates (EPSG:28992, metres).
    """
    u = (np.asarray(mx, dtype=float) - params["mx"]) / params["ms"]
    v = (np.asarray(my, dtype=float) - params["my"]) / params["ms"]
    deg = int(params["deg"])
    x = np.zeros_like(u)
    y = np.zeros_like(u)
    k = 0
    for i in range(deg + 1):
        for j in range(deg + 1 - i):
            term = u**i * v**j
            x = x + params["cx"][k] * term
            y = y + params["cy"][k] * term
            k += 1
    return np.stack([x, y], axis=-1)


@dataclass(frozen=True)
class CellDetails:
    """Per-cell values for the hover lookup, packed for embedding in the map.

    Attributes
    ----------
    meta
        JSON-able grid description: ``x0``, ``y_top``, ``size`` (RD New metres), ``n_cols``,
        ``n_rows``, ``n`` (cells), ``names`` (library names), ``poly`` (the Mercator→RD
        polynomial, see :func:`merc_to_rd`).
    data
        zlib stream of, little-endian: ``n`` uint32 key increments (key = row × n_cols +
        col, sorted), ``n`` uint16 distances in decametres, ``n`` uint16 residents, ``n``
        uint16 indices into ``names``; 65535 means unknown/unreachable/none.
    """

    meta: dict[str, Any]
    data: bytes

    def unpack(self) -> dict[str, NDArray[Any]]:
        """The arrays (``key``, ``distance_dam``, ``population``, ``library``)."""
        raw = zlib.decompress(self.data)
        n = int(self.meta["n"])
        key = np.cumsum(np.frombuffer(raw, dtype="<u4", count=n), dtype=np.int64)
        rest = np.frombuffer(raw, dtype="<u2", offset=4 * n).reshape(3, n)
        return {"key": key, "distance_dam": rest[0], "population": rest[1], "library": rest[2]}


def cell_details(
    cells: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame | None = None
) -> CellDetails | None:
    """Pack residents, distance and nearest library of every populated cell for hovering.

    About 3–5 bytes a cell after compression, so 400,000 cells add 1–2 MB to the map.

    Parameters
    ----------
    cells
        Cells (any CRS, handled in RD New) with ``distance_m`` (metres), optionally
        ``population``, ``reachable`` and ``library_id``.
    libraries
        Optional branches with ``library_id`` and ``name`` for the library names.

    Returns
    -------
    CellDetails or None
        ``None`` without populated cells.
    """
    _require(cells, [s.DISTANCE_M], "cells")
    cells = _populated(_to_rd(cells, "cells"))
    if len(cells) == 0:
        return None
    g = _cell_grid(cells)
    dist = cells[s.DISTANCE_M].to_numpy(dtype=float)
    unreachable = np.isnan(dist)
    if s.REACHABLE in cells.columns:
        unreachable |= ~_bool_mask(cells[s.REACHABLE])
    dam = np.where(unreachable, _NO_VALUE, np.clip(np.rint(np.nan_to_num(dist) / 10), 0, 65534))
    if s.POPULATION in cells.columns:
        pop_f = cells[s.POPULATION].to_numpy(dtype=float)
        pop = np.where(np.isnan(pop_f), _NO_VALUE, np.clip(np.rint(np.nan_to_num(pop_f)), 0, 65534))
    else:
        pop = np.full(len(cells), _NO_VALUE)
    names: list[str] = []
    lib = np.full(len(cells), _NO_VALUE)
    if s.LIBRARY_ID in cells.columns:
        ids = cells[s.LIBRARY_ID].astype(object).where(~unreachable & cells[s.LIBRARY_ID].notna())
        codes, uniques = pd.factorize(ids.astype(object), sort=True)
        lookup: dict[str, object] = {}
        if libraries is not None and s.LIBRARY_ID in libraries and s.NAME in libraries:
            lookup = dict(zip(libraries[s.LIBRARY_ID].astype(str), libraries[s.NAME], strict=False))
        names = [str(lookup.get(str(u), u)) for u in uniques][: _NO_VALUE - 1]
        lib = np.where((codes >= 0) & (codes < len(names)), codes, _NO_VALUE)
    # Expand larger cells (500 m among 100 m) to every grid position they cover.
    reps = g.span**2
    idx = np.repeat(np.arange(len(cells)), reps)
    offs = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    sp = g.span[idx]
    rows = g.row[idx] + offs // sp
    cols = g.col[idx] + offs % sp
    key = rows * g.n_cols + cols
    order = np.lexsort((sp, key))  # by key, the smallest cell first
    key, idx = key[order], idx[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, idx = key[first], idx[first]
    delta = np.diff(key, prepend=0).astype("<u4")
    payload = b"".join(
        [
            delta.tobytes(),
            dam[idx].astype("<u2").tobytes(),
            pop[idx].astype("<u2").tobytes(),
            lib[idx].astype("<u2").tobytes(),
        ]
    )
    y_bottom = g.y_top - g.n_rows * g.size
    meta = {
        "x0": g.x0,
        "y_top": g.y_top,
        "size": g.size,
        "n_cols": g.n_cols,
        "n_rows": g.n_rows,
        "n": len(key),
        "names": names,
        "poly": _fit_merc_to_rd((g.x0, y_bottom, g.x0 + g.n_cols * g.size, g.y_top)),
    }
    return CellDetails(meta=meta, data=zlib.compress(payload, 6))


class _CellHover(MacroElement):
    """Info box with the residents, distance and nearest library of the cell under the mouse."""

    _template = Template(
        """
{% macro header(this, kwargs) %}
<style>
.bereikbaar-cellinfo { background: rgba(255,255,255,0.94); padding: 6px 10px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); min-width: 200px;
  font-family: Arial, Helvetica, sans-serif; font-size: 12px; line-height: 1.35; }
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<script type="application/octet-stream" id="{{ this.get_name() }}_data">{{ this.data_b64 }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var overlay = {{ this.overlay.get_name() }};
  var meta = {{ this.meta|tojson }};
  var state = null;
  var box = L.control({position: "bottomright"});
  box.onAdd = function () {
    var div = L.DomUtil.create("div", "bereikbaar-cellinfo");
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  box.addTo(map);
  var div = box.getContainer();
  function show(lines) {
    div.textContent = "";
    lines.forEach(function (text, k) {
      var line = document.createElement(k === 0 ? "b" : "div");
      line.textContent = text;
      div.appendChild(line);
    });
  }
  function km(dam) { return (dam / 100).toFixed(1).replace(".", ",") + " km"; }
  function pad4(v) { var t = String(v); while (t.length < 4) { t = "0" + t; } return t; }
  function poly(c, u, v) {
    var sum = 0, k = 0;
    for (var i = 0; i <= meta.poly.deg; i++) {
      for (var j = 0; j <= meta.poly.deg - i; j++) {
        sum += c[k++] * Math.pow(u, i) * Math.pow(v, j);
      }
    }
    return sum;
  }
  function toRd(latlng) {
    var p = L.CRS.EPSG3857.project(latlng);
    var u = (p.x - meta.poly.mx) / meta.poly.ms, v = (p.y - meta.poly.my) / meta.poly.ms;
    return [poly(meta.poly.cx, u, v), poly(meta.poly.cy, u, v)];
  }
  function lookup(lat, lng) {
    if (state === null) { return null; }
    var rd = toRd(L.latLng(lat, lng));
    var col = Math.floor((rd[0] - meta.x0) / meta.size);
    var row = Math.floor((meta.y_top - rd[1]) / meta.size);
    if (col < 0 || row < 0 || col >= meta.n_cols || row >= meta.n_rows) { return null; }
    var key = row * meta.n_cols + col, lo = 0, hi = meta.n - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1, k = state.key[mid];
      if (k === key) {
        var x = meta.x0 + col * meta.size, y = meta.y_top - (row + 1) * meta.size;
        var d = state.dist[mid], p = state.pop[mid], l = state.lib[mid];
        return {
          code: "E" + pad4(Math.floor(x / 100)) + "N" + pad4(Math.floor(y / 100)),
          population: p === 65535 ? null : p,
          distance_m: d === 65535 ? null : d * 10,
          library: l === 65535 ? null : meta.names[l]
        };
      }
      if (k < key) { lo = mid + 1; } else { hi = mid - 1; }
    }
    return null;
  }
  function describe(cell) {
    if (cell === null) { return ["Wijs een bewoond vierkant aan"]; }
    var lines = ["Vierkant " + cell.code];
    lines.push(cell.population === null ? "Inwoners: afgeschermd (CBS)"
                                        : "Inwoners: " + cell.population);
    if (cell.distance_m === null) {
      lines.push("Geen volwaardige bibliotheek bereikbaar over de weg");
    } else {
      lines.push("Afstand over de weg: " + km(cell.distance_m / 10));
      if (cell.library !== null) { lines.push("Dichtstbijzijnd: " + cell.library); }
    }
    return lines;
  }
  function onMove(e) {
    if (!map.hasLayer(overlay)) { return; }
    show(describe(lookup(e.latlng.lat, e.latlng.lng)));
  }
  function toggle() { div.style.display = map.hasLayer(overlay) ? "" : "none"; }
  map.on("overlayadd overlayremove", toggle);
  toggle();
  async function load() {
    if (typeof DecompressionStream === "undefined") {
      show(["Details per vierkant: deze browser kan ze niet tonen"]);
      return;
    }
    var b64 = document.getElementById("{{ this.get_name() }}_data").textContent.trim();
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    var buf = await new Response(stream).arrayBuffer();
    var n = meta.n, key = new Uint32Array(buf, 0, n), acc = 0;
    var sum = new Float64Array(n);
    for (var j = 0; j < n; j++) { acc += key[j]; sum[j] = acc; }
    state = {
      key: sum,
      dist: new Uint16Array(buf, 4 * n, n),
      pop: new Uint16Array(buf, 6 * n, n),
      lib: new Uint16Array(buf, 8 * n, n)
    };
    show(["Wijs een bewoond vierkant aan"]);
    map.on("mousemove click", onMove);
  }
  show(["Details per vierkant laden…"]);
  window.bereikbaarCells = {lookup: lookup, describe: describe, ready: load()};
})();
{% endmacro %}
"""
    )

    def __init__(self, overlay: folium.raster_layers.ImageOverlay, details: CellDetails) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CellHover"
        self.overlay = overlay
        self.meta = details.meta
        self.data_b64 = base64.b64encode(details.data).decode("ascii")


# --------------------------------------------------------------------------- search


class _GemeenteSearch(Search):
    """Search box for gemeente names (leaflet-search), Dutch texts, names shown as text."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var layer = {{ this.layer.get_name() }};
  var control = new L.Control.Search({
    layer: layer,
    propertyName: "naam",
    initial: false,
    collapsed: false,
    marker: false,
    position: "topleft",
    textPlaceholder: "Zoek een gemeente…",
    textErr: "Gemeente niet gevonden",
    textCancel: "Wissen",
    buildTip: function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      return li;
    },
    moveToLocation: function (latlng, title, map) {
      if (latlng.layer && latlng.layer.getBounds) {
        map.fitBounds(latlng.layer.getBounds());
      } else {
        map.setView(latlng, 11);
      }
    }
  });
  control.on("search:locationfound", function (e) {
    layer.resetStyle();
    e.layer.setStyle({weight: 4, color: "#000000"});
    if (e.layer.getTooltip()) { e.layer.openTooltip(); }
  });
  control.on("search:collapsed", function () { layer.resetStyle(); });
  {{ this._parent.get_name() }}.addControl(control);
})();
{% endmacro %}
"""
    )

    def __init__(self, layer: folium.GeoJson) -> None:
        super().__init__(layer, search_label="naam", geom_type="Polygon", collapsed=False)  # type: ignore[no-untyped-call]
        self._name = "GemeenteSearch"


# --------------------------------------------------------------------------- map boxes


class _HtmlBox(MacroElement):
    """A fixed HTML box on the map (title, legend). ``html`` must already be safe."""

    _template = Template("{% macro html(this, kwargs) %}{{ this.html }}{% endmacro %}")

    def __init__(self, html_text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "HtmlBox"
        self.html = html_text


_BOX_STYLE = (
    "position: fixed; z-index: 9999; background: rgba(255,255,255,0.92); padding: 6px 10px;"
    " border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);"
    " font-family: Arial, Helvetica, sans-serif; font-size: 12px; line-height: 1.35;"
)


def _swatch(colour: str, border: str = "#555", width: int = 1) -> str:
    return (
        f'<span style="display:inline-block;width:14px;height:12px;background:{colour};'
        f'border:{width}px solid {border};margin-right:6px;vertical-align:middle"></span>'
    )


def _dot(colour: str, radius: int, border: str) -> str:
    size = 2 * radius
    return (
        f'<span style="display:inline-block;width:{size}px;height:{size}px;border-radius:50%;'
        f"background:{colour};border:2px solid {border};margin-right:6px;"
        f'vertical-align:middle"></span>'
    )


def _legend_html(
    bins_km: Sequence[float], threshold_km: float, branch_kinds: Sequence[tuple[str, bool]]
) -> str:
    colours = class_colours(len(bins_km) + 1)
    rows = [
        "<b>Afstand over de weg tot de<br>dichtstbijzijnde volwaardige bibliotheek</b>",
        *(
            f"<div>{_swatch(c)}{escape_text(lab)}</div>"
            for c, lab in zip(colours, class_labels(bins_km), strict=True)
        ),
        f"<div>{_swatch(UNREACHABLE_COLOUR)}niet bereikbaar</div>",
        f"<div>{_swatch(NO_DATA_COLOUR)}geen gegevens</div>",
        f"<div>{_swatch('transparent', FLAG_COLOUR, 3)}gemeente met te grote afstand</div>",
    ]
    for kind, full in branch_kinds:
        label = s.BRANCH_TYPE_LABELS_NL.get(kind, kind)
        extra = " (volwaardig)" if full else ""
        icon = branch_icon_svg(kind, full, 16).replace("display:block", "display:inline-block")
        rows.append(
            f'<div><span style="display:inline-block;width:20px;vertical-align:middle">'
            f"{icon}</span>{escape_text(label)}{extra}</div>"
        )
    rows.append(
        f'<div style="margin-top:4px;color:#444">Drempel: {escape_text(_fmt_bound(threshold_km))}'
        " km. Gemeenten: inwoner-gewogen gemiddelde; vierkanten: afstand per bewoond"
        " vierkant.</div>"
    )
    rows.append(f'<div style="margin-top:4px;color:#444">{escape_text(SOURCE_LINE)}</div>')
    body = "".join(rows)
    style = (
        f"{_BOX_STYLE} bottom: 24px; left: 10px; max-width: 300px; max-height: 60vh;"
        " overflow-y: auto;"
    )
    return (
        f'<div class="bereikbaar-legend" style="{style}"><details open>'
        '<summary style="cursor:pointer"><b>Legenda</b></summary>'
        f"{body}</details></div>"
    )


def _title_html(title: str) -> str:
    return (
        f'<div class="bereikbaar-title" style="{_BOX_STYLE} top: 10px; left: 50%;'
        f' transform: translateX(-50%); font-size: 16px;"><b>{escape_text(title)}</b></div>'
    )


# --------------------------------------------------------------------------- layers


def _gemeente_html(row: pd.Series, threshold_km: float, with_reasons: bool) -> str:
    name = escape_text(row.get(s.GEMEENTENAAM, ""))
    code = escape_text(row.get(s.GEMEENTECODE, ""))
    parts = [
        f"<b>{name}</b> ({code})" if code else f"<b>{name}</b>",
        f"Inwoners: {_fmt_count(row.get(s.POPULATION))}",
        f"Gemiddelde afstand: {_fmt_km(row.get(s.MEAN_DISTANCE_KM))}",
        f"Mediane afstand: {_fmt_km(row.get(s.MEDIAN_DISTANCE_KM))}",
        f"P90-afstand: {_fmt_km(row.get(s.P90_DISTANCE_KM))}",
        f"Aandeel verder dan {_fmt_bound(threshold_km)} km: {_fmt_share(row.get(s.SHARE_BEYOND))}",
    ]
    if s.FULL_SERVICE_LIBRARIES in row.index:
        parts.append(f"Volwaardige bibliotheken: {_fmt_count(row.get(s.FULL_SERVICE_LIBRARIES))}")
    if "cbs_mean_distance_km" in row.index:  # comparison with CBS (inputs.cbs_reference)
        parts.append(
            f"Zoals CBS (vestigingen en servicepunten): "
            f"{_fmt_km(row.get('cbs_comparable_mean_km'))}; "
            f"CBS: {_fmt_km(row.get('cbs_mean_distance_km'))}"
        )
    if _truthy(row.get(s.TE_GROOT)):
        parts.append(f'<b style="color:{FLAG_COLOUR}">Afstand te groot</b>')
        if with_reasons:
            parts.append(f"Reden: {escape_text(row.get(s.REASONS, ''))}")
    return "<br>".join(parts)


def _geojson(gdf: gpd.GeoDataFrame, props: dict[str, list[Any]], ids: list[str]) -> dict[str, Any]:
    """FeatureCollection with rounded WGS84 coordinates (5 decimals ≈ 1 m)."""
    geoms = shapely.transform(gdf.to_crs(s.CRS_WGS84).geometry.to_numpy(), lambda c: np.round(c, 5))
    features = []
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": ids[k],
                "properties": {key: values[k] for key, values in props.items()},
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _add_gemeenten(
    m: folium.Map,
    summary: gpd.GeoDataFrame,
    bins_km: Sequence[float],
    threshold_km: float,
    simplify_m: float,
    flag_pane: str,
) -> folium.GeoJson:
    _require(summary, [s.GEMEENTENAAM, s.MEAN_DISTANCE_KM], "gemeente summary")
    summary = _to_rd(summary, "gemeente summary")
    if simplify_m > 0:
        summary = summary.set_geometry(
            summary.geometry.simplify(simplify_m, preserve_topology=True)
        )
    colours = class_colours(len(bins_km) + 1)
    cls = classify_km(summary[s.MEAN_DISTANCE_KM].to_numpy(dtype=float), bins_km)
    fill = [colours[c] if c >= 0 else NO_DATA_COLOUR for c in cls]
    tips = [_gemeente_html(r, threshold_km, False) for _, r in summary.iterrows()]
    names = ["" if _is_missing(v) else str(v) for v in summary[s.GEMEENTENAAM]]
    ids = [f"g{k}" for k in range(len(summary))]
    data = _geojson(summary, {"fill": fill, "tip": tips, "naam": names}, ids)
    layer = folium.GeoJson(
        data,
        name="Gemiddelde afstand per gemeente",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#555555",
            "weight": 0.7,
            "className": "bereikbaar-gemeente",
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )
    layer.add_to(m)

    flagged = summary[_bool_mask(summary[s.TE_GROOT])] if s.TE_GROOT in summary else None
    if flagged is None or len(flagged) == 0:
        return layer
    popups = [_gemeente_html(r, threshold_km, True) for _, r in flagged.iterrows()]
    ids = [f"f{k}" for k in range(len(flagged))]
    data = _geojson(flagged, {"tip": popups}, ids)
    folium.GeoJson(
        data,
        name="Gemeenten met te grote afstand",
        style_function=lambda f: {
            "fill": True,
            "fillOpacity": 0.0,
            "color": FLAG_COLOUR,
            "weight": 4,
            "className": "bereikbaar-flagged",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        popup=folium.GeoJsonPopup(fields=["tip"], labels=False, max_width=360),
        pane=flag_pane,
    ).add_to(m)
    return layer


def _library_lines(row: pd.Series) -> list[str]:
    """Popup lines of a branch (plain text): name, type, address, postcode and place."""
    branch = str(row.get(s.BRANCH_TYPE, "other"))
    label = s.BRANCH_TYPE_LABELS_NL.get(branch, branch)
    kind = (
        "volwaardige bibliotheek"
        if _truthy(row.get(s.FULL_SERVICE))
        else "geen volwaardige bibliotheek"
    )
    lines = [
        "" if _is_missing(row.get(s.NAME)) else str(row.get(s.NAME)),
        f"{label} ({kind})",
    ]
    if not _is_missing(row.get(s.ADDRESS)):
        lines.append(str(row.get(s.ADDRESS)))
    place = " ".join(str(row.get(c)) for c in (s.POSTCODE, s.PLACE) if not _is_missing(row.get(c)))
    if place:
        lines.append(place)
    return lines


def _add_libraries(m: folium.Map, libraries: gpd.GeoDataFrame) -> list[tuple[str, bool]]:
    """Branch markers (inline SVG icons); returns the (type, full service) pairs drawn."""
    _require(libraries, [s.NAME, s.FULL_SERVICE], "libraries")
    libraries = _to_rd(libraries, "libraries")
    libraries = libraries[_has_geometry(libraries)]
    if len(libraries) == 0:
        return []
    points = libraries.geometry.to_crs(s.CRS_WGS84).representative_point()
    other = folium.FeatureGroup(name="Overige bibliotheekvoorzieningen")
    other.add_to(m)
    full = folium.FeatureGroup(name="Volwaardige bibliotheken")
    full.add_to(m)
    kinds: set[tuple[str, bool]] = set()
    icons: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for (_, row), pt in zip(libraries.iterrows(), points, strict=True):
        is_full = _truthy(row.get(s.FULL_SERVICE))
        branch = str(row.get(s.BRANCH_TYPE, "other"))
        branch = branch if branch in _BRANCH_GLYPH else "other"
        kinds.add((branch, is_full))
        key = f"{branch}|{int(is_full)}"
        if key not in icons:
            icons[key] = {
                "svg": branch_icon_svg(branch, is_full),
                "size": 26 if is_full else 18,
                "className": f"bereikbaar-branch bereikbaar-branch-{branch}",
            }
        rows.append(
            {
                "lat": round(float(pt.y), 6),
                "lon": round(float(pt.x), 6),
                "full": is_full,
                "icon": key,
                "lines": _library_lines(row),
            }
        )
    m.add_child(_BranchMarkers(full, other, rows, icons))
    order = {k: i for i, k in enumerate(_BRANCH_GLYPH)}
    return sorted(kinds, key=lambda k: (not k[1], order[k[0]]))


def _bounds_wgs84(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (degrees) around frames in RD New."""
    boxes = []
    for gdf in frames:
        geoms = gdf.geometry.to_numpy()[_has_geometry(gdf)]
        if len(geoms):
            b = shapely.bounds(geoms)
            boxes.append([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    if not boxes:
        return None
    b = np.asarray(boxes, dtype=float)
    to_wgs = pyproj.Transformer.from_crs(s.CRS_RD, s.CRS_WGS84, always_xy=True)
    west, south, east, north = to_wgs.transform_bounds(
        b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max(), densify_pts=21
    )
    return [[float(south), float(west)], [float(north), float(east)]]


def make_map(
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    *,
    title: str = "Afstand tot een volwaardige bibliotheek",
    threshold_km: float = 5.0,
    bins_km: Sequence[float] = DEFAULT_BINS_KM,
    simplify_m: float = 10.0,
    max_pixels: int = 4096,
    show_cells: bool = True,
    offline: bool = True,
    background: str = BACKGROUNDS[0],
    catchments: bool = True,
    catchment_resolution_m: float = 500.0,
    catchment_simplify_m: float = 250.0,
    hover: bool = True,
) -> folium.Map:
    """Build the interactive map (Dutch labels) of distances, gemeenten and libraries.

    Layers: the background maps (:data:`BACKGROUNDS`), gemeenten coloured by their
    person-weighted mean distance (classed, with a search box for names), the populated
    cells as one embedded PNG raster with per-cell details under the mouse, the catchment
    area of each full-service library (off when the map opens), gemeenten flagged "te groot"
    outlined in red with their reasons in a popup, and the branches with a pictogram per
    type. Everything but the background tiles is embedded in the page.

    Parameters
    ----------
    cells
        Nearest-library result per CBS grid cell (EPSG:28992): ``distance_m`` in metres (NaN
        when unreachable), ``reachable``, ``population``, ``library_id``; geometry the cell
        squares. Drawn as one embedded PNG raster (see :func:`rasterize_cells`).
    summary
        Gemeente summary (EPSG:28992) with the contract columns (``mean_distance_km`` …
        ``te_groot``, ``reasons``) and the gemeente (Multi)Polygons.
    libraries
        Library branches (EPSG:28992) with ``name``, ``branch_type``, ``full_service``,
        ``address``, ``postcode``; rows without a geometry (still to be geocoded) are skipped.
    title
        Title shown on top of the map.
    threshold_km
        The distance threshold in km used for ``share_beyond``; it is also added as a class
        bound so the legend breaks there.
    bins_km
        Upper class bounds in km for colouring gemeenten and cells.
    simplify_m
        Tolerance in metres (RD) to simplify gemeente outlines; 0 keeps them as they are.
    max_pixels
        Largest width/height of the cell raster in pixels.
    show_cells
        Whether the cell layer is switched on when the map opens.
    offline
        Inline Leaflet, jQuery, Bootstrap and the plugins (from ``folium-offline``) whenever
        the map is rendered, saved or shown in a notebook (see :func:`make_offline`).
    background
        The background shown when the map opens, one of :data:`BACKGROUNDS`.
    catchments
        Add the catchment areas (needs ``library_id`` in ``cells``).
    catchment_resolution_m, catchment_simplify_m
        Block size and simplification tolerance in metres of the catchment outlines (see
        :func:`catchment_areas`).
    hover
        Embed per-cell details (:func:`cell_details`) shown in a box under the mouse.

    Returns
    -------
    folium.Map
        The map; save it with :func:`write_map`.
    """
    bins = _bins_with_threshold(bins_km, threshold_km)
    # disable_3d: no CSS 3-D transform (and so no compositing layer) per marker, which makes
    # the first render of a thousand branches several times faster in software rendering.
    m = folium.Map(
        location=list(_NL_CENTRE), zoom_start=8, tiles=None, control_scale=False, disable_3d=True
    )
    if offline:
        make_offline(m)
    else:
        make_safe(m)
    m.add_child(_MetricScale())
    # folium sets L_DISABLE_3D after leaflet.js has read it; set it before.
    m.get_root().header.add_child(  # type: ignore[attr-defined]
        TextElement("<script>window.L_DISABLE_3D = true;</script>"), name="bereikbaar_no_3d"
    )
    add_backgrounds(m, default=background)
    # Panes: the cell raster above the gemeente fills (overlayPane, 400), outlines above it.
    folium.map.CustomPane("bereikbaarCellen", z_index=420, pointer_events=False).add_to(m)
    folium.map.CustomPane("bereikbaarGebieden", z_index=430, pointer_events=True).add_to(m)
    folium.map.CustomPane("bereikbaarVlaggen", z_index=440, pointer_events=True).add_to(m)
    named = (("gemeente summary", summary), ("libraries", libraries), ("cells", cells))
    frames = [_to_rd(f, what) for what, f in named if f is not None and len(f) > 0]
    bounds = _bounds_wgs84(frames)

    gemeente_layer = None
    if summary is not None and len(summary) > 0:
        gemeente_layer = _add_gemeenten(
            m, summary, bins, threshold_km, simplify_m, "bereikbaarVlaggen"
        )
    if cells is not None and len(cells) > 0:
        raster = rasterize_cells(cells, bins_km=bins, max_pixels=max_pixels)
        if raster is not None:
            overlay = folium.raster_layers.ImageOverlay(
                image=raster.to_data_uri(),
                bounds=[list(raster.bounds_wgs84[0]), list(raster.bounds_wgs84[1])],
                name="Afstand per bewoond vierkant",
                opacity=0.85,
                pixelated=True,
                show=show_cells,
                pane="bereikbaarCellen",
                class_name="bereikbaar-cells",
            )
            overlay.add_to(m)
            details = cell_details(cells, libraries) if hover else None
            if details is not None:
                m.add_child(_CellHover(overlay, details))
        if catchments and s.LIBRARY_ID in cells.columns:
            areas = catchment_areas(
                cells,
                libraries,
                resolution_m=catchment_resolution_m,
                simplify_m=catchment_simplify_m,
            )
            _add_catchments(m, areas, "bereikbaarGebieden", show=False)
    kinds: list[tuple[str, bool]] = []
    if libraries is not None and len(libraries) > 0:
        kinds = _add_libraries(m, libraries)

    m.get_root().header.add_child(  # type: ignore[attr-defined]
        TextElement(f"<title>{html.escape(title)}</title>"), name="bereikbaar_title"
    )
    m.get_root().add_child(_HtmlBox(_title_html(title)))
    m.get_root().add_child(_HtmlBox(_legend_html(bins, threshold_km, kinds)))
    if gemeente_layer is not None:
        _GemeenteSearch(gemeente_layer).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def write_map(m: folium.Map, path: str | Path) -> Path:
    """Save the map as one HTML file, atomically (temp file in the same folder, then rename).

    Parameters
    ----------
    m
        The map from :func:`make_map`.
    path
        Output ``.html`` file; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    root = m.get_root()
    if not isinstance(root, Figure):
        msg = f"cannot write the map {path}: it is not inside a branca Figure"
        raise OutputError(msg)
    page = render_page(root)
    with atomic_path(path) as tmp:
        tmp.write_bytes(page.encode("utf-8"))
    logger.info("wrote map %s (%d bytes)", path, path.stat().st_size)
    return path
