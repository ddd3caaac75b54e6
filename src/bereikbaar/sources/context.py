"""Orientation for maps, from the run's own OpenStreetMap input: main roads, ferries, places.

:func:`load_context` reads the road network file once more (pyosmium) and keeps what a reader
needs to find their way on a map that has no background: motorways to secondary roads (thin,
simplified), ferry routes and the ``place=city|town|village`` nodes with a name.
:func:`street_names_near` names points (suggested sites) by their nearest named street and
place. Inputs that are not OpenStreetMap files (NWB) give an empty context.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from bereikbaar.schema import CRS_RD, CRS_WGS84

log = logging.getLogger(__name__)

__all__ = ["MAIN_ROADS", "PLACES", "MapContext", "load_context", "street_names_near"]

MAIN_ROADS: tuple[str, ...] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "motorway_link",
    "trunk_link",
    "primary_link",
)
"""OSM ``highway`` values drawn as main roads (links of secondary roads are left out)."""

PLACES: tuple[str, ...] = ("city", "town", "village")
"""OSM ``place`` values whose names are shown."""

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


def load_context(path: str | Path, *, simplify_m: float = 25.0) -> MapContext:
    """Main roads, ferries and place names from an OpenStreetMap file (``.osm.pbf``, ``.osm``).

    Parameters
    ----------
    path
        The run's road network file. Other formats (NWB) give :meth:`MapContext.empty`.
    simplify_m
        Tolerance (m) with which road lines are simplified.

    Returns
    -------
    MapContext
        Roads and places in RD New.
    """
    path = Path(path)
    if not _is_osm(path):
        log.info("%s: not an OpenStreetMap file; the maps get no roads or place names", path)
        return MapContext.empty()
    import osmium

    lines: list[list[tuple[float, float]]] = []
    kinds: list[str] = []
    names: list[str] = []
    refs: list[str] = []
    place_xy: list[tuple[float, float]] = []
    place_names: list[str] = []
    place_kinds: list[str] = []
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway", "route", "place"))
    )
    for obj in processor:
        tags = obj.tags
        if isinstance(obj, osmium.osm.Node):
            place = tags.get("place")
            name = tags.get("name")
            if place in PLACES and name:
                loc = obj.location  # type: ignore[union-attr]
                if loc.valid():
                    place_xy.append((loc.lon, loc.lat))
                    place_names.append(str(name))
                    place_kinds.append(str(place))
            continue
        if not isinstance(obj, osmium.osm.Way):
            continue
        highway = tags.get("highway")
        kind = highway if highway in MAIN_ROADS else None
        if kind is None and highway is None and tags.get("route") == "ferry":
            kind = "ferry"
        if kind is None:
            continue
        pts = [
            (n.location.lon, n.location.lat)
            for n in obj.nodes  # type: ignore[union-attr]
            if n.location.valid()
        ]
        if len(pts) >= 2:
            lines.append(pts)
            kinds.append(kind)
            names.append(str(tags.get("name", "")))
            refs.append(str(tags.get("ref", "")))
    to_rd = pyproj.Transformer.from_crs(CRS_WGS84, CRS_RD, always_xy=True)

    def rd(coords: Sequence[tuple[float, float]]) -> np.ndarray:
        arr = np.asarray(coords, dtype=float)
        x, y = to_rd.transform(arr[:, 0], arr[:, 1])
        return np.column_stack([x, y])

    geoms = [shapely.LineString(rd(c)) for c in lines]
    roads = gpd.GeoDataFrame(
        {"soort": kinds, "name": names, "ref": refs}, geometry=geoms, crs=CRS_RD
    )
    if simplify_m > 0 and len(roads):
        roads = roads.set_geometry(roads.geometry.simplify(simplify_m, preserve_topology=False))
    if place_xy:
        xy = rd(place_xy)
        place_geoms = shapely.points(xy)
    else:
        place_geoms = np.array([], dtype=object)
    places = gpd.GeoDataFrame(
        {"name": place_names, "place": place_kinds}, geometry=list(place_geoms), crs=CRS_RD
    )
    log.info("%s: %d main road and ferry lines, %d places", path, len(roads), len(places))
    return MapContext(roads=roads, places=places)


def street_names_near(
    path: str | Path,
    points: gpd.GeoSeries,
    *,
    radius_m: float = 300.0,
    places: gpd.GeoDataFrame | None = None,
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

    Returns
    -------
    list of str
        One name per point; ``""`` where nothing is near.
    """
    path = Path(path)
    pts = points.to_crs(CRS_RD).geometry.to_numpy()
    n = len(pts)
    street = [""] * n
    if n and _is_osm(path):
        import osmium

        xy = np.array([[p.x, p.y] for p in pts], dtype=float)
        to_wgs = pyproj.Transformer.from_crs(CRS_RD, CRS_WGS84, always_xy=True)
        to_rd = pyproj.Transformer.from_crs(CRS_WGS84, CRS_RD, always_xy=True)
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        pad = radius_m / 60_000.0  # degrees (a little more than radius_m at these latitudes)
        box = (lon.min() - 2 * pad, lat.min() - pad, lon.max() + 2 * pad, lat.max() + pad)
        best = np.full(n, np.inf)
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            name = way.tags.get("name")
            if not name:
                continue
            coords = [
                (nd.location.lon, nd.location.lat)
                for nd in way.nodes  # type: ignore[union-attr]
                if nd.location.valid()
            ]
            if len(coords) < 2:
                continue
            arr = np.asarray(coords)
            if (
                arr[:, 0].max() < box[0]
                or arr[:, 0].min() > box[2]
                or arr[:, 1].max() < box[1]
                or arr[:, 1].min() > box[3]
            ):
                continue
            x, y = to_rd.transform(arr[:, 0], arr[:, 1])
            line = shapely.LineString(np.column_stack([x, y]))
            d = shapely.distance(line, pts)
            better = (d < best) & (d <= radius_m)
            for k in np.flatnonzero(better):
                best[k] = d[k]
                street[k] = str(name)
    if places is not None and len(places):
        pl = places.to_crs(CRS_RD)
        idx = pl.sindex.nearest(pts, return_all=False)[1] if n else []
        place_names = pl["name"].astype(str).to_numpy()
        return [", ".join(v for v in (street[k], str(place_names[idx[k]])) if v) for k in range(n)]
    return street
