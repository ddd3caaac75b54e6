"""Wijken and buurten of the CBS Wijk- en buurtkaart → land polygons in RD New.

:func:`load_areas` reads the ``wijken`` or ``buurten`` layer of the CBS Wijk- en
buurtkaart GeoPackage (``WijkBuurtkaart_2024_v2.gpkg``, layer names as CBS
publishes them), or a GeoJSON of the same polygons with its statistics in a
sibling ``<stem>_stats.parquet`` (the KWB files in the shared data:
``buurt_2024.geojson`` + ``buurt_2024_stats.parquet``), and returns one row per
area with its code, name, gemeentecode (and wijkcode for a buurt) in EPSG:28992.
Water-only areas (``water == "JA"``) are dropped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd

from ..exceptions import InputError, where
from ..schema import AREA_LEVELS, CRS_RD, GEMEENTECODE, GEMEENTENAAM, WIJKCODE
from ._errors import read_errors
from .tabular import find_column

__all__ = ["AREA_LAYERS", "load_areas"]

log = logging.getLogger(__name__)

AREA_LAYERS: Final = {"wijk": "wijken", "buurt": "buurten"}
"""GeoPackage layer of each level in the CBS Wijk- en buurtkaart."""

_PATTERNS: Final = {  # Amsterdam numbers its wijken and buurten with letters: WK0363AA
    "wijk": re.compile(r"^WK\d{4}[0-9A-Z]{2}$"),
    "buurt": re.compile(r"^BU\d{4}[0-9A-Z]{4}$"),
}


def _read(path: Path, level: str) -> gpd.GeoDataFrame:
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected the CBS {AREA_LAYERS[level]})"
        raise InputError(msg)
    layer = None
    with read_errors(path, "cannot read as a GeoPackage/GeoJSON"):  # pyogrio: several types
        if path.suffix.lower() == ".gpkg":
            import pyogrio

            names = [str(r[0]) for r in pyogrio.list_layers(path)]
            wanted = AREA_LAYERS[level]
            layer = next((n for n in names if n.lower() == wanted), None)
            if layer is None:
                layer = next((n for n in names if level in n.lower()), None)
            if layer is None:
                msg = (
                    f"{where(path)}: no layer '{wanted}' (layers: {', '.join(names)}); give the"
                    " CBS Wijk- en buurtkaart GeoPackage"
                )
                raise InputError(msg)
        gdf = gpd.read_file(path, layer=layer)
    if len(gdf) == 0:
        msg = f"{where(path)}: no features (expected {AREA_LAYERS[level]} polygons)"
        raise InputError(msg)
    if gdf.crs is None:
        msg = f"{where(path)}: no CRS; the CBS files are in EPSG:28992 or EPSG:4326"
        raise InputError(msg)
    return gdf


def _attach_stats(gdf: gpd.GeoDataFrame, stats_path: Path, code: str) -> gpd.GeoDataFrame:
    """Attach the names, parent codes and water flag of a sibling stats table by code."""
    with read_errors(stats_path, "cannot read as parquet"):
        stats = pd.read_parquet(stats_path)
    key = find_column(stats.columns, (code,))
    if key is None:
        msg = f"{where(stats_path, column=code)}: no '{code}' column to join the areas on"
        raise InputError(msg)
    wanted = [c for c in stats.columns if c != key and c not in gdf.columns]
    right = stats.drop_duplicates(key).set_index(key)[wanted]
    joined = gdf.join(right, on=code)
    log.info("%s: attached %d columns by %s", stats_path.name, len(wanted), code)
    return gpd.GeoDataFrame(joined, geometry=gdf.geometry.name, crs=gdf.crs)


def load_areas(
    path: str | Path, level: str, *, stats: str | Path | None = None
) -> gpd.GeoDataFrame:
    """Read CBS wijken or buurten as land polygons in RD New.

    Parameters
    ----------
    path
        The CBS Wijk- en buurtkaart GeoPackage (layer ``wijken``/``buurten``), or a
        GeoJSON/GeoPackage of the areas alone.
    level
        ``"wijk"`` or ``"buurt"``.
    stats
        A Parquet table with the same codes carrying names, ``gemeentecode``,
        ``wijkcode`` and ``water``; default the sibling ``<stem>_stats.parquet`` when
        the file lacks the name column and that file exists.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per land area, in file order: ``wijkcode``/``buurtcode``,
        ``wijknaam``/``buurtnaam`` (None where the file has none), ``gemeentecode``
        (and ``wijkcode`` for buurten) where known, geometry, EPSG:28992.

    Raises
    ------
    InputError
        Missing or unreadable file, no such layer, no CRS, no code column, a code
        that is not of the level's form, or a code that occurs twice.
    """
    if level not in AREA_LAYERS:
        msg = f"level must be 'wijk' or 'buurt', got {level!r}"
        raise InputError(msg)
    code_col, name_col = AREA_LEVELS[level]
    path = Path(path)
    gdf = _read(path, level)
    if find_column(gdf.columns, (code_col,)) is None:
        msg = f"{where(path, column=code_col)}: no '{code_col}' column"
        raise InputError(msg)
    gdf = gdf.rename(columns={find_column(gdf.columns, (code_col,)): code_col})
    sibling = Path(stats) if stats is not None else path.with_name(f"{path.stem}_stats.parquet")
    if stats is not None or (find_column(gdf.columns, (name_col,)) is None and sibling.is_file()):
        gdf = _attach_stats(gdf, sibling, code_col)
    codes = gdf[code_col].astype(str).str.strip().str.upper()
    bad = ~codes.str.match(_PATTERNS[level].pattern)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        example = "WK036301" if level == "wijk" else "BU03630001"
        msg = (
            f"{where(path, row + 1, code_col)}: {codes.iloc[row]!r} is not a {level}code"
            f" (expected the form {example})"
        )
        raise InputError(msg)
    gdf[code_col] = codes
    water = find_column(gdf.columns, ("water",))
    if water is not None:
        gdf = gdf[gdf[water].astype(str).str.strip().str.upper() != "JA"]
    dup = gdf[code_col].duplicated()
    if dup.any():
        msg = (
            f"{where(path, column=code_col)}: {level} {gdf.loc[dup, code_col].iloc[0]} occurs"
            " more than once among the land areas"
        )
        raise InputError(msg)
    out = gpd.GeoDataFrame(
        {
            code_col: gdf[code_col].to_numpy(dtype=object),
            name_col: (
                gdf[find_column(gdf.columns, (name_col,))].astype(str).to_numpy(dtype=object)
                if find_column(gdf.columns, (name_col,)) is not None
                else np.full(len(gdf), None, dtype=object)
            ),
        },
        geometry=gdf.geometry.to_crs(CRS_RD).make_valid().to_numpy(),
        crs=CRS_RD,
    )
    for parent in (GEMEENTECODE, GEMEENTENAAM) + ((WIJKCODE,) if level == "buurt" else ()):
        col = find_column(gdf.columns, (parent,))
        if col is not None:
            out[parent] = gdf[col].astype(str).str.strip().to_numpy(dtype=object)
    log.info("%s: %d %s", path.name, len(out), AREA_LAYERS[level])
    return out
