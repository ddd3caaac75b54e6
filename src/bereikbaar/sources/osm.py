"""OpenStreetMap files (PBF or XML) → :class:`~bereikbaar.engine.network.Network`.

:func:`load_network` reads ``.osm.pbf`` with pyosmium (and ``.osm`` /
``.osm.gz`` / ``.osm.bz2`` XML, which pyosmium reads too), keeps the ways a
travel mode may use, and builds the network with NumPy: a node becomes a graph
node when it ends a way or is used more than once (by two ways, or twice by one
way); the degree-2 nodes inside ways are merged away, so each edge runs from
graph node to graph node and keeps its full geometry. Coordinates are projected
to RD New (EPSG:28992) in one vectorised call.

Which ways a mode keeps, in which direction and at what speed is decided by the
tag rules of :mod:`bereikbaar.sources.osm_tags` (shared with Overpass).
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import itertools
import json
import logging
import re
import tempfile
import warnings
import zipfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .._memory import release_memory
from .._version import __version__
from ..engine.network import Network, arrays_digest
from ..exceptions import BereikbaarWarning, NetworkError, where
from ..schema import CRS_RD, CRS_WGS84, MODES, project, transformer
from ..settings import Settings
from ._errors import check_file, check_inflated_size, osm_read_errors
from ._osmium import use_all_cores
from .osm_tags import MAIN_ROADS, PLACES, WAY_KEYS, TagGetter, WayRules, parse_maxspeed, rules_for

__all__ = [
    "ACCEPTED_SUFFIXES",
    "MODES",
    "OsmContext",
    "load_network",
    "load_network_with_context",
    "network_cache_key",
    "parse_maxspeed",
    "read_context",
]

log = logging.getLogger(__name__)

ACCEPTED_SUFFIXES: Final = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2")
"""File name endings :func:`load_network` reads."""

# Fixed-point OSM coordinates (degrees * 1e7); this value marks a missing location.
_UNDEFINED_COORDINATE: Final = 2147483647
_COORDINATE_PRECISION: Final = 10_000_000


# ---------------------------------------------------------------------- reading
@dataclass
class OsmContext:
    """What the maps take from an OSM file beside the network: main roads, ferries, names.

    Collected by the network reader in its own pass (:func:`load_network_with_context`),
    so a run reads its file once; kept beside the network in the cache. WGS84 lon/lat
    (degrees, as libosmium gives them); :mod:`bereikbaar.sources.context` projects and draws.

    Attributes
    ----------
    lonlat, offsets
        The located vertices of every way below, way after way in file order: way ``i`` is
        ``lonlat[offsets[i]:offsets[i + 1]]`` (at least two; vertices without a location,
        e.g. beyond an extract's edge, are left out).
    line_way, line_kind, line_name, line_ref
        Main roads (``highway`` in :data:`~bereikbaar.sources.osm_tags.MAIN_ROADS`) and
        ferries (``route=ferry`` without ``highway``): the way, its kind (the ``highway``
        value or ``"ferry"``), ``name`` and ``ref`` (``""`` where untagged).
    street_way, street_name
        Every way with a ``highway`` tag and a ``name``, for naming points.
    place_lonlat, place_name, place_kind
        Nodes with a ``name`` and ``place`` in :data:`~bereikbaar.sources.osm_tags.PLACES`.
    """

    lonlat: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.int64]
    line_way: npt.NDArray[np.int64]
    line_kind: list[str]
    line_name: list[str]
    line_ref: list[str]
    street_way: npt.NDArray[np.int64]
    street_name: list[str]
    place_lonlat: npt.NDArray[np.float64]
    place_name: list[str]
    place_kind: list[str]

    def save(self, path: Path) -> Path:
        """Write to an ``.npz`` file (arrays only, a SHA-256 inside; written, then renamed)."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "format": np.array(_CONTEXT_FORMAT),
            "lonlat": self.lonlat,
            "offsets": self.offsets,
            "line_way": self.line_way,
            "street_way": self.street_way,
            "place_lonlat": self.place_lonlat,
        }
        for name in _CONTEXT_TEXT:
            arrays[f"{name}_utf8"], arrays[f"{name}_offsets"] = _pack(getattr(self, name))
        arrays["sha256"] = np.array(arrays_digest(arrays))
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: Path) -> OsmContext:
        """Read a file written by :meth:`save`.

        Raises
        ------
        NetworkError
            Unreadable, of another format, or corrupt (checksum mismatch).
        """
        try:
            with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
                a = {name: npz[name] for name in npz.files}
            stored = str(a.pop("sha256", ""))
            if not stored or stored != arrays_digest(a) or str(a["format"]) != _CONTEXT_FORMAT:
                msg = f"file '{path}': saved map context is corrupt or of another format"
                raise NetworkError(msg)
            text = {n: _unpack(a[f"{n}_utf8"], a[f"{n}_offsets"]) for n in _CONTEXT_TEXT}
            return cls(
                lonlat=a["lonlat"],
                offsets=a["offsets"],
                line_way=a["line_way"],
                street_way=a["street_way"],
                place_lonlat=a["place_lonlat"],
                **text,
            )
        except (
            OSError,
            ValueError,
            KeyError,
            EOFError,
            UnicodeDecodeError,
            zipfile.BadZipFile,
        ) as err:
            msg = f"file '{path}': cannot read this saved map context ({err})"
            raise NetworkError(msg) from err


_CONTEXT_FORMAT: Final = "bereikbaar-context-1"
_CONTEXT_TEXT: Final = (
    "line_kind",
    "line_name",
    "line_ref",
    "street_name",
    "place_name",
    "place_kind",
)


def _pack(strings: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Strings → one UTF-8 byte array and offsets (no fixed-width unicode array)."""
    data = [t.encode() for t in strings]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return np.frombuffer(b"".join(data), dtype=np.uint8).copy(), offsets


def _unpack(blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> list[str]:
    raw = blob.tobytes()
    bounds = offsets.tolist()
    return [raw[a:b].decode() for a, b in itertools.pairwise(bounds)]


class _ContextWays:
    """Collector of what :class:`OsmContext` holds: which ways, their tags, the places."""

    def __init__(self) -> None:
        self.line_way: list[int] = []
        self.line_kind: list[str] = []
        self.line_name: list[str] = []
        self.line_ref: list[str] = []
        self.street_way: list[int] = []
        self.street_name: list[str] = []
        self.names: dict[str, str] = {}  # one str object per distinct street name
        self.n_ways = 0
        self.place_lonlat: list[tuple[float, float]] = []
        self.place_name: list[str] = []
        self.place_kind: list[str] = []

    def way(self, get: TagGetter) -> bool:
        """Note a way's tags; ``True`` when the context keeps it (its vertices are needed)."""
        highway = get("highway")
        kind = highway if highway in MAIN_ROADS else None
        if kind is None and highway is None and get("route") == "ferry":
            kind = "ferry"
        name = get("name") if highway is not None else None
        if kind is None and not name:
            return False
        k = self.n_ways
        self.n_ways += 1
        if kind is not None:
            self.line_way.append(k)
            self.line_kind.append(kind)
            self.line_name.append(str(get("name") or ""))
            self.line_ref.append(str(get("ref") or ""))
        if name:
            text = str(name)
            self.street_way.append(k)
            self.street_name.append(self.names.setdefault(text, text))
        return True

    def place(self, get: TagGetter, x7: int, y7: int) -> None:
        """Note a node with a ``place`` key at fixed-point ``x7``/``y7`` (undefined: skipped)."""
        place = get("place")
        name = get("name")
        if place in PLACES and name and _valid(x7, y7):
            self.place_lonlat.append((x7 / _COORDINATE_PRECISION, y7 / _COORDINATE_PRECISION))
            self.place_name.append(str(name))
            self.place_kind.append(str(place))

    def finish(
        self,
        wx: npt.NDArray[np.int32],
        wy: npt.NDArray[np.int32],
        size: npt.NDArray[np.int64],
    ) -> OsmContext:
        """The context, from the fixed-point vertices of the kept ways (``size`` each)."""
        # libosmium's Location.valid(): defined and inside -180..180, -90..90 degrees
        ok = (np.abs(wx) <= 180 * _COORDINATE_PRECISION) & (
            np.abs(wy) <= 90 * _COORDINATE_PRECISION
        )
        way_of = np.repeat(np.arange(len(size), dtype=np.int64), size)
        count = np.bincount(way_of[ok], minlength=len(size))
        good = count >= 2
        keep = ok & good[way_of]
        lonlat = np.column_stack(
            [wx[keep] / _COORDINATE_PRECISION, wy[keep] / _COORDINATE_PRECISION]
        )
        offsets = np.zeros(int(good.sum()) + 1, dtype=np.int64)
        np.cumsum(count[good], out=offsets[1:])
        new_index = np.cumsum(good) - 1

        def pick(ways: list[int], *texts: list[str]) -> tuple[Any, ...]:
            w = np.asarray(ways, dtype=np.int64)
            sel = np.flatnonzero(good[w]) if len(w) else np.zeros(0, dtype=np.int64)
            picked = [[t[i] for i in sel.tolist()] for t in texts]
            return (new_index[w[sel]].astype(np.int64), *picked)

        line_way, kinds, names, line_refs = pick(
            self.line_way, self.line_kind, self.line_name, self.line_ref
        )
        street_way, street_names = pick(self.street_way, self.street_name)
        return OsmContext(
            lonlat=np.asarray(lonlat, dtype=np.float64).reshape(-1, 2),
            offsets=offsets,
            line_way=line_way,
            line_kind=kinds,
            line_name=names,
            line_ref=line_refs,
            street_way=street_way,
            street_name=street_names,
            place_lonlat=np.asarray(self.place_lonlat, dtype=np.float64).reshape(-1, 2),
            place_name=self.place_name,
            place_kind=self.place_kind,
        )


def _unlocated_cause(refs: npt.NDArray[np.int64], located: npt.NDArray[np.bool_]) -> str:
    """Why way nodes have no location, in words (for the warning and the error)."""
    if bool((refs[~located] < 0).any()):
        return (
            "negative node ids, as an editor writes before upload, are not read;"
            " renumber the file (osmium renumber)"
        )
    return (
        "nodes missing from the file (an extract's boundary), or a file that is not sorted"
        " nodes before ways (osmium sort)"
    )


def _valid(x7: int, y7: int) -> bool:
    """libosmium's ``Location.valid()`` on fixed-point coordinates."""
    return abs(x7) <= 180 * _COORDINATE_PRECISION and abs(y7) <= 90 * _COORDINATE_PRECISION


@dataclass
class _Ways:
    """Flat arrays of the kept ways: one entry per way node, one per way."""

    refs: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    x7: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    y7: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    size: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    direction: list[int] = field(default_factory=list)
    speed_kmh: list[float] = field(default_factory=list)
    ferry: list[bool] = field(default_factory=list)
    n_seen: int = 0
    context: OsmContext | None = None


def _check_path(path: Path) -> None:
    accepted = ", ".join(ACCEPTED_SUFFIXES)
    unknown = (
        "unknown road network file type; expected an OSM file ending in"
        f" {accepted}, or NWB wegvakken (.gml, .gpkg, .shp)"
    )
    check_file(path, ACCEPTED_SUFFIXES, "OSM", unknown=unknown)


def _read_ways(
    path: Path,
    rules: WayRules | None,
    *,
    context: bool = False,
    work_dir: Path | None = None,
) -> _Ways:
    """The kept ways with their node locations, from one pass of libosmium over the file.

    This is the only function that calls pyosmium, so that the errors it raises for a
    damaged file can be mapped in one place (:func:`load_network`).

    No OSM object passes through Python one by one: libosmium reads the file, keeps a
    location index of every node (``sparse_mmap_array``, 16 bytes a node, freed after the
    pass), drops every way without a ``highway``/``route`` key, puts the node locations on
    the others and writes them as OPL text (one line a way: id, tags, node refs with their
    locations) to a temporary file (:func:`_write_opl`; ≈ 35 bytes a road way node, ≈ 1 GB for
    the Netherlands, in ``work_dir`` when given (the network cache's folder), else, or when
    it cannot be made, in the system's temporary folder). Python then reads that text a block
    at a time (:func:`_parse_opl`): the mode's tag rules decide on each way from its tags,
    and the refs and locations of the kept ways are parsed in bulk by Arrow's CSV reader.
    A node the file lacks (extract boundary) gets the undefined location, as with
    ``with_locations``; so do nodes that come after the ways that use them (OSM files are
    sorted nodes first) and negative node ids.

    With ``context``, the same pass collects the :class:`OsmContext` (``out.context``):
    libosmium also writes the nodes with a ``place`` key, and the main roads, ferries and
    named streets keep their vertices. ``rules=None`` keeps no way (the context alone).
    """
    with _temporary_folder(work_dir) as tmp:
        opl = Path(tmp) / "ways.opl"
        _write_opl(path, opl, places=context)
        return _parse_opl(opl, rules, _ContextWays() if context else None)


def _temporary_folder(work_dir: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder in ``work_dir`` (made if need be), else in the system's own.

    A ``work_dir`` that cannot be made or written to falls back to the system's folder.
    """
    if work_dir is not None:
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
            return tempfile.TemporaryDirectory(prefix="bereikbaar-osm-", dir=work_dir)
        except OSError as err:
            log.info("%s: no temporary folder there (%s); the system's used", work_dir, err)
    return tempfile.TemporaryDirectory(prefix="bereikbaar-osm-")


def _write_opl(path: Path, opl: Path, *, places: bool) -> None:
    """libosmium: the ``highway``/``route`` ways of ``path``, located, as OPL text in ``opl``.

    With ``places`` the nodes with a ``place`` key are written too (before the ways, as in
    the file). The whole pass runs in C++: a key filter on the ways, the location index
    (``NodeLocationsForWays``, missing nodes left undefined), the writer.
    """
    use_all_cores()  # before libosmium makes its thread pool
    import osmium

    index = osmium.index.create_map("sparse_mmap_array")
    locations = osmium.NodeLocationsForWays(index)
    locations.ignore_errors()
    ways = osmium.filter.KeyFilter(*WAY_KEYS)
    ways.enable_for(osmium.osm.WAY)
    if places:
        nodes: Any = osmium.filter.KeyFilter("place")
        nodes.enable_for(osmium.osm.NODE)
    else:
        nodes = osmium.filter.EntityFilter(osmium.osm.WAY)
    writer = osmium.SimpleWriter(
        osmium.io.File(str(opl), "opl,add_metadata=false,locations_on_ways=true"),
        overwrite=True,
    )
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.NODE | osmium.osm.WAY)
        try:
            osmium.apply(reader, ways, locations, nodes, writer)
        finally:
            reader.close()
    finally:
        del locations, index  # the index of every node goes now, before the build
        try:
            writer.close()  # raises what the writer's threads met (e.g. an invalid location)
        except BaseException:
            _abandon(writer)
            raise


def _abandon(writer: object) -> None:
    """Never destroy a pyosmium ``SimpleWriter`` whose ``close()`` failed.

    Its destructor calls ``close()`` again, which throws again (the writer is in its error
    state), and a C++ destructor that throws ends the process (``std::terminate``). One more
    reference that is never released keeps it (and its file handle) until the process ends.
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(writer))


_OPL_BLOCK: Final = 8 << 20  # bytes of OPL text parsed at a time
# a way node "n<id>x<lon>y<lat>" becomes the CSV row "<id>\t<lon>\t<lat>"
_REF_TO_CSV: Final = bytes.maketrans(b"xy,", b"\t\t\n")
_NO_TAGS: Final[dict[str, str]] = {}
_VERDICTS_KEPT: Final = 1 << 16  # distinct tags fields remembered (then forgotten)
_OPL_ESCAPE: Final = re.compile(r"%([0-9a-f]+)%")


#: way node refs (int64) and their fixed-point lon/lat (int32, as libosmium's Location)
_Located = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]]


def _parse_opl(opl: Path, rules: WayRules | None, ctx: _ContextWays | None) -> _Ways:
    """The :class:`_Ways` (and ``out.context``) from the OPL text of :func:`_write_opl`.

    A block of lines at a time: each way's tags go through the rules (and the context's
    choice) in Python, once per distinct tags field (most roads share theirs with others);
    the node lists of the ways either keeps are parsed together (:func:`_opl_refs`), and
    each keeps its share, so no array of all of them is held.
    """
    out = _Ways()
    kept: list[tuple[int, float, bool]] = []  # the rules' verdict on each kept way
    sizes: list[npt.NDArray[np.int64]] = []  # way nodes of each kept way, block by block
    ctx_sizes: list[npt.NDArray[np.int64]] = []  # and of each way the context keeps
    net_parts: list[_Located] = []
    ctx_parts: list[_Located] = []
    verdicts: dict[bytes, tuple[TagGetter, tuple[int, float, bool] | None]] = {}
    with opl.open("rb") as fh:
        rest = b""
        while True:
            block = fh.read(_OPL_BLOCK)
            text = rest + block
            cut = text.rfind(b"\n") + 1 if block else len(text)
            text, rest = text[:cut], text[cut:]
            if not block and not text:
                break
            segments: list[bytes] = []  # node lists of the ways either keeps
            counts: array[int] = array("q")
            use: array[int] = array("b")  # 1: the network keeps the way, 2: the context, 3: both
            if len(verdicts) > _VERDICTS_KEPT:
                verdicts.clear()
            for line in text.split(b"\n"):
                if not line:
                    continue
                parts = line.split(b" ")
                if line[0] == 0x6E:  # b"n": a node with a place key: "n<id> T<tags> x<lon> y<lat>"
                    if ctx is not None:
                        get = _opl_tags(parts[1])
                        ctx.place(get, _opl_coordinate(parts[2]), _opl_coordinate(parts[3]))
                    continue
                out.n_seen += 1  # "w<id> T<tags> N<refs>"
                verdict = verdicts.get(parts[1])
                if verdict is None:
                    get = _opl_tags(parts[1])
                    verdict = verdicts[parts[1]] = (get, rules(get) if rules is not None else None)
                get, attrs = verdict
                flag = 0 if attrs is None else 1
                if ctx is not None and ctx.way(get):
                    flag += 2
                if not flag:
                    continue
                nodes = parts[2][1:]
                segments.append(nodes)
                counts.append(nodes.count(b",") + 1 if nodes else 0)
                use.append(flag)
                if attrs is not None:
                    kept.append(attrs)
            del text
            if not segments:
                continue
            located = _opl_refs(segments)
            del segments
            n_refs = np.frombuffer(counts, dtype=np.int64)
            flags = np.frombuffer(use, dtype=np.int8)
            assert int(n_refs.sum()) == len(located[0])
            for bit, parts_, sizes_ in ((1, net_parts, sizes), (2, ctx_parts, ctx_sizes)):
                mine = (flags & bit) != 0
                keep = np.repeat(mine, n_refs)
                parts_.append((located[0][keep], located[1][keep], located[2][keep]))
                sizes_.append(n_refs[mine])
            del located
    out.refs, out.x7, out.y7 = _joined(net_parts)
    out.size = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    if kept:
        direction, speed, ferry = zip(*kept, strict=True)
        out.direction, out.speed_kmh, out.ferry = list(direction), list(speed), list(ferry)
    if ctx is not None:
        _, wx, wy = _joined(ctx_parts)
        n = np.concatenate(ctx_sizes) if ctx_sizes else np.zeros(0, dtype=np.int64)
        out.context = ctx.finish(wx, wy, n)
    return out


def _joined(parts: list[_Located]) -> _Located:
    """The blocks' refs, x7 and y7, each joined into one array (emptied from ``parts``)."""
    joined: list[npt.NDArray[Any]] = []
    for i, dtype in enumerate((np.int64, np.int32, np.int32)):
        arrays = [p[i] for p in parts]
        joined.append(np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype))
        del arrays
        for k, block in enumerate(parts):  # this column's blocks go now
            cols: list[npt.NDArray[Any]] = list(block)
            cols[i] = cols[i][:0]
            parts[k] = (cols[0], cols[1], cols[2])
    parts.clear()
    return joined[0], joined[1], joined[2]


def _opl_tags(field: bytes) -> TagGetter:
    """The tag getter of an OPL tags field ``T<k>=<v>,<k>=<v>...`` (``%hex%`` escapes decoded).

    The first of repeated keys wins, as in libosmium's ``get_value_by_key``.

    >>> get = _opl_tags(b"Thighway=residential,name=Oude%20%Delft,highway=x")
    >>> get("name"), get("highway"), get("ref")
    ('Oude Delft', 'residential', None)
    """
    text = field[1:].decode()
    if not text:
        return _NO_TAGS.get
    pairs = [kv.split("=", 1) for kv in text.split(",")]
    if "%" in text:
        pairs = [[_unescape(k), _unescape(v)] for k, v in pairs]
    tags = dict(pairs)
    if len(tags) < len(pairs):
        tags = dict(reversed(pairs))
    return tags.get


def _unescape(text: str) -> str:
    """Undo OPL's ``%<hex code point>%`` escapes."""
    return _OPL_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text) if "%" in text else text


def _opl_coordinate(field: bytes) -> int:
    """A node's ``x<degrees>`` / ``y<degrees>`` field as fixed point (``x``/``y``: undefined)."""
    return (
        round(float(field[1:]) * _COORDINATE_PRECISION) if len(field) > 1 else _UNDEFINED_COORDINATE
    )


def _opl_refs(segments: list[bytes]) -> _Located:
    """Refs and fixed-point locations of OPL node lists ``n<id>x<lon>y<lat>,...``, in bulk.

    A node without a location is written ``n<id>xy``: undefined. The coordinates carry at
    most seven decimals, so ``rint(degrees * 1e7)`` is exact.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    csv = b",".join(segments).translate(_REF_TO_CSV, b"n")  # empty lists: empty lines
    if not csv.strip():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, np.int32)
    table = pa_csv.read_csv(
        pa.py_buffer(csv),
        read_options=pa_csv.ReadOptions(
            column_names=["id", "x", "y"], block_size=16 << 20, use_threads=False
        ),
        parse_options=pa_csv.ParseOptions(delimiter="\t"),
        convert_options=pa_csv.ConvertOptions(
            column_types={"id": pa.int64(), "x": pa.float64(), "y": pa.float64()}
        ),
        memory_pool=pa.system_memory_pool(),  # malloc: freed memory goes back to the system
    )
    del csv
    refs = table.column("id").to_numpy()
    located: list[npt.NDArray[np.int32]] = []
    for name in ("x", "y"):
        deg = table.column(name).to_numpy(zero_copy_only=False)
        fixed = np.full(len(deg), _UNDEFINED_COORDINATE, dtype=np.int32)  # libosmium's int32
        defined = ~np.isnan(deg)
        fixed[defined] = np.rint(deg[defined] * _COORDINATE_PRECISION).astype(np.int32)
        located.append(fixed)
    return np.asarray(refs, dtype=np.int64), located[0], located[1]


# ---------------------------------------------------------------------- building
def _build(ways: _Ways, mode: str, path: Path) -> Network:
    """Split ways at graph nodes and assemble the Network (all NumPy).

    Memory is what limits a national file (≈ 30 M way nodes): every array over the way
    nodes is let go as soon as it is used, coordinates stay 32-bit fixed point until the
    distinct nodes are projected, and no sort other than the one of the node ids is done.
    """
    refs = np.asarray(ways.refs, dtype=np.int64)
    x7 = np.asarray(ways.x7, dtype=np.int32)
    y7 = np.asarray(ways.y7, dtype=np.int32)
    way_of = np.repeat(np.arange(len(ways.size), dtype=np.int32), ways.size)
    n = len(refs)
    # the way node arrays are read once: let them go as soon as their copies are made
    empty = np.zeros(0, dtype=np.int64)
    ways.refs, ways.size = empty, empty
    ways.x7, ways.y7 = empty.astype(np.int32), empty.astype(np.int32)

    # A way is cut where a node has no location (extract boundary); each stretch
    # of located nodes is a "piece". Repeated consecutive refs are dropped.
    valid = (x7 != _UNDEFINED_COORDINATE) & (y7 != _UNDEFINED_COORDINATE)
    n_missing = int(n - valid.sum())
    if n_missing:
        warnings.warn(
            f"{where(path)}: {n_missing:,} way node(s) have no coordinates"
            f" ({_unlocated_cause(refs, valid)}); the ways are cut there",
            BereikbaarWarning,
            stacklevel=3,
        )
    cut = np.ones(n, dtype=bool)  # a piece starts here: a new way, or after a gap
    np.not_equal(way_of[1:], way_of[:-1], out=cut[1:])
    cut[1:] |= ~valid[:-1]
    keep = valid
    keep[1:] &= (refs[1:] != refs[:-1]) | cut[1:]  # a repeated ref within a piece goes
    del valid
    piece = np.cumsum(cut, dtype=np.int64)
    del cut
    refs, x7, y7, way_of, piece = refs[keep], x7[keep], y7[keep], way_of[keep], piece[keep]
    del keep
    # drop pieces of fewer than two nodes (piece numbers are sorted: runs of equal ones)
    first = np.ones(len(piece), dtype=bool)
    np.not_equal(piece[1:], piece[:-1], out=first[1:])
    del piece
    starts_at = np.flatnonzero(first)
    size = np.diff(np.append(starts_at, len(first)))
    keep = np.repeat(size >= 2, size)
    del starts_at, size
    refs, x7, y7, way_of, first = refs[keep], x7[keep], y7[keep], way_of[keep], first[keep]
    del keep
    n = len(refs)
    if n == 0:
        return _empty(mode)
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]

    # graph nodes: used twice or more, or the end of a piece
    node_ids, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    del refs
    # each distinct node's location: every use of a node carries the same one (libosmium's
    # index), so any use will do (no stable sort for the first)
    node_x7 = np.empty(len(node_ids), dtype=np.int32)
    node_x7[inverse] = x7
    node_y7 = np.empty(len(node_ids), dtype=np.int32)
    node_y7[inverse] = y7
    del x7, y7
    is_graph = counts >= 2
    del counts
    is_graph[inverse[first | last]] = True
    graph = is_graph[inverse]

    # Edges run from graph node to graph node: an edge starts at every graph node that does
    # not end its piece, and an inner graph node also ends the previous edge, so its entry
    # is taken twice. ``vertex`` are the edges' vertices, edge after edge.
    starts = graph & ~last
    inner = graph & ~first & ~last
    del graph, first, last
    taken = 1 + inner.view(np.int8)
    vertex = np.repeat(inverse, taken)
    del inverse
    position = np.cumsum(taken, dtype=np.int64)  # one past each entry's last copy
    del taken
    start_entry = np.flatnonzero(starts)
    edge_off = np.append(position[start_entry] - 1, len(vertex)).astype(np.int64)
    del position, starts, inner
    edge_way = way_of[start_entry]
    del way_of, start_entry

    # project each distinct node once (one vectorised call)
    lon = node_x7 / _COORDINATE_PRECISION
    lat = node_y7 / _COORDINATE_PRECISION
    del node_x7, node_y7
    node_xs, node_ys = project(CRS_WGS84, CRS_RD, lon, lat)  # on every core
    del lon, lat
    length = _polyline_lengths(node_xs, node_ys, vertex, edge_off)

    # node indices: graph nodes in OSM id order
    node_index = np.cumsum(is_graph) - 1
    u_edge = node_index[vertex[edge_off[:-1]]]
    v_edge = node_index[vertex[edge_off[1:] - 1]]
    del node_index
    node_x = node_xs[is_graph]
    node_y = node_ys[is_graph]

    direction = np.asarray(ways.direction, dtype=np.int8)[edge_way]
    speed_ms = np.asarray(ways.speed_kmh, dtype=np.float64)[edge_way] / 3.6
    ferry = np.asarray(ways.ferry, dtype=bool)[edge_way]
    del edge_way
    fwd = direction >= 0
    rev = direction <= 0
    u = np.concatenate([u_edge[fwd], v_edge[rev]])
    v = np.concatenate([v_edge[fwd], u_edge[rev]])
    arc_length = np.concatenate([length[fwd], length[rev]])
    arc_time = np.concatenate([length[fwd] / speed_ms[fwd], length[rev] / speed_ms[rev]])
    arc_ferry = np.concatenate([ferry[fwd], ferry[rev]])
    del u_edge, v_edge, length, speed_ms, ferry
    arc_xy, arc_off = _arc_vertices(vertex, edge_off, fwd, rev, node_xs, node_ys)
    return Network(
        x=node_x,
        y=node_y,
        u=u.astype(np.int64),
        v=v.astype(np.int64),
        length_m=arc_length,
        time_s=arc_time,
        node_id=node_ids[is_graph].astype(np.int64),
        ferry=arc_ferry,
        mode=mode,
        geometry_coords=arc_xy,
        geometry_offsets=arc_off,
    )


def _polyline_lengths(
    node_xs: npt.NDArray[np.float64],
    node_ys: npt.NDArray[np.float64],
    vertex: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Length of each polyline ``vertex[offsets[i]:offsets[i + 1]]`` (node numbers).

    Bit for bit GEOS's (shapely's ``length``): ``sqrt(dx * dx + dy * dy)`` per segment, summed
    from the first segment to the last. The polylines are taken longest first, so that at
    step ``j`` the ones with a ``j``-th segment are a prefix: one vectorised addition per step.
    """
    seg = np.diff(node_xs[vertex])  # segment k runs from vertex k to k + 1
    seg *= seg
    dy = np.diff(node_ys[vertex])
    dy *= dy
    seg += dy
    del dy
    np.sqrt(seg, out=seg)
    n_seg = np.diff(offsets) - 1
    order = np.argsort(-n_seg, kind="stable")
    first = offsets[:-1][order]
    ns = n_seg[order]
    total = np.zeros(len(order), dtype=np.float64)
    if len(order) == 0:
        return total
    # active[j]: how many polylines have more than j segments (ns is descending)
    active = np.searchsorted(-ns, -np.arange(int(ns[0])), side="left")
    for j, k in enumerate(active.tolist()):
        total[:k] += seg[first[:k] + j]
    out = np.empty(len(order), dtype=np.float64)
    out[order] = total
    return out


def _arc_vertices(
    vertex: npt.NDArray[np.int64],
    edge_off: npt.NDArray[np.int64],
    fwd: npt.NDArray[np.bool_],
    rev: npt.NDArray[np.bool_],
    node_xs: npt.NDArray[np.float64],
    node_ys: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The arcs' flat vertices: the edges ``fwd`` as they run, then the edges ``rev`` backwards.

    ``vertex[edge_off[e]:edge_off[e + 1]]`` are edge ``e``'s vertices (node numbers into
    ``node_xs``/``node_ys``); ``fwd``/``rev`` mask the edges that give an arc each way.
    Returns the ``(k, 2)`` coordinates and ``n_arcs + 1`` offsets of
    :attr:`~bereikbaar.engine.network.Network.geometry_coords`.
    """
    counts = np.diff(edge_off)
    offsets = np.zeros(int(fwd.sum()) + int(rev.sum()) + 1, dtype=np.int64)
    np.cumsum(np.concatenate([counts[fwd], counts[rev]]), out=offsets[1:])
    coords = np.empty((int(offsets[-1]), 2), dtype=np.float64)
    # forward: the vertices of the fwd edges, in order
    src = vertex[np.repeat(fwd, counts)]
    n_fwd = len(src)
    coords[:n_fwd, 0] = node_xs[src]
    coords[:n_fwd, 1] = node_ys[src]
    # backward: each rev edge's vertices reversed, the edges in order; entry p of an edge
    # of vertices a..b (positions in ``vertex``) is vertex[a + b - 1 - p]
    ends = edge_off[:-1][rev] + edge_off[1:][rev] - 1
    src = np.repeat(ends, counts[rev])
    del ends
    src -= np.arange(len(vertex))[np.repeat(rev, counts)]
    src = vertex[src]
    coords[n_fwd:, 0] = node_xs[src]
    coords[n_fwd:, 1] = node_ys[src]
    return coords, offsets


def _empty(mode: str) -> Network:
    f: npt.NDArray[np.float64] = np.zeros(0)
    i: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
    return Network(x=f, y=f, u=i, v=i, length_m=f, mode=mode)


def load_network(
    path: str | Path,
    mode: str = "car",
    *,
    settings: Settings | None = None,
    cache_dir: str | Path | None = None,
) -> Network:
    """Read an OpenStreetMap file into a routable :class:`~bereikbaar.network.Network`.

    Reads ``.osm.pbf`` (or ``.pbf``) and XML ``.osm`` / ``.osm.gz`` / ``.osm.bz2``
    with pyosmium. Ways are kept according to the mode's tag filter (see the
    module docstring); degree-2 nodes inside ways are merged, so arcs run from
    graph node to graph node with their full geometry. A two-way road gives two
    arcs (``u→v`` and ``v→u`` with mirrored geometry), a one-way road one.
    NWB wegvakken (``.gml``, ``.gpkg``, ``.shp``) go to
    :func:`bereikbaar.sources.nwb.load_nwb`.

    Parameters
    ----------
    path
        The OSM file (WGS84 lon/lat, as all OSM data).
    mode
        ``"car"`` (CBS-comparable: roads a car may use, ferries included,
        one-way respected), ``"bike"`` or ``"walk"``.
    settings
        Speeds for ``time_s``: ``car_speeds_kmh`` per highway class where no
        usable ``maxspeed`` is tagged, ``bike_speed_kmh``, ``walk_speed_kmh``,
        ``ferry_speed_kmh`` (all km/h). Defaults to ``Settings()``.
    cache_dir
        Folder of built networks (:meth:`Network.save` files), keyed by the input
        file's SHA-256, the mode, the speeds and the package version. A hit is
        loaded instead of rebuilt; a corrupt entry is rebuilt with a warning.
        ``None`` (default): no cache.

    Returns
    -------
    Network
        Node coordinates and geometry in RD New (EPSG:28992, metres);
        ``length_m`` is the geometry length in RD New (m), ``time_s`` the travel
        time (s), ``node_id`` the OSM node ids, ``ferry`` marks ferry arcs.

    Raises
    ------
    InputError
        The file is missing, has an unknown file type, or cannot be read
        (truncated, corrupt, not OSM).
    NetworkError
        The mode is unknown, or the file has no usable ways for the mode.
    """
    return _load(Path(path), mode, settings, cache_dir, context=False)[0]


def load_network_with_context(
    path: str | Path,
    mode: str = "car",
    *,
    settings: Settings | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[Network, OsmContext | None]:
    """:func:`load_network`, and the maps' :class:`OsmContext` from the same pass.

    A run reads its OSM file once: the main roads, ferries, place and street names the
    maps and the dossier show (:mod:`bereikbaar.sources.context`) are collected while the
    network is read, and kept in ``cache_dir`` beside the network (a cached network
    without its context is read again).

    Parameters
    ----------
    path, mode, settings, cache_dir
        As :func:`load_network`.

    Returns
    -------
    network : Network
    context : OsmContext or None
        ``None`` for NWB wegvakken (no OSM file).

    Raises
    ------
    InputError, NetworkError
        As :func:`load_network`.
    """
    return _load(Path(path), mode, settings, cache_dir, context=True)


def read_context(path: str | Path) -> OsmContext:
    """The :class:`OsmContext` of an OSM file alone (the same pass, no network kept).

    Raises
    ------
    InputError
        The file cannot be read (truncated, corrupt, not OSM).
    """
    path = Path(path)
    with osm_read_errors(path):
        check_inflated_size(path)
        ways = _read_ways(path, None, context=True)
    assert ways.context is not None
    return ways.context


def _is_nwb(path: Path) -> bool:
    return path.name.lower().endswith((".gml", ".gpkg", ".shp"))


def _load(
    path: Path,
    mode: str,
    settings: Settings | None,
    cache_dir: str | Path | None,
    *,
    context: bool,
    work_dir: Path | None = None,
) -> tuple[Network, OsmContext | None]:
    if cache_dir is not None:
        return _load_cached(path, mode, settings, Path(cache_dir), context=context)
    if _is_nwb(path):  # NWB wegvakken
        from .nwb import load_nwb  # geopandas: imported only for NWB files

        nwb = load_nwb(path, mode, settings=settings)
        return nwb.prepare(coverage_buffer_m=(settings or Settings()).coverage_buffer_m), None
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}; got {mode!r}"
        raise NetworkError(msg)
    _check_path(path)
    settings = settings if settings is not None else Settings()
    rules = rules_for(mode, settings)
    with osm_read_errors(path):
        check_inflated_size(path)  # .osm.gz/.osm.bz2: a decompression bomb is refused
        ways = _read_ways(path, rules, context=context, work_dir=work_dir)
    n_way_nodes = len(ways.refs)
    located = ways.x7 != _UNDEFINED_COORDINATE
    n_unlocated = n_way_nodes - int(np.count_nonzero(located))
    cause = _unlocated_cause(ways.refs, located) if n_unlocated else ""
    del located
    release_memory()  # the read's freed buffers, before the build's peak
    network = _build(ways, mode, path)  # empties the way node arrays
    release_memory()  # the build's freed arrays, before the indexes' peak
    extent = declared_extent(path, settings)
    if extent is not None:
        network = dataclasses.replace(network, extent=extent)
    if network.n_arcs == 0:
        msg = (
            f"{where(path)}: no usable ways for mode {mode!r} "
            f"({ways.n_seen:,} ways with a highway or route tag read"
            + (
                f"; {n_unlocated:,} of their {n_way_nodes:,} kept way nodes have no coordinates:"
                f" {cause}"
                if n_unlocated
                else ""
            )
            + ")"
        )
        raise NetworkError(msg)
    # the indexes the first search needs, built now: load_network returns a ready network
    network.prepare(coverage_buffer_m=settings.coverage_buffer_m)
    log.info(
        "%s (%s): %d of %d highway/route ways kept, %d way nodes → %d nodes, %d arcs",
        path.name,
        mode,
        len(ways.direction),
        ways.n_seen,
        n_way_nodes,
        network.n_nodes,
        network.n_arcs,
    )
    return network, ways.context


def lonlat_box_ring(box: Sequence[float], points_per_side: int = 16) -> npt.NDArray[np.float64]:
    """The ring (RD New x/y, ``(k, 2)``) of a lon/lat box ``(min_lon, min_lat, max_lon, max_lat)``.

    The sides are sampled, so the ring follows the box's curved sides in RD New.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    t = np.linspace(0.0, 1.0, points_per_side, endpoint=False)
    lon = np.concatenate(
        [x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)]
    )
    lat = np.concatenate(
        [np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t]
    )
    x, y = transformer(CRS_WGS84, CRS_RD).transform(lon, lat)
    return np.column_stack([x, y]).astype(np.float64)


def declared_extent(path: Path, settings: Settings | None = None) -> npt.NDArray[np.float64] | None:
    """The area an OSM file declares it holds, as an RD New ring, or ``None``.

    ``settings.network_extent`` (a lon/lat box) wins; otherwise the bounding box in
    the file's header (``osmium extract -b`` writes one; not every tool does).

    Parameters
    ----------
    path
        The OSM file.
    settings
        Where ``network_extent`` is read.

    Returns
    -------
    numpy.ndarray or None
        ``(k, 2)`` RD New x/y of the box's ring.
    """
    if settings is not None and settings.network_extent:
        return lonlat_box_ring(settings.network_extent)
    use_all_cores()
    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
    except (RuntimeError, OSError, ValueError) as err:
        log.info("%s: no header box read (%s)", path, err)
        return None
    if not box.valid():
        return None
    bl, tr = box.bottom_left, box.top_right
    log.info("%s: header declares the box %s - %s", path.name, bl, tr)
    return lonlat_box_ring((bl.lon, bl.lat, tr.lon, tr.lat))


def network_cache_key(path: Path, mode: str, settings: Settings | None) -> str:
    """Cache key of a built network: SHA-256 over the file's SHA-256, mode, speeds, version."""
    settings = settings if settings is not None else Settings()
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    speeds = {
        "car": dict(sorted(settings.car_speeds_kmh.items())),
        "bike": settings.bike_speed_kmh,
        "walk": settings.walk_speed_kmh,
        "ferry": settings.ferry_speed_kmh,
    }
    extent = list(settings.network_extent)
    text = json.dumps([h.hexdigest(), mode, speeds, __version__, extent], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _load_cached(
    path: Path, mode: str, settings: Settings | None, cache_dir: Path, *, context: bool
) -> tuple[Network, OsmContext | None]:
    if not path.is_file():
        return _load(path, mode, settings, None, context=context)  # raises the usual error
    key = network_cache_key(path, mode, settings)
    entry = cache_dir / f"network-{mode}-{key[:32]}.npz"
    context_entry = cache_dir / f"context-{mode}-{key[:32]}.npz"
    want_context = context and not _is_nwb(path)
    network: Network | None = None
    osm_context: OsmContext | None = None
    for name, read in (("road network", Network.load), ("map context", OsmContext.load)):
        file = entry if name == "road network" else context_entry
        if (name == "map context" and (not want_context or network is None)) or not file.is_file():
            continue
        try:
            got = read(file)
        except NetworkError as err:
            warnings.warn(
                f"{where(file)}: cached {name} is unusable ({err}); rebuilt from {path.name}",
                BereikbaarWarning,
                stacklevel=4,
            )
            continue
        if isinstance(got, Network):
            network = got
        else:
            osm_context = got
    if network is not None and (not want_context or osm_context is not None):
        log.info("%s (%s): cached network %s", path.name, mode, entry.name)
        # what the file does not store (the search graphs, the snapping grid) is built now
        buffer_m = (settings if settings is not None else Settings()).coverage_buffer_m
        return network.prepare(coverage_buffer_m=buffer_m), osm_context
    # the reader's temporary file beside the cache (often a bigger disk than /tmp)
    network, osm_context = _load(path, mode, settings, None, context=context, work_dir=cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        network.save(entry)
        if osm_context is not None:
            osm_context.save(context_entry)
    except OSError as err:
        warnings.warn(
            f"{where(entry)}: cannot write the network cache ({err}); continuing without",
            BereikbaarWarning,
            stacklevel=4,
        )
    return network, osm_context
