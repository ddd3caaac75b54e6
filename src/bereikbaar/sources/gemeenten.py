"""CBS gemeente boundaries (wijk- en buurtkaart, gebiedsindelingen) → land polygons in RD New.

:func:`load_gemeenten` reads a GeoPackage or GeoJSON of gemeente polygons in any CRS and
returns one row per gemeente (``gemeentecode``, ``gemeentenaam``, geometry) in EPSG:28992,
water-only parts dropped, parts that share a code dissolved, invalid geometries repaired.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..exceptions import InputError, where
from ..schema import CRS_RD, GEMEENTECODE, GEMEENTENAAM
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
    try:
        gdf = gpd.read_file(path)
    except Exception as err:  # pyogrio raises several types for unreadable files
        msg = f"{where(path)}: cannot read as a GeoPackage/GeoJSON ({err})"
        raise InputError(msg) from err
    if not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
        msg = f"{where(path)}: no features (expected gemeente polygons)"
        raise InputError(msg)
    return gdf


def _read_stats(path: Path) -> pd.DataFrame:
    if not path.is_file():
        msg = f"{where(path)}: stats file not found"
        raise InputError(msg)
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        msg = f"{where(path)}: cannot read as parquet ({err})"
        raise InputError(msg) from err


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
        (polygonal parts kept).

    Raises
    ------
    InputError
        The file (or stats file) is missing, unreadable or empty, has no CRS, lacks a
        code or name column, has a value that is not a gemeente code, or the stats rows
        do not match.
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
        msg = f"{where(path)}: the file has no CRS (expected e.g. EPSG:28992 or EPSG:4326)"
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

    codes: list[str] = []
    for i, value in enumerate(gdf[code_col]):
        code = normalise_gemeentecode(value)
        if code is None:
            msg = (
                f"{where(path, i + 1, code_col)}: {value!r} is not a gemeente code"
                " (expected GMxxxx or up to four digits)"
            )
            raise InputError(msg)
        codes.append(code)
    frame = gpd.GeoDataFrame(
        {
            GEMEENTECODE: codes,
            GEMEENTENAAM: gdf[name_col].astype("string").str.strip().to_numpy(dtype=object),
            "_row": np.arange(1, len(gdf) + 1),
        },
        geometry=gdf.geometry.to_crs(CRS_RD).to_numpy(),
        crs=CRS_RD,
    )

    water_col = find_column(gdf.columns, (WATER_COLUMN,))
    if water_col is not None:
        is_water = gdf[water_col].astype("string").str.strip().str.upper().eq("JA").fillna(False)
        n_water = int(is_water.sum())
        frame = frame.loc[~is_water.to_numpy()]
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
        logger.info("%s: repaired %d invalid geometries with shapely.make_valid", path, n_invalid)
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=CRS_RD))
    empty = frame.geometry.isna() | frame.geometry.is_empty
    if empty.any():
        row = int(frame.loc[empty, "_row"].iloc[0])
        msg = f"{where(path, row)}: the geometry is empty or has no polygonal part"
        raise InputError(msg)

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
