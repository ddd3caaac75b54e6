"""The area a road network covers: where its data can be trusted to hold the roads.

An extract (an OSM file cut to a box, an osmnx graph of one gemeente) holds the
roads of its area and nothing outside it. An origin outside that area must not be
snapped onto the extract's edge: the road it would really use is not in the data.
:func:`network_coverage` builds the covered area cheaply and vectorised:

1. every arc geometry is cut into pieces of at most half a raster cell and every
   vertex marks its cell of a coarse raster (``cell_m``, default 500 m);
2. gaps of about a kilometre are closed (:data:`CLOSE_M`) and enclosed holes (a
   lake, a park) filled, so an origin in a hole is "far from the road"
   (``te ver van de weg``), not "outside the network" (``buiten het wegennet``);
3. the marked cells are widened by ``buffer_m`` (a Euclidean distance transform):
   every point within ``buffer_m`` of a road is covered, none farther than
   ``buffer_m`` plus three cells;
4. where the source declares its extent (the bounding box in an OSM PBF header,
   :attr:`Network.extent <bereikbaar.engine.network.Network.extent>`), the
   coverage is cut to it.

The raster cannot tell an extract's own area from a road that runs on beyond it
(an extract cut with complete ways or completed relations, ``osmium extract -s
smart``): such a road is covered along its length. The declared extent closes that
gap; without one, the snap limit bounds what such a road can do.

Everything is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy import ndimage

from ..exceptions import NetworkError
from ..schema import located_rows
from ._compiled import kernel

if TYPE_CHECKING:
    from .network import FloatArray, Network

__all__ = ["COVERAGE_BUFFER_M", "COVERAGE_CELL_M", "Coverage", "network_coverage"]

COVERAGE_CELL_M: float = 500.0
"""Raster cell (m) of the coverage: coarse, so building it costs little."""

COVERAGE_BUFFER_M: float = 1000.0
"""How far (m) beyond the roads' raster cells the coverage reaches."""

CLOSE_M: float = 500.0
"""Gaps between road cells up to about twice this (m) are closed (morphological closing)."""


@dataclass(frozen=True, eq=False)
class Coverage:
    """The area a network covers, as a boolean raster (and an optional declared extent).

    Attributes
    ----------
    x0, y0
        Lower-left corner of the raster (RD New, m).
    cell_m
        Raster cell size (m).
    mask
        ``mask[row, col]``: the cell ``[x0 + col * cell_m, y0 + row * cell_m]`` is covered.
    extent
        The polygon the source declares (e.g. a PBF header box), or ``None``.
    """

    x0: float
    y0: float
    cell_m: float
    mask: npt.NDArray[np.bool_]
    extent: Any = None

    def contains(self, xy: FloatArray) -> npt.NDArray[np.bool_]:
        """Which points lie inside the coverage (NaN rows: ``False``).

        Parameters
        ----------
        xy
            ``(n, 2)`` RD New coordinates (m).

        Returns
        -------
        numpy.ndarray
            One bool per point.
        """
        xy = np.asarray(xy, dtype=float)
        out = np.zeros(len(xy), dtype=bool)
        ok = located_rows(xy)
        if not ok.any() or self.mask.size == 0:
            return out
        pts = xy if ok.all() else xy[ok]
        col = np.floor((pts[:, 0] - self.x0) / self.cell_m)
        row = np.floor((pts[:, 1] - self.y0) / self.cell_m)
        rows, cols = self.mask.shape
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        hit = np.zeros(len(col), dtype=bool)
        r, c = row[inside].astype(np.int64), col[inside].astype(np.int64)
        hit[inside] = self.mask[r, c]
        if self.extent is not None:
            # the extent is asked only where a cell is not wholly inside it
            ask = hit.copy()
            ask[inside] &= ~self._inside_extent[r, c]
            asked = pts[ask]
            hit[ask] = shapely.contains_xy(self.extent, asked[:, 0], asked[:, 1])
        out[ok] = hit
        return out

    @cached_property
    def _inside_extent(self) -> npt.NDArray[np.bool_]:
        return _inside(self)

    def polygon(self) -> Any:
        """The covered area as one shapely (Multi)Polygon (RD New), e.g. for a map."""
        rows, cols = np.nonzero(self.mask)
        if len(rows) == 0:
            return shapely.Polygon()
        x = self.x0 + cols * self.cell_m
        y = self.y0 + rows * self.cell_m
        boxes = shapely.box(x, y, x + self.cell_m, y + self.cell_m)
        area = shapely.coverage_union_all(boxes)
        if self.extent is not None:
            area = shapely.intersection(area, self.extent)
        return area

    @property
    def area_km2(self) -> float:
        """Covered area (km²)."""
        return float(shapely.area(self.polygon())) / 1e6


def network_coverage(
    network: Network,
    *,
    cell_m: float = COVERAGE_CELL_M,
    buffer_m: float = COVERAGE_BUFFER_M,
) -> Coverage:
    """The area ``network`` covers (built once per network and parameters, then kept).

    Parameters
    ----------
    network
        The road network (RD New).
    cell_m
        Raster cell size (m).
    buffer_m
        Reach of the coverage beyond the roads' cells (m).

    Returns
    -------
    Coverage
        Covered raster, cut to the network's declared extent when it has one.

    Raises
    ------
    NetworkError
        ``cell_m`` not positive or ``buffer_m`` negative.
    """
    if not (np.isfinite(cell_m) and cell_m > 0):
        msg = f"coverage cell_m must be a positive number of metres, got {cell_m!r}"
        raise NetworkError(msg)
    if not (np.isfinite(buffer_m) and buffer_m >= 0):
        msg = f"coverage buffer_m must be a finite number >= 0 (m), got {buffer_m!r}"
        raise NetworkError(msg)
    out = network.cached(
        ("coverage", float(cell_m), float(buffer_m)),
        lambda: _build(network, float(cell_m), float(buffer_m)),
    )
    assert isinstance(out, Coverage)
    return out


def _disk(radius_cells: int) -> npt.NDArray[np.bool_]:
    r = np.arange(-radius_cells, radius_cells + 1)
    return np.asarray(r[:, None] ** 2 + r[None, :] ** 2 <= radius_cells**2)


def _road_points(network: Network, step_m: float) -> FloatArray:
    """The nodes and arc vertices, with extra points so that no gap exceeds ``step_m``.

    One arc of each twin pair (the same road), densified with NumPy. The reference of
    :func:`_road_raster`, which rasterises the same points without making them.
    """
    nodes = np.column_stack([network.x, network.y])
    # the geometries hold their nodes; straight arcs (no geometry at all) add the nodes
    parts = [nodes] if network.geometry_coords is None or not network.n_arcs else []
    if network.n_arcs:
        rev = network.reverse_arc()
        one = np.flatnonzero((rev < 0) | (np.arange(network.n_arcs) < rev))
        if network.geometry_coords is None:  # straight arcs: from node to node
            a, b = nodes[network.u[one]], nodes[network.v[one]]
        else:  # the geometries hold their nodes too
            coords, offsets = network.arc_coords_of(one)
            parts.append(coords)
            same = np.ones(len(coords) - 1, dtype=bool)
            same[offsets[1:-1] - 1] = False  # no segment from one arc's end to the next's start
            a, b = coords[:-1][same], coords[1:][same]
        pieces = np.ceil(np.hypot(*(b - a).T) / step_m)
        pieces = np.where(np.isfinite(pieces), pieces, 1).astype(np.int64)
        long = pieces > 1
        if long.any():
            a, b, k = a[long], b[long], pieces[long]
            seg = np.repeat(np.arange(len(k)), k - 1)
            first = np.cumsum(k - 1) - (k - 1)
            j = np.arange(len(seg)) - first[seg] + 1
            t = (j / k[seg])[:, None]
            parts.append(a[seg] + (b[seg] - a[seg]) * t)
    pts = np.concatenate(parts)
    return np.asarray(pts[np.isfinite(pts).all(axis=1)], dtype=np.float64)


def _road_raster(
    network: Network, step_m: float, cell_m: float, pad: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]] | None:
    """The cells of :func:`_road_points` (``pad`` empty cells around), or None without points.

    Compiled (:func:`bereikbaar.engine._kernels.road_cells`): two passes over the arcs'
    vertices, no point arrays; the same cells as rasterising :func:`_road_points`.
    """
    road_cells = kernel("road_cells")

    nodes = np.column_stack([network.x, network.y])
    nodes = nodes[np.isfinite(nodes).all(axis=1)]
    if network.geometry_coords is not None and network.n_arcs:
        nodes = nodes[:0]  # the geometries hold their nodes (as in _road_points)
    coords, offsets = network.arc_coords()
    if network.n_arcs:
        rev = network.reverse_arc()
        one = np.flatnonzero((rev < 0) | (np.arange(network.n_arcs) < rev))
    else:
        one = np.zeros(0, dtype=np.int64)
    none = np.zeros((1, 1), dtype=bool)
    bounds = road_cells(coords, offsets, one, step_m, np.zeros(2), 0.0, none)
    if len(nodes):
        bounds[:2] = np.minimum(bounds[:2], nodes.min(axis=0))
        bounds[2:] = np.maximum(bounds[2:], nodes.max(axis=0))
    if not np.isfinite(bounds).all():
        return None
    lo = np.floor(bounds[:2] / cell_m) * cell_m - pad * cell_m
    top = np.floor((bounds[2:] - lo) / cell_m).astype(np.int64)
    mask = np.zeros((int(top[1]) + pad + 1, int(top[0]) + pad + 1), dtype=bool)
    road_cells(coords, offsets, one, step_m, lo, cell_m, mask)
    if len(nodes):
        idx = np.floor((nodes - lo) / cell_m).astype(np.int64)
        mask[idx[:, 1], idx[:, 0]] = True
    return lo, mask


def _build(network: Network, cell_m: float, buffer_m: float) -> Coverage:
    extent = network.extent_polygon()
    close = max(1, round(CLOSE_M / cell_m))
    pad = int(np.ceil(buffer_m / cell_m)) + close + 2
    raster = _road_raster(network, cell_m / 2.0, cell_m, pad)
    if raster is None:
        return Coverage(0.0, 0.0, cell_m, np.zeros((0, 0), dtype=bool), extent)
    lo, mask = raster
    mask = ndimage.binary_closing(mask, structure=_disk(close))
    mask = ndimage.binary_fill_holes(mask)
    if buffer_m > 0:
        # a point within buffer_m of a road vertex lies in a cell whose centre is within
        # buffer_m + one cell diagonal of that vertex's cell centre: every such cell is kept
        far = ndimage.distance_transform_edt(~mask) * cell_m
        mask = np.asarray(far <= buffer_m + cell_m * np.sqrt(2.0))
    if extent is not None:  # cells wholly outside the declared extent are not kept
        mask &= _meets(extent, lo, cell_m, mask.shape)
    area = Coverage(float(lo[0]), float(lo[1]), cell_m, np.asarray(mask, dtype=bool), extent)
    if extent is not None:
        area.__dict__["_inside_extent"] = _inside(area)  # built with the raster, kept
    return area


def _inside(area: Coverage) -> npt.NDArray[np.bool_]:
    """The cells of ``area`` whose every point lies inside its extent (the boundary far)."""
    lo = np.array([area.x0, area.y0])
    centre_in, near = _centre_in_and_near(area.extent, lo, area.cell_m, area.mask.shape)
    return np.asarray(centre_in & ~near)


def _meets(extent: Any, lo: FloatArray, cell_m: float, shape: tuple[int, ...]) -> Any:
    """Which raster cells (closed boxes) intersect the polygon ``extent``.

    The same answer as ``shapely.intersects`` on every cell's box, which is asked only
    of the cells near the extent's boundary (:func:`_centre_in_and_near`); a cell the
    boundary does not touch lies wholly inside or wholly outside, as its centre does.
    """
    out, near = _centre_in_and_near(extent, lo, cell_m, shape)
    r, c = np.nonzero(near)
    x, y = lo[0] + c * cell_m, lo[1] + r * cell_m
    out[r, c] = shapely.intersects(extent, shapely.box(x, y, x + cell_m, y + cell_m))
    return out


def _centre_in_and_near(
    extent: Any, lo: FloatArray, cell_m: float, shape: tuple[int, ...]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per raster cell: its centre lies inside ``extent``; the extent's boundary may touch it.

    ``near`` holds every cell the boundary touches (and some next to them); a cell not
    ``near`` lies wholly inside or wholly outside the extent.
    """
    rows, cols = shape
    x = lo[0] + np.arange(cols) * cell_m
    y = lo[1] + np.arange(rows) * cell_m
    centre_in = shapely.contains_xy(extent, (x + cell_m / 2)[None, :], (y + cell_m / 2)[:, None])
    # points along the boundary at most half a cell apart (a segment joining two rings
    # only adds cells): a cell the boundary touches is within one cell of such a point's
    ring = shapely.get_coordinates(shapely.boundary(extent))
    a, b = ring[:-1], ring[1:]
    k = np.ceil(np.hypot(*(b - a).T) / (cell_m / 2)).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(k)), k)
    t = (np.arange(len(seg)) - np.repeat(np.cumsum(k) - k, k)) / np.repeat(np.maximum(k - 1, 1), k)
    pts = a[seg] + (b[seg] - a[seg]) * t[:, None]
    idx = np.floor((pts - lo) / cell_m).astype(np.int64)
    near = np.zeros((rows + 2, cols + 2), dtype=bool)  # one cell of margin each side
    keep = (idx[:, 0] >= -1) & (idx[:, 0] <= cols) & (idx[:, 1] >= -1) & (idx[:, 1] <= rows)
    near[idx[keep, 1] + 1, idx[keep, 0] + 1] = True
    # and every cell next to one (3 x 3)
    near = ndimage.binary_dilation(near, structure=np.ones((3, 3), dtype=bool))[1:-1, 1:-1]
    return np.asarray(centre_in, dtype=bool), near
