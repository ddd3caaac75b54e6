"""Catchment areas: the populated cells for which a library is the nearest, as outlines."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from bereikbaar import schema as s
from bereikbaar.output.frames import bool_mask, populated_cells, require_columns, to_rd

__all__ = ["catchment_areas"]


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
    require_columns(cells, [s.LIBRARY_ID, s.DISTANCE_M], "cells")
    cells = populated_cells(to_rd(cells, "cells"))
    dist = cells[s.DISTANCE_M].to_numpy(dtype=float)
    ok = ~np.isnan(dist) & ~cells[s.LIBRARY_ID].isna().to_numpy()
    if s.REACHABLE in cells.columns:
        ok &= bool_mask(cells[s.REACHABLE])
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
