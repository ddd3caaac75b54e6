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
import logging
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import MacroElement
from folium.template import Template
from numpy.typing import ArrayLike, NDArray

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError
from bereikbaar.report import atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BINS_KM",
    "RasterImage",
    "class_colours",
    "class_labels",
    "classify_km",
    "encode_png",
    "escape_text",
    "make_map",
    "rasterize_cells",
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
_PDOK_GREY_URL = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/grijs/EPSG:3857/{z}/{x}/{y}.png"
)
_PDOK_ATTRIBUTION = (
    'Kaartgegevens &copy; <a href="https://www.kadaster.nl">Kadaster</a> (BRT-Achtergrondkaart)'
)
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
    keep = _has_geometry(cells)
    if s.POPULATION in cells.columns:
        pop = cells[s.POPULATION].to_numpy(dtype=float)
        keep &= np.isnan(pop) | (pop > 0)
    cells = cells[keep]
    if len(cells) == 0:
        return None

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


def _legend_html(bins_km: Sequence[float], threshold_km: float, has_libraries: bool) -> str:
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
    if has_libraries:
        rows += [
            f"<div>{_dot(_BRANCH_COLOURS['vestiging'], 6, '#000')}volwaardige bibliotheek</div>",
            f"<div>{_dot(_BRANCH_COLOURS['servicepunt'], 4, '#fff')}"
            "overige voorziening (servicepunt, afhaalpunt, …)</div>",
        ]
    rows.append(
        f'<div style="margin-top:4px;color:#444">Drempel: {escape_text(_fmt_bound(threshold_km))}'
        " km. Gemeenten: inwoner-gewogen gemiddelde; vierkanten: afstand per bewoond"
        " vierkant.</div>"
    )
    rows.append(f'<div style="margin-top:4px;color:#444">{escape_text(SOURCE_LINE)}</div>')
    body = "".join(rows)
    style = f"{_BOX_STYLE} bottom: 24px; left: 10px;"
    return f'<div class="bereikbaar-legend" style="{style}">{body}</div>'


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
) -> None:
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
    ids = [f"g{k}" for k in range(len(summary))]
    data = _geojson(summary, {"fill": fill, "tip": tips}, ids)
    layer = folium.GeoJson(
        data,
        name="Gemiddelde afstand per gemeente",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#555555",
            "weight": 0.7,
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )
    layer.add_to(m)

    flagged = summary[_bool_mask(summary[s.TE_GROOT])] if s.TE_GROOT in summary else None
    if flagged is None or len(flagged) == 0:
        return
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
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        popup=folium.GeoJsonPopup(fields=["tip"], labels=False, max_width=360),
    ).add_to(m)


def _library_popup(row: pd.Series) -> str:
    branch = str(row.get(s.BRANCH_TYPE, "other"))
    label = s.BRANCH_TYPE_LABELS_NL.get(branch, branch)
    kind = (
        "volwaardige bibliotheek"
        if _truthy(row.get(s.FULL_SERVICE))
        else "geen volwaardige bibliotheek"
    )
    place = " ".join(
        escape_text(row.get(c)) for c in (s.POSTCODE, s.PLACE) if not _is_missing(row.get(c))
    )
    parts = [
        f"<b>{escape_text(row.get(s.NAME, ''))}</b>",
        f"{escape_text(label)} ({kind})",
    ]
    if not _is_missing(row.get(s.ADDRESS)):
        parts.append(escape_text(row.get(s.ADDRESS)))
    if place:
        parts.append(place)
    return "<br>".join(parts)


def _add_libraries(m: folium.Map, libraries: gpd.GeoDataFrame) -> int:
    _require(libraries, [s.NAME, s.FULL_SERVICE], "libraries")
    libraries = _to_rd(libraries, "libraries")
    libraries = libraries[_has_geometry(libraries)]
    if len(libraries) == 0:
        return 0
    points = libraries.geometry.to_crs(s.CRS_WGS84).representative_point()
    full = folium.FeatureGroup(name="Volwaardige bibliotheken")
    other = folium.FeatureGroup(name="Overige bibliotheekvoorzieningen")
    for (_, row), pt in zip(libraries.iterrows(), points, strict=True):
        is_full = _truthy(row.get(s.FULL_SERVICE))
        branch = str(row.get(s.BRANCH_TYPE, "other"))
        folium.CircleMarker(
            location=[pt.y, pt.x],
            radius=8 if is_full else 5,
            color="#000000" if is_full else "#ffffff",
            weight=2 if is_full else 1,
            fill=True,
            fill_color=_BRANCH_COLOURS.get(branch, _BRANCH_COLOURS["other"]),
            fill_opacity=0.95,
            popup=folium.Popup(_library_popup(row), max_width=300),
            tooltip=folium.Tooltip(escape_text(row.get(s.NAME, ""))),
        ).add_to(full if is_full else other)
    other.add_to(m)
    full.add_to(m)
    return len(libraries)


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
) -> folium.Map:
    """Build the interactive map (Dutch labels) of distances, gemeenten and libraries.

    Parameters
    ----------
    cells
        Nearest-library result per CBS grid cell (EPSG:28992): ``distance_m`` in metres (NaN
        when unreachable), ``reachable``, ``population``; geometry the cell squares. Drawn as
        one embedded PNG raster (see :func:`rasterize_cells`).
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

    Returns
    -------
    folium.Map
        The map; save it with :func:`write_map`.
    """
    bins = _bins_with_threshold(bins_km, threshold_km)
    m = folium.Map(location=list(_NL_CENTRE), zoom_start=8, tiles=None, control_scale=True)
    folium.TileLayer(
        tiles=_PDOK_GREY_URL,
        attr=_PDOK_ATTRIBUTION,
        name="Achtergrondkaart (PDOK, grijs)",
        max_zoom=19,
    ).add_to(m)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    named = (("gemeente summary", summary), ("libraries", libraries), ("cells", cells))
    frames = [_to_rd(f, what) for what, f in named if f is not None and len(f) > 0]
    bounds = _bounds_wgs84(frames)

    if summary is not None and len(summary) > 0:
        _add_gemeenten(m, summary, bins, threshold_km, simplify_m)
    if cells is not None and len(cells) > 0:
        raster = rasterize_cells(cells, bins_km=bins, max_pixels=max_pixels)
        if raster is not None:
            folium.raster_layers.ImageOverlay(
                image=raster.to_data_uri(),
                bounds=[list(raster.bounds_wgs84[0]), list(raster.bounds_wgs84[1])],
                name="Afstand per bewoond vierkant",
                opacity=0.85,
                pixelated=True,
                show=show_cells,
            ).add_to(m)
    n_libraries = 0
    if libraries is not None and len(libraries) > 0:
        n_libraries = _add_libraries(m, libraries)

    m.get_root().add_child(_HtmlBox(_title_html(title)))
    m.get_root().add_child(_HtmlBox(_legend_html(bins, threshold_km, n_libraries > 0)))
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
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    logger.info("wrote map %s (%d bytes)", path, path.stat().st_size)
    return path
