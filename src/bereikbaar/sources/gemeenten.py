"""CBS gemeente boundaries (wijk- en buurtkaart, gebiedsindelingen) → land polygons in RD New.

:func:`load_gemeenten` reads a GeoPackage or GeoJSON of gemeente polygons in any CRS and
returns one row per gemeente (``gemeentecode``, ``gemeentenaam``, geometry) in EPSG:28992,
water-only parts dropped, parts that share a code dissolved, invalid geometries repaired.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..exceptions import BereikbaarWarning, InputError, Problems, location, where
from ..schema import CRS_RD, GEMEENTECODE, GEMEENTENAAM
from ._errors import read_errors
from .geocheck import check_in_netherlands, likely_crs
from .tabular import find_column as find_column  # kept: the old public home
from .tabular import normalise_gemeentecode as normalise_gemeentecode  # kept: the old home
from .tabular import require_column

logger = logging.getLogger(__name__)

CODE_ALIASES: tuple[str, ...] = ("gemeentecode", "statcode", "gm_code", "gmcode")
"""Accepted names (case-insensitive) of the gemeente code column, in order of preference."""

NAME_ALIASES: tuple[str, ...] = ("gemeentenaam", "statnaam", "gm_naam", "gmnaam")
"""Accepted names (case-insensitive) of the gemeente name column, in order of preference."""

WATER_COLUMN = "water"


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected a GeoPackage or GeoJSON of gemeenten)"
        raise InputError(msg)
    with (
        read_errors(path, "cannot read as a GeoPackage/GeoJSON"),  # pyogrio: several types
        warnings.catch_warnings(),
    ):
        # a NaN vertex: reported with its row by _check_geometry_types
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        gdf = gpd.read_file(path)
    if not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
        msg = f"{where(path)}: no features (expected gemeente polygons)"
        raise InputError(msg)
    return gdf


def _read_stats(path: Path) -> pd.DataFrame:
    if not path.is_file():
        msg = f"{where(path)}: stats file not found"
        raise InputError(msg)
    with read_errors(path, "cannot read as parquet"):  # pyarrow raises several types
        stats = pd.read_parquet(path)
    return stats


def _attach_stats(gdf: gpd.GeoDataFrame, path: Path, stats_path: Path) -> gpd.GeoDataFrame:
    """Attach the name and water columns of a stats table with identical row order."""
    stats = _read_stats(stats_path)
    if len(stats) != len(gdf):
        msg = (
            f"{where(stats_path)}: has {len(stats)} rows but {where(path)} has {len(gdf)}"
            " features; a stats table is attached by position and needs the same rows"
        )
        raise InputError(msg)
    geo_code = find_column(gdf.columns, CODE_ALIASES)
    stats_code = find_column(stats.columns, CODE_ALIASES)
    if geo_code is not None and stats_code is not None:
        left = [normalise_gemeentecode(v) for v in gdf[geo_code]]
        right = [normalise_gemeentecode(v) for v in stats[stats_code]]
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            if a != b:
                msg = (
                    f"{where(stats_path, i + 1, stats_code)}: gemeentecode {b!r} differs from"
                    f" {a!r} in {where(path, i + 1, geo_code)}; the stats table must have the"
                    " same row order as the polygons"
                )
                raise InputError(msg)
    else:
        logger.info("%s: no code column on both sides; attaching stats by position", stats_path)
    wanted = [find_column(stats.columns, NAME_ALIASES), find_column(stats.columns, (WATER_COLUMN,))]
    present = {str(c).lower() for c in gdf.columns}
    extra = [c for c in wanted if c is not None and c.lower() not in present]
    out = gdf.copy()
    for col in extra:
        out[col] = stats[col].to_numpy()
    logger.info("%s: attached columns %s from %s", path, extra, stats_path)
    return out


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Keep only the polygonal parts of a geometry (None when there are none)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [
        p
        for p in shapely.get_parts(geom)
        if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty
    ]
    if not parts:
        return None
    return shapely.union_all(parts)


POLYGONAL: tuple[str, ...] = ("Polygon", "MultiPolygon")


def _check_geometry_types(geoms: np.ndarray, codes: list[str], problems: Problems) -> None:
    """Record each row whose geometry is missing, empty, not polygonal or not finite."""
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    bad_vertex = np.zeros(len(geoms), dtype=bool)
    finite = np.isfinite(coords[:, :2]).all(axis=1)
    bad_vertex[index[~finite]] = True
    for i, geom in enumerate(geoms):
        code = codes[i] or "?"
        if geom is None:
            problems.add(
                location(i + 1, "geometry"), f"{code}: no geometry (expected a (Multi)Polygon)"
            )
        elif geom.geom_type not in POLYGONAL:
            problems.add(
                location(i + 1, "geometry"),
                f"{code}: a {geom.geom_type} (expected a Polygon or MultiPolygon)",
            )
        elif geom.is_empty:
            problems.add(location(i + 1, "geometry"), f"{code}: an empty {geom.geom_type}")
        elif bad_vertex[i]:
            n = int((~finite[index == i]).sum())
            problems.add(
                location(i + 1, "geometry"),
                f"{code}: {n} vertex/vertices with a NaN or infinite coordinate",
            )


def _check_code_names(
    codes: list[str],
    names: np.ndarray,
    is_water: np.ndarray,
    code_col: str,
    problems: Problems,
) -> None:
    """Record each row whose gemeentecode an earlier row has with another name."""
    first: dict[str, tuple[int, str, str]] = {}
    for i, (code, name) in enumerate(zip(codes, names, strict=True)):
        if not code or name is None or pd.isna(name) or is_water[i]:
            continue
        key = " ".join(str(name).casefold().split())
        if code not in first:
            first[code] = (i + 1, key, str(name))
            continue
        row, other_key, other = first[code]
        if key != other_key:
            problems.add(
                location(i + 1, code_col),
                f"gemeentecode {code} is named {str(name)!r} here but {other!r} in row {row};"
                " two gemeenten cannot share a code (rows with one code are merged)",
            )


def load_gemeenten(path: str | Path, *, stats: str | Path | None = None) -> gpd.GeoDataFrame:
    """Load CBS gemeente boundaries as land polygons in RD New.

    Parameters
    ----------
    path
        GeoPackage or GeoJSON of gemeente (Multi)Polygons in any CRS (for example the
        CBS wijk- en buurtkaart layer ``gemeenten`` or the gebiedsindelingen). The code
        column is ``gemeentecode``, ``statcode`` or ``gm_code`` (values ``GM0363``,
        ``0363`` or ``363``); the name column ``gemeentenaam``, ``statnaam`` or ``gm_naam``.
    stats
        Optional parquet table with the same rows in the same order (for example
        ``gemeente_2024_stats.parquet``) that carries the names and the ``water`` flag;
        attached by position after checking that the gemeente codes agree. When None, a
        sibling ``<stem>_stats.parquet`` next to ``path`` is used if it exists.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per gemeente with columns ``gemeentecode`` (``GMxxxx``),
        ``gemeentenaam`` and geometry ((Multi)Polygon, valid) in EPSG:28992 (metres).
        Features flagged ``water == 'JA'`` are dropped; features sharing a code are
        dissolved; invalid geometries are repaired with :func:`shapely.make_valid`
        (polygonal parts kept, with a warning).

    Raises
    ------
    InputError
        The file (or stats file) is missing, unreadable or empty, has no CRS, lacks a
        code or name column, or the stats rows do not match; or rows (all listed, with
        row and column) have a value that is not a gemeente code, a geometry that is not
        a (Multi)Polygon (missing, empty, another type, a NaN vertex), a code another row
        has with another name; or the polygons do not lie in the Netherlands after
        transformation to RD New (a CRS declared wrong; the message names the likely one).

    Warns
    -----
    BereikbaarWarning
        When invalid polygons were repaired (with their count and rows).
    """
    path = Path(path)
    gdf = _read_vector(path)
    n_read = len(gdf)
    stats_path = Path(stats) if stats is not None else path.with_name(f"{path.stem}_stats.parquet")
    if stats is not None or stats_path.is_file():
        gdf = _attach_stats(gdf, path, stats_path)

    code_col = require_column(
        gdf.columns,
        CODE_ALIASES,
        f"{where(path, column='gemeentecode')}: no gemeente code column"
        f" (accepted names: {', '.join(CODE_ALIASES)})",
    )
    name_col = require_column(
        gdf.columns,
        NAME_ALIASES,
        f"{where(path, column='gemeentenaam')}: no gemeente name column"
        f" (accepted names: {', '.join(NAME_ALIASES)}); pass stats= with a table that has one",
    )
    if gdf.crs is None:
        fits = likely_crs(gdf.total_bounds)
        hint = f"; its coordinates fit {' or '.join(fits)}" if fits else ""
        msg = (
            f"{where(path)}: the file has no CRS (expected e.g. EPSG:28992 or EPSG:4326){hint};"
            " save the file with its CRS"
        )
        raise InputError(msg)
    if gdf.crs.is_geographic:
        minx, miny, maxx, maxy = gdf.total_bounds
        if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
            msg = (
                f"{where(path)}: the file says its CRS is {gdf.crs.to_string()} (degrees) but its"
                f" coordinates reach ({maxx:.0f}, {maxy:.0f}); a GeoJSON without a 'crs' member"
                " is read as WGS84; are these RD New metres (EPSG:28992)? Save the file with"
                " its CRS"
            )
            raise InputError(msg)

    problems = Problems(path, "the gemeente codes and geometries")
    codes: list[str] = []
    for i, value in enumerate(gdf[code_col]):
        code = normalise_gemeentecode(value)
        if code is None:
            problems.add(
                location(i + 1, code_col),
                f"{value!r} is not a gemeente code (expected GMxxxx or up to four digits)",
            )
        codes.append(code or "")
    names = gdf[name_col].astype("string").str.strip().to_numpy(dtype=object)
    _check_geometry_types(gdf.geometry.to_numpy(), codes, problems)
    water_col = find_column(gdf.columns, (WATER_COLUMN,))
    is_water = (
        gdf[water_col].astype("string").str.strip().str.upper().eq("JA").fillna(False).to_numpy()
        if water_col is not None
        else np.zeros(len(gdf), dtype=bool)
    )
    _check_code_names(codes, names, is_water, code_col, problems)
    if problems:
        problems.fix = (
            "correct these rows in the gemeente file (one (Multi)Polygon with finite"
            " coordinates per row; one name per gemeentecode)"
        )
        problems.raise_if_any()
    rd = gdf.geometry.to_crs(CRS_RD)
    box = shapely.bounds(rd.to_numpy())
    check_in_netherlands(
        path,
        "gemeente polygons",
        gdf.crs,
        gdf.total_bounds,
        (box[:, 0] + box[:, 2]) / 2,
        (box[:, 1] + box[:, 3]) / 2,
        column=code_col,
        labels=codes,
    )
    frame = gpd.GeoDataFrame(
        {
            GEMEENTECODE: codes,
            GEMEENTENAAM: names,
            "_row": np.arange(1, len(gdf) + 1),
        },
        geometry=rd.to_numpy(),
        crs=CRS_RD,
    )

    if water_col is not None:
        n_water = int(is_water.sum())
        frame = frame.loc[~is_water]
        logger.info(
            "%s: dropped %d water-only features (column %r == 'JA')", path, n_water, water_col
        )

    geoms = frame.geometry.to_numpy()
    invalid = ~shapely.is_valid(geoms)
    n_invalid = int(invalid.sum())
    if n_invalid:
        repaired = shapely.make_valid(geoms[invalid])
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(g) for g in repaired]
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=CRS_RD))
    empty = (frame.geometry.isna() | frame.geometry.is_empty).to_numpy()
    if empty.any():
        lost = Problems(path, "the invalid polygons that make_valid cannot repair")
        for row, code in zip(frame["_row"][empty], frame[GEMEENTECODE][empty], strict=True):
            lost.add(location(int(row), "geometry"), f"{code}: the geometry has no polygonal part")
        lost.fix = "correct these polygons (zero area: collapsed to a line or a point?)"
        lost.raise_if_any()
    if n_invalid:
        rows = ", ".join(str(r) for r in frame["_row"].to_numpy()[invalid][:10])
        more = ", …" if n_invalid > 10 else ""
        msg = (
            f"{where(path, column='geometry')}: {n_invalid} invalid gemeente polygon(s)"
            f" (rows {rows}{more}; self-intersections or similar) repaired with"
            " shapely.make_valid (polygonal parts kept); check them if this is unexpected"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=2)

    out = _dissolve(frame, path)
    first_row = frame.groupby(GEMEENTECODE, sort=False)["_row"].min()
    _check_overlaps(out, path, code_col, first_row)
    logger.info("%s: %d features read, %d gemeenten loaded", path, n_read, len(out))
    return out


MAX_OVERLAP_SHARE = 0.10
"""Largest accepted overlap of two gemeenten, as a share of the smaller one's area.

Published CBS boundaries overlap their neighbours by up to about 2.5 % (generalised
river banks); a larger overlap means a duplicated or misplaced polygon."""


def _check_overlaps(out: gpd.GeoDataFrame, path: Path, code_col: str, first_row: pd.Series) -> None:
    """Raise InputError when two gemeenten overlap by more than :data:`MAX_OVERLAP_SHARE`."""
    geoms = out.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    share = np.divide(overlap, smaller, out=np.ones_like(overlap), where=smaller > 0)
    bad = share > MAX_OVERLAP_SHARE
    if not bad.any():
        return
    i = int(np.argmax(np.where(bad, share, -1.0)))
    a, b = str(out[GEMEENTECODE].iloc[left[i]]), str(out[GEMEENTECODE].iloc[right[i]])
    row_a, row_b = int(first_row[a]), int(first_row[b])
    if row_b < row_a:
        a, b, row_a, row_b = b, a, row_b, row_a
    msg = (
        f"{where(path, row_b, code_col)}: gemeente {b} overlaps {a} (row {row_a}) by"
        f" {overlap[i] / 1e6:.2f} km² ({share[i]:.0%} of the smaller one); gemeenten must not"
        f" overlap (at most {MAX_OVERLAP_SHARE:.0%}); is a polygon duplicated or misplaced?"
    )
    raise InputError(msg)


def _dissolve(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """One row per gemeentecode, in order of first appearance; parts unioned."""
    codes: list[str] = []
    names: list[object] = []
    geoms: list[BaseGeometry] = []
    n_merged = 0
    for code, group in frame.groupby(GEMEENTECODE, sort=False):
        codes.append(str(code))
        non_null = group[GEMEENTENAAM].dropna()
        names.append(non_null.iloc[0] if len(non_null) else None)
        parts = group.geometry.to_numpy()
        if len(parts) == 1:
            geoms.append(parts[0])
        else:
            n_merged += len(parts) - 1
            merged = _polygonal(shapely.make_valid(shapely.union_all(parts)))
            if merged is None:  # pragma: no cover - union of non-empty polygons
                msg = f"{where(path)}: dissolving {code} left no polygon"
                raise InputError(msg)
            geoms.append(merged)
    if n_merged:
        logger.info("%s: dissolved %d features into gemeenten sharing a code", path, n_merged)
    return gpd.GeoDataFrame({GEMEENTECODE: codes, GEMEENTENAAM: names}, geometry=geoms, crs=CRS_RD)
