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
from pyproj import Transformer

from ..schema import CRS_RD, CRS_WGS84

__all__ = [
    "NATIONAL",
    "SyntheticInputs",
    "SyntheticSpec",
    "make_road_grid",
    "write_pbf",
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
) -> None:
    """Write nodes (ids ``1..n``, no tags) and tagged ways as an OSM PBF file.

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
    """
    path = Path(path)
    lon7 = np.round(np.asarray(lon) * _COORD_SCALE).astype(np.int64)
    lat7 = np.round(np.asarray(lat) * _COORD_SCALE).astype(np.int64)
    n = len(lon7)
    strings = ["", *sorted({s for combo in way_tags for kv in combo for s in kv})]
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
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("wb") as f:
        _write_blob(f, "OSMHeader", header, compression)
        for lo in range(0, n, _ENTITIES_PER_BLOCK):
            hi = min(n, lo + _ENTITIES_PER_BLOCK)
            dense = (
                _field(1, _packed_sint_delta(np.arange(lo + 1, hi + 1)))
                + _field(8, _packed_sint_delta(lat7[lo:hi]))
                + _field(9, _packed_sint_delta(lon7[lo:hi]))
            )
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
            ids, _ = _varint_bytes(np.arange(lo + 1, hi + 1, dtype=np.uint64))
            id_nb = _varint_bytes(np.arange(lo + 1, hi + 1, dtype=np.uint64))[1]
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
    tmp.replace(path)


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
    lon, lat = Transformer.from_crs(CRS_RD, CRS_WGS84, always_xy=True).transform(xy[:, 0], xy[:, 1])
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
    lon, lat = Transformer.from_crs(CRS_RD, CRS_WGS84, always_xy=True).transform(grid.x, grid.y)
    network = folder / "synthetic.osm.pbf"
    write_pbf(network, lon, lat, grid.refs, grid.way_size, _COMBOS, grid.way_combo)
    if osm_xml:
        import osmium

        xml = folder / "synthetic.osm"
        xml.unlink(missing_ok=True)
        writer = osmium.SimpleWriter(str(xml))
        try:
            osmium.apply(str(network), writer)
        finally:
            writer.close()

    cells, centres, size = _make_cells(rng, spec, grid.land)
    cells_path = folder / "synthetic_vierkant_100m.parquet"
    cells.to_parquet(cells_path, index=False)
    gemeenten = _make_gemeenten(rng, spec, grid.land)
    gem_path = folder / "synthetic_gemeenten.gpkg"
    gem_path.unlink(missing_ok=True)
    pyogrio.write_dataframe(gemeenten, gem_path, layer="gemeenten", driver="GPKG")
    branches = _make_branches(rng, spec, centres, size)
    lib_path = folder / "synthetic_bibliotheken.csv"
    branches.to_csv(lib_path, sep=";", index=False, encoding="utf-8", lineterminator="\n")
    config = folder / "synthetic.toml"
    config.write_text(
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
