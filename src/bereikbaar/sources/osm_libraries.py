"""OpenStreetMap ``amenity=library`` objects → classified library points in RD New.

:func:`libraries_from_osm` reads library nodes, closed ways and multipolygon
relations from an OSM file with pyosmium; areas become their representative point
(a point guaranteed inside the polygon, computed in RD New). Each library is
classified as a public library or not (university, school, company or other
special library, little free library) from its tags: ``library`` /
``library:type``, ``operator:type``, ``access``, and keywords in ``operator`` and
``name``. ``amenity=public_bookcase`` (book-exchange cabinets) is never read.

OSM does not say whether a branch is a *vestiging* or a *servicepunt*; the branch
type is ``other`` unless the name or tags tell (``"Servicepunt …"``, ``"Bibliobus"``,
``"Bibliotheek op school"``, ``library:type=…``). Treat the result as a draft to
review, not as the KB branch list.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..schema import (
    ADDRESS,
    BRANCH_TYPE,
    CRS_RD,
    CRS_WGS84,
    FULL_SERVICE,
    GEMEENTECODE,
    GEOCODE_QUALITY,
    LIBRARY_ID,
    NAME,
    PLACE,
    POSTCODE,
    transformer,
)
from ..settings import Settings
from ._errors import check_file, check_inflated_size, osm_read_errors
from ._osmium import use_all_cores
from .tabular import normalise_postcode

__all__ = [
    "CLASSIFICATIONS",
    "OSM_ID",
    "PUBLIC",
    "classify_library",
    "libraries_from_osm",
]

log = logging.getLogger(__name__)

PUBLIC: Final = "public"
"""Column: True for a public (openbare) library."""
OSM_ID: Final = "osm_id"
"""Column: ``node/123``, ``way/456`` or ``relation/789``."""
CLASSIFICATION: Final = "classification"
"""Column: one of :data:`CLASSIFICATIONS`."""
CLASSIFICATION_REASON: Final = "classification_reason"
"""Column: which tag or keyword decided the classification (English, for review)."""

CLASSIFICATIONS: Final = (
    "public",
    "university",
    "school",
    "company",
    "special",
    "little_free_library",
    "private",
)
"""Library classes; only ``public`` counts as a public library."""

ACCEPTED_SUFFIXES: Final = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2")

# Values of library=* / library:type=* (and operator:type=*) → class.
_TAG_VALUES: Final[Mapping[str, str]] = {
    "public": "public",
    "municipal": "public",
    "community": "public",
    "government": "public",
    "academic": "university",
    "university": "university",
    "college": "university",
    "research": "university",
    "education": "school",
    "school": "school",
    "corporate": "company",
    "company": "company",
    "business": "company",
    "private": "private",
    "special": "special",
    "religious": "special",
    "little_free_library": "little_free_library",
    "bookcase": "little_free_library",
    "book_exchange": "little_free_library",
}

# Keyword patterns (case-insensitive) in operator or name, in the order they are tried.
_KEYWORDS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "little_free_library",
        re.compile(
            r"mini\s*-?\s*bieb|little\s+free\s+library|ruil\s*-?\s*bieb|boekenruil|"
            r"boekenkast|zwerfboek|buurt\s*-?\s*bieb|minibibliotheek",
            re.IGNORECASE,
        ),
    ),
    (
        "university",
        re.compile(
            r"universit|hogeschool|\bTU\s*(?:Delft|/e|Eindhoven)\b|\bTU/e\b|"
            r"technische\s+universiteit|\bacademi[ec]|\bUMC\b|medisch\s+centrum|"
            r"\bWUR\b|\bHBO\b|\bMBO\b|\bROC\b",
            re.IGNORECASE,
        ),
    ),
    (
        "school",
        re.compile(
            r"\bschool|basisschool|lyceum|gymnasium|\bcollege\b|scholengemeenschap|"
            r"\bmavo\b|\bhavo\b|\bvwo\b|\bvmbo\b",
            re.IGNORECASE,
        ),
    ),
    (
        "company",
        re.compile(r"\bB\.?V\.?$|\bN\.?V\.?$|\bbedrijfs", re.IGNORECASE),
    ),
    (
        "special",
        re.compile(
            r"ministerie|rechtbank|ziekenhuis|museum|archief|\bkerk|klooster|"
            r"gevangenis|penitentiair|instituut|kenniscentrum|documentatiecentrum",
            re.IGNORECASE,
        ),
    ),
)

_BOS_RE: Final = re.compile(r"bibliotheek\s+op\s+school|\bdBoS\b|\bBoS\b", re.IGNORECASE)
_PUBLIC_RE: Final = re.compile(r"bibliothe[e]?k|\bbieb\b|openbare", re.IGNORECASE)
_PUBLIC_OPERATOR_RE: Final = re.compile(r"bibliothe|\bbieb|\bgemeente\b", re.IGNORECASE)

_BRANCH_KEYWORDS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("bibliotheek_op_school", _BOS_RE),
    ("servicepunt", re.compile(r"servicepunt|service\s*-\s*punt", re.IGNORECASE)),
    ("afhaalpunt", re.compile(r"afhaalpunt|uitleenpunt|haal\s*-?\s*en\s*-?\s*brengpunt", re.I)),
    ("zelfbediening", re.compile(r"zelfbediening|self\s*-?\s*service", re.IGNORECASE)),
    ("bibliobus", re.compile(r"bibliobus", re.IGNORECASE)),
    ("vestiging", re.compile(r"hoofdvestiging|centrale\s+bibliotheek", re.IGNORECASE)),
)
_BRANCH_TAG_VALUES: Final[Mapping[str, str]] = {
    "branch": "vestiging",
    "main": "vestiging",
    "central": "vestiging",
    "service_point": "servicepunt",
    "servicepunt": "servicepunt",
    "pickup_point": "afhaalpunt",
    "self_service": "zelfbediening",
    "mobile": "bibliobus",
    "bookmobile": "bibliobus",
}
_NOT_PUBLIC_ACCESS: Final = frozenset({"private", "no", "customers", "students", "permit"})

Tags = Mapping[str, str]


@dataclass(frozen=True)
class Classification:
    """Outcome of :func:`classify_library` for one OSM object."""

    classification: str
    reason: str
    branch_type: str

    @property
    def public(self) -> bool:
        """True for a public library."""
        return self.classification == "public"


def _tag_class(tags: Tags) -> tuple[str, str] | None:
    for key in ("library:type", "library", "operator:type"):
        value = tags.get(key, "").strip().lower()
        for part in (p.strip() for p in value.split(";") if p.strip()):
            cls = _TAG_VALUES.get(part)
            if cls is not None:
                return cls, f"{key}={part}"
    return None


def _keyword_class(tags: Tags) -> tuple[str, str] | None:
    for key in ("operator", "name", "official_name", "brand"):
        text = tags.get(key, "")
        if not text or (key != "operator" and _BOS_RE.search(text)):
            continue
        for cls, pattern in _KEYWORDS:
            match = pattern.search(text)
            if match is not None:
                return cls, f"{key} contains {match.group(0).strip()!r}"
    return None


def _branch_type(tags: Tags) -> str:
    for key in ("library:type", "library"):
        value = tags.get(key, "").strip().lower()
        if value in _BRANCH_TAG_VALUES:
            return _BRANCH_TAG_VALUES[value]
    for key in ("name", "official_name", "description"):
        text = tags.get(key, "")
        for branch, pattern in _BRANCH_KEYWORDS:
            if text and pattern.search(text):
                return branch
    return "other"


def classify_library(tags: Tags) -> Classification:
    """Classify one ``amenity=library`` object from its OSM tags.

    The rules, in order: an explicit ``library:type`` / ``library`` /
    ``operator:type`` value; a name saying "Bibliotheek op school" (a public
    library's school branch); restricted ``access``; keywords in ``operator``
    then ``name`` (university: "Universiteit", "University", "TU Delft",
    "Hogeschool", …; school; company; special libraries such as museums and
    archives; little free libraries: "Minibieb", "Little Free Library", …);
    an operator or name mentioning "Bibliotheek"; anything else counts as public
    (an ``amenity=library`` in the Netherlands without other signs is usually
    the public library).

    Parameters
    ----------
    tags
        The object's tags.

    Returns
    -------
    Classification
        Class, the reason (which tag or keyword decided), and the branch type
        (``other`` unless the tags tell).

    Examples
    --------
    >>> tags = {"name": "TU Delft Library", "operator": "Technische Universiteit Delft"}
    >>> c = classify_library(tags)
    >>> c.classification, c.public
    ('university', False)
    >>> classify_library({"name": "Servicepunt Den Hoorn", "operator": "DOK Delft"}).branch_type
    'servicepunt'
    """
    branch = _branch_type(tags)
    by_tag = _tag_class(tags)
    if by_tag is not None:
        return Classification(by_tag[0], by_tag[1], branch)
    name = tags.get("name", "")
    if _BOS_RE.search(name):
        return Classification("public", "name says 'Bibliotheek op school'", branch)
    access = tags.get("access", "").strip().lower()
    if access in _NOT_PUBLIC_ACCESS:
        return Classification("private", f"access={access}", branch)
    by_keyword = _keyword_class(tags)
    if by_keyword is not None:
        return Classification(by_keyword[0], by_keyword[1], branch)
    operator = tags.get("operator", "")
    if operator and _PUBLIC_OPERATOR_RE.search(operator):
        return Classification("public", f"operator {operator!r} is a public library", branch)
    if name and _PUBLIC_RE.search(name):
        return Classification("public", f"name {name!r} mentions a public library", branch)
    return Classification("public", "amenity=library without signs of another kind", branch)


@dataclass
class _Found:
    osm_id: str
    tags: dict[str, str]
    geometry: BaseGeometry  # WGS84


def _check_path(path: Path) -> None:
    check_file(path, ACCEPTED_SUFFIXES, "OSM")


def _read(path: Path) -> list[_Found]:
    use_all_cores()  # before libosmium makes its thread pool
    import osmium

    wkb = osmium.geom.WKBFactory()
    found: list[_Found] = []
    closed_ways: dict[int, _Found] = {}
    area_from_way: set[int] = set()

    def is_library(tags: osmium.osm.TagList) -> bool:
        return bool(tags.get("amenity") == "library")

    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.TagFilter(("amenity", "library")))
    )
    for obj in processor:
        if not is_library(obj.tags):
            continue
        tags = {t.k: t.v for t in obj.tags}
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                point = shapely.Point(obj.location.lon, obj.location.lat)
                found.append(_Found(f"node/{obj.id}", tags, point))
        elif isinstance(obj, osmium.osm.Way):
            coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            line = shapely.LineString(coords)
            item = _Found(f"way/{obj.id}", tags, line)
            if obj.is_closed():
                closed_ways[obj.id] = item  # used only if no area could be built
            else:
                found.append(item)
        elif isinstance(obj, osmium.osm.Area):
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
            except RuntimeError:
                continue
            kind = "way" if obj.from_way() else "relation"
            if obj.from_way():
                area_from_way.add(obj.orig_id())
            found.append(_Found(f"{kind}/{obj.orig_id()}", tags, geom))
    for way_id, item in closed_ways.items():
        if way_id not in area_from_way:
            found.append(item)
    return found


def _address(tags: Tags) -> str | None:
    street = tags.get("addr:street", "").strip()
    number = tags.get("addr:housenumber", "").strip()
    return " ".join(p for p in (street, number) if p) or None


def libraries_from_osm(
    path: str | Path,
    *,
    settings: Settings | None = None,
    assume_full_service: bool = True,
) -> gpd.GeoDataFrame:
    """Read and classify the libraries (``amenity=library``) in an OSM file.

    Nodes, closed ways and multipolygon relations are read; an area becomes its
    representative point (inside the polygon, computed in RD New). Every library
    is kept, public or not, so the classification can be reviewed; filter on
    ``public`` before using the result as a branch list.

    Parameters
    ----------
    path
        An OSM file (``.osm.pbf``, ``.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2``;
        WGS84 lon/lat as all OSM data).
    settings
        ``settings.full_service_types`` decides ``full_service`` for branches whose
        type the tags tell; default ``Settings()``.
    assume_full_service
        Whether a public library whose branch type OSM does not tell (``other``)
        counts as full service (default True: OSM maps mostly full branches, but
        check against the KB list).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per library, sorted by ``osm_id``, EPSG:28992, with the library
        columns (``library_id`` = ``osm-node-123`` etc., ``name``, ``branch_type``,
        ``full_service``, ``address``, ``postcode``, ``gemeentecode`` (None),
        ``geocode_quality`` = ``"osm"``), plus ``place``, ``public`` (bool),
        ``osm_id``, ``classification`` (one of :data:`CLASSIFICATIONS`) and
        ``classification_reason``.

    Raises
    ------
    InputError
        The file is missing, of an unknown type, or unreadable.
    """
    path = Path(path)
    _check_path(path)
    settings = settings if settings is not None else Settings()
    with osm_read_errors(path):
        check_inflated_size(path)  # .osm.gz/.osm.bz2: a decompression bomb is refused
        found = _read(path)
    found.sort(key=lambda f: (f.osm_id.split("/")[0], int(f.osm_id.split("/")[1])))
    to_rd = transformer(CRS_WGS84, CRS_RD)
    project: Callable[[np.ndarray], np.ndarray] = lambda c: np.column_stack(  # noqa: E731
        to_rd.transform(c[:, 0], c[:, 1])
    )
    points = [shapely.point_on_surface(shapely.transform(f.geometry, project)) for f in found]
    classes = [classify_library(f.tags) for f in found]

    def full(c: Classification) -> bool:
        if not c.public:
            return False
        if c.branch_type == "other":
            return assume_full_service
        return c.branch_type in settings.full_service_types

    def col(values: Iterable[object]) -> list[object]:
        return list(values)

    out = gpd.GeoDataFrame(
        {
            LIBRARY_ID: col("osm-" + f.osm_id.replace("/", "-") for f in found),
            NAME: col(f.tags.get("name") or None for f in found),
            BRANCH_TYPE: col(c.branch_type for c in classes),
            FULL_SERVICE: np.array([full(c) for c in classes], dtype=bool),
            ADDRESS: col(_address(f.tags) for f in found),
            POSTCODE: col(
                normalise_postcode(f.tags["addr:postcode"]) if "addr:postcode" in f.tags else None
                for f in found
            ),
            PLACE: col(f.tags.get("addr:city") or None for f in found),
            GEMEENTECODE: col(None for _ in found),
            GEOCODE_QUALITY: col("osm" for _ in found),
            PUBLIC: np.array([c.public for c in classes], dtype=bool),
            OSM_ID: col(f.osm_id for f in found),
            CLASSIFICATION: col(c.classification for c in classes),
            CLASSIFICATION_REASON: col(c.reason for c in classes),
        },
        geometry=gpd.GeoSeries(points, crs=CRS_RD),
        crs=CRS_RD,
    )
    log.info(
        "%s: %d amenity=library objects, %d public (%d full service)",
        path.name,
        len(out),
        int(out[PUBLIC].sum()),
        int(out[FULL_SERVICE].sum()),
    )
    return out
