"""The populated CBS cells as one palette image, and their details for the hover box.

The map shows the cells as **one PNG raster** (not one GeoJSON feature per cell, which would
cost ~480 bytes a cell): the cells are painted on their regular RD New grid, reprojected to Web
Mercator by nearest-neighbour sampling, and embedded as a base64 data URI in an
``ImageOverlay``. :func:`cell_details` packs the residents, distance and nearest library of
every cell on the same grid, with a polynomial from Web Mercator to RD New
(:func:`fit_merc_to_rd`) so that the browser finds the cell under the mouse.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError
from bereikbaar.output.frames import bool_mask, populated_cells, require_columns, to_rd
from bereikbaar.output.style import (
    DEFAULT_BINS_KM,
    UNREACHABLE_COLOUR,
    class_colours,
    classify_km,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CellDetails",
    "RasterImage",
    "cell_details",
    "encode_png",
    "fit_merc_to_rd",
    "merc_to_rd",
    "rasterize_cells",
]

_CHUNK_ROWS = 512
_MAX_GRID_CELLS = 200_000_000


def _hex_to_rgba(colour: str) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)


def encode_png(indices: NDArray[np.uint8], palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Encode a palette image as PNG (8 bit, colour type 3) with Pillow.

    Parameters
    ----------
    indices
        2-D array (rows top to bottom) of palette indices.
    palette
        RGBA tuples (0–255); the alpha values go into the PNG's ``tRNS`` chunk.

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
    image = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), mode="P")
    image.putpalette([c for r, g, b, _ in palette for c in (r, g, b)], rawmode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=bytes(a for *_, a in palette), compress_level=9)
    return buffer.getvalue()


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


def _cell_codes(cells: gpd.GeoDataFrame, bins_km: Sequence[float]) -> NDArray[np.uint8]:
    """Palette index per cell: 1..n distance class, n+1 unreachable."""
    distance_km = cells[s.DISTANCE_M].to_numpy(dtype=float) / 1000.0
    unreachable = np.isnan(distance_km)
    if s.REACHABLE in cells.columns:
        unreachable |= ~bool_mask(cells[s.REACHABLE])
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
    require_columns(cells, [s.DISTANCE_M], "cells")
    cells = to_rd(cells, "cells")
    cells = populated_cells(cells)
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

    to_merc = s.transformer(s.CRS_RD, "EPSG:3857")
    from_merc = s.transformer("EPSG:3857", s.CRS_RD)
    to_wgs = s.transformer("EPSG:3857", s.CRS_WGS84)
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
    cx, cy = from_merc.transform(cmx, cmy)
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


_NO_VALUE = 65535


def fit_merc_to_rd(
    rd_bounds: tuple[float, float, float, float], max_degree: int = 9
) -> dict[str, Any]:
    """Polynomial from Web Mercator (EPSG:3857) to RD New (EPSG:28992) over an extent.

    The browser has no projection library, so the hover lookup evaluates this polynomial
    in normalised Mercator coordinates. The degree grows until the largest error on an
    independent check grid is below 0.5 m (or ``max_degree`` is reached).

    Parameters
    ----------
    rd_bounds
        ``(xmin, ymin, xmax, ymax)`` in RD New metres; the fit covers 1 km more around it.
    max_degree
        Highest polynomial degree tried.

    Returns
    -------
    dict
        JSON-able ``mx``, ``my``, ``ms`` (normalisation), ``deg``, ``cx``, ``cy``
        (coefficients, see :func:`merc_to_rd`) and ``max_error_m`` (on the check grid).
    """
    x0, y0, x1, y1 = rd_bounds
    pad = 1000.0
    to_merc = s.transformer(s.CRS_RD, "EPSG:3857")
    from_merc = s.transformer("EPSG:3857", s.CRS_RD)
    mx0, my0, mx1, my1 = to_merc.transform_bounds(
        x0 - pad, y0 - pad, x1 + pad, y1 + pad, densify_pts=21
    )
    mc, mcy = (mx0 + mx1) / 2, (my0 + my1) / 2
    ms = max(mx1 - mx0, my1 - my0, 1.0) / 2

    def sample(n: int, shift: float) -> tuple[NDArray[np.float64], ...]:
        t = (np.arange(n) + shift) / (n - 1 + 2 * shift)
        gx, gy = np.meshgrid(mx0 + t * (mx1 - mx0), my0 + t * (my1 - my0))
        rx, ry = from_merc.transform(gx.ravel(), gy.ravel())
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
    require_columns(cells, [s.DISTANCE_M], "cells")
    cells = populated_cells(to_rd(cells, "cells"))
    if len(cells) == 0:
        return None
    g = _cell_grid(cells)
    dist = cells[s.DISTANCE_M].to_numpy(dtype=float)
    unreachable = np.isnan(dist)
    if s.REACHABLE in cells.columns:
        unreachable |= ~bool_mask(cells[s.REACHABLE])
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
        "poly": fit_merc_to_rd((g.x0, y_bottom, g.x0 + g.n_cols * g.size, g.y_top)),
    }
    return CellDetails(meta=meta, data=zlib.compress(payload, 6))
