"""CBS vierkantstatistieken (100 m and 500 m grid cells) → exact squares in RD New.

A CBS cell code ``E0974N4514`` is the **lower-left** corner of the cell in RD New
(EPSG:28992) in whole hectometres, four digits each: this cell spans x 97,400..97,500 m
and y 451,400..451,500 m. The same form is used for 100 m and 500 m cells; the resolution
comes from the column name (``crs28992res100m``, ``crs28992res500m``, older
``c28992r100``/``c28992r500``). :func:`load_cbs_grid` always builds the cell geometry
from the code, whatever geometry (centroid points, squares, none) the file carries.

Suppressed values (CBS codes such as ``-99997``, any negative number, or empty) become
NaN population, never negative, and are counted.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import Polygon

from ..exceptions import BereikbaarWarning, InputError, Problems, where
from ..schema import (
    CELL_ID,
    CRS_RD,
    CRS_WGS84,
    GEMEENTECODE,
    POPULATION,
    POPULATION_0_15,
    POPULATION_65PLUS,
    SUPPRESSED,
)
from ._errors import read_errors
from .geocheck import check_in_netherlands
from .tabular import (
    NumberError,
    find_column,
    normalise_gemeentecode,
    parse_number,
    position,
    read_delimited,
)

logger = logging.getLogger(__name__)

CODE_COLUMNS: dict[str, int] = {
    "crs28992res100m": 100,
    "crs28992res500m": 500,
    "c28992r100": 100,
    "c28992r500": 500,
}
"""Cell-code column names (case-insensitive) and the cell size (m) each implies."""

POPULATION_ALIASES: tuple[str, ...] = ("aantal_inwoners", "inwoner", POPULATION)
"""Accepted names (case-insensitive) of the population column."""

GROUP_ALIASES: dict[str, tuple[str, ...]] = {
    POPULATION_0_15: ("aantal_inwoners_0_tot_15_jaar", "inw_014", POPULATION_0_15),
    POPULATION_65PLUS: ("aantal_inwoners_65_jaar_en_ouder", "inw_65pl", POPULATION_65PLUS),
}
"""Optional population-group columns: output name → accepted input names."""

RESOLUTIONS_M: tuple[int, ...] = (100, 500)

_CODE_PATTERN = r"^E(\d{4})N(\d{4})$"
_CENTROID_TOLERANCE_M = 1.0

SUPPRESSION_CODES: tuple[int, int] = (-99999, -99990)
"""Range (inclusive) of the negative codes CBS writes for suppressed or unknown values
(-99997 "geheim", -99995, -99994, ...); any other negative count is an error."""

ArrayLike = npt.ArrayLike


def _parse_codes(
    codes: ArrayLike, res_m: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int | None, str]:
    """Lower-left x, y (m) per code; index and reason of the first bad code (or None)."""
    if res_m not in RESOLUTIONS_M:
        msg = f"cell size must be one of {RESOLUTIONS_M} m, got {res_m!r}"
        raise ValueError(msg)
    series = pd.Series(np.asarray(codes, dtype=object).ravel(), dtype="string")
    parts = series.str.strip().str.upper().str.extract(_CODE_PATTERN)
    bad = parts[0].isna().to_numpy()
    e = pd.to_numeric(parts[0]).to_numpy(dtype=float)
    n = pd.to_numeric(parts[1]).to_numpy(dtype=float)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return e, n, i, "not a CBS cell code of the form 'E0974N4514' (E and N four digits)"
    step = res_m // 100
    off_grid = ((e % step) != 0) | ((n % step) != 0)
    if off_grid.any():
        i = int(np.flatnonzero(off_grid)[0])
        reason = (
            f"not on the {res_m} m grid (E and N must be multiples of {step} hectometres);"
            " mixed 100 m and 500 m codes?"
        )
        return e, n, i, reason
    return e * 100.0, n * 100.0, None, ""


def _bad_codes(codes: npt.NDArray[np.object_], res_m: int) -> list[int]:
    """Positions of every malformed or off-grid code (for the full report)."""
    series = pd.Series(codes, dtype="string")
    parts = series.str.strip().str.upper().str.extract(_CODE_PATTERN)
    malformed = parts[0].isna().to_numpy()
    if malformed.any():
        return [int(i) for i in np.flatnonzero(malformed)]
    step = res_m // 100
    e = pd.to_numeric(parts[0]).to_numpy(dtype=float)
    n = pd.to_numeric(parts[1]).to_numpy(dtype=float)
    return [int(i) for i in np.flatnonzero(((e % step) != 0) | ((n % step) != 0))]


def cell_square(code: str, res_m: int = 100) -> Polygon:
    """Return the exact square of a CBS grid cell in RD New (EPSG:28992, metres).

    Parameters
    ----------
    code
        CBS cell code ``E{x_ll/100:04d}N{y_ll/100:04d}``: the lower-left corner in
        hectometres (case-insensitive).
    res_m
        Cell size in metres, 100 or 500.

    Returns
    -------
    shapely.Polygon
        The square from ``(x_ll, y_ll)`` to ``(x_ll + res_m, y_ll + res_m)``.

    Raises
    ------
    ValueError
        The code is malformed or not on the grid of ``res_m``.

    Examples
    --------
    >>> cell_square("E0974N4514").bounds
    (97400.0, 451400.0, 97500.0, 451500.0)
    >>> cell_square("E0975N4520", 500).bounds
    (97500.0, 452000.0, 98000.0, 452500.0)
    >>> cell_square("E0974N4514").area
    10000.0
    """
    square: Polygon = cell_codes_to_squares(np.array([code], dtype=object), res_m)[0]
    return square


def cell_codes_to_squares(codes: ArrayLike, res_m: int = 100) -> npt.NDArray[np.object_]:
    """Vectorised :func:`cell_square`: exact squares (EPSG:28992) for an array of codes.

    Parameters
    ----------
    codes
        CBS cell codes (``E0974N4514``), any array-like of strings.
    res_m
        Cell size in metres, 100 or 500.

    Returns
    -------
    numpy.ndarray
        Object array of shapely Polygons (RD New, metres), one per code, same order.

    Raises
    ------
    ValueError
        A code is malformed or not on the grid; the message gives its position (0-based).

    Examples
    --------
    >>> squares = cell_codes_to_squares(["E0974N4514", "E0975N4514"])
    >>> [s.bounds[0] for s in squares]
    [97400.0, 97500.0]
    >>> cell_codes_to_squares(["E974N4514"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: code 'E974N4514' at position 0: not a CBS cell code of the form ...
    """
    flat = np.asarray(codes, dtype=object).ravel()
    x, y, bad, reason = _parse_codes(flat, res_m)
    if bad is not None:
        msg = f"code {flat[bad]!r} at position {bad}: {reason}"
        raise ValueError(msg)
    return shapely.box(x, y, x + res_m, y + res_m)  # type: ignore[no-any-return]


def point_to_cell_code(x: float, y: float, res_m: int = 100) -> str:
    """CBS code of the cell that contains a point given in RD New (EPSG:28992, metres).

    Points on a cell edge belong to the cell to their upper right (the lower-left corner
    is inside the cell).

    Parameters
    ----------
    x, y
        RD New coordinates in metres.
    res_m
        Cell size in metres, 100 or 500.

    Returns
    -------
    str
        The cell code ``E{x_ll/100:04d}N{y_ll/100:04d}``.

    Raises
    ------
    ValueError
        Unknown cell size, or coordinates outside 0..999,999 m.

    Examples
    --------
    >>> point_to_cell_code(97450.0, 451450.0)
    'E0974N4514'
    >>> point_to_cell_code(97750.0, 452250.0, 500)
    'E0975N4520'
    >>> point_to_cell_code(97400.0, 451400.0)
    'E0974N4514'
    """
    if res_m not in RESOLUTIONS_M:
        msg = f"cell size must be one of {RESOLUTIONS_M} m, got {res_m!r}"
        raise ValueError(msg)
    if not (0 <= x < 1_000_000 and 0 <= y < 1_000_000):
        msg = f"point ({x}, {y}) is outside the RD New range 0..999,999 m of CBS cell codes"
        raise ValueError(msg)
    x_ll = math.floor(x / res_m) * res_m
    y_ll = math.floor(y / res_m) * res_m
    return f"E{x_ll // 100:04d}N{y_ll // 100:04d}"


# --------------------------------------------------------------------------- reading


def _read_any(path: Path) -> pd.DataFrame:
    """Read GeoPackage/GeoJSON/(Geo)Parquet/CSV; GeoDataFrame when there is geometry."""
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected a CBS vierkantstatistieken file)"
        raise InputError(msg)
    suffix = path.suffix.lower()
    frame: pd.DataFrame
    with read_errors(path):  # readers raise many types for broken files
        if suffix in (".parquet", ".geoparquet", ".pq"):
            try:
                frame = gpd.read_parquet(path)
            except ValueError:  # plain parquet without geo metadata
                frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".tsv"):
            frame = read_delimited(path)
        else:
            frame = gpd.read_file(path)
    if len(frame) == 0:
        msg = f"{where(path)}: no rows (expected one row per grid cell)"
        raise InputError(msg)
    return frame


def _code_column(frame: pd.DataFrame, path: Path) -> tuple[str, int]:
    """The code column and its cell size; InputError if absent or ambiguous."""
    found = [
        (str(c), CODE_COLUMNS[str(c).strip().lower()])
        for c in frame.columns
        if str(c).strip().lower() in CODE_COLUMNS
    ]
    if not found:
        msg = f"{where(path)}: no cell-code column (accepted names: {', '.join(CODE_COLUMNS)})"
        raise InputError(msg)
    if len(found) == 1:
        return found[0]
    # Several code columns: every row must use the same one.
    filled = {
        col: frame[col].astype("string").str.strip().ne("").fillna(False).astype(bool)
        for col, _ in found
    }
    used = [col for col, mask in filled.items() if mask.any()]
    if len(used) <= 1:
        col = used[0] if used else found[0][0]
        return col, dict(found)[col]
    first, second = used[0], used[1]
    sizes = dict(found)
    if sizes[first] != sizes[second]:
        row = int(np.flatnonzero(filled[second].to_numpy())[0])
        msg = (
            f"{where(path)}, {position(frame, row, second)}: mixed resolutions"
            f" ({sizes[first]} m codes in '{first}' and {sizes[second]} m codes in"
            f" '{second}'); a file must hold one resolution"
        )
        raise InputError(msg)
    return first, sizes[first]


def _numeric(
    frame: pd.DataFrame, column: str, path: Path, problems: Problems
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Counts as float with suppression codes/empty → NaN; mask of those suppressed cells.

    Text is read by :func:`~bereikbaar.sources.tabular.parse_number` as a whole number
    (``12.340`` in a ``;``-delimited file is 12340; a fractional part, ``inf``, ``nan``
    or text are problems); a negative value other than a CBS suppression code is one too.
    """
    raw = frame[column]
    arr = np.full(len(frame), np.nan)
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        arr = raw.to_numpy(dtype=float, na_value=np.nan, copy=True)
        for i in np.flatnonzero(np.isinf(arr) | (np.isfinite(arr) & (arr != np.round(arr)))):
            problems.add(
                position(frame, int(i), column),
                f"{raw.iloc[i]!r} is not a count (expected a whole number of residents)",
            )
        arr[np.isinf(arr)] = np.nan
    else:
        text = raw.astype("string").str.strip().fillna("")
        plain = text.str.fullmatch(r"-?\d+").fillna(False).to_numpy(dtype=bool)
        arr[plain] = pd.to_numeric(text[plain]).to_numpy(dtype=float)
        sep = frame.attrs.get("delimiter")
        decimal = None if sep is None else ("," if sep == ";" else ".")
        for i in np.flatnonzero(~plain & text.ne("").to_numpy(dtype=bool)):
            value = str(text.iloc[i])
            try:
                arr[i] = parse_number(value, decimal=decimal, ambiguous="error", whole=True)
            except NumberError as err:
                problems.add(
                    position(frame, int(i), column),
                    f"{err} (expected a count of residents, digits only, e.g. 12340; CBS"
                    " marks suppressed values with negative codes such as -99997)",
                )
    lo, hi = SUPPRESSION_CODES
    negative = arr < 0
    not_code = negative & ~((arr >= lo) & (arr <= hi) & (arr == np.round(arr)))
    for i in np.flatnonzero(not_code):
        problems.add(
            position(frame, int(i), column),
            f"{raw.iloc[i]!r} is negative but not a CBS suppression code ({lo}..{hi}, e.g."
            " -99997); expected a count of zero or more",
        )
    suppressed = np.isnan(arr) | negative
    arr[suppressed] = np.nan
    return arr, suppressed


def _check_geometry(
    geoms: gpd.GeoSeries,
    x_ll: npt.NDArray[np.float64],
    y_ll: npt.NDArray[np.float64],
    res_m: int,
    codes: pd.Series,
    path: Path | str,
    code_col: str,
) -> None:
    """Raise InputError when a geometry's centroid is not inside the square of its code."""
    if geoms.crs is None:
        minx, miny, maxx, maxy = geoms.total_bounds
        crs = (
            CRS_WGS84
            if max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90
            else CRS_RD
        )
        logger.info("%s: geometry has no CRS; assuming %s from its coordinates", path, crs)
        geoms = geoms.set_crs(crs)
    rd = geoms.to_crs(CRS_RD)
    present = (~(rd.isna() | rd.is_empty)).to_numpy()
    cx = np.full(len(rd), np.nan)
    cy = np.full(len(rd), np.nan)
    centroids = shapely.centroid(rd.to_numpy()[present])
    cx[present] = shapely.get_x(centroids)
    cy[present] = shapely.get_y(centroids)
    tol = _CENTROID_TOLERANCE_M
    outside = present & (
        (cx < x_ll - tol)
        | (cx > x_ll + res_m + tol)
        | (cy < y_ll - tol)
        | (cy > y_ll + res_m + tol)
    )
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        msg = (
            f"{where(path, i + 1, code_col)}: the geometry (centroid x={cx[i]:.1f},"
            f" y={cy[i]:.1f} m in EPSG:28992) lies outside cell {codes.iloc[i]!r}"
            f" (x {x_ll[i]:.0f}..{x_ll[i] + res_m:.0f}, y {y_ll[i]:.0f}..{y_ll[i] + res_m:.0f});"
            f" {int(outside.sum())} rows disagree with their code"
        )
        raise InputError(msg)
    logger.info("%s: %d geometries consistent with their cell codes", path, int(present.sum()))


def _points_frame(
    points: str | Path | gpd.GeoDataFrame, label: Path | str | None
) -> tuple[gpd.GeoDataFrame, Path | str]:
    if isinstance(points, gpd.GeoDataFrame):
        return points, label if label is not None else "<points GeoDataFrame>"
    p = Path(points)
    frame = _read_any(p)
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{where(p)}: has no geometry (expected cell centroids or squares)"
        raise InputError(msg)
    return frame, p


def load_cbs_grid(
    path: str | Path,
    *,
    points: str | Path | gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Load CBS vierkantstatistieken (100 m or 500 m cells) as exact squares in RD New.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, GeoParquet, plain Parquet or CSV (``,`` or ``;``) with a
        cell-code column (``crs28992res100m``, ``crs28992res500m``, ``c28992r100``,
        ``c28992r500``; case-insensitive) and a population column (``aantal_inwoners`` or
        ``INWONER``). Its geometry, if any (centroid points or squares, any CRS), is
        checked against the codes. A file without a population column (for example
        CBS centroid points) is combined with a sibling ``<stem>_stats.parquet`` that
        holds the statistics, joined on the code.
    points
        Optional cell geometries (a file or GeoDataFrame with the same code column, any
        CRS) to check the codes of ``path`` against, joined on the code.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell, in file order, CRS EPSG:28992, columns ``cell_id`` (the CBS
        code), ``population`` (float; NaN where CBS suppressed the value),
        ``population_0_15`` and ``population_65plus`` (when the file has them),
        ``gemeentecode`` (``GMxxxx`` if the file has one, else None) and geometry (the
        exact square from the code). ``attrs["resolution_m"]`` is the cell size (m),
        ``attrs["suppressed"]`` the number of cells with suppressed population.

    Raises
    ------
    InputError
        Missing, unreadable or empty file; no code or population column; a malformed,
        duplicate or off-grid code (mixed 100/500 m); a cell outside the Netherlands
        (every such row listed); a non-numeric population; or a geometry whose centroid
        lies outside the square of its code. The message names the file, the 1-based row
        and the column.

    Warns
    -----
    BereikbaarWarning
        When cells have a suppressed population (with their count).
    """
    path = Path(path)
    frame = _read_any(path)
    code_col, res_m = _code_column(frame, path)
    geo_source = frame if isinstance(frame, gpd.GeoDataFrame) else None
    points_label: Path | str | None = None

    pop_col = find_column(frame.columns, POPULATION_ALIASES)
    if pop_col is None:
        sibling = path.with_name(f"{path.stem}_stats.parquet")
        if not sibling.is_file():
            msg = (
                f"{where(path)}: no population column (accepted names:"
                f" {', '.join(POPULATION_ALIASES)}) and no sibling '{sibling.name}' with the"
                " statistics"
            )
            raise InputError(msg)
        logger.info("%s: statistics from sibling %s", path, sibling)
        stats = _read_any(sibling)
        stats_code, stats_res = _code_column(stats, sibling)
        if stats_res != res_m:
            msg = (
                f"{where(sibling, column=stats_code)}: {stats_res} m cells,"
                f" but '{path}' has {res_m} m cells"
            )
            raise InputError(msg)
        if points is None and geo_source is not None:
            points, points_label = geo_source, path
        geo_source = None
        frame = pd.DataFrame(stats)
        path, code_col = sibling, stats_code
        pop_col = find_column(frame.columns, POPULATION_ALIASES)
        if pop_col is None:
            accepted = ", ".join(POPULATION_ALIASES)
            msg = f"{where(path)}: no population column (accepted names: {accepted})"
            raise InputError(msg)

    codes = frame[code_col].astype("string").str.strip().str.upper().reset_index(drop=True)
    problems = Problems(path, "the CBS grid")
    x_ll, y_ll, bad, reason = _parse_codes(codes.fillna("").to_numpy(dtype=object), res_m)
    if bad is not None:
        for i in _bad_codes(codes.fillna("").to_numpy(dtype=object), res_m):
            problems.add(position(frame, i, code_col), f"{codes.iloc[i]!r} is {reason}")
        problems.raise_if_any()
    dup = codes.duplicated(keep="first").to_numpy()
    first_of = {c: i for i, c in reversed(list(enumerate(codes)))}
    for j in np.flatnonzero(dup):
        i = int(j)
        problems.add(
            position(frame, i, code_col),
            f"duplicate cell code {codes.iloc[i]!r} (also on"
            f" {position(frame, first_of[codes.iloc[i]])}); every cell may appear once",
        )
    problems.raise_if_any()

    check_in_netherlands(
        path,
        "cells (from their codes)",
        f"{CRS_RD} (the cell codes)",
        (x_ll.min(), y_ll.min(), x_ll.max() + res_m, y_ll.max() + res_m),
        x_ll + res_m / 2,
        y_ll + res_m / 2,
        column=code_col,
        labels=codes.tolist(),
    )
    if geo_source is not None:
        geoms = geo_source.geometry.reset_index(drop=True)
        _check_geometry(geoms, x_ll, y_ll, res_m, codes, path, code_col)
    if points is not None:
        _check_points(points, points_label, codes, x_ll, y_ll, res_m)

    population, suppressed = _numeric(frame, pop_col, path, problems)
    data: dict[str, Any] = {CELL_ID: codes.to_numpy(dtype=object), POPULATION: population}
    for out_col, aliases in GROUP_ALIASES.items():
        col = find_column(frame.columns, aliases)
        if col is not None:
            data[out_col] = _numeric(frame, col, path, problems)[0]
    gm_col = find_column(frame.columns, (GEMEENTECODE, "gm_code"))
    if gm_col is not None:
        data[GEMEENTECODE] = [normalise_gemeentecode(v) for v in frame[gm_col]]
        for i, (raw, code) in enumerate(zip(frame[gm_col], data[GEMEENTECODE], strict=True)):
            if code is None and not pd.isna(raw) and str(raw).strip() != "":
                problems.add(
                    position(frame, i, gm_col),
                    f"{raw!r} is not a gemeentecode (expected GM and four digits, e.g."
                    " GM0599; leave it empty where unknown)",
                )
    else:
        data[GEMEENTECODE] = np.full(len(frame), None, dtype=object)
    problems.raise_if_any()

    out = gpd.GeoDataFrame(
        data, geometry=shapely.box(x_ll, y_ll, x_ll + res_m, y_ll + res_m), crs=CRS_RD
    )
    n_suppressed = int(suppressed.sum())
    out.attrs["resolution_m"] = res_m
    out.attrs[SUPPRESSED] = n_suppressed
    if n_suppressed:
        msg = (
            f"{where(path, column=pop_col)}: {n_suppressed} of {len(out)} cells have a"
            " suppressed or missing population (negative CBS code or empty); set to NaN"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)
    logger.info(
        "%s: %d cells of %d m, population %.0f, %d suppressed",
        path,
        len(out),
        res_m,
        float(np.nansum(population)),
        n_suppressed,
    )
    return out


def _check_points(
    points: str | Path | gpd.GeoDataFrame,
    label: Path | str | None,
    codes: pd.Series,
    x_ll: npt.NDArray[np.float64],
    y_ll: npt.NDArray[np.float64],
    res_m: int,
) -> None:
    """Check separately given cell geometries against the codes (joined on the code)."""
    pts, label = _points_frame(points, label)
    pts_col, pts_res = _code_column(pts, Path(str(label)))
    if pts_res != res_m:
        msg = (
            f"{where(label, column=pts_col)}: {pts_res} m cells, but the statistics have {res_m} m"
        )
        raise InputError(msg)
    pts_codes = pts[pts_col].astype("string").str.strip().str.upper().reset_index(drop=True)
    position = pd.Series(np.arange(len(codes)), index=pd.Index(codes))
    pos = position.reindex(pd.Index(pts_codes)).to_numpy()
    unknown = np.isnan(pos)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        logger.info(
            "%s: %d cells not in the statistics (first: row %d, %s)",
            label,
            int(unknown.sum()),
            i + 1,
            pts_codes.iloc[i],
        )
    idx = np.where(unknown, 0, pos).astype(np.int64)
    geoms = pts.geometry.to_numpy().copy()
    geoms[unknown] = None
    _check_geometry(
        gpd.GeoSeries(geoms, crs=pts.crs), x_ll[idx], y_ll[idx], res_m, pts_codes, label, pts_col
    )
