"""The embedded demo region: a fictional area written in the real input formats.

The project ships no third-party data. Its demo region is generated here and
written in the same formats that real users' files have, so that the real
loaders read it: an OpenStreetMap ``.osm.pbf`` road network, a CBS
vierkantstatistieken 100 m GeoPackage, a KB-style branch list (CSV) and a CBS
gemeente GeoPackage (wijk- en buurtkaart style), plus a TOML run configuration.

The region is fictional (gemeentecodes ``GM9001`` .. ``GM9005`` never collide
with real codes) and lies on RD New (EPSG:28992) coordinates inside the
Netherlands, x 180 000 - 220 000 m, y 540 000 - 570 000 m. It is designed so that
the results can be explained by hand:

* ``GM9001`` Bibliostad: a town of about 40 000 residents with a hoofdvestiging
  and a servicepunt; not "te groot".
* ``GM9002`` Lange Velden: four villages (about 8 000 residents) 6-12 km from any
  full-service library, with only a servicepunt and an afhaalpunt; "te groot".
* ``GM9003`` Middeldorp: a town of about 15 000 with a vestiging; not "te groot".
* ``GM9004`` Oost-Eiland: an island (about 3 000) in a lake, reached only by a
  car ferry, with a zelfbedieningsbibliotheek and a bibliobus halte; "te groot".
* ``GM9005`` Westerhoek: a vestiging in its main village, but a second village
  of about 3 000 lies 8 km away; "te groot" by the share beyond 5 km only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypedDict

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from ..output.files import atomic_path
from ..pipeline import RunResult, run
from ..schema import CRS_RD, CRS_WGS84, transformer
from ..settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "BRANCHES",
    "DESIGN_POPULATION",
    "EXPECTED_TE_GROOT",
    "GEMEENTEN",
    "REGION_BOUNDS",
    "SETTLEMENTS",
    "SUPPRESSED",
    "DemoBranch",
    "DemoInputs",
    "Settlement",
    "run_demo",
    "write_demo_inputs",
]

# ---------------------------------------------------------------------------
# the design
# ---------------------------------------------------------------------------

REGION_BOUNDS: Final = (180_000.0, 540_000.0, 220_000.0, 570_000.0)
"""(xmin, ymin, xmax, ymax) of the demo gemeenten in RD New (EPSG:28992), metres."""

INPUTS_STAGE: Final = "demo-invoer schrijven"
"""The timing (in ``run.json``) of :func:`write_demo_inputs` in :func:`run_demo`."""

SUPPRESSED: Final = -99997
"""CBS code for a suppressed ("geheim") value in vierkantstatistieken files."""

GEMEENTEN: Final[Mapping[str, str]] = MappingProxyType(
    {
        "GM9001": "Bibliostad",
        "GM9002": "Lange Velden",
        "GM9003": "Middeldorp",
        "GM9004": "Oost-Eiland",
        "GM9005": "Westerhoek",
    }
)
"""Fictional gemeentecode -> gemeentenaam of the demo region."""

EXPECTED_TE_GROOT: Final = frozenset({"GM9002", "GM9004", "GM9005"})
"""Gemeenten the design intends to be "te groot" under the default FlagRule."""

_LAKE = (209_000.0, 540_000.0, 220_000.0, 553_000.0)
_ISLAND = (
    (212_530.0, 545_630.0),
    (216_870.0, 545_470.0),
    (217_130.0, 548_210.0),
    (215_370.0, 550_630.0),
    (212_770.0, 550_510.0),
    (212_330.0, 548_070.0),
)

# (gemeentecode, water, exterior ring) in RD New; land parts tile the region
# together with the lake (a water part of GM9004, like CBS's wijkbuurtkaart).
_GEMEENTE_RINGS: Final = (
    (
        "GM9001",
        "NEE",
        ((185_500, 550_000), (198_000, 550_000), (198_000, 570_000), (185_500, 570_000)),
    ),
    (
        "GM9002",
        "NEE",
        (
            (180_000, 540_000),
            (209_000, 540_000),
            (209_000, 553_000),
            (198_000, 553_000),
            (198_000, 550_000),
            (185_500, 550_000),
            (185_500, 548_000),
            (180_000, 548_000),
        ),
    ),
    (
        "GM9003",
        "NEE",
        ((198_000, 553_000), (220_000, 553_000), (220_000, 570_000), (198_000, 570_000)),
    ),
    (
        "GM9005",
        "NEE",
        ((180_000, 548_000), (185_500, 548_000), (185_500, 570_000), (180_000, 570_000)),
    ),
)


@dataclass(frozen=True)
class Settlement:
    """A town or village of the demo region: a square street grid with residents.

    Coordinates are RD New (EPSG:28992) metres; ``x``, ``y`` is the centre and a
    street-grid node.
    """

    name: str
    gemeentecode: str
    x: float
    y: float
    half_size_m: float
    spacing_m: float
    population: int


SETTLEMENTS: Final = (
    Settlement("Bibliostad", "GM9001", 190_000, 556_000, 1_800, 200, 40_000),
    Settlement("Middeldorp", "GM9003", 206_000, 560_000, 1_000, 200, 15_000),
    Settlement("Velddorp", "GM9002", 190_500, 547_500, 750, 250, 3_000),
    Settlement("Nieuwe Akkers", "GM9002", 196_000, 548_500, 500, 250, 2_000),
    Settlement("Oude Schans", "GM9002", 184_000, 546_500, 500, 250, 1_500),
    Settlement("Kleindijk", "GM9002", 203_000, 551_000, 500, 250, 1_500),
    Settlement("Eilanddorp", "GM9004", 214_750, 547_500, 500, 250, 3_000),
    Settlement("Westerhoek", "GM9005", 182_500, 564_000, 750, 250, 4_000),
    Settlement("Achterveld", "GM9005", 182_000, 556_000, 750, 250, 3_000),
)
"""The populated places (design targets; actual counts are rounded per cell)."""

DESIGN_POPULATION: Final[Mapping[str, int]] = MappingProxyType(
    {code: sum(s.population for s in SETTLEMENTS if s.gemeentecode == code) for code in GEMEENTEN}
)
"""Design target residents per gemeente (villages only; farms add a few dozen)."""


@dataclass(frozen=True)
class DemoBranch:
    """A library branch of the demo branch list (KB-style, Dutch type spelling).

    ``x``, ``y`` are RD New (EPSG:28992) metres, or None for a row given by
    address only (it needs geocoding).
    """

    naam: str
    type: str
    straat: str
    huisnummer: str
    postcode: str
    plaats: str
    gemeente: str
    x: float | None
    y: float | None


BRANCHES: Final = (
    DemoBranch(
        "Bibliotheek Bibliostad",
        "Hoofdvestiging",
        "Markt",
        "1",
        "9911 AB",
        "Bibliostad",
        "Bibliostad",
        190_018,
        556_022,
    ),
    DemoBranch(
        "Bibliotheek Bibliostad-Noord",
        "Servicepunt",
        "Esdoornlaan",
        "42",
        "9912 CD",
        "Bibliostad",
        "Bibliostad",
        191_417,
        557_615,
    ),
    DemoBranch(
        "Bibliotheek op school De Linde",
        "Bibliotheek op school",
        "Lindenstraat",
        "7",
        "9913 EF",
        "Bibliostad",
        "Bibliostad",
        188_815,
        555_185,
    ),
    DemoBranch(
        "Bibliotheek Middeldorp",
        "Vestiging",
        "Kerkplein",
        "3",
        "9921 GH",
        "Middeldorp",
        "Middeldorp",
        206_019,
        560_021,
    ),
    DemoBranch(
        "Afhaalpunt Middeldorp-Zuid (Supermarkt De Hoek)",
        "Afhaalpunt",
        "Zuiderbaan",
        "12a",
        "9922 JK",
        "Middeldorp",
        "Middeldorp",
        None,
        None,
    ),
    DemoBranch(
        "Bibliotheek Velddorp",
        "Servicepunt",
        "Dorpsstraat",
        "15",
        "9931 LM",
        "Velddorp",
        "Lange Velden",
        190_517,
        547_518,
    ),
    DemoBranch(
        "Afhaalpunt Nieuwe Akkers",
        "Afhaalpunt",
        "Brink",
        "2",
        "9932 NP",
        "Nieuwe Akkers",
        "Lange Velden",
        196_016,
        548_517,
    ),
    DemoBranch(
        "Zelfbedieningsbibliotheek Eilanddorp",
        "Zelfbedieningsbibliotheek",
        "Havenstraat",
        "4",
        "9941 RS",
        "Eilanddorp",
        "Oost-Eiland",
        214_768,
        547_516,
    ),
    DemoBranch(
        "Bibliobus halte Eilanddorp Veerhaven",
        "Bibliobus",
        "Veerweg",
        "1",
        "9941 RT",
        "Eilanddorp",
        "Oost-Eiland",
        213_836,
        550_071,
    ),
    DemoBranch(
        "Bibliotheek Westerhoek",
        "Vestiging",
        "Voorstraat",
        "21",
        "9951 TV",
        "Westerhoek",
        "Westerhoek",
        182_517,
        564_019,
    ),
    DemoBranch(
        "Bibliobus halte Achterveld",
        "Bibliobus",
        "Schoolstraat",
        "8",
        "9952 WX",
        "Achterveld",
        "Westerhoek",
        182_017,
        556_019,
    ),
    DemoBranch(
        "Bibliotheek Zuiderhaven",
        "Vestiging",
        "Havenkade",
        "30",
        "9961 XZ",
        "Zuiderhaven",
        "Zuiderhaven",
        178_018,
        541_017,
    ),
)
"""The branch list. Zuiderhaven lies just outside the demo gemeenten (south-west)."""


class _OsmMeta(TypedDict):
    """The metadata keywords of an osmium node or way."""

    version: int
    changeset: int
    timestamp: dt.datetime
    uid: int
    user: str


# OSM metadata of every written object (fixed so that files are reproducible).
_OSM_TIMESTAMP = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_OSM_META: Final = _OsmMeta(
    version=1, changeset=1, timestamp=_OSM_TIMESTAMP, uid=1, user="bereikbaar"
)
_GPKG_DATE = "2024-01-01T00:00:00Z"

_STREET_BASES: Final = (
    "Linden",
    "Eiken",
    "Beuken",
    "Berken",
    "Wilgen",
    "Populieren",
    "Kastanje",
    "Essen",
    "Iepen",
    "Esdoorn",
    "Acacia",
    "Hazelaar",
    "Vlier",
    "Meidoorn",
    "Hulst",
    "Taxus",
    "Elzen",
    "Platanen",
    "Lariks",
    "Ceder",
    "Tulpen",
    "Rozen",
    "Narcissen",
    "Krokus",
    "Lelie",
    "Anjer",
    "Seringen",
    "Jasmijn",
    "Irissen",
    "Dahlia",
    "Mees",
    "Merel",
    "Lijster",
    "Spreeuw",
    "Zwaluw",
    "Kievit",
    "Reiger",
    "Buizerd",
    "Fazant",
    "Kraai",
)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoInputs:
    """Paths of the demo input files written by :func:`write_demo_inputs`.

    Attributes
    ----------
    network
        OSM road network (``demo.osm.pbf``, WGS84 lon/lat as in any OSM file).
    cells
        CBS vierkantstatistieken 100 m GeoPackage (``demo_vierkant_100m.gpkg``,
        layer ``vierkant_100m_2024``, EPSG:28992).
    libraries
        KB-style branch list (``demo_bibliotheken.csv``; ``;``-separated, UTF-8,
        WGS84 ``lat``/``lon``).
    gemeenten
        CBS-style gemeente polygons (``demo_gemeenten.gpkg``, layer ``gemeenten``,
        EPSG:28992), land parts plus one water part.
    config
        Run configuration (``demo.toml``) naming the four files above.
    population
        Published residents per gemeentecode: the sum of ``aantal_inwoners`` over
        cells whose value is not suppressed.
    suppressed_cells
        Number of cells whose ``aantal_inwoners`` is suppressed (-99997).
    """

    network: Path
    cells: Path
    libraries: Path
    gemeenten: Path
    config: Path
    population: Mapping[str, int]
    suppressed_cells: int


def write_demo_inputs(folder: str | Path, *, seed: int = 20231) -> DemoInputs:
    """Write the fictional demo region's input files in their real formats.

    The same ``seed`` always gives files with the same content (and, with the
    pinned library versions, the same bytes). Existing files are replaced
    atomically.

    Parameters
    ----------
    folder
        Output folder; created if missing.
    seed
        Seed of the NumPy random generator (cell counts, suppressed values, road
        shape jitter, farm positions).

    Returns
    -------
    DemoInputs
        Paths of the written files and the published population per gemeente.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     demo = write_demo_inputs(tmp)
    ...     print(demo.network.name, demo.population["GM9004"] > 2_500)
    demo.osm.pbf True
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    builder = _OsmBuilder()
    farm_lines = _build_roads(builder, rng)
    for s in SETTLEMENTS:  # place names for the maps (OSM place nodes, off the roads)
        kind = "town" if s.population >= 10_000 else "village"
        builder.place((s.x + 60.0, s.y + 60.0), {"place": kind, "name": s.name})
    cells = _make_cells(rng, farm_lines)

    network = folder / "demo.osm.pbf"
    cells_path = folder / "demo_vierkant_100m.gpkg"
    libraries = folder / "demo_bibliotheken.csv"
    gemeenten = folder / "demo_gemeenten.gpkg"
    config = folder / "demo.toml"

    builder.write(network)
    _write_gpkg(cells, cells_path, "vierkant_100m_2024")
    _write_gpkg(_make_gemeenten(cells), gemeenten, "gemeenten")
    _write_libraries(libraries)
    _write_config(config, network, cells_path, libraries, gemeenten)

    published = cells[cells["aantal_inwoners"] >= 0]
    population = {
        code: int(published.loc[published["_gemeentecode"] == code, "aantal_inwoners"].sum())
        for code in GEMEENTEN
    }
    n_suppressed = int((cells["aantal_inwoners"] == SUPPRESSED).sum())
    log.info(
        "demo region written to %s: %d nodes, %d ways, %d cells, %d residents",
        folder,
        len(builder.nodes),
        len(builder.ways),
        len(cells),
        sum(population.values()),
    )
    return DemoInputs(
        network=network,
        cells=cells_path,
        libraries=libraries,
        gemeenten=gemeenten,
        config=config,
        population=MappingProxyType(population),
        suppressed_cells=n_suppressed,
    )


# ---------------------------------------------------------------------------
# road network (OSM)
# ---------------------------------------------------------------------------

Point = tuple[float, float]


class _OsmBuilder:
    """Collects nodes (deduplicated by RD position) and ways, then writes a PBF."""

    def __init__(self) -> None:
        self._ids: dict[tuple[int, int], int] = {}
        self.nodes: list[Point] = []
        self.ways: list[tuple[list[int], dict[str, str]]] = []
        self.places: list[tuple[Point, dict[str, str]]] = []

    def place(self, p: Point, tags: Mapping[str, str]) -> None:
        """A tagged node on no way (``place=town``): not part of the road network."""
        self.places.append(((float(p[0]), float(p[1])), dict(tags)))

    def node(self, p: Point) -> int:
        key = (round(p[0] * 100), round(p[1] * 100))
        node_id = self._ids.get(key)
        if node_id is None:
            self.nodes.append((float(p[0]), float(p[1])))
            node_id = len(self.nodes)
            self._ids[key] = node_id
        return node_id

    def way(self, points: Sequence[Point], tags: Mapping[str, str]) -> None:
        ids: list[int] = []
        for p in points:
            node_id = self.node(p)
            if not ids or ids[-1] != node_id:
                ids.append(node_id)
        if len(ids) < 2:  # pragma: no cover - design error
            msg = f"demo way {tags.get('name')!r} has fewer than two nodes"
            raise ValueError(msg)
        self.ways.append((ids, dict(tags)))

    def write(self, path: Path) -> None:
        import osmium

        xy = np.asarray(self.nodes + [p for p, _ in self.places], dtype=float)
        to_wgs = transformer(CRS_RD, CRS_WGS84)
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        lon = np.round(lon, 7)
        lat = np.round(lat, 7)
        header = osmium.io.Header()
        header.set("generator", "bereikbaar demo")
        header.add_box(
            osmium.osm.Box(
                osmium.osm.Location(float(lon.min()), float(lat.min())),
                osmium.osm.Location(float(lon.max()), float(lat.max())),
            )
        )
        with atomic_path(path) as tmp:
            writer = osmium.SimpleWriter(str(tmp), header=header, overwrite=True)
            try:
                # road nodes carry no tags; the place nodes follow them
                node_tags: list[dict[str, str]] = [{}] * len(self.nodes) + [
                    tags for _, tags in self.places
                ]
                for i, tags in enumerate(node_tags):
                    location = (float(lon[i]), float(lat[i]))
                    writer.add_node(
                        osmium.osm.mutable.Node(id=i + 1, location=location, tags=tags, **_OSM_META)
                    )
                for j, (ids, tags) in enumerate(self.ways):
                    writer.add_way(
                        osmium.osm.mutable.Way(id=j + 1, nodes=ids, tags=tags, **_OSM_META)
                    )
            finally:
                writer.close()


def _densify(
    control: Sequence[Point], rng: np.random.Generator, step_m: float, jitter_m: float
) -> list[Point]:
    """Insert shape nodes every ~``step_m`` with lateral jitter; keep control points exact."""
    out: list[Point] = [control[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(control):
        length = math.hypot(x1 - x0, y1 - y0)
        n = max(1, round(length / step_m))
        nx, ny = -(y1 - y0) / length, (x1 - x0) / length
        for k in range(1, n):
            t = k / n
            off = float(np.clip(rng.normal(0.0, jitter_m), -2 * jitter_m, 2 * jitter_m))
            out.append(
                (round(x0 + t * (x1 - x0) + off * nx, 1), round(y0 + t * (y1 - y0) + off * ny, 1))
            )
        out.append((x1, y1))
    return out


def _grid(builder: _OsmBuilder, s: Settlement, oneway: Mapping[tuple[str, int], bool]) -> None:
    """A square street grid; the central cross is tertiary, the rest residential.

    ``oneway`` maps ("h" or "v", line index) to True (forward) for one-way lines.
    """
    offsets = np.arange(-s.half_size_m, s.half_size_m + 0.5, s.spacing_m)
    xs = [s.x + float(o) for o in offsets]
    ys = [s.y + float(o) for o in offsets]
    names = _STREET_BASES
    centre = len(offsets) // 2
    for orient, coords in (("h", ys), ("v", xs)):
        for i, c in enumerate(coords):
            if orient == "h":
                pts = [(x, c) for x in xs]
                name = f"{names[i % len(names)]}straat"
            else:
                pts = [(c, y) for y in ys]
                name = f"{names[(i + 20) % len(names)]}laan"
            tags: dict[str, str]
            if i == centre:
                tags = {"highway": "tertiary", "maxspeed": "50"}
                name = "Dorpsstraat" if orient == "h" else "Kerkweg"
            else:
                tags = {"highway": "residential"}
                if i % 3 == 0:
                    tags["maxspeed"] = "30"
            tags["name"] = name
            if (orient, i) in oneway:
                tags["oneway"] = "yes"
                if not oneway[(orient, i)]:
                    pts = pts[::-1]
            builder.way(pts, tags)


def _motorway(builder: _OsmBuilder, rng: np.random.Generator) -> None:
    """Two one-way carriageways W-E with ramps at x = 190 000 and x = 206 000."""
    a = np.array([178_000.0, 552_000.0])
    b = np.array([222_000.0, 556_000.0])
    d = (b - a) / np.linalg.norm(b - a)
    n = np.array([-d[1], d[0]])  # north-ish normal
    half = 15.0

    def centre(x: float) -> npt.NDArray[np.float64]:
        return np.asarray(a + d * ((x - a[0]) / d[0]), dtype=np.float64)

    def cw(x: float, side: float) -> Point:
        p = centre(x) + side * half * n
        return (round(float(p[0]), 2), round(float(p[1]), 2))

    junctions = (190_000.0, 206_000.0)
    stations = set(np.arange(178_500.0, 222_000.0, 600.0).tolist())
    for jx in junctions:
        stations |= {jx - 600.0, jx + 600.0}
    xs = sorted(x for x in stations if a[0] < x < b[0])
    start = (float(a[0]), float(a[1]))
    end = (float(b[0]), float(b[1]))
    mw = {"highway": "motorway", "ref": "A99", "maxspeed": "100", "oneway": "yes", "lanes": "2"}
    builder.way([start, *[cw(x, -1) for x in xs], end], {**mw, "name": "Rijksweg 99 (oost)"})
    builder.way(
        [end, *[cw(x, +1) for x in reversed(xs)], start], {**mw, "name": "Rijksweg 99 (west)"}
    )
    # the motorway continues as a two-way trunk road beyond both ends of the region
    builder.way(
        [(176_000.0, 551_800.0), start], {"highway": "trunk", "ref": "N99", "maxspeed": "80"}
    )
    builder.way([end, (224_000.0, 556_200.0)], {"highway": "trunk", "ref": "N99", "maxspeed": "80"})
    for jx in junctions:
        y_mw = float(centre(jx)[1])
        south = (jx, round(y_mw - 400.0))
        north = (jx, round(y_mw + 400.0))
        ramp = {"highway": "motorway_link", "oneway": "yes"}
        # eastbound: off before the bridge to the south node, on after it
        builder.way([cw(jx - 600, -1), (jx - 250, y_mw - 180), south], ramp)
        builder.way([south, (jx + 250, y_mw - 180), cw(jx + 600, -1)], ramp)
        # westbound: off before (east of) the bridge to the north node, on after it
        builder.way([cw(jx + 600, +1), (jx + 250, y_mw + 180), north], ramp)
        builder.way([north, (jx - 250, y_mw + 180), cw(jx - 600, +1)], ramp)
    del rng  # the motorway is straight by design


def _build_roads(builder: _OsmBuilder, rng: np.random.Generator) -> list[list[Point]]:
    """Build every way of the demo network; return the polylines farms lie along."""
    by_name = {s.name: s for s in SETTLEMENTS}
    oneways: dict[str, dict[tuple[str, int], bool]] = {
        "Bibliostad": {("h", 7): True, ("h", 11): False, ("v", 5): True, ("v", 13): False},
        "Middeldorp": {("h", 3): True, ("v", 7): False},
        "Westerhoek": {("h", 2): True},
    }
    for s in SETTLEMENTS:
        _grid(builder, s, oneways.get(s.name, {}))
    _motorway(builder, rng)

    def road(control: Sequence[Point], tags: Mapping[str, str]) -> list[Point]:
        pts = _densify(control, rng, 350.0, 25.0)
        builder.way(pts, tags)
        return list(control)

    bs = by_name["Bibliostad"]
    y_mw_190 = 552_000.0 + (190_000.0 - 178_000.0) * 4_000.0 / 44_000.0
    y_mw_206 = 552_000.0 + (206_000.0 - 178_000.0) * 4_000.0 / 44_000.0
    sec = {"highway": "secondary", "maxspeed": "80"}
    ter = {"highway": "tertiary", "maxspeed": "60"}
    unc = {"highway": "unclassified", "maxspeed": "60"}
    road(
        [(bs.x + 1_800, 556_000), (196_000, 557_000), (200_000, 558_500), (205_000, 560_000)],
        {**sec, "name": "Middeldorperweg", "ref": "N991"},
    )
    road(
        [(188_200, 557_800), (185_000, 561_000), (183_250, 564_000)],
        {**sec, "name": "Westerhoekerweg", "ref": "N992"},
    )
    wh_achter = road(
        [(182_500, 563_250), (182_300, 560_000), (182_000, 556_750)],
        {**ter, "name": "Achterveldseweg"},
    )
    road([(182_750, 556_000), (186_000, 556_100), (188_200, 556_000)], {**ter, "name": "Oostweg"})
    road(
        [
            (190_000, 554_200),
            (190_000, round(y_mw_190 + 400.0)),
            (190_000, round(y_mw_190 - 400.0)),
            (190_300, 550_000),
            (190_500, 548_250),
        ],
        {**sec, "name": "Zuiderweg", "ref": "N993"},
    )
    velddorp_os = road(
        [(189_750, 547_500), (186_500, 547_000), (184_500, 546_500)],
        {**ter, "name": "Schansweg"},
    )
    road(
        [(183_500, 546_000), (180_500, 543_500), (178_000, 541_000)],
        {**sec, "name": "Zuiderhavenseweg", "ref": "N994"},
    )
    # a small harbour street at Zuiderhaven (outside the demo gemeenten)
    builder.way(
        [(178_000, 541_000), (177_800, 540_800), (177_600, 540_900)],
        {"highway": "residential", "name": "Havenkade"},
    )
    road([(191_250, 547_500), (193_500, 548_200), (195_500, 548_500)], {**ter, "name": "Akkerweg"})
    na_kd = road(
        [(196_500, 548_500), (199_500, 549_800), (202_500, 551_000)], {**ter, "name": "Dijkweg"}
    )
    road(
        [
            (203_500, 551_000),
            (206_000, 553_000),
            (206_000, round(y_mw_206 - 400.0)),
            (206_000, round(y_mw_206 + 400.0)),
            (206_000, 559_000),
        ],
        {**sec, "name": "Noorderweg", "ref": "N995"},
    )
    road([(206_000, 553_000), (208_500, 553_050), (211_000, 553_100)], {**ter, "name": "Veerweg"})
    polder = road([(190_500, 546_750), (190_500, 541_500)], {**unc, "name": "Polderweg"})
    hoek = road([(182_000, 555_250), (182_000, 549_000)], {**unc, "name": "Hoekweg"})
    # island: road from the village to the ferry landing; the ferry is the only link
    road([(214_750, 548_000), (214_200, 549_200), (213_800, 550_100)], {**ter, "name": "Veerweg"})
    builder.way(
        [(211_000, 553_100), (211_700, 552_300), (213_000, 551_000), (213_800, 550_100)],
        {
            "route": "ferry",
            "motor_vehicle": "yes",
            "bicycle": "yes",
            "foot": "yes",
            "name": "Veerdienst Oost-Eiland",
            "duration": "00:25",
        },
    )
    # bike and foot paths (not for cars)
    road(
        [(189_750, 548_250), (189_000, 551_200), (188_200, 554_200)],
        {"highway": "cycleway", "name": "Fietspad Velddorp-Bibliostad", "foot": "yes"},
    )
    builder.way(
        [(188_600, 556_600), (188_800, 556_800), (189_000, 557_000)],
        {"highway": "footway", "name": "Parkpad"},
    )
    builder.way([(205_400, 559_400), (205_600, 559_600)], {"highway": "footway", "name": "Kerkpad"})
    builder.way(
        [(214_250, 547_000), (214_000, 546_600), (215_500, 546_600), (215_250, 547_000)],
        {"highway": "footway", "name": "Dijkpad"},
    )
    return [wh_achter, velddorp_os, na_kd, polder, hoek]


# ---------------------------------------------------------------------------
# CBS grid
# ---------------------------------------------------------------------------

_AGE_COLUMNS = (
    "aantal_inwoners_0_tot_15_jaar",
    "aantal_inwoners_15_tot_25_jaar",
    "aantal_inwoners_25_tot_45_jaar",
    "aantal_inwoners_45_tot_65_jaar",
    "aantal_inwoners_65_jaar_en_ouder",
)
_AGE_SHARES = np.array([0.16, 0.11, 0.23, 0.28, 0.22])


def _round5(values: np.ndarray) -> np.ndarray:
    """Round counts to multiples of 5, like CBS."""
    return (5 * np.round(np.asarray(values, dtype=float) / 5.0)).astype(np.int64)


def _settlement_cells(s: Settlement, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lower-left corners and raw (unrounded) counts of one settlement's cells."""
    lo_x = math.floor((s.x - s.half_size_m) / 100) * 100
    lo_y = math.floor((s.y - s.half_size_m) / 100) * 100
    n = round(2 * s.half_size_m / 100)
    ix, iy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x_ll = (lo_x + 100 * ix).ravel().astype(float)
    y_ll = (lo_y + 100 * iy).ravel().astype(float)
    dx = np.abs(x_ll + 50 - s.x) / s.half_size_m
    dy = np.abs(y_ll + 50 - s.y) / s.half_size_m
    r = (dx**3 + dy**3) ** (1 / 3)  # a rounded square
    inside = r <= 1.0
    weight = (1.25 - r) * rng.lognormal(0.0, 0.35, size=r.shape)
    weight[rng.random(r.shape) < 0.06] = 0.0  # parks, schools, water
    weight = np.where(inside, weight, 0.0)
    counts = s.population * weight / weight.sum()
    corners = np.column_stack([x_ll, y_ll])
    return corners, counts


def _farm_cells(
    lines: Sequence[Sequence[Point]], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Scattered farmsteads 60-250 m beside rural roads."""
    corners: list[tuple[float, float]] = []
    counts: list[float] = []
    for control in lines:
        line = LineString(control)
        for t in np.linspace(0.15, 0.85, 6):
            p = line.interpolate(float(t), normalized=True)
            q = line.interpolate(min(float(t) + 0.01, 1.0), normalized=True)
            length = math.hypot(q.x - p.x, q.y - p.y)
            nx, ny = -(q.y - p.y) / length, (q.x - p.x) / length
            side = 1.0 if rng.random() < 0.5 else -1.0
            off = side * rng.uniform(60.0, 250.0)
            x, y = p.x + off * nx, p.y + off * ny
            corners.append((math.floor(x / 100) * 100.0, math.floor(y / 100) * 100.0))
            counts.append(5.0 * float(rng.integers(1, 4)))
    return np.asarray(corners, dtype=float), np.asarray(counts, dtype=float)


def _make_cells(
    rng: np.random.Generator, farm_lines: Sequence[Sequence[Point]]
) -> gpd.GeoDataFrame:
    """The CBS vierkantstatistieken 100 m table (plus a private gemeentecode column)."""
    gemeente_of = _gemeente_lookup()
    parts = [_settlement_cells(s, rng) for s in SETTLEMENTS]
    parts.append(_farm_cells(farm_lines, rng))
    corners = np.concatenate([c for c, _ in parts])
    raw = np.concatenate([n for _, n in parts])
    # one value per cell (a farm never falls in a village by design; keep the first)
    _, first = np.unique(corners, axis=0, return_index=True)
    first = np.sort(first)
    corners, raw = corners[first], raw[first]
    total = _round5(raw)
    keep = total >= 5
    corners, total = corners[keep], total[keep]
    n = len(total)

    men = _round5(rng.binomial(total, 0.495))
    women = _round5(total - rng.binomial(total, 0.495))
    ages = np.stack([_round5(a) for a in rng.multinomial(total, _AGE_SHARES).T], axis=1)
    households = _round5(total / rng.uniform(1.9, 2.6, size=n))
    dwellings = _round5(households * rng.uniform(1.0, 1.08, size=n))
    table: dict[str, np.ndarray] = {
        "aantal_inwoners": total.copy(),
        "aantal_mannen": men,
        "aantal_vrouwen": women,
    }
    for j, col in enumerate(_AGE_COLUMNS):
        table[col] = ages[:, j]
    table["aantal_part_huishoudens"] = households
    table["aantal_woningen"] = dwellings
    details = [c for c in table if c != "aantal_inwoners"]
    # CBS suppresses details of cells with few residents, and a few more at random
    small = total < 10
    for col in details:
        table[col] = np.where(small | (rng.random(n) < 0.03), SUPPRESSED, table[col])
    # three small cells whose total is suppressed too
    candidates = np.flatnonzero(total <= 10)
    hidden = rng.choice(candidates, size=3, replace=False)
    for col in table:
        table[col][hidden] = SUPPRESSED

    codes = [f"E{int(x) // 100:04d}N{int(y) // 100:04d}" for x, y in corners]
    gdf = gpd.GeoDataFrame(
        {"crs28992res100m": codes, **table},
        geometry=[box(x, y, x + 100, y + 100) for x, y in corners],
        crs=CRS_RD,
    )
    gdf["_gemeentecode"] = [gemeente_of(x + 50, y + 50) for x, y in corners]
    gdf = gdf.sort_values("crs28992res100m", kind="stable").reset_index(drop=True)
    return gdf.rename_geometry("geom")


# ---------------------------------------------------------------------------
# gemeenten
# ---------------------------------------------------------------------------


def _land_polygons() -> list[tuple[str, str, Polygon]]:
    out: list[tuple[str, str, Polygon]] = [
        (code, water, Polygon([(float(x), float(y)) for x, y in ring]))
        for code, water, ring in _GEMEENTE_RINGS
    ]
    island = Polygon(_ISLAND)
    out.append(("GM9004", "NEE", island))
    out.append(("GM9004", "JA", box(*_LAKE).difference(island)))
    return out


def _gemeente_lookup() -> _Lookup:
    return _Lookup([(c, p) for c, w, p in _land_polygons() if w == "NEE"])


class _Lookup:
    def __init__(self, polygons: Sequence[tuple[str, Polygon]]) -> None:
        self._polygons = polygons

    def __call__(self, x: float, y: float) -> str:
        from shapely import Point as ShapelyPoint

        p = ShapelyPoint(x, y)
        for code, poly in self._polygons:
            if poly.contains(p):
                return code
        return ""  # outside the region


def _make_gemeenten(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    for code, water, poly in sorted(_land_polygons(), key=lambda t: (t[0], t[1] == "JA")):
        inhabitants = cells.loc[
            (cells["_gemeentecode"] == code) & (cells["aantal_inwoners"] > 0), "aantal_inwoners"
        ].sum()
        rows.append(
            {
                "gemeentecode": code,
                "gemeentenaam": GEMEENTEN[code],
                "water": water,
                "jrstatcode": f"2024{code}",
                "jaar": 2024,
                "aantal_inwoners": int(inhabitants) if water == "NEE" else SUPPRESSED,
                "geom": MultiPolygon([poly]),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geom", crs=CRS_RD)


# ---------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    public = gdf[[c for c in gdf.columns if not str(c).startswith("_")]]
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        with atomic_path(path) as tmp:
            pyogrio.write_dataframe(public, tmp, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _write_libraries(path: Path) -> None:
    to_wgs = transformer(CRS_RD, CRS_WGS84)
    rows = []
    for b in BRANCHES:
        lat = lon = ""
        if b.x is not None and b.y is not None:
            lo, la = to_wgs.transform(b.x, b.y)
            lat, lon = f"{la:.6f}", f"{lo:.6f}"
        rows.append(
            {
                "naam": b.naam,
                "type": b.type,
                "straat": b.straat,
                "huisnummer": b.huisnummer,
                "postcode": b.postcode,
                "plaats": b.plaats,
                "gemeente": b.gemeente,
                "lat": lat,
                "lon": lon,
            }
        )
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep=";", index=False, encoding="utf-8", lineterminator="\n")


def _write_config(
    config: Path, network: Path, cells: Path, libraries: Path, gemeenten: Path
) -> None:
    text = (
        "# bereikbaar demo run (fictional region; generated by bereikbaar.demo)\n"
        'mode = "car"\n'
        "peiljaar = 2024\n"
        'out_dir = "output"\n'
        "\n"
        "[inputs]\n"
        f'network = "{network.name}"\n'
        f'cells = "{cells.name}"\n'
        f'libraries = "{libraries.name}"\n'
        f'gemeenten = "{gemeenten.name}"\n'
    )
    with atomic_path(config) as tmp:
        tmp.write_text(text, encoding="utf-8")


def run_demo(
    out_dir: str | Path = Path("data/processed/demo"),
    *,
    raw_dir: str | Path = Path("data/raw/demo"),
    seed: int = 20231,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Generate the demo region and run the same pipeline a user runs on real data.

    Parameters
    ----------
    out_dir
        Output folder (``kaart.html``, ``gemeenten.csv``, ``gemeenten.gpkg``,
        ``cells.gpkg``, ``run.json``).
    raw_dir
        Folder for the generated input files.
    seed
        Seed of the generator.
    progress
        Called with each stage name (see :func:`bereikbaar.pipeline.run`).

    Returns
    -------
    RunResult
        The run's cells, gemeente summary and outputs.
    """
    t0 = time.perf_counter()
    inputs = write_demo_inputs(raw_dir, seed=seed)
    written = {INPUTS_STAGE: round(time.perf_counter() - t0, 3)}  # work of the demo: timed
    settings = dataclasses.replace(Settings.from_toml(inputs.config), out_dir=Path(out_dir))
    return run(settings, progress=progress, demo=True, timings=written)
