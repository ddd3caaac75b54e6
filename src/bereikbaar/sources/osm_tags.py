"""One table of OpenStreetMap tag rules for the travel modes (car, bike, walk).

Which ways a mode may use, in which direction (``oneway``, ``oneway:bicycle``,
roundabouts, motorways), under which access tags (the OSM access hierarchy), on
ferries, and at what speed (``maxspeed``, Dutch implicit values, per-class
defaults): :func:`rules_for` gives a mode's :class:`WayRules`. Every way reader
applies the same rules, so they give the same network for the same data: the
PBF/XML reader (:mod:`bereikbaar.sources.osm`, pyosmium) and Overpass
(:mod:`bereikbaar.sources.overpass`, which fetches :data:`WAY_TAGS`).

The filters per mode are deliberate (compare osmnx's ``network_type``):

- ``car`` (CBS-comparable): paved public roads a car may use, ferries included,
  one-way respected;
- ``bike``: no motorways, trunk roads only with ``bicycle=yes``, cycleways and
  paths, footways only where cycling is allowed; one-way unless
  ``oneway:bicycle=no``;
- ``walk``: every walkable way, always both directions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ..settings import CAR_SPEEDS_KMH, Settings

__all__ = [
    "BIKE_HIGHWAYS",
    "BIKE_IF_ALLOWED",
    "CAR_HIGHWAYS",
    "MAIN_ROADS",
    "PLACES",
    "WAY_KEYS",
    "WAY_TAGS",
    "TagGetter",
    "WayAttrs",
    "WayRules",
    "parse_maxspeed",
    "rules_for",
]

WAY_KEYS: Final = ("highway", "route")
"""Keys a way needs (one of) for any mode to consider it: roads and ferry routes."""

MAIN_ROADS: Final[tuple[str, ...]] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "motorway_link",
    "trunk_link",
    "primary_link",
)
"""OSM ``highway`` values the maps draw as main roads (links of secondary roads are left out)."""

PLACES: Final[tuple[str, ...]] = ("city", "town", "village")
"""OSM ``place`` values whose names the maps show."""

WAY_TAGS: Final = (
    "highway",
    "route",
    "area",
    "oneway",
    "oneway:bicycle",
    "junction",
    "maxspeed",
    "access",
    "motorcar",
    "motor_vehicle",
    "vehicle",
    "bicycle",
    "foot",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
)
"""Every way tag the rules read."""

CAR_HIGHWAYS: Final = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
"""``highway`` values a car may use (CBS-comparable: paved public roads)."""
# Bike: the car roads without motorways and trunk roads, plus cycleways, paths and tracks.
BIKE_HIGHWAYS: Final = (CAR_HIGHWAYS - {"motorway", "motorway_link", "trunk", "trunk_link"}) | {
    "cycleway",
    "path",
    "track",
}
"""``highway`` values a bicycle may use."""
BIKE_IF_ALLOWED: Final = frozenset(
    {"trunk", "trunk_link", "pedestrian", "footway", "bridleway", "steps", "corridor"}
)
"""``highway`` values a bicycle may use only with ``bicycle=yes/designated/permissive``."""
# Never walkable, or not a way at all (plans, ruins, bus-only roads).
_WALK_EXCLUDED: Final = frozenset(
    {
        "motorway",
        "motorway_link",
        "abandoned",
        "bus_guideway",
        "busway",
        "construction",
        "disused",
        "emergency_bay",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
    }
)
_WALK_IF_ALLOWED: Final = frozenset({"trunk", "trunk_link"})

_YES: Final = frozenset({"yes", "designated", "permissive"})
_NO: Final = frozenset({"no", "private", "agricultural", "forestry", "emergency", "use_sidepath"})
_ONEWAY_FORWARD: Final = frozenset({"yes", "1", "true"})
_ONEWAY_REVERSE: Final = frozenset({"-1", "reverse"})

# Access keys from the most specific to the most general (OSM access hierarchy).
_ACCESS_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "car": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "bike": ("bicycle", "vehicle", "access"),
    "walk": ("foot", "access"),
}

_NL_SPEEDS_KMH: Final[Mapping[str, float]] = {
    "nl:urban": 50.0,
    "nl:rural": 80.0,
    "nl:motorway": 130.0,
    "nl:trunk": 100.0,
    "nl:living_street": 15.0,
    "nl:walk": 5.0,
}
_SPEED_RE: Final = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
_ZONE_RE: Final = re.compile(r"^\s*[a-z]{2}:zone:?(\d+)\s*$", re.IGNORECASE)
_MPH_TO_KMH: Final = 1.609344
_MAX_PLAUSIBLE_KMH: Final = 200.0


@functools.lru_cache(maxsize=1024)
def parse_maxspeed(value: str | None) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Understands plain numbers (km/h), ``"50 mph"``, ``"50 km/h"``, the Dutch
    implicit values (``NL:urban`` 50, ``NL:rural`` 80, ``NL:motorway`` 130,
    ``NL:trunk`` 100), zones (``NL:zone30`` 30) and lists (``"30;50"``, mean of
    the parts, as osmnx does). Anything else (``none``, ``signals``, typos,
    zero, above 200 km/h) is junk and gives ``None``.

    Parameters
    ----------
    value
        The raw tag value.

    Returns
    -------
    float or None
        Speed in km/h, or ``None`` when the value cannot be used.

    Examples
    --------
    >>> parse_maxspeed("50")
    50.0
    >>> round(parse_maxspeed("30 mph"), 2)
    48.28
    >>> parse_maxspeed("NL:zone30"), parse_maxspeed("NL:rural"), parse_maxspeed("snel")
    (30.0, 80.0, None)
    """
    if value is None:
        return None
    speeds = []
    for part in value.split(";"):
        speed = _parse_one_speed(part)
        if speed is None:
            return None
        speeds.append(speed)
    return sum(speeds) / len(speeds) if speeds else None


def _parse_one_speed(text: str) -> float | None:
    text = text.strip()
    if text.lower() in _NL_SPEEDS_KMH:
        return _NL_SPEEDS_KMH[text.lower()]
    zone = _ZONE_RE.match(text)
    if zone:
        speed = float(zone.group(1))
    else:
        match = _SPEED_RE.match(text)
        if not match:
            return None
        speed = float(match.group(1).replace(",", "."))
        if match.group(2) and match.group(2).lower() == "mph":
            speed *= _MPH_TO_KMH
    return speed if 0 < speed <= _MAX_PLAUSIBLE_KMH else None


# ---------------------------------------------------------------------- tag rules
WayAttrs = tuple[int, float, bool]
"""What a rule keeps of a way: ``(direction, speed_kmh, is_ferry)``; direction +1 forward
only, -1 reverse only, 0 both ways."""
TagGetter = Callable[[str], str | None]
"""A way's tag lookup: key → value, or None when the way has no such tag."""


def _access_value(get: TagGetter, mode: str) -> str | None:
    for key in _ACCESS_KEYS[mode]:
        value = get(key)
        if value is not None:
            return value
    return None


def _oneway(get: TagGetter, highway: str | None) -> int:
    value = get("oneway")
    if value in _ONEWAY_FORWARD:
        return 1
    if value in _ONEWAY_REVERSE:
        return -1
    if value is not None:  # no, reversible, alternating, junk: both ways
        return 0
    if get("junction") in ("roundabout", "circular"):
        return 1
    if highway in ("motorway", "motorway_link"):
        return 1
    return 0


def _bike_oneway(get: TagGetter, highway: str | None) -> int:
    special = get("oneway:bicycle")
    if special == "no":
        return 0
    if special in _ONEWAY_FORWARD:
        return 1
    if special in _ONEWAY_REVERSE:
        return -1
    for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        value = get(key)
        if value is not None and value.startswith("opposite"):
            return 0
    return _oneway(get, highway)


@dataclass(frozen=True)
class WayRules:
    """The tag rules of one mode: which ways it keeps, in which direction, at what speed.

    Called with a way's :data:`TagGetter`, a rule returns None to drop the way, else
    its :data:`WayAttrs`. The PBF/XML reader (:mod:`bereikbaar.sources.osm`)
    and Overpass (:mod:`bereikbaar.sources.overpass`) all apply these rules.

    Attributes
    ----------
    mode
        ``"car"``, ``"bike"`` or ``"walk"``.
    speed_kmh
        Speed of the bike and walk modes (km/h).
    ferry_speed_kmh
        Speed on ferries (km/h).
    car_speeds_kmh
        Car speed per ``highway`` class where no usable ``maxspeed`` is tagged
        (km/h; :data:`bereikbaar.settings.CAR_SPEEDS_KMH` for classes left out).
    """

    mode: str
    speed_kmh: float
    ferry_speed_kmh: float
    car_speeds_kmh: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, get: TagGetter) -> WayAttrs | None:
        if get("area") == "yes":
            return None
        highway = get("highway")
        ferry = highway is None and get("route") == "ferry"
        if highway is None and not ferry:
            return None
        access = _access_value(get, self.mode)
        if self.mode == "car":
            return self._car(get, highway, ferry, access)
        if self.mode == "bike":
            return self._bike(get, highway, ferry, access)
        return self._walk(get, highway, ferry, access)

    def _car(
        self, get: TagGetter, highway: str | None, ferry: bool, access: str | None
    ) -> WayAttrs | None:
        if not ferry and highway not in CAR_HIGHWAYS:
            return None
        if access in _NO:
            return None
        if ferry:
            return _oneway(get, None), self.ferry_speed_kmh, True
        assert highway is not None
        speed = parse_maxspeed(get("maxspeed"))
        if speed is None:
            speed = self.car_speeds_kmh.get(highway) or CAR_SPEEDS_KMH.get(highway, 30.0)
        return _oneway(get, highway), speed, False

    def _bike(
        self, get: TagGetter, highway: str | None, ferry: bool, access: str | None
    ) -> WayAttrs | None:
        bicycle = get("bicycle")
        if bicycle in _NO:
            return None
        if ferry:
            if access in _NO:
                return None
            return _oneway(get, None), self.ferry_speed_kmh, True
        if highway in BIKE_IF_ALLOWED:
            if bicycle not in _YES:
                return None
        elif highway not in BIKE_HIGHWAYS:
            return None
        if access in _NO:
            return None
        return _bike_oneway(get, highway), self.speed_kmh, False

    def _walk(
        self, get: TagGetter, highway: str | None, ferry: bool, access: str | None
    ) -> WayAttrs | None:
        if ferry:
            return None if access in _NO else (0, self.ferry_speed_kmh, True)
        if highway in _WALK_EXCLUDED:
            return None
        if highway in _WALK_IF_ALLOWED and get("foot") not in _YES:
            return None
        if access in _NO:
            return None
        return 0, self.speed_kmh, False


def rules_for(mode: str, settings: Settings) -> WayRules:
    """The tag rules of ``mode`` with the speeds of ``settings``.

    Parameters
    ----------
    mode
        ``"car"``, ``"bike"`` or ``"walk"`` (anything else gets the walk rules;
        callers check the mode first).
    settings
        ``car_speeds_kmh``, ``bike_speed_kmh``, ``walk_speed_kmh``, ``ferry_speed_kmh``.

    Returns
    -------
    WayRules
    """
    if mode == "car":
        return WayRules("car", 0.0, settings.ferry_speed_kmh, settings.car_speeds_kmh)
    if mode == "bike":
        return WayRules("bike", settings.bike_speed_kmh, settings.ferry_speed_kmh)
    return WayRules("walk", settings.walk_speed_kmh, settings.ferry_speed_kmh)
