"""Writing and drawing a scenario: its tables, its edited branch list and its map layer.

The scenarios (:mod:`bereikbaar.scenarios`) compute; this module writes what they
computed, atomically, and draws it with folium.
"""

from __future__ import annotations

import math
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from ..scenarios import ScenarioResult
from ..schema import (
    ADDRESS,
    BRANCH_TYPE,
    CELL_ID,
    CRS_RD,
    CRS_WGS84,
    DISTANCE_M,
    GEMEENTECODE,
    LIBRARY_ID,
    NAME,
    PLACE,
    POPULATION,
    POSTCODE,
    REACHABLE,
)
from .files import atomic_path, neutralise_frame, output_set, write_excel_csv
from .maps import make_map, write_map
from .raster import rasterize_cells
from .style import escape_text

__all__ = [
    "scenario_layer",
    "write_branch_list",
    "write_scenario",
]


def write_branch_list(libraries: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a branch list that :func:`~bereikbaar.load_libraries` reads back unchanged.

    Coordinates are written as RD New ``x``/``y`` (m) with full precision, ids in
    an ``id`` column, so a pipeline run on this file reproduces the scenario.

    Parameters
    ----------
    libraries
        Branches (EPSG:28992).
    path
        Output CSV (``;``-separated, UTF-8).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    libs = libraries.to_crs(CRS_RD)
    geoms = libs.geometry.to_numpy()
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy = np.full((len(libs), 2), np.nan)
    if has.any():
        xy[has] = shapely.get_coordinates(geoms[has])

    def text(col: str) -> list[str]:
        if col not in libs.columns:
            return [""] * len(libs)
        return [
            "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in libs[col]
        ]

    frame = pd.DataFrame(
        {
            "id": libs[LIBRARY_ID].astype(str).to_numpy(),
            "naam": text(NAME),
            "type": libs[BRANCH_TYPE].astype(str).to_numpy(),
            "adres": text(ADDRESS),
            "postcode": text(POSTCODE),
            "plaats": text(PLACE),
            "gemeentecode": text(GEMEENTECODE),
            "x": [repr(float(v)) if h else "" for v, h in zip(xy[:, 0], has, strict=True)],
            "y": [repr(float(v)) if h else "" for v, h in zip(xy[:, 1], has, strict=True)],
        }
    )
    with atomic_path(path) as tmp:
        neutralise_frame(frame).to_csv(
            tmp, sep=";", index=False, encoding="utf-8", lineterminator="\n"
        )
    return path


def scenario_layer(
    result: ScenarioResult, *, name: str = "Scenario: verandering van de afstand"
) -> folium.FeatureGroup:
    """Folium layer: cells where the distance rose (red) or fell (green), changed branches.

    Cells whose distance did not change are transparent; cells that can no
    longer reach a library are grey. Drawn as one PNG raster, like the cell
    layer of :func:`~bereikbaar.make_map`.

    Parameters
    ----------
    result
        A scenario.
    name
        Layer name in the layer control (Dutch).

    Returns
    -------
    folium.FeatureGroup
        The layer.
    """
    group = folium.FeatureGroup(name=name, show=True)
    cells = result.cells
    before = cells["distance_m_before"].to_numpy(dtype=float)
    after = cells[DISTANCE_M].to_numpy(dtype=float)
    changed = _distance_changed(cells)
    if changed.any():
        # shift the change (km) so the class bounds are positive: classes
        # <-2, -2..-1, -1..0 (fell), 0..1, 1..2, 2..5, >5 km (rose); NaN: unreachable
        shift = 100.0
        bins = tuple(shift + b for b in (-2.0, -1.0, 0.0, 1.0, 2.0, 5.0))
        delta_km = (after - before) / 1000.0
        frame = cells.loc[changed, ["geometry"]].copy()
        frame[DISTANCE_M] = (shift + delta_km[changed]) * 1000.0
        frame[REACHABLE] = np.isfinite(after[changed])
        raster = rasterize_cells(frame, bins_km=bins)
        if raster is not None:
            folium.raster_layers.ImageOverlay(
                image=raster.to_data_uri(),
                bounds=[list(raster.bounds_wgs84[0]), list(raster.bounds_wgs84[1])],
                opacity=0.85,
                pixelated=True,
            ).add_to(group)
    closed = result.baseline.libraries
    closed = closed[closed[LIBRARY_ID].astype(str).isin(result.closed)]
    for frame, colour, label in (
        (closed, "#d7191c", "gesloten"),
        (result.opened, "#1a9850", "nieuw"),
    ):
        if len(frame) == 0:
            continue
        pts = frame[frame.geometry.notna()].to_crs(CRS_WGS84)
        for _, row in pts.iterrows():
            folium.CircleMarker(
                location=[row.geometry.y, row.geometry.x],
                radius=9,
                color=colour,
                weight=3,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=0.9,
                tooltip=folium.Tooltip(f"{escape_text(row.get(NAME, ''))} ({label})"),
            ).add_to(group)
    return group


def write_scenario(result: ScenarioResult, out_dir: str | Path) -> dict[str, Path]:
    """Write a scenario's tables, edited branch list and map, as one set.

    The files replace the previous ones in ``out_dir`` together or not at all
    (:func:`.files.output_set`; inside an open set, as in ``bereikbaar scenario``, they
    join it). Files: ``scenario_gemeenten.csv`` (per-gemeente deltas), ``scenario_cellen.csv``
    (cells whose distance changed), ``scenario_bibliotheken.csv`` (the edited
    branch list, re-runnable with ``bereikbaar run``) and ``scenario_kaart.html``.

    Parameters
    ----------
    result
        A scenario.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    dict
        Output name → path.
    """
    with output_set(out_dir) as staged:
        paths = _write_scenario_files(result, staged.path)
    return {name: staged.final(p) for name, p in paths.items()}


def _write_scenario_files(result: ScenarioResult, out: Path) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    paths["scenario_gemeenten"] = _write_csv(result.deltas, out / "scenario_gemeenten.csv")
    changed = result.cells[_distance_changed(result.cells)]
    cols = [k for k in (CELL_ID, GEMEENTECODE, POPULATION, LIBRARY_ID) if k in changed.columns]
    paths["scenario_cellen"] = _write_csv(
        changed[[*cols, "distance_m_before", DISTANCE_M, "delta_m"]], out / "scenario_cellen.csv"
    )
    paths["scenario_bibliotheken"] = write_branch_list(
        result.libraries, out / "scenario_bibliotheken.csv"
    )
    fmap = make_map(
        result.cells,
        result.summary,
        result.libraries,
        title="Scenario: afstand tot een volwaardige bibliotheek",
        threshold_km=result.baseline.rule.threshold_km,
        show_cells=False,
    )
    layer = scenario_layer(result)
    layer.add_to(fmap)
    # keep the layer control last so it lists the scenario layer
    for key, child in list(fmap._children.items()):
        if isinstance(child, folium.LayerControl):
            del fmap._children[key]
            fmap.add_child(child, name=key)
    paths["scenario_kaart"] = write_map(fmap, out / "scenario_kaart.html")
    return paths


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A scenario table for Excel (:func:`.files.write_excel_csv`, ``\n`` line ends)."""
    return write_excel_csv(frame, path, line_terminator="\n")


def _distance_changed(cells: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Cells of a scenario whose distance changed (unreachable before and after: unchanged)."""
    before = cells["distance_m_before"].to_numpy(dtype=float)
    after = cells[DISTANCE_M].to_numpy(dtype=float)
    return np.asarray(~((before == after) | (np.isnan(before) & np.isnan(after))))
