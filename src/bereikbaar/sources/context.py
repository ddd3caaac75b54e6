"""Orientation for maps, from the run's own OpenStreetMap input: main roads, ferries, places.

The network reader collects what a reader needs to find their way on a map that has no
background while it reads the network (:func:`bereikbaar.sources.osm.load_network_with_context`,
an :class:`~bereikbaar.sources.osm.OsmContext`, cached beside the network): motorways to
secondary roads (thin, simplified), ferry routes, the ``place=city|town|village`` nodes with a
name, and the named streets. :func:`map_context` draws it; :func:`load_context` reads it from a
file alone (the same reader); :func:`street_names_near` names points (suggested sites) by their
nearest named street and place. Inputs that are not OpenStreetMap files (NWB) give an empty
context.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from bereikbaar.schema import CRS_RD, CRS_WGS84, transformer

from .osm import OsmContext, read_context
from .osm_tags import MAIN_ROADS, PLACES

log = logging.getLogger(__name__)

__all__ = [
    "MAIN_ROADS",
    "PLACES",
    "MapContext",
    "load_context",
    "map_context",
    "street_names_near",
]

_OSM_SUFFIXES = (".pbf", ".osm", ".gz", ".bz2")


@dataclass(frozen=True)
class MapContext:
    """Main roads and place names of a run's area (RD New, EPSG:28992).

    Attributes
    ----------
    roads
        Lines with ``soort`` (an OSM ``highway`` value, or ``ferry``), ``name`` and ``ref``.
    places
        Points with ``name`` and ``place`` (``city``, ``town``, ``village``).
    """

    roads: gpd.GeoDataFrame
    places: gpd.GeoDataFrame

    @classmethod
    def empty(cls) -> MapContext:
        """A context without roads or places."""
        return cls(
            roads=gpd.GeoDataFrame({"soort": [], "name": [], "ref": []}, geometry=[], crs=CRS_RD),
            places=gpd.GeoDataFrame({"name": [], "place": []}, geometry=[], crs=CRS_RD),
        )


def _is_osm(path: Path) -> bool:
    return path.name.lower().endswith(_OSM_SUFFIXES) and not path.name.lower().endswith(
        (".gml.gz", ".csv.gz")
    )


def load_context(
    path: str | Path, *, simplify_m: float = 25.0, data: OsmContext | None = None
) -> MapContext:
    """Main roads, ferries and place names from an OpenStreetMap file (``.osm.pbf``, ``.osm``).

    Parameters
    ----------
    path
        The run's road network file. Other formats (NWB) give :meth:`MapContext.empty`.
    simplify_m
        Tolerance (m) with which road lines are simplified.
    data
        What the network reader collected from ``path``
        (:func:`~bereikbaar.sources.osm.load_network_with_context`); ``None``: read the file.

    Returns
    -------
    MapContext
        Roads and places in RD New.
    """
    path = Path(path)
    if not _is_osm(path):
        log.info("%s: not an OpenStreetMap file; the maps get no roads or place names", path)
        return MapContext.empty()
    context = map_context(data if data is not None else read_context(path), simplify_m=simplify_m)
    log.info(
        "%s: %d main road and ferry lines, %d places", path, len(context.roads), len(context.places)
    )
    return context


def _rd(to_rd: pyproj.Transformer, lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x, y = to_rd.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


def map_context(data: OsmContext, *, simplify_m: float = 25.0) -> MapContext:
    """The roads and places of an :class:`~bereikbaar.sources.osm.OsmContext`, in RD New.

    Parameters
    ----------
    data
        What the network reader collected.
    simplify_m
        Tolerance (m) with which road lines are simplified.

    Returns
    -------
    MapContext
    """
    to_rd = transformer(CRS_WGS84, CRS_RD)
    geoms: list[object] | npt.NDArray[np.object_] = []
    if len(data.line_way):
        lo, hi = data.offsets[data.line_way], data.offsets[data.line_way + 1]
        counts = hi - lo
        new = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=new[1:])
        src = np.repeat(lo - new[:-1], counts) + np.arange(new[-1], dtype=np.int64)
        xy = _rd(to_rd, data.lonlat[src])
        idx = np.repeat(np.arange(len(counts)), counts)
        geoms = list(shapely.linestrings(xy, indices=idx))
    roads = gpd.GeoDataFrame(
        {"soort": data.line_kind, "name": data.line_name, "ref": data.line_ref},
        geometry=geoms,
        crs=CRS_RD,
    )
    if simplify_m > 0 and len(roads):
        roads = roads.set_geometry(roads.geometry.simplify(simplify_m, preserve_topology=False))
    if len(data.place_lonlat):
        place_geoms = shapely.points(_rd(to_rd, data.place_lonlat))
    else:
        place_geoms = np.array([], dtype=object)
    places = gpd.GeoDataFrame(
        {"name": data.place_name, "place": data.place_kind},
        geometry=list(place_geoms),
        crs=CRS_RD,
    )
    return MapContext(roads=roads, places=places)


def street_names_near(
    path: str | Path,
    points: gpd.GeoSeries,
    *,
    radius_m: float = 300.0,
    places: gpd.GeoDataFrame | None = None,
    data: OsmContext | None = None,
) -> list[str]:
    """Name each point by its nearest named street (within ``radius_m``) and nearest place.

    Parameters
    ----------
    path
        The run's OpenStreetMap file (any other format: every name is ``""``).
    points
        Points in RD New (EPSG:28992).
    radius_m
        Streets farther than this are not used.
    places
        Places (:attr:`MapContext.places`); the nearest one is added ("Kerkweg, Velddorp").
    data
        What the network reader collected from ``path``; ``None``: read the file.

    Returns
    -------
    list of str
        One name per point; ``""`` where nothing is near. Of equally near streets the
        first in the file names the point.
    """
    path = Path(path)
    pts = points.to_crs(CRS_RD).geometry.to_numpy()
    n = len(pts)
    street = [""] * n
    if n and _is_osm(path):
        if data is None:
            data = read_context(path)
        xy = np.array([[p.x, p.y] for p in pts], dtype=float)
        to_wgs = transformer(CRS_RD, CRS_WGS84)
        to_rd = transformer(CRS_WGS84, CRS_RD)
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        pad = radius_m / 60_000.0  # degrees (a little more than radius_m at these latitudes)
        box = (lon.min() - 2 * pad, lat.min() - pad, lon.max() + 2 * pad, lat.max() + pad)
        best = np.full(n, np.inf)
        ways = data.street_way
        if len(ways) and len(data.lonlat):
            starts = data.offsets[:-1]
            lo_lon = np.minimum.reduceat(data.lonlat[:, 0], starts)[ways]
            hi_lon = np.maximum.reduceat(data.lonlat[:, 0], starts)[ways]
            lo_lat = np.minimum.reduceat(data.lonlat[:, 1], starts)[ways]
            hi_lat = np.maximum.reduceat(data.lonlat[:, 1], starts)[ways]
            near = ~((hi_lon < box[0]) | (lo_lon > box[2]) | (hi_lat < box[1]) | (lo_lat > box[3]))
            for k in np.flatnonzero(near).tolist():  # in file order: the first of equals wins
                w = int(ways[k])
                line = shapely.LineString(
                    _rd(to_rd, data.lonlat[data.offsets[w] : data.offsets[w + 1]])
                )
                d = shapely.distance(line, pts)
                better = (d < best) & (d <= radius_m)
                for j in np.flatnonzero(better):
                    best[j] = d[j]
                    street[j] = data.street_name[k]
    if places is not None and len(places):
        pl = places.to_crs(CRS_RD)
        idx = pl.sindex.nearest(pts, return_all=False)[1] if n else []
        place_names = pl["name"].astype(str).to_numpy()
        return [", ".join(v for v in (street[k], str(place_names[idx[k]])) if v) for k in range(n)]
    return street
