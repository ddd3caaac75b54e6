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

import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import warnings
import zipfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyproj

from .._version import __version__
from ..engine.network import Network, arrays_digest
from ..exceptions import BereikbaarWarning, NetworkError, where
from ..schema import CRS_RD, CRS_WGS84, MODES
from ..settings import Settings
from ._errors import check_file, check_inflated_size, osm_read_errors
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

    Collected by the network reader in its own two passes (:func:`load_network_with_context`),
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
    """Pass-1 collector of what :class:`OsmContext` holds (way node refs, tags, places)."""

    def __init__(self) -> None:
        self.refs: array[int] = array("q")
        self.size: array[int] = array("q")
        self.line_way: list[int] = []
        self.line_kind: list[str] = []
        self.line_name: list[str] = []
        self.line_ref: list[str] = []
        self.street_way: list[int] = []
        self.street_name: list[str] = []
        self.names: dict[str, str] = {}  # one str object per distinct street name
        self.place_lonlat: list[tuple[float, float]] = []
        self.place_name: list[str] = []
        self.place_kind: list[str] = []

    def way(self, get: TagGetter, refs: list[int]) -> None:
        highway = get("highway")
        kind = highway if highway in MAIN_ROADS else None
        if kind is None and highway is None and get("route") == "ferry":
            kind = "ferry"
        name = get("name") if highway is not None else None
        if kind is None and not name:
            return
        k = len(self.size)
        self.refs.extend(refs)
        self.size.append(len(refs))
        if kind is not None:
            self.line_way.append(k)
            self.line_kind.append(kind)
            self.line_name.append(str(get("name") or ""))
            self.line_ref.append(str(get("ref") or ""))
        if name:
            text = str(name)
            self.street_way.append(k)
            self.street_name.append(self.names.setdefault(text, text))

    def place(self, node: Any) -> None:
        tags = node.tags
        place = tags.get("place")
        name = tags.get("name")
        if place in PLACES and name:
            loc = node.location
            if loc.valid():
                self.place_lonlat.append((loc.lon, loc.lat))
                self.place_name.append(str(name))
                self.place_kind.append(str(place))

    def finish(
        self,
        ids: npt.NDArray[np.int64],
        x7: npt.NDArray[np.int64],
        y7: npt.NDArray[np.int64],
    ) -> OsmContext:
        refs = np.frombuffer(self.refs, dtype=np.int64) if self.refs else np.zeros(0, np.int64)
        size = np.frombuffer(self.size, dtype=np.int64) if self.size else np.zeros(0, np.int64)
        wx, wy = _locate(refs, ids, x7, y7)
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


@dataclass
class _Ways:
    """Flat arrays of the kept ways: one entry per way node, one per way."""

    refs: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    x7: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    y7: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
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


def _read_ways(path: Path, rules: WayRules | None, *, context: bool = False) -> _Ways:
    """The kept ways with their node locations, in two pyosmium passes.

    This is the only function that calls pyosmium, so that the errors it raises for a
    damaged file can be mapped in one place (:func:`load_network`).

    Pass 1 reads the ways only (libosmium skips the node blocks' contents) and lets
    libosmium drop every way without a ``highway``/``route`` key before Python sees it;
    the mode's tag rules decide on the rest, and the kept ways' node ids are collected.
    Pass 2 reads the nodes through an :class:`osmium.filter.IdFilter` of exactly those
    ids, so only the road nodes reach Python and only their locations are held: no
    location index of every node in the file (``with_locations`` keeps one). A node the
    file lacks (extract boundary) gets the undefined location, as libosmium's index gives.

    With ``context``, the same two passes collect the :class:`OsmContext` (``out.context``):
    pass 1 also reads the nodes with a ``place`` key (libosmium filters them; the node
    blocks are decoded, not passed to Python) and the node ids of the main roads, ferries
    and named streets, whose locations pass 2 reads with the roads'. ``rules=None`` keeps
    no way (the context alone).
    """
    import osmium

    out = _Ways()
    refs: array[int] = array("q")  # 8 bytes a ref, not a Python int's 32
    size: array[int] = array("q")
    ctx = _ContextWays() if context else None
    way_keys = osmium.filter.KeyFilter(*WAY_KEYS)
    if ctx is None:
        objects = osmium.FileProcessor(str(path), osmium.osm.WAY).with_filter(way_keys)
    else:  # each filter tests its own kind of object and lets the other pass
        place_key = osmium.filter.KeyFilter("place")
        way_keys.enable_for(osmium.osm.WAY)
        place_key.enable_for(osmium.osm.NODE)
        objects = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_filter(way_keys)
            .with_filter(place_key)
        )
    node_type = osmium.osm.Node
    for obj in objects:
        if isinstance(obj, node_type):
            if ctx is not None:
                ctx.place(obj)
            continue
        out.n_seen += 1
        get = obj.tags.get
        attrs = rules(get) if rules is not None else None
        if attrs is None and ctx is None:
            continue
        way_refs = [node.ref for node in obj.nodes]  # type: ignore[union-attr]  # ways only
        if ctx is not None:
            ctx.way(get, way_refs)
        if attrs is None:
            continue
        refs.extend(way_refs)
        size.append(len(way_refs))
        out.direction.append(attrs[0])
        out.speed_kmh.append(attrs[1])
        out.ferry.append(attrs[2])
    out.size = np.frombuffer(size, dtype=np.int64) if size else np.zeros(0, dtype=np.int64)
    out.refs = np.frombuffer(refs, dtype=np.int64) if refs else np.zeros(0, dtype=np.int64)
    wanted = refs if ctx is None else refs + ctx.refs
    ids: array[int] = array("q")
    x7: array[int] = array("q")
    y7: array[int] = array("q")
    if wanted:
        nodes_pass = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
            osmium.filter.IdFilter(wanted)
        )
        del refs, wanted
        for node in nodes_pass:
            ids.append(node.id)
            loc = node.location  # type: ignore[union-attr]  # the processor reads nodes only
            x7.append(loc.x)
            y7.append(loc.y)
    node_ids = np.frombuffer(ids, dtype=np.int64) if ids else np.zeros(0, dtype=np.int64)
    node_x7 = np.frombuffer(x7, dtype=np.int64) if x7 else np.zeros(0, dtype=np.int64)
    node_y7 = np.frombuffer(y7, dtype=np.int64) if y7 else np.zeros(0, dtype=np.int64)
    if len(node_ids) > 1 and not bool((node_ids[1:] > node_ids[:-1]).all()):  # sort once
        order = np.argsort(node_ids, kind="stable")
        node_ids, node_x7, node_y7 = node_ids[order], node_x7[order], node_y7[order]
    if len(out.refs):
        out.x7, out.y7 = _locate(out.refs, node_ids, node_x7, node_y7)
    if ctx is not None:
        out.context = ctx.finish(node_ids, node_x7, node_y7)
    return out


def _locate(
    refs: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    x7: npt.NDArray[np.int64],
    y7: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Fixed-point location of each ref from the nodes read; undefined where the file has none."""
    if len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all()):  # not sorted by id: sort
        order = np.argsort(ids, kind="stable")
        ids, x7, y7 = ids[order], x7[order], y7[order]
    pos = np.searchsorted(ids, refs)
    pos[pos == len(ids)] = 0
    found = ids[pos] == refs if len(ids) else np.zeros(len(refs), dtype=bool)
    x = np.full(len(refs), _UNDEFINED_COORDINATE, dtype=np.int64)
    y = np.full(len(refs), _UNDEFINED_COORDINATE, dtype=np.int64)
    if len(ids):
        x[found] = x7[pos[found]]
        y[found] = y7[pos[found]]
    return x, y


# ---------------------------------------------------------------------- building
def _build(ways: _Ways, mode: str, path: Path) -> Network:
    """Split ways at graph nodes and assemble the Network (all NumPy)."""
    refs = np.asarray(ways.refs, dtype=np.int64)
    x7 = np.asarray(ways.x7, dtype=np.int64)
    y7 = np.asarray(ways.y7, dtype=np.int64)
    way_of = np.repeat(np.arange(len(ways.size), dtype=np.int64), ways.size)
    n = len(refs)
    # the way node arrays are read once: let them go as soon as their copies are made
    empty = np.zeros(0, dtype=np.int64)
    ways.refs, ways.x7, ways.y7, ways.size = empty, empty, empty, empty

    # A way is cut where a node has no location (extract boundary); each stretch
    # of located nodes is a "piece". Repeated consecutive refs are dropped.
    valid = (x7 != _UNDEFINED_COORDINATE) & (y7 != _UNDEFINED_COORDINATE)
    n_missing = int(n - valid.sum())
    if n_missing:
        warnings.warn(
            f"{where(path)}: {n_missing:,} way node(s) have no coordinates (extract boundary?);"
            " the ways are cut there",
            BereikbaarWarning,
            stacklevel=3,
        )
    new_way = np.ones(n, dtype=bool)
    new_way[1:] = way_of[1:] != way_of[:-1]
    after_gap = np.zeros(n, dtype=bool)
    after_gap[1:] = ~valid[:-1]
    piece = np.cumsum(new_way | after_gap) - 1
    dup = np.zeros(n, dtype=bool)
    dup[1:] = (refs[1:] == refs[:-1]) & (piece[1:] == piece[:-1])
    keep = valid & ~dup
    del valid, dup, new_way, after_gap
    refs, x7, y7, way_of, piece = refs[keep], x7[keep], y7[keep], way_of[keep], piece[keep]
    # drop pieces of fewer than two nodes
    _, piece, piece_size = np.unique(piece, return_inverse=True, return_counts=True)
    keep = piece_size[piece] >= 2
    refs, x7, y7, way_of, piece = refs[keep], x7[keep], y7[keep], way_of[keep], piece[keep]
    n = len(refs)
    if n == 0:
        return _empty(mode)
    first = np.ones(n, dtype=bool)
    first[1:] = piece[1:] != piece[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]

    # graph nodes: used twice or more, or the end of a piece
    node_ids, first_use, inverse, counts = np.unique(
        refs, return_index=True, return_inverse=True, return_counts=True
    )
    is_graph = counts >= 2
    is_graph[inverse[first | last]] = True
    graph = is_graph[inverse]
    del refs, counts, piece, keep

    # edge label of each entry; an inner graph node also ends the previous edge
    starts = graph & ~last
    label = np.cumsum(starts) - 1
    inner = np.flatnonzero(graph & ~first & ~last)
    entry = np.concatenate([np.arange(n), inner])
    labels = np.concatenate([label, label[inner] - 1])
    order = np.lexsort((entry, labels))
    entry, labels = entry[order], labels[order]
    n_edges = int(label[-1]) + 1
    del order, label, inner, starts, graph, first, last

    # project each distinct node once (one vectorised call)
    lon = x7[first_use] / _COORDINATE_PRECISION
    lat = y7[first_use] / _COORDINATE_PRECISION
    node_xs, node_ys = _to_rd().transform(lon, lat)
    node_xs = np.asarray(node_xs, dtype=np.float64)
    node_ys = np.asarray(node_ys, dtype=np.float64)
    del lon, lat, x7, y7, first_use
    # each edge's vertices, edge after edge (no shapely object per edge or arc)
    vertex = inverse[entry]
    bounds = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    edge_off = np.r_[bounds, len(entry)].astype(np.int64)
    edge_first = entry[bounds]
    edge_last = entry[edge_off[1:] - 1]
    edge_way = way_of[edge_first]
    assert len(edge_first) == n_edges
    del way_of, entry, labels, bounds
    length = _polyline_lengths(node_xs[vertex], node_ys[vertex], edge_off)

    # node indices: graph nodes in OSM id order
    node_index = np.cumsum(is_graph) - 1
    u_edge = node_index[inverse[edge_first]]
    v_edge = node_index[inverse[edge_last]]
    node_x = node_xs[is_graph]
    node_y = node_ys[is_graph]

    direction = np.asarray(ways.direction, dtype=np.int8)[edge_way]
    speed_ms = np.asarray(ways.speed_kmh, dtype=np.float64)[edge_way] / 3.6
    ferry = np.asarray(ways.ferry, dtype=bool)[edge_way]
    fwd = direction >= 0
    rev = direction <= 0
    u = np.concatenate([u_edge[fwd], v_edge[rev]])
    v = np.concatenate([v_edge[fwd], u_edge[rev]])
    arc_length = np.concatenate([length[fwd], length[rev]])
    arc_time = np.concatenate([length[fwd] / speed_ms[fwd], length[rev] / speed_ms[rev]])
    arc_ferry = np.concatenate([ferry[fwd], ferry[rev]])
    arc_xy, arc_off = _arc_vertices(
        vertex, edge_off, np.flatnonzero(fwd), np.flatnonzero(rev), node_xs, node_ys
    )
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
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Length of each polyline ``offsets[i]:offsets[i + 1]`` of the vertices ``xs``/``ys``.

    Bit for bit GEOS's (shapely's ``length``): ``sqrt(dx * dx + dy * dy)`` per segment, summed
    from the first segment to the last. The polylines are taken longest first, so that at
    step ``j`` the ones with a ``j``-th segment are a prefix: one vectorised addition per step.
    """
    dx = xs[1:] - xs[:-1]
    dy = ys[1:] - ys[:-1]
    seg = np.sqrt(dx * dx + dy * dy)  # segment k runs from vertex k to k + 1
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
    fwd: npt.NDArray[np.int64],
    rev: npt.NDArray[np.int64],
    node_xs: npt.NDArray[np.float64],
    node_ys: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The arcs' flat vertices: the edges ``fwd`` as they run, then the edges ``rev`` backwards.

    ``vertex[edge_off[e]:edge_off[e + 1]]`` are edge ``e``'s vertices (node numbers into
    ``node_xs``/``node_ys``); returns the ``(k, 2)`` coordinates and ``n_arcs + 1`` offsets of
    :attr:`~bereikbaar.engine.network.Network.geometry_coords`.
    """
    edges = np.concatenate([fwd, rev])
    counts = edge_off[1:][edges] - edge_off[:-1][edges]
    offsets = np.zeros(len(edges) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    arc_of = np.repeat(np.arange(len(edges), dtype=np.int64), counts)
    pos = np.arange(offsets[-1], dtype=np.int64) - offsets[:-1][arc_of]
    backward = arc_of >= len(fwd)
    pos[backward] = counts[arc_of[backward]] - 1 - pos[backward]
    src = vertex[edge_off[:-1][edges][arc_of] + pos]
    del arc_of, pos, backward
    coords = np.empty((len(src), 2), dtype=np.float64)
    coords[:, 0] = node_xs[src]
    coords[:, 1] = node_ys[src]
    return coords, offsets


@functools.lru_cache(maxsize=1)
def _to_rd() -> pyproj.Transformer:
    """WGS84 lon/lat → RD New; cached because building it takes ~0.1 s."""
    return pyproj.Transformer.from_crs(CRS_WGS84, CRS_RD, always_xy=True)


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
    """:func:`load_network`, and the maps' :class:`OsmContext` from the same two passes.

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
    """The :class:`OsmContext` of an OSM file alone (the same two passes, no network kept).

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
) -> tuple[Network, OsmContext | None]:
    if cache_dir is not None:
        return _load_cached(path, mode, settings, Path(cache_dir), context=context)
    if _is_nwb(path):  # NWB wegvakken
        from .nwb import load_nwb  # geopandas: imported only for NWB files

        return load_nwb(path, mode, settings=settings), None
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}; got {mode!r}"
        raise NetworkError(msg)
    _check_path(path)
    settings = settings if settings is not None else Settings()
    rules = rules_for(mode, settings)
    with osm_read_errors(path):
        check_inflated_size(path)  # .osm.gz/.osm.bz2: a decompression bomb is refused
        ways = _read_ways(path, rules, context=context)
    n_way_nodes = len(ways.refs)
    network = _build(ways, mode, path)  # empties the way node arrays
    extent = declared_extent(path, settings)
    if extent is not None:
        network = dataclasses.replace(network, extent=extent)
    if network.n_arcs == 0:
        msg = (
            f"{where(path)}: no usable ways for mode {mode!r} "
            f"({ways.n_seen:,} ways with a highway or route tag read)"
        )
        raise NetworkError(msg)
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
    x, y = _to_rd().transform(lon, lat)
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
        return network, osm_context
    network, osm_context = _load(path, mode, settings, None, context=context)
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
