"""A national-scale synthetic case, generated in the real input formats.

:func:`write_synthetic_case` writes a fictional country in the same formats the
real loaders read: an OpenStreetMap ``.osm.pbf`` road network, a CBS
vierkantstatistieken 100 m table (Parquet), a KB-style branch list (CSV), a CBS
gemeente GeoPackage and a TOML run configuration. It is sized by a
:class:`SyntheticSpec`, so tests use a tiny instance and the benchmarks the
national one (≥ 1.5 M graph nodes, 400,000 populated cells, 1,250 branches,
342 gemeenten). The same spec always gives the same files (seeded).

The road network is a jittered street grid (spacing ``spacing_m``) with a share
of its blocks removed, so junctions have degree 3 or 4 mostly, some corners and
dead ends; every edge carries 2-3 *shape nodes* (curves), as real roads do, and
streets are split into OSM ways of 1-8 blocks. About one in ten residential
ways is one-way. Islands north of the mainland are reached only by ferry
(``route=ferry``). Coordinates are generated in RD New (EPSG:28992, metres) and
written as WGS84 lon/lat (as in any OSM file).

The PBF is written by a small vectorised encoder (:func:`write_pbf`): writing
millions of nodes through ``osmium.SimpleWriter`` costs tens of microseconds per
node, this costs well under one.
"""

from __future__ import annotations

import logging
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from ..output.files import atomic_path
from ..schema import CRS_RD, CRS_WGS84, transformer

__all__ = [
    "NATIONAL",
    "SyntheticInputs",
    "SyntheticSpec",
    "make_road_grid",
    "write_pbf",
    "write_real_composition_pbf",
    "write_synthetic_case",
]

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_ENTITIES_PER_BLOCK: Final = 8000
_COORD_SCALE: Final = 10_000_000  # OSM fixed point: 1e-7 degree
_CENTRE_RD: Final = (155_000.0, 463_000.0)  # Amersfoort
_SUPPRESSED: Final = -99997


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of a synthetic case.

    Parameters
    ----------
    n_nodes
        Approximate number of graph nodes (junctions, dead ends, way ends) of the
        road network; the actual count is :attr:`SyntheticInputs.n_graph_nodes`.
    n_cells
        Populated 100 m cells.
    n_branches
        Library branches (mixed types; about 60 % full-service vestigingen).
    n_gemeenten
        Gemeenten (Voronoi tiles of the land).
    seed
        Seed of the NumPy random generator.
    spacing_m
        Street grid spacing (m).
    """

    n_nodes: int = 1_500_000
    n_cells: int = 400_000
    n_branches: int = 1_250
    n_gemeenten: int = 342
    seed: int = 6
    spacing_m: float = 200.0

    def __post_init__(self) -> None:
        if self.n_nodes < 100 or self.n_cells < 1 or self.n_branches < 2 or self.n_gemeenten < 2:
            msg = (
                "SyntheticSpec needs n_nodes >= 100, n_cells >= 1, n_branches >= 2,"
                " n_gemeenten >= 2"
            )
            raise ValueError(msg)


NATIONAL: Final = SyntheticSpec(n_nodes=1_600_000)
"""The national-scale case of the benchmarks (≥ 1.5 M graph nodes)."""


@dataclass(frozen=True)
class SyntheticInputs:
    """Paths and counts of a written synthetic case.

    Attributes
    ----------
    network, cells, libraries, gemeenten, config
        The OSM PBF, CBS cell table (Parquet), branch list (CSV), gemeente
        GeoPackage and TOML run configuration.
    n_graph_nodes
        Graph nodes of the road network (nodes used by two or more ways, or twice
        by one way, and way ends), as the OSM loader counts them.
    n_osm_nodes, n_ways
        Nodes and ways written to the PBF.
    n_ferries
        Ferry ways.
    population
        Total residents over the published cells.
    """

    network: Path
    cells: Path
    libraries: Path
    gemeenten: Path
    config: Path
    n_graph_nodes: int
    n_osm_nodes: int
    n_ways: int
    n_ferries: int
    population: int


# ---------------------------------------------------------------------------
# road network
# ---------------------------------------------------------------------------

# Tag combinations of the ways; index = combo id.
_COMBOS: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (("highway", "residential"),),
    (("highway", "residential"), ("oneway", "yes")),
    (("highway", "residential"), ("oneway", "-1")),
    (("highway", "unclassified"),),
    (("highway", "secondary"), ("maxspeed", "80")),
    (("highway", "primary"), ("maxspeed", "80")),
    (("route", "ferry"), ("motor_vehicle", "yes"), ("name", "Veerdienst")),
    (("highway", "service"), ("access", "private")),
)
_FERRY: Final = 6


@dataclass(frozen=True)
class RoadGrid:
    """A generated road network in OSM terms (RD New coordinates).

    Attributes
    ----------
    x, y
        Coordinates (m, RD New) of node ``i`` whose OSM id is ``i + 1``.
    refs
        Node ids of all ways, concatenated.
    way_size
        Number of refs per way.
    way_combo
        Tag combination (index into the module's combo table) per way.
    n_graph_nodes
        Graph nodes as the loader counts them.
    """

    x: FloatArray
    y: FloatArray
    refs: IntArray
    way_size: IntArray
    way_combo: IntArray
    n_graph_nodes: int
    land: list[shapely.Polygon]

    @property
    def n_ferries(self) -> int:
        """Ferry ways."""
        return int((self.way_combo == _FERRY).sum())


def _grid_edges(
    rng: np.random.Generator, rows: int, cols: int, base: int, remove: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Kept grid edges (a, b junction ids) in street order, with a street-line key.

    Junction ``(i, j)`` has id ``base + i * cols + j``. Returned in order of
    horizontal lines (row by row, west to east), then vertical lines (column by
    column, south to north); ``line`` numbers each street line.
    """
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols - 1), indexing="ij")
    ha = base + ii * cols + jj
    h_line = ii
    ii2, jj2 = np.meshgrid(np.arange(rows - 1), np.arange(cols), indexing="ij")
    # vertical edges ordered column by column
    va = (base + ii2 * cols + jj2).T
    v_line = rows + jj2.T
    a = np.concatenate([ha.ravel(), va.ravel()]).astype(np.int64)
    b = np.concatenate([ha.ravel() + 1, va.ravel() + cols]).astype(np.int64)
    line = np.concatenate([h_line.ravel(), v_line.ravel()]).astype(np.int64)
    keep = rng.random(len(a)) >= remove
    return a[keep], b[keep], line[keep]


def make_road_grid(spec: SyntheticSpec) -> RoadGrid:
    """Generate the road network of a synthetic case (no files written).

    Parameters
    ----------
    spec
        Size and seed.

    Returns
    -------
    RoadGrid
        Node coordinates (RD New, m), ways and the graph-node count.
    """
    rng = np.random.default_rng(spec.seed)
    s = spec.spacing_m
    remove = 0.18
    n_islands = int(np.clip(spec.n_nodes // 300_000, 1, 5))
    island_nodes = max(16, int(spec.n_nodes * 0.004))
    mainland = max(100, spec.n_nodes - n_islands * island_nodes)
    side = math.ceil(math.sqrt(mainland / 0.95))
    rows, cols = side, side
    x0 = max(5_000.0, _CENTRE_RD[0] - cols * s / 2)
    y0 = max(305_000.0, _CENTRE_RD[1] - rows * s / 2)

    # junctions: mainland grid then island grids
    jx: list[FloatArray] = []
    jy: list[FloatArray] = []
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    line_parts: list[IntArray] = []
    land: list[shapely.Polygon] = []

    def add_grid(r: int, c: int, gx: float, gy: float, line_base: int) -> int:
        base = sum(len(p) for p in jx)
        ii, jj = np.meshgrid(np.arange(r), np.arange(c), indexing="ij")
        jitter = rng.uniform(-0.2 * s, 0.2 * s, size=(2, r * c))
        jx.append(gx + jj.ravel() * s + jitter[0])
        jy.append(gy + ii.ravel() * s + jitter[1])
        a, b, line = _grid_edges(rng, r, c, base, remove)
        a_parts.append(a)
        b_parts.append(b)
        line_parts.append(line + line_base)
        land.append(shapely.box(gx - s / 2, gy - s / 2, gx + (c - 0.5) * s, gy + (r - 0.5) * s))
        return base

    add_grid(rows, cols, x0, y0, 0)
    isl_side = max(4, math.ceil(math.sqrt(island_nodes / 0.95)))
    gap = 5_000.0
    ferry_a: list[int] = []
    ferry_b: list[int] = []
    for isl in range(n_islands):
        gx = x0 + (isl + 0.5) * cols * s / n_islands - isl_side * s / 2
        gy = y0 + rows * s + gap
        base = add_grid(isl_side, isl_side, gx, gy, 2 * rows + 2 * cols + isl * 2 * isl_side)
        # ferry from the island's south-middle junction to the nearest mainland north junction
        isl_j = base + isl_side // 2
        main_col = round(float(jx[-1][isl_side // 2] - x0) / s)
        main_col = min(max(main_col, 0), cols - 1)
        ferry_a.append(isl_j)
        ferry_b.append((rows - 1) * cols + main_col)
    x_j = np.concatenate(jx)
    y_j = np.concatenate(jy)
    a = np.concatenate(a_parts)
    b = np.concatenate(b_parts)
    line = np.concatenate(line_parts)

    # ways: runs of consecutive kept edges on a line, cut into 1-8 blocks
    prev_b = np.r_[-1, b[:-1]]
    same_line = np.r_[False, line[1:] == line[:-1]]
    start = ~(same_line & (prev_b == a)) | (rng.random(len(a)) < 0.2)
    way_of_edge = np.cumsum(start) - 1
    n_street_ways = int(way_of_edge[-1]) + 1
    # class per street line, one-way per way
    cls = np.where(line % 40 == 0, 5, np.where(line % 8 == 0, 4, np.where(line % 2 == 0, 0, 3)))
    way_line = line[start]
    combo = cls[start].astype(np.int64)
    u = rng.random(n_street_ways)
    resid = combo == 0
    combo[resid & (u < 0.08)] = 1
    combo[resid & (u >= 0.08) & (u < 0.10)] = 2
    combo[resid & (u >= 0.10) & (u < 0.13)] = 7  # private service roads: not for cars
    del way_line

    # shape nodes: 2 or 3 per edge, with lateral jitter
    k: IntArray = rng.integers(2, 4, size=len(a)).astype(np.int64)
    n_shape = int(k.sum())
    n_j = len(x_j)
    edge_of_shape = np.repeat(np.arange(len(a)), k)
    pos = np.arange(n_shape) - np.repeat(np.cumsum(k) - k, k)
    frac = (pos + 1) / (k[edge_of_shape] + 1)
    ax, ay = x_j[a[edge_of_shape]], y_j[a[edge_of_shape]]
    bx, by = x_j[b[edge_of_shape]], y_j[b[edge_of_shape]]
    lateral = rng.normal(0.0, 0.04 * s, size=n_shape)
    dx, dy = bx - ax, by - ay
    norm = np.hypot(dx, dy)
    sx = ax + frac * dx - lateral * dy / norm
    sy = ay + frac * dy + lateral * dx / norm

    # refs: per edge [a, shapes...] and the way's last b
    is_last = np.r_[way_of_edge[1:] != way_of_edge[:-1], True]
    per_edge = 1 + k + is_last
    off = np.cumsum(per_edge) - per_edge
    refs = np.empty(int(per_edge.sum()), dtype=np.int64)
    refs[off] = a
    shape_ids = n_j + np.arange(n_shape)
    refs[np.repeat(off + 1, k) + pos] = shape_ids
    refs[(off + 1 + k)[is_last]] = b[is_last]
    way_size = np.bincount(way_of_edge, weights=per_edge).astype(np.int64)

    # ferries: straight two-node ways
    ferry_refs = np.column_stack([ferry_a, ferry_b]).ravel().astype(np.int64)
    refs = np.concatenate([refs, ferry_refs])
    way_size = np.concatenate([way_size, np.full(n_islands, 2, dtype=np.int64)])
    combo = np.concatenate([combo, np.full(n_islands, _FERRY, dtype=np.int64)])

    x = np.concatenate([x_j, sx])
    y = np.concatenate([y_j, sy])
    # graph nodes as the loader counts them (car mode drops the private service ways)
    car = combo != 7
    keep_ref = np.repeat(car, way_size)
    kr = refs[keep_ref]
    sizes = way_size[car]
    ends = np.r_[0, np.cumsum(sizes)[:-1]]
    uses = np.bincount(kr, minlength=len(x))
    graph = uses >= 2
    graph[kr[ends]] = True
    graph[kr[ends + sizes - 1]] = True
    return RoadGrid(
        x=x,
        y=y,
        refs=refs + 1,  # OSM ids start at 1
        way_size=way_size,
        way_combo=combo,
        n_graph_nodes=int(graph.sum()),
        land=land,
    )


# ---------------------------------------------------------------------------
# PBF encoder (OSM PBF format: BlobHeader/Blob with zlib PrimitiveBlocks)
# ---------------------------------------------------------------------------


def _varint_bytes(values: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Protobuf varints of unsigned values: the bytes and the byte count per value."""
    v = np.asarray(values, dtype=np.uint64)
    if len(v) == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    nb = np.ones(len(v), dtype=np.int64)
    rest = v >> np.uint64(7)
    while rest.any():
        nb += rest > 0
        rest >>= np.uint64(7)
    width = int(nb.max())
    shifts = (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]
    groups = ((v[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    k = np.arange(width)[None, :]
    groups[k < (nb[:, None] - 1)] |= 0x80
    return groups[k < nb[:, None]], nb


def _zigzag(values: IntArray) -> npt.NDArray[np.uint64]:
    v = np.asarray(values, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _uvarint(number << 3 | 2) + _uvarint(len(payload)) + payload


def _packed_sint_delta(values: IntArray) -> bytes:
    v = np.asarray(values, dtype=np.int64)
    delta = v.copy()
    delta[1:] -= v[:-1]
    data, _ = _varint_bytes(_zigzag(delta))
    return data.tobytes()


def _write_blob(f: BinaryIO, kind: str, raw: bytes, level: int) -> None:
    blob = _uvarint(2 << 3) + _uvarint(len(raw)) + _field(3, zlib.compress(raw, level))
    header = _field(1, kind.encode()) + _uvarint(3 << 3) + _uvarint(len(blob))
    f.write(struct.pack(">I", len(header)))
    f.write(header)
    f.write(blob)


def write_pbf(
    path: str | Path,
    lon: FloatArray,
    lat: FloatArray,
    refs: IntArray,
    way_size: IntArray,
    way_tags: Sequence[Sequence[tuple[str, str]]],
    way_combo: IntArray,
    *,
    compression: int = 1,
    node_ids: IntArray | None = None,
    way_ids: IntArray | None = None,
    node_tags: Sequence[Sequence[tuple[str, str]]] = (),
    node_combo: IntArray | None = None,
) -> None:
    """Write nodes (ids ``1..n`` unless given) and tagged ways as an OSM PBF file.

    Parameters
    ----------
    path
        Output ``.osm.pbf`` file (replaced).
    lon, lat
        WGS84 degrees of node ``i`` (OSM id ``i + 1``).
    refs
        Node ids of all ways, concatenated (way ``j`` has ``way_size[j]`` refs).
    way_size
        Refs per way.
    way_tags
        Distinct tag combinations (``(key, value)`` pairs).
    way_combo
        Index into ``way_tags`` per way; way ``j`` gets OSM id ``j + 1``.
    compression
        zlib level (1 is fast, 9 small).
    node_ids, way_ids
        Increasing OSM ids of the nodes and of the ways (default ``1..n``).
    node_tags, node_combo
        Distinct tag combinations of nodes and the index into ``node_tags`` per node
        (``-1``: untagged); default: no node has tags.
    """
    path = Path(path)
    lon7 = np.round(np.asarray(lon) * _COORD_SCALE).astype(np.int64)
    lat7 = np.round(np.asarray(lat) * _COORD_SCALE).astype(np.int64)
    n = len(lon7)
    nid = np.arange(1, n + 1, dtype=np.int64) if node_ids is None else np.asarray(node_ids)
    wid = (
        np.arange(1, len(way_size) + 1, dtype=np.int64) if way_ids is None else np.asarray(way_ids)
    )
    all_tags = [*way_tags, *node_tags]
    strings = ["", *sorted({s for combo in all_tags for kv in combo for s in kv})]
    index = {s: i for i, s in enumerate(strings)}
    table = _field(1, b"".join(_field(1, s.encode()) for s in strings))
    combo_bytes = []
    for combo in way_tags:
        keys = np.array([index[k] for k, _ in combo], dtype=np.uint64)
        vals = np.array([index[v] for _, v in combo], dtype=np.uint64)
        key_bytes = _varint_bytes(keys)[0].tobytes()
        val_bytes = _varint_bytes(vals)[0].tobytes()
        combo_bytes.append(_field(2, key_bytes) + _field(3, val_bytes))
    nano = 100
    bbox = b"".join(
        _uvarint(num << 3) + _uvarint(int(_zigzag(np.array([val * nano]))[0]))
        for num, val in (
            (1, int(lon7.min())),
            (2, int(lon7.max())),
            (3, int(lat7.max())),
            (4, int(lat7.min())),
        )
    )
    header = (
        _field(1, bbox)
        + _field(4, b"OsmSchema-V0.6")
        + _field(4, b"DenseNodes")
        + _field(5, b"Sort.Type_then_ID")
        + _field(16, b"bereikbaar synthetic")
    )
    keys_vals = None
    if node_combo is not None and len(node_tags):
        # DenseNodes keys_vals: per node its (key, value) string ids, then a 0
        kv_of = [
            np.array([i for k, v in c for i in (index[k], index[v])] + [0], dtype=np.uint64)
            for c in node_tags
        ]
        kv_of.append(np.zeros(1, dtype=np.uint64))  # combo -1: untagged
        combo_n = np.asarray(node_combo, dtype=np.int64)
        kv_len = np.array([len(a) for a in kv_of], dtype=np.int64)[combo_n]
        kv_flat = np.concatenate(kv_of)
        kv_start = np.r_[0, np.cumsum([len(a) for a in kv_of])[:-1]][combo_n]
        kv_off = np.r_[0, np.cumsum(kv_len)]
        within = np.arange(int(kv_off[-1])) - np.repeat(kv_off[:-1], kv_len)
        keys_vals = kv_flat[np.repeat(kv_start, kv_len) + within]
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        _write_blob(f, "OSMHeader", header, compression)
        for lo in range(0, n, _ENTITIES_PER_BLOCK):
            hi = min(n, lo + _ENTITIES_PER_BLOCK)
            dense = (
                _field(1, _packed_sint_delta(nid[lo:hi]))
                + _field(8, _packed_sint_delta(lat7[lo:hi]))
                + _field(9, _packed_sint_delta(lon7[lo:hi]))
            )
            if keys_vals is not None:
                kv = keys_vals[kv_off[lo] : kv_off[hi]]
                dense += _field(10, _varint_bytes(kv)[0].tobytes())
            _write_blob(f, "OSMData", table + _field(2, _field(2, dense)), compression)
        starts = np.r_[0, np.cumsum(way_size)]
        n_ways = len(way_size)
        for lo in range(0, n_ways, _ENTITIES_PER_BLOCK):
            hi = min(n_ways, lo + _ENTITIES_PER_BLOCK)
            r = refs[starts[lo] : starts[hi]]
            first = starts[lo:hi] - starts[lo]
            delta = np.diff(r, prepend=0)
            delta[first] = r[first]
            data, nb = _varint_bytes(_zigzag(delta))
            byte_end = np.cumsum(nb)
            byte_start = np.r_[0, byte_end][first]
            byte_stop = np.r_[byte_start[1:], len(data)]
            buf = data.tobytes()
            ids, id_nb = _varint_bytes(wid[lo:hi].astype(np.uint64))
            id_off = np.r_[0, np.cumsum(id_nb)]
            idb = ids.tobytes()
            parts = []
            for w in range(hi - lo):
                body = (
                    b"\x08"
                    + idb[id_off[w] : id_off[w + 1]]
                    + combo_bytes[way_combo[lo + w]]
                    + _field(8, buf[byte_start[w] : byte_stop[w]])
                )
                parts.append(_field(3, body))
            group = b"".join(parts)
            _write_blob(f, "OSMData", table + _field(2, group), compression)


# Non-road objects of a real extract (tag combinations; index = combo id).
_AREA_COMBOS: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (("building", "yes"),),
    (("building", "house"), ("addr:housenumber", "12"), ("addr:street", "Dorpsstraat")),
    (("landuse", "grass"),),
    (("landuse", "farmland"),),
    (("natural", "water"),),
    (("waterway", "ditch"),),
    (("barrier", "fence"),),
)
_POI_COMBOS: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (("amenity", "bench"),),
    (("shop", "bakery"), ("name", "Bakker")),
    (("natural", "tree"),),
)


@dataclass(frozen=True)
class CompositionCounts:
    """What :func:`write_real_composition_pbf` wrote.

    Attributes
    ----------
    n_osm_nodes, n_ways
        Nodes and ways in the file.
    n_road_nodes, n_road_ways
        Of those, the road network's (the file :func:`write_synthetic_case` writes).
    n_graph_nodes
        Graph nodes of the road network, as the loader counts them.
    """

    n_osm_nodes: int
    n_ways: int
    n_road_nodes: int
    n_road_ways: int
    n_graph_nodes: int


def write_real_composition_pbf(
    path: str | Path, spec: SyntheticSpec = NATIONAL, *, non_road_share: float = 0.9
) -> CompositionCounts:
    """Write the road network of ``spec`` inside a real extract's composition, as a PBF.

    An extract of the Netherlands is mostly not roads: about nine in ten of its nodes and
    ways are buildings, landuse, water, barriers and points of interest. This file has the
    road network of :func:`make_road_grid` plus that many such objects: closed building
    rings of 4-11 nodes next to the roads, landuse and water polygons of 20-60 nodes,
    ditches and fences, tagged point nodes; all mixed in id order with the roads (ids are
    shuffled and spread with gaps, as in a real file), so that every data block holds
    both. The road network read from this file equals the one read from the roads-only
    file of the same spec.

    Parameters
    ----------
    path
        Output ``.osm.pbf`` file (replaced).
    spec
        Size and seed of the road network.
    non_road_share
        Share of the file's nodes, and of its ways, that are not roads (0 to 0.99).

    Returns
    -------
    CompositionCounts
        Node and way counts.
    """
    if not 0.0 <= non_road_share <= 0.99:
        msg = f"non_road_share must be between 0 and 0.99; got {non_road_share}"
        raise ValueError(msg)
    grid = make_road_grid(spec)
    rng = np.random.default_rng(spec.seed + 2)
    n_road, w_road = len(grid.x), len(grid.way_size)
    factor = non_road_share / (1.0 - non_road_share)
    extra_nodes, extra_ways = round(n_road * factor), round(w_road * factor)
    # ways: 88 % buildings, 4 % polygons (landuse, water), 8 % lines (ditch, fence)
    n_poly = max(0, round(extra_ways * 0.04))
    n_line = max(0, round(extra_ways * 0.08))
    n_bld = max(0, extra_ways - n_poly - n_line)
    poly_k = rng.integers(20, 61, size=n_poly)
    line_k = rng.integers(2, 9, size=n_line)
    budget = extra_nodes - int(poly_k.sum()) - int(line_k.sum())
    # building rings share the remaining node budget (4..11 nodes), ~3 % left for POIs
    mean_k = float(np.clip(0.97 * budget / max(n_bld, 1), 4.0, 11.0))
    bld_k = np.clip(rng.poisson(mean_k - 4.0, size=n_bld) + 4, 4, 11).astype(np.int64)
    n_poi = max(0, extra_nodes - int(bld_k.sum()) - int(poly_k.sum()) - int(line_k.sum()))

    # geometry (RD New): each object around a random road node
    def around(k: IntArray, radius: FloatArray, closed: bool) -> tuple[FloatArray, FloatArray]:
        anchor = rng.integers(0, n_road, size=len(k))
        cx = grid.x[anchor] + rng.uniform(-60, 60, size=len(k))
        cy = grid.y[anchor] + rng.uniform(-60, 60, size=len(k))
        obj = np.repeat(np.arange(len(k)), k)
        pos = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        if closed:
            angle = 2 * np.pi * pos / k[obj] + rng.uniform(0, 0.3, size=len(obj))
            return cx[obj] + radius[obj] * np.cos(angle), cy[obj] + radius[obj] * np.sin(angle)
        return cx[obj] + pos * radius[obj], cy[obj] + rng.normal(0, 2, size=len(obj))

    bx, by = around(bld_k, rng.uniform(4, 12, size=n_bld), True)
    px, py = around(poly_k, rng.uniform(60, 300, size=n_poly), True)
    lx, ly = around(line_k, rng.uniform(10, 40, size=n_line), False)
    anchor = rng.integers(0, n_road, size=n_poi)
    qx = grid.x[anchor] + rng.uniform(-80, 80, size=n_poi)
    qy = grid.y[anchor] + rng.uniform(-80, 80, size=n_poi)
    x = np.concatenate([grid.x, bx, px, lx, qx])
    y = np.concatenate([grid.y, by, py, ly, qy])
    n_all = len(x)
    node_combo = np.full(n_all, -1, dtype=np.int64)
    node_combo[n_all - n_poi :] = rng.integers(0, len(_POI_COMBOS), size=n_poi)

    # refs of the extra ways in generation index (0-based); rings close on their first node
    def ring_refs(k: IntArray, base: int, closed: bool) -> tuple[IntArray, IntArray]:
        first = base + np.r_[0, np.cumsum(k)[:-1]]
        size = k + 1 if closed else k
        obj = np.repeat(np.arange(len(k)), size)
        pos = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        refs = first[obj] + np.where(pos < k[obj], pos, 0)
        return refs.astype(np.int64), size.astype(np.int64)

    b0 = n_road
    r_b, s_b = ring_refs(bld_k, b0, True)
    r_p, s_p = ring_refs(poly_k, b0 + int(bld_k.sum()), True)
    r_l, s_l = ring_refs(line_k, b0 + int(bld_k.sum()) + int(poly_k.sum()), False)
    c_b = rng.choice(2, size=n_bld, p=[0.7, 0.3])
    c_p = rng.integers(2, 5, size=n_poly)
    c_l = rng.integers(5, 7, size=n_line)
    n_road_combos = len(_COMBOS)
    refs0 = np.concatenate([grid.refs - 1, r_b, r_p, r_l])
    sizes = np.concatenate([grid.way_size, s_b, s_p, s_l])
    combos = np.concatenate([grid.way_combo, n_road_combos + np.concatenate([c_b, c_p, c_l])])

    # ids: a random interleaving, spread with gaps (sorted by id in the file)
    node_order = rng.permutation(n_all)  # node_order[j] = generation index of file node j
    node_ids = np.cumsum(rng.integers(1, 40, size=n_all)).astype(np.int64)
    id_of = np.empty(n_all, dtype=np.int64)
    id_of[node_order] = node_ids
    way_order = rng.permutation(len(sizes))
    way_ids = np.cumsum(rng.integers(1, 12, size=len(sizes))).astype(np.int64)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    sizes_sorted = sizes[way_order]
    obj = np.repeat(way_order, sizes_sorted)
    pos = np.arange(int(sizes.sum())) - np.repeat(
        np.cumsum(sizes_sorted) - sizes_sorted, sizes_sorted
    )
    refs_sorted = id_of[refs0[starts[obj] + pos]]
    lon, lat = transformer(CRS_RD, CRS_WGS84).transform(x[node_order], y[node_order])
    write_pbf(
        path,
        lon,
        lat,
        refs_sorted,
        sizes_sorted,
        (*_COMBOS, *_AREA_COMBOS),
        combos[way_order],
        node_ids=node_ids,
        way_ids=way_ids,
        node_tags=_POI_COMBOS,
        node_combo=node_combo[node_order],
    )
    return CompositionCounts(
        n_osm_nodes=n_all,
        n_ways=len(sizes),
        n_road_nodes=n_road,
        n_road_ways=w_road,
        n_graph_nodes=grid.n_graph_nodes,
    )


# ---------------------------------------------------------------------------
# cells, gemeenten, branches
# ---------------------------------------------------------------------------


def _make_cells(
    rng: np.random.Generator, spec: SyntheticSpec, land: list[shapely.Polygon]
) -> tuple[pd.DataFrame, FloatArray, FloatArray]:
    """Populated cells clustered in settlements; also the settlement centres and sizes."""
    main = land[0]
    xmin, ymin, xmax, ymax = main.bounds
    n_settle = max(3, spec.n_cells // 150)
    cx = rng.uniform(xmin + 1_000, xmax - 1_000, n_settle) if xmax - xmin > 3_000 else None
    if cx is None:
        cx = rng.uniform(xmin, xmax, n_settle)
        cy = rng.uniform(ymin, ymax, n_settle)
    else:
        cy = rng.uniform(ymin + 1_000, ymax - 1_000, n_settle)
    size = rng.lognormal(0.0, 1.0, n_settle)
    share = size / size.sum()
    want = np.maximum(1, np.round(share * spec.n_cells * 1.6)).astype(np.int64)
    which = np.repeat(np.arange(n_settle), want)
    sigma = 100.0 * np.sqrt(want[which]) * 0.7
    px = cx[which] + rng.normal(0.0, 1.0, len(which)) * sigma
    py = cy[which] + rng.normal(0.0, 1.0, len(which)) * sigma
    ok = shapely.contains_xy(main, px, py)
    ex = (np.floor(px[ok] / 100) * 100).astype(np.int64)
    ey = (np.floor(py[ok] / 100) * 100).astype(np.int64)
    key = ex * 10_000_000 + ey
    _, first = np.unique(key, return_index=True)
    order = rng.permutation(first)
    if len(order) < spec.n_cells:  # top up with scattered rural cells
        extra = spec.n_cells - len(order)
        rx = (np.floor(rng.uniform(xmin, xmax, 4 * extra) / 100) * 100).astype(np.int64)
        ry = (np.floor(rng.uniform(ymin, ymax, 4 * extra) / 100) * 100).astype(np.int64)
        ex = np.concatenate([ex[order], rx])
        ey = np.concatenate([ey[order], ry])
        key = ex * 10_000_000 + ey
        _, first = np.unique(key, return_index=True)
        order = np.sort(first)
    order = order[: spec.n_cells]
    ex, ey = ex[order], ey[order]
    dens = rng.lognormal(3.0, 1.0, len(ex))
    pop = np.maximum(5, 5 * np.round(dens / 5)).astype(np.int64)
    pop[rng.random(len(ex)) < 0.02] = _SUPPRESSED
    codes = [
        f"E{x // 100:04d}N{y // 100:04d}" for x, y in zip(ex.tolist(), ey.tolist(), strict=True)
    ]
    cells = pd.DataFrame({"crs28992res100m": codes, "aantal_inwoners": pop})
    cells = cells.sort_values("crs28992res100m", kind="stable").reset_index(drop=True)
    return cells, np.column_stack([cx, cy]), size


def _make_gemeenten(
    rng: np.random.Generator, spec: SyntheticSpec, land: list[shapely.Polygon]
) -> gpd.GeoDataFrame:
    main = land[0]
    xmin, ymin, xmax, ymax = main.bounds
    islands = land[1:]
    n_main = spec.n_gemeenten - len(islands)
    seeds = np.column_stack([rng.uniform(xmin, xmax, n_main), rng.uniform(ymin, ymax, n_main)])
    extent = shapely.box(xmin - 1, ymin - 1, xmax + 1, ymax + 1)
    tiles = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=extent)
    )
    # voronoi output order is not the seed order: match tiles to seeds
    tree = shapely.STRtree(tiles)
    seed_pts = shapely.points(seeds)
    idx_seed, idx_tile = tree.query(seed_pts, predicate="within")
    tile_of_seed = np.full(n_main, -1)
    tile_of_seed[idx_seed] = idx_tile
    geoms = [shapely.intersection(tiles[t], main) for t in tile_of_seed]
    geoms += list(islands)
    polys = [shapely.multipolygons(shapely.get_parts(g)) for g in geoms]
    codes = [f"GM{8000 + i:04d}" for i in range(len(polys))]
    names = [f"Synthetische gemeente {i + 1:03d}" for i in range(len(polys))]
    return gpd.GeoDataFrame(
        {"gemeentecode": codes, "gemeentenaam": names, "water": "NEE"},
        geometry=polys,
        crs=CRS_RD,
    )


_BRANCH_MIX: Final = (
    ("Hoofdvestiging", 0.12),
    ("Vestiging", 0.48),
    ("Servicepunt", 0.2),
    ("Afhaalpunt", 0.08),
    ("Zelfbedieningsbibliotheek", 0.04),
    ("Bibliobushalte", 0.04),
    ("Bibliotheek op school", 0.04),
)


def _make_branches(
    rng: np.random.Generator, spec: SyntheticSpec, centres: FloatArray, size: FloatArray
) -> pd.DataFrame:
    n = spec.n_branches
    counts = [round(share * n) for _, share in _BRANCH_MIX]
    counts[1] += n - sum(counts)
    types = np.repeat([t for t, _ in _BRANCH_MIX], counts)
    # full-service branches in the largest settlements, the others anywhere
    big = np.argsort(-size)
    pick = np.concatenate(
        [
            big[np.arange(counts[0] + counts[1]) % len(big)],
            rng.integers(0, len(centres), n - counts[0] - counts[1]),
        ]
    )
    xy = centres[pick] + rng.normal(0.0, 150.0, size=(n, 2))
    lon, lat = transformer(CRS_RD, CRS_WGS84).transform(xy[:, 0], xy[:, 1])
    return pd.DataFrame(
        {
            "naam": [f"Bibliotheek {i + 1:04d}" for i in range(n)],
            "type": types,
            "straat": "Dorpsstraat",
            "huisnummer": [str(i + 1) for i in range(n)],
            "postcode": "",
            "plaats": [f"Plaats {p + 1}" for p in pick],
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
        }
    )


def write_synthetic_case(
    folder: str | Path, spec: SyntheticSpec = NATIONAL, *, osm_xml: bool = False
) -> SyntheticInputs:
    """Write a synthetic case's input files in their real formats.

    Parameters
    ----------
    folder
        Output folder; created if missing. Files are ``synthetic.osm.pbf``,
        ``synthetic_vierkant_100m.parquet``, ``synthetic_bibliotheken.csv``,
        ``synthetic_gemeenten.gpkg`` and ``synthetic.toml``.
    spec
        Size and seed (default: the national case).
    osm_xml
        Also write the road network as OSM XML (``synthetic.osm``, via pyosmium),
        for readers that only take XML (osmnx ``graph_from_xml``).

    Returns
    -------
    SyntheticInputs
        Paths and counts.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = make_road_grid(spec)
    rng = np.random.default_rng(spec.seed + 1)
    lon, lat = transformer(CRS_RD, CRS_WGS84).transform(grid.x, grid.y)
    network = folder / "synthetic.osm.pbf"
    write_pbf(network, lon, lat, grid.refs, grid.way_size, _COMBOS, grid.way_combo)
    if osm_xml:
        import osmium

        xml = folder / "synthetic.osm"
        with atomic_path(xml) as tmp:
            writer = osmium.SimpleWriter(str(tmp), overwrite=True)
            try:
                osmium.apply(str(network), writer)
            finally:
                writer.close()

    cells, centres, size = _make_cells(rng, spec, grid.land)
    cells_path = folder / "synthetic_vierkant_100m.parquet"
    with atomic_path(cells_path) as tmp:
        cells.to_parquet(tmp, index=False)
    gemeenten = _make_gemeenten(rng, spec, grid.land)
    gem_path = folder / "synthetic_gemeenten.gpkg"
    with atomic_path(gem_path) as tmp:
        pyogrio.write_dataframe(gemeenten, tmp, layer="gemeenten", driver="GPKG")
    branches = _make_branches(rng, spec, centres, size)
    lib_path = folder / "synthetic_bibliotheken.csv"
    with atomic_path(lib_path) as tmp:
        branches.to_csv(tmp, sep=";", index=False, encoding="utf-8", lineterminator="\n")
    config = folder / "synthetic.toml"
    with atomic_path(config) as tmp:
        tmp.write_text(
            "# bereikbaar synthetic case (generated by bereikbaar.synthetic)\n"
            'mode = "car"\n'
            'out_dir = "output"\n'
            "\n"
            "[inputs]\n"
            f'network = "{network.name}"\n'
            f'cells = "{cells_path.name}"\n'
            f'libraries = "{lib_path.name}"\n'
            f'gemeenten = "{gem_path.name}"\n',
            encoding="utf-8",
        )
    pop = cells["aantal_inwoners"].to_numpy()
    log.info(
        "synthetic case in %s: %d graph nodes, %d OSM nodes, %d ways, %d cells",
        folder,
        grid.n_graph_nodes,
        len(grid.x),
        len(grid.way_size),
        len(cells),
    )
    return SyntheticInputs(
        network=network,
        cells=cells_path,
        libraries=lib_path,
        gemeenten=gem_path,
        config=config,
        n_graph_nodes=grid.n_graph_nodes,
        n_osm_nodes=len(grid.x),
        n_ways=len(grid.way_size),
        n_ferries=grid.n_ferries,
        population=int(pop[pop > 0].sum()),
    )
