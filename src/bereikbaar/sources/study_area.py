"""Study areas: a province or a list of gemeenten, and the buffer around it.

A run can be restricted to a study area (:attr:`Settings.study_area
<bereikbaar.settings.Settings.study_area>`): province names (CBS indeling 2024,
:data:`PROVINCES`) and/or gemeentecodes. Only the gemeenten of the study area are
summarised and only their cells are origins, but libraries and roads are taken
from a buffer around it (default 20 km), so the nearest library across a
gemeente or province border counts, as in the CBS method. All geometry is RD New
(EPSG:28992, metres).
"""

from __future__ import annotations

import csv
import difflib
import importlib.resources
import io
import logging
import re
import types
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..engine.network import Network
from ..exceptions import ConfigError, InputError
from ..schema import CRS_RD, GEMEENTECODE, GEMEENTENAAM
from .tabular import normalise_gemeentecode

__all__ = [
    "PROVINCES",
    "StudyArea",
    "clip_network",
    "resolve_study_area",
    "study_area_geometry",
    "within",
]

log = logging.getLogger(__name__)


def _read_provinces(name: str) -> Mapping[str, tuple[str, ...]]:
    """Province → gemeentecodes from a ``provincie,gemeentecode`` table shipped with the package."""
    table = importlib.resources.files("bereikbaar.sources").joinpath(name)
    text = table.read_text(encoding="utf-8")
    provinces: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        provinces.setdefault(row["provincie"], []).append(row["gemeentecode"])
    return types.MappingProxyType({k: tuple(v) for k, v in provinces.items()})


# The 342 gemeenten of 1 January 2024 (and 2025) per province, from the CBS
# gemeentelijke indeling, in provinces_2024.csv (one row per gemeente); checked against the
# land rows of CBS Kerncijfers wijken en buurten 2024 (every gemeente once; counts 10, 18,
# 12, 25, 6, 51, 26, 44, 50, 13, 56, 31; each province a contiguous area apart from the
# Wadden islands).
PROVINCES: Final[Mapping[str, tuple[str, ...]]] = _read_provinces("provinces_2024.csv")
"""Province name → gemeentecodes (``GMxxxx``), CBS gemeentelijke indeling 2024."""

_PROVINCE_ALIASES: Final = {"friesland": "Fryslân"}


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-_.']+", "", plain.lower())


_PROVINCE_BY_KEY: Final = {
    **{_key(name): name for name in PROVINCES},
    **{_key(alias): name for alias, name in _PROVINCE_ALIASES.items()},
}


def _suggest(word: str, known: Mapping[str, str] | None, cutoff: float = 0.6) -> str:
    """``"; did you mean X or Y?"`` from the provinces and the known gemeenten (difflib)."""
    labels: dict[str, str] = {_key(name): name for name in PROVINCES}
    if known:
        for code, name in known.items():
            if name:
                labels.setdefault(_key(str(name)), f"{code} ({name})")
            labels.setdefault(_key(code), f"{code} ({name})" if name else code)
    close = difflib.get_close_matches(_key(word), list(labels), n=3, cutoff=cutoff)
    if not close:
        return ""
    return f"; did you mean {' or '.join(labels[c] for c in close)}?"


def resolve_study_area(
    values: Iterable[str], known: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Turn province names and gemeentecodes into a sorted tuple of gemeentecodes.

    Parameters
    ----------
    values
        Province names (case, spaces, hyphens and accents ignored: ``"Zuid-Holland"``,
        ``"zuid holland"``, ``"Friesland"``) and/or gemeentecodes (``"GM0599"``,
        ``"0599"``, ``"599"``); an entry may hold several, separated by commas.
    known
        Optional gemeentecode → gemeentenaam of the gemeenten file: an unknown entry's
        message then suggests the closest names and codes as well as provinces.

    Returns
    -------
    tuple of str
        Sorted, unique ``GMxxxx`` codes; empty when ``values`` is empty.

    Raises
    ------
    ConfigError
        An entry is neither a province nor a gemeentecode.

    Examples
    --------
    >>> resolve_study_area(["GM0599, 489"])
    ('GM0489', 'GM0599')
    >>> len(resolve_study_area(["Zeeland"]))
    13
    """
    codes: set[str] = set()
    for value in values:
        for part in (p.strip() for p in str(value).split(",")):
            if not part:
                continue
            province = _PROVINCE_BY_KEY.get(_key(part))
            if province is not None:
                codes.update(PROVINCES[province])
                continue
            code = normalise_gemeentecode(part)
            if code is None:
                msg = (
                    f"study_area: {part!r} is neither a province ({', '.join(PROVINCES)})"
                    f" nor a gemeentecode such as GM0599{_suggest(part, known)}"
                )
                raise ConfigError(msg)
            codes.add(code)
    return tuple(sorted(codes))


def study_area_geometry(gemeenten: gpd.GeoDataFrame, codes: Iterable[str]) -> BaseGeometry:
    """The union of the study area's gemeenten (RD New).

    Parameters
    ----------
    gemeenten
        Gemeente polygons with ``gemeentecode`` (any CRS; transformed to RD New).
    codes
        Gemeentecodes of the study area.

    Returns
    -------
    shapely geometry
        The (Multi)Polygon of the study area, EPSG:28992.

    Raises
    ------
    ConfigError
        A code is not in ``gemeenten`` (the message lists the first few).
    """
    wanted = list(codes)
    gem = gemeenten.to_crs(CRS_RD)
    present = set(gem[GEMEENTECODE].astype(str))
    missing = [c for c in wanted if c not in present]
    if missing:
        names: dict[str, str] = {}
        if GEMEENTENAAM in gem.columns:
            names = dict(zip(gem[GEMEENTECODE].astype(str), gem[GEMEENTENAAM], strict=True))
        else:
            names = dict.fromkeys(present, "")
        shown = "; ".join(
            f"{c}{_suggest(c, names, cutoff=0.8).replace(';', ':')}" for c in missing[:5]
        )
        shown += ", …" if len(missing) > 5 else ""
        ordered = sorted(present)
        msg = (
            f"study_area: {len(missing)} gemeentecode(s) not in the gemeenten file ({shown});"
            f" the file has {len(ordered)} gemeenten, {ordered[0]} … {ordered[-1]};"
            " check the codes or the year of the gemeente boundaries"
        )
        raise ConfigError(msg)
    parts = gem.loc[gem[GEMEENTECODE].isin(wanted)].geometry.to_numpy()
    return shapely.union_all(parts)


def within(frame: gpd.GeoDataFrame, area: BaseGeometry, *, keep_empty: bool = False) -> np.ndarray:
    """Mask of rows whose geometry's centroid lies in ``area`` (RD New).

    Parameters
    ----------
    frame
        Points or polygons (any CRS; compared in RD New).
    area
        Polygon in RD New.
    keep_empty
        Whether rows without geometry count as inside.

    Returns
    -------
    numpy.ndarray
        Boolean mask, one entry per row.
    """
    geoms = frame.to_crs(CRS_RD).geometry
    empty = (geoms.isna() | geoms.is_empty).to_numpy()
    centres = geoms.centroid.to_numpy()
    shapely.prepare(area)
    inside = np.zeros(len(frame), dtype=bool)
    ok = ~empty
    inside[ok] = shapely.contains_xy(area, shapely.get_x(centres[ok]), shapely.get_y(centres[ok]))
    if keep_empty:
        inside |= empty
    return inside


def clip_network(network: Network, area: BaseGeometry) -> Network:
    """The part of a network whose arcs have both end nodes inside ``area``.

    Parameters
    ----------
    network
        A network in RD New.
    area
        Polygon in RD New (usually the buffered study area).

    Returns
    -------
    Network
        Nodes inside ``area`` (renumbered, original ids kept in ``node_id``) and
        the arcs between them, with their lengths, times, geometry and ferry flags.
    """
    shapely.prepare(area)
    inside = shapely.contains_xy(area, network.x, network.y)
    keep = inside[network.u] & inside[network.v]
    new_index = np.cumsum(inside) - 1
    ids = network.node_id if network.node_id is not None else np.arange(network.n_nodes)
    coords = offsets = None
    if network.geometry_coords is not None:
        coords, offsets = network.arc_coords_of(np.flatnonzero(keep))
    clipped = Network(
        x=network.x[inside],
        y=network.y[inside],
        u=new_index[network.u[keep]].astype(np.int64),
        v=new_index[network.v[keep]].astype(np.int64),
        length_m=network.length_m[keep],
        time_s=None if network.time_s is None else network.time_s[keep],
        node_id=np.asarray(ids[inside], dtype=np.int64),
        ferry=None if network.ferry is None else network.ferry[keep],
        mode=network.mode,
        crs=network.crs,
        extent=network.extent,
        geometry_coords=coords,
        geometry_offsets=offsets,
    )
    log.info(
        "network clipped to the study area buffer: %d of %d nodes, %d of %d arcs",
        clipped.n_nodes,
        network.n_nodes,
        clipped.n_arcs,
        network.n_arcs,
    )
    return clipped


@dataclass(frozen=True)
class StudyArea:
    """A study area and its buffer, and how each input is restricted to them.

    Attributes
    ----------
    codes
        Gemeentecodes of the study area.
    area
        Their union (RD New).
    buffer
        ``area`` buffered by the buffer distance (RD New); libraries and roads
        are taken from here.
    """

    codes: tuple[str, ...]
    area: BaseGeometry
    buffer: BaseGeometry

    @classmethod
    def build(
        cls, gemeenten: gpd.GeoDataFrame, values: Iterable[str], buffer_m: float
    ) -> StudyArea:
        """Resolve province names / codes against the gemeenten and buffer the area.

        Parameters
        ----------
        gemeenten
            Gemeente polygons with ``gemeentecode``.
        values
            Province names and/or gemeentecodes (see :func:`resolve_study_area`).
        buffer_m
            Buffer distance (m).

        Returns
        -------
        StudyArea

        Raises
        ------
        ConfigError
            An unknown province or code, or an empty study area.
        """
        known: dict[str, str] = {}
        if GEMEENTENAAM in gemeenten.columns:
            known = dict(
                zip(gemeenten[GEMEENTECODE].astype(str), gemeenten[GEMEENTENAAM], strict=True)
            )
        codes = resolve_study_area(values, known)
        if not codes:
            msg = "study_area is empty (give a province name or gemeentecodes)"
            raise ConfigError(msg)
        area = study_area_geometry(gemeenten, codes)
        buffer = area.buffer(buffer_m) if buffer_m > 0 else area
        log.info(
            "study area: %d gemeenten, %.0f km², buffer %.1f km",
            len(codes),
            area.area / 1e6,
            buffer_m / 1000.0,
        )
        return cls(codes, area, buffer)

    def gemeenten(self, gemeenten: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The gemeenten of the study area."""
        out: gpd.GeoDataFrame = gemeenten.loc[gemeenten[GEMEENTECODE].isin(self.codes)]
        return out

    def cells(self, cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The cells inside the study area (centroid inside, or ``gemeentecode`` in it).

        Raises
        ------
        InputError
            No cell lies in the study area.
        """
        inside = within(cells, self.area)
        if GEMEENTECODE in cells.columns:
            inside |= cells[GEMEENTECODE].isin(self.codes).to_numpy(dtype=bool)
        if not inside.any():
            msg = (
                f"no populated cells in the study area ({len(self.codes)} gemeenten);"
                " does the CBS grid cover it?"
            )
            raise InputError(msg)
        out: gpd.GeoDataFrame = cells.loc[inside]
        return out

    def libraries(self, libraries: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The libraries inside the buffer (rows without a point are kept)."""
        out: gpd.GeoDataFrame = libraries.loc[within(libraries, self.buffer, keep_empty=True)]
        return out

    def network(self, network: Network) -> Network:
        """The part of the network inside the buffer (see :func:`clip_network`)."""
        return clip_network(network, self.buffer)
