"""Road network from the Overpass API (via osmnx), for users without an OSM PBF file.

:func:`network_from_overpass` goes online. osmnx only fetches the ways (every edge in the
way's own node order, with its tags); which ways a mode may use, in which direction and
at what speed is decided by the same tag rules as the PBF loader
(:mod:`bereikbaar.sources.osm_tags`, used by :func:`bereikbaar.sources.osm.load_network`
too), so both give the same network for the same data. osmnx's global settings (cache,
tags, one-way handling, Overpass URL, timeout) are set only for the duration of the call
and restored afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import requests
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..engine.network import Network
from ..exceptions import InputError, NetworkError, ServiceError
from ..schema import CRS_RD, CRS_WGS84, MODES, transformer
from ..settings import Settings
from . import limits
from .online import Deadline
from .osm_tags import BIKE_HIGHWAYS, BIKE_IF_ALLOWED, CAR_HIGHWAYS, WAY_TAGS, rules_for

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["OVERPASS_URL", "network_from_overpass", "overpass_filter"]

logger = logging.getLogger(__name__)

OVERPASS_URL: Final = "https://overpass-api.de/api"
"""Default Overpass API (osmnx's default)."""

# Way tags osmnx keeps (only these): the ones the mode rules read, and the name.
_WAY_TAGS: Final = (*WAY_TAGS, "name")
# osmnx settings this module changes (and restores).
_OSMNX_SETTINGS: Final = (
    "use_cache",
    "cache_folder",
    "log_console",
    "all_oneway",
    "useful_tags_way",
    "overpass_url",
    "requests_timeout",
    "requests_kwargs",
)
# osmnx reverses the node order of ways with these oneway values.
_OSMNX_REVERSED: Final = frozenset({"-1", "reverse", "T"})


def overpass_filter(mode: str) -> list[str]:
    """Overpass QL way filters (a union) that fetch every way ``mode`` may use.

    The fetched ways are then filtered exactly by the PBF loader's tag rules (access,
    one-way, ``bicycle=…``); the filter only keeps the download small.

    Parameters
    ----------
    mode
        ``"car"``, ``"bike"`` or ``"walk"``.

    Returns
    -------
    list of str
        Filters for osmnx's ``custom_filter``: the mode's highways and ferry routes.

    Examples
    --------
    >>> overpass_filter("walk")
    ['["highway"]["area"!~"yes"]', '["route"="ferry"]']
    """
    if mode == "car":
        highways = sorted(CAR_HIGHWAYS)
    elif mode == "bike":
        highways = sorted(BIKE_HIGHWAYS | BIKE_IF_ALLOWED)
    elif mode == "walk":
        return ['["highway"]["area"!~"yes"]', '["route"="ferry"]']
    else:
        msg = f"mode must be one of {', '.join(MODES)}, got {mode!r}"
        raise InputError(msg)
    return [f'["highway"~"^({"|".join(highways)})$"]["area"!~"yes"]', '["route"="ferry"]']


@contextmanager
def _osmnx_settings(**values: Any) -> Iterator[None]:
    import osmnx as ox

    saved = {name: getattr(ox.settings, name) for name in _OSMNX_SETTINGS}
    try:
        for name, value in values.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def _deadline_hook(deadline: Deadline) -> Any:
    """A requests response hook: lets ``deadline`` cut off the body of each answer."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        deadline.attach(response.raw)  # the body is read after this hook
        deadline.check()
        return response

    return hook


def _to_wgs84(polygon: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame, crs: str) -> BaseGeometry:
    if isinstance(polygon, gpd.GeoDataFrame | gpd.GeoSeries):
        if polygon.crs is None:
            msg = "the study area has no CRS (expected e.g. EPSG:28992)"
            raise InputError(msg)
        geom = shapely.union_all(polygon.to_crs(CRS_WGS84).geometry.to_numpy())
    else:
        to_wgs = transformer(crs, CRS_WGS84)
        geom = shapely.transform(
            polygon, lambda c: np.column_stack(to_wgs.transform(c[:, 0], c[:, 1]))
        )
    geom = shapely.make_valid(geom)
    if isinstance(geom, shapely.GeometryCollection) and not isinstance(geom, MultiPolygon):
        polys = [g for g in geom.geoms if isinstance(g, Polygon | MultiPolygon)]
        geom = shapely.union_all(polys) if polys else geom
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
        msg = f"the study area must be a (Multi)Polygon, got {geom.geom_type}"
        raise InputError(msg)
    return geom


def _tag(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _build(graph: nx.MultiDiGraph, mode: str, settings: Settings) -> Network:
    """Apply the mode's tag rules to osmnx's way-order edges → Network (RD New)."""
    import networkx as nx

    rules = rules_for(mode, settings)
    nodes = list(graph.nodes)
    to_rd = transformer(CRS_WGS84, CRS_RD)
    lon = [float(graph.nodes[n]["x"]) for n in nodes]
    lat = [float(graph.nodes[n]["y"]) for n in nodes]
    xs, ys = to_rd.transform(lon, lat)
    rd = {n: (float(x), float(y)) for n, x, y in zip(nodes, xs, ys, strict=True)}

    out = nx.MultiDiGraph(crs=CRS_WGS84)
    for u, v, data in graph.edges(data=True):
        attrs = rules(functools.partial(_tag, data))
        if attrs is None:
            continue
        direction, speed_kmh, ferry = attrs
        a, b = (v, u) if _tag(data, "oneway") in _OSMNX_REVERSED else (u, v)  # way order
        length = math.dist(rd[a], rd[b])
        if length == 0.0:
            continue
        edge: dict[str, Any] = {
            "length": length,
            "travel_time": length / (speed_kmh / 3.6),
        }
        if ferry:
            edge["route"] = "ferry"
        arcs = [(a, b)] if direction > 0 else [(b, a)] if direction < 0 else [(a, b), (b, a)]
        for tail, head in arcs:
            for n in (tail, head):
                if n not in out:
                    out.add_node(n, x=graph.nodes[n]["x"], y=graph.nodes[n]["y"])
            out.add_edge(tail, head, **edge)
    if out.number_of_edges() == 0:
        msg = f"the Overpass answer holds no road usable for mode {mode!r}"
        raise NetworkError(msg)
    # the rules are applied above (on osmnx's way-order edges): the arcs go in as they are
    return dataclasses.replace(Network.from_osmnx(out), mode=mode)


def network_from_overpass(
    polygon: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
    mode: str = "car",
    *,
    settings: Settings | None = None,
    crs: str = CRS_RD,
    overpass_url: str = OVERPASS_URL,
    cache_folder: str | Path | None = None,
    timeout_s: float = 180.0,
    deadline_s: float | None = None,
) -> Network:
    """Download the road network inside ``polygon`` from Overpass (online) for one mode.

    Parameters
    ----------
    polygon
        Study area: a shapely (Multi)Polygon in ``crs`` (default RD New, EPSG:28992), or
        a GeoSeries/GeoDataFrame with a CRS (all shapes are merged). Buffer it yourself
        (e.g. 20 km) so the nearest library across the border is reachable.
    mode
        ``"car"`` (ferries included, one-way respected), ``"bike"`` or ``"walk"``.
    settings
        Speeds (``car_speeds_kmh``, ``bike_speed_kmh``, ``walk_speed_kmh``,
        ``ferry_speed_kmh``); default ``Settings()``.
    crs
        CRS of a shapely ``polygon``.
    overpass_url
        Overpass API base URL.
    cache_folder
        Folder for osmnx's response cache; None (default) caches nothing.
    timeout_s
        Overpass request timeout (s), per socket read.
    deadline_s
        Time for the whole download, every request included (default
        :data:`~bereikbaar.sources.limits.OVERPASS_DEADLINE_S`): a server that trickles
        its answer is cut off.

    Returns
    -------
    Network
        Nodes in RD New (m), one arc per travel direction, ``length_m`` (straight segment
        lengths in RD New), ``time_s`` from ``maxspeed`` or the per-mode speeds, ferry mask,
        OSM node ids.

    Raises
    ------
    InputError
        Unknown mode, or a study area that is not a polygon.
    NetworkError
        Overpass failed or returned no usable road.
    ServiceError
        Overpass did not answer in full within ``deadline_s``.
    """
    import osmnx as ox

    settings = settings if settings is not None else Settings()
    custom_filter = overpass_filter(mode)
    area = _to_wgs84(polygon, crs)
    seconds = limits.OVERPASS_DEADLINE_S if deadline_s is None else float(deadline_s)
    deadline = Deadline(seconds)
    kwargs = dict(ox.settings.requests_kwargs)
    kwargs["hooks"] = {"response": [_deadline_hook(deadline)]}
    with (
        deadline,
        _osmnx_settings(
            use_cache=cache_folder is not None,
            cache_folder=str(cache_folder)
            if cache_folder is not None
            else ox.settings.cache_folder,
            log_console=False,
            all_oneway=True,  # edges in way order; our rules decide the directions
            useful_tags_way=list(_WAY_TAGS),
            overpass_url=overpass_url.rstrip("/"),
            requests_timeout=timeout_s,
            requests_kwargs=kwargs,
        ),
    ):
        try:
            graph = ox.graph_from_polygon(
                area,
                network_type="all",
                simplify=False,
                retain_all=True,
                truncate_by_edge=True,
                custom_filter=custom_filter,
            )
        except Exception as err:
            if deadline.expired:
                msg = (
                    f"Overpass gaf geen volledig antwoord binnen {seconds:g} s (deadline_s);"
                    " probeer het later opnieuw of gebruik een OSM-bestand (PBF)"
                )
                raise ServiceError(msg) from err
            if not isinstance(err, ValueError | requests.RequestException):
                raise
            msg = f"Overpass download for mode {mode!r} failed ({type(err).__name__}: {err})"
            raise NetworkError(msg) from err
    network = _build(graph, mode, settings)
    logger.info("Overpass %s network: %s", mode, network)
    return network
