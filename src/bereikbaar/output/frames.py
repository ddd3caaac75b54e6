"""Checks and selections on the input frames that several drawers share.

Column checks, the RD New projection, present geometries, booleans with missing values and
the populated cells: used by the raster, the catchments and the map.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError
from bereikbaar.output.style import is_missing

__all__ = [
    "bool_mask",
    "has_geometry",
    "populated_cells",
    "require_columns",
    "to_rd",
    "truthy",
]


def truthy(value: object) -> bool:
    """``True`` only for a present, true value (missing values count as false).

    Examples
    --------
    >>> truthy(True), truthy(float("nan")), truthy(None), truthy(0)
    (True, False, False, False)
    """
    return not is_missing(value) and bool(value)


bool_mask = s.bool_values  # one home: bereikbaar.schema.bool_values


def to_rd(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """The frame in RD New (EPSG:28992), reprojected when needed.

    Parameters
    ----------
    gdf
        A frame with a CRS.
    what
        What the frame is, for the error message.

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    InputError
        When the frame has no CRS.
    """
    if gdf.crs is None:
        msg = f"{what} have no CRS; expected {s.CRS_RD} (RD New)"
        raise InputError(msg)
    if gdf.crs != pyproj.CRS(s.CRS_RD):
        return gdf.to_crs(s.CRS_RD)
    return gdf


def has_geometry(gdf: gpd.GeoDataFrame) -> NDArray[np.bool_]:
    """Which rows have a geometry that is neither missing nor empty."""
    geoms = gdf.geometry.to_numpy()
    return ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)  # type: ignore[no-any-return]


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`~bereikbaar.exceptions.InputError` when ``df`` lacks one of ``columns``.

    Parameters
    ----------
    df
        The frame.
    columns
        Columns it must have.
    what
        What the frame is, for the error message.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"{what} lack column(s) {missing}; present: {list(df.columns)}"
        raise InputError(msg)


def populated_cells(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells with a geometry and population > 0 or suppressed (NaN)."""
    keep = has_geometry(cells)
    if s.POPULATION in cells.columns:
        pop = cells[s.POPULATION].to_numpy(dtype=float)
        keep &= np.isnan(pop) | (pop > 0)
    return cells[keep]
