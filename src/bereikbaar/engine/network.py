"""The road network as NumPy arrays: CSR adjacency, node coordinates, edge geometry.

A :class:`Network` holds *arcs* (directed edges). A two-way road is two arcs
(``u→v`` and ``v→u``) with mirrored geometry; a one-way road is one arc. All
coordinates are RD New (EPSG:28992, metres). osmnx/networkx graphs convert in
and out (:meth:`Network.from_osmnx`, :meth:`Network.to_osmnx`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from .._atomic import atomic_path
from .._memory import release_memory
from ..exceptions import NetworkError
from ..schema import CRS_RD, MODES
from ._compiled import kernel
from .osmnx_graph import MIN_CORE_SHARE, EdgeRules

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

Weight = Literal["length", "time"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False, init=False)
class Network:
    """A directed road network for one travel mode, as arrays.

    Arc geometry is stored flat: the vertices of all arcs in one ``(k, 2)`` array and
    ``n_arcs + 1`` offsets into it (:meth:`arc_coords`), not one shapely object per arc;
    :attr:`geometry` builds the LineStrings when someone asks for them.

    Parameters
    ----------
    x, y
        Node coordinates in RD New (m), shape ``(n_nodes,)``.
    u, v
        Arc tail and head node indices (0-based), shape ``(n_arcs,)``.
    length_m
        Arc length in metres (along its geometry).
    time_s
        Arc travel time in seconds, or ``None`` when the network has no time weight.
    geometry
        Arc geometry as shapely LineStrings from ``u`` to ``v`` (RD New; ``None`` entries
        are straight arcs), converted to the flat arrays; or ``None``. When given, it
        replaces ``geometry_coords`` and ``geometry_offsets``.
    node_id
        Original node identifiers (e.g. OSM node ids); defaults to ``0..n-1``.
    ferry
        Boolean mask of ferry arcs (islands reach the mainland only through them).
    mode
        Travel mode the network was built for (``car``, ``bike``, ``walk`` or ``custom``).
    extent
        The area the source declares it holds (the ring of a polygon, ``(k, 2)`` RD New
        x/y, e.g. the bounding box in an OSM PBF header), or ``None``; see :meth:`coverage`.
    geometry_coords, geometry_offsets
        Arc geometry, flat: ``(k, 2)`` x/y of every arc's vertices from ``u`` to ``v``,
        arc after arc, and ``(n_arcs + 1,)`` offsets (arc ``i`` is
        ``geometry_coords[geometry_offsets[i]:geometry_offsets[i + 1]]``, at least two
        vertices). Both ``None`` (and no ``geometry``): every arc is straight.
    """

    x: FloatArray
    y: FloatArray
    u: IntArray
    v: IntArray
    length_m: FloatArray
    time_s: FloatArray | None = None
    node_id: IntArray | None = None
    ferry: npt.NDArray[np.bool_] | None = None
    mode: str = "custom"
    crs: str = field(default=CRS_RD)
    extent: FloatArray | None = None
    geometry_coords: FloatArray | None = None
    geometry_offsets: IntArray | None = None

    def __init__(
        self,
        x: FloatArray,
        y: FloatArray,
        u: IntArray,
        v: IntArray,
        length_m: FloatArray,
        time_s: FloatArray | None = None,
        geometry: npt.NDArray[np.object_] | Sequence[Any] | None = None,
        node_id: IntArray | None = None,
        ferry: npt.NDArray[np.bool_] | None = None,
        mode: str = "custom",
        crs: str = CRS_RD,
        extent: FloatArray | None = None,
        *,
        geometry_coords: FloatArray | None = None,
        geometry_offsets: IntArray | None = None,
    ) -> None:
        values = {
            "x": x,
            "y": y,
            "u": u,
            "v": v,
            "length_m": length_m,
            "time_s": time_s,
            "node_id": node_id,
            "ferry": ferry,
            "mode": mode,
            "crs": crs,
            "extent": extent,
            "geometry_coords": geometry_coords,
            "geometry_offsets": geometry_offsets,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self._check()
        if geometry is not None:
            coords, offsets = _flatten_geometry(self, geometry)
            object.__setattr__(self, "geometry_coords", coords)
            object.__setattr__(self, "geometry_offsets", offsets)
        self._check_geometry()

    def _check(self) -> None:
        n, m = len(self.x), len(self.u)
        if len(self.y) != n or len(self.v) != m or len(self.length_m) != m:
            msg = "Network arrays have inconsistent lengths (x/y per node; u/v/length_m per arc)"
            raise NetworkError(msg)
        if m and (self.u.min() < 0 or self.v.min() < 0 or max(self.u.max(), self.v.max()) >= n):
            msg = "Network arc endpoints refer to nodes that do not exist"
            raise NetworkError(msg)
        if m and (not np.all(np.isfinite(self.length_m)) or self.length_m.min() < 0):
            msg = "Network arc lengths must be finite and non-negative"
            raise NetworkError(msg)
        for name in ("time_s", "ferry"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != m:
                msg = f"Network.{name} must have one entry per arc"
                raise NetworkError(msg)
        if self.node_id is not None and len(self.node_id) != n:
            msg = "Network.node_id must have one entry per node"
            raise NetworkError(msg)
        if self.extent is not None:
            ring = np.asarray(self.extent, dtype=float)
            if ring.ndim != 2 or ring.shape[1] != 2 or len(ring) < 3 or not np.isfinite(ring).all():
                msg = "Network.extent must be a polygon ring: (k, 2) finite x/y with k >= 3"
                raise NetworkError(msg)

    def _check_geometry(self) -> None:
        coords, offsets = self.geometry_coords, self.geometry_offsets
        if coords is None and offsets is None:
            return
        if coords is None or offsets is None:
            msg = "Network.geometry_coords and geometry_offsets go together"
            raise NetworkError(msg)
        if coords.ndim != 2 or coords.shape[1] != 2:
            msg = "Network.geometry_coords must be (k, 2) x/y"
            raise NetworkError(msg)
        if offsets.ndim != 1 or len(offsets) != self.n_arcs + 1:
            msg = "Network.geometry_offsets must have one entry per arc, and one more"
            raise NetworkError(msg)
        if offsets[0] != 0 or offsets[-1] != len(coords) or np.any(np.diff(offsets) < 2):
            msg = (
                "Network.geometry_offsets must start at 0, end at len(geometry_coords) and "
                "give every arc at least two vertices"
            )
            raise NetworkError(msg)

    @property
    def geometry(self) -> npt.NDArray[np.object_] | None:
        """Arc geometry as shapely LineStrings from ``u`` to ``v``, or ``None`` (straight arcs).

        Built from the flat arrays (:meth:`arc_coords`) on first use, then kept; the
        engine itself works on the flat arrays.
        """
        if self.geometry_coords is None:
            return None
        return self._geometry_objects

    @cached_property
    def _geometry_objects(self) -> npt.NDArray[np.object_]:
        coords, offsets = self.arc_coords()
        return _linestrings(coords, offsets)

    # ------------------------------------------------------------------ basics
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_arcs(self) -> int:
        """Number of arcs (directed edges)."""
        return len(self.u)

    def __repr__(self) -> str:
        return (
            f"Network(mode={self.mode!r}, nodes={self.n_nodes:,}, arcs={self.n_arcs:,}, "
            f"time={'yes' if self.time_s is not None else 'no'})"
        )

    def weights(self, weight: Weight = "length") -> FloatArray:
        """Per-arc weights: ``length`` (m) or ``time`` (s).

        Raises
        ------
        NetworkError
            ``weight="time"`` on a network without travel times.
        """
        if weight == "length":
            return self.length_m
        if weight == "time":
            if self.time_s is None:
                msg = "this network has no travel times; use weight='length'"
                raise NetworkError(msg)
            return self.time_s
        msg = f"weight must be 'length' or 'time', got {weight!r}"
        raise NetworkError(msg)

    def arc_geometry(self) -> npt.NDArray[np.object_]:
        """Arc geometries as shapely LineStrings (straight lines where none are stored)."""
        geoms = self.geometry
        if geoms is not None:
            return geoms
        return self._straight_geometry

    def arc_coords(self) -> tuple[FloatArray, IntArray]:
        """Every arc's vertices as flat arrays, from ``u`` to ``v`` (RD New).

        Returns
        -------
        coords
            ``(k, 2)`` x/y of all vertices, arc after arc (straight arcs: their two nodes).
        offsets
            ``(n_arcs + 1,)``: arc ``i`` is ``coords[offsets[i]:offsets[i + 1]]``.
        """
        if self.geometry_coords is not None and self.geometry_offsets is not None:
            return self.geometry_coords, self.geometry_offsets
        return self._straight_coords

    def arc_coords_of(self, arcs: IntArray) -> tuple[FloatArray, IntArray]:
        """The flat vertices (:meth:`arc_coords`) of the arcs ``arcs`` only, in that order.

        Parameters
        ----------
        arcs
            Arc indices.

        Returns
        -------
        coords, offsets
            As :meth:`arc_coords`, with ``len(arcs) + 1`` offsets.
        """
        return take_arcs(*self.arc_coords(), np.asarray(arcs, dtype=np.int64))

    @cached_property
    def _straight_coords(self) -> tuple[FloatArray, IntArray]:
        m = self.n_arcs
        coords = np.empty((2 * m, 2), dtype=np.float64)
        coords[0::2, 0], coords[0::2, 1] = self.x[self.u], self.y[self.u]
        coords[1::2, 0], coords[1::2, 1] = self.x[self.v], self.y[self.v]
        return _frozen(coords), _frozen(np.arange(0, 2 * m + 1, 2, dtype=np.int64))

    @cached_property
    def _straight_geometry(self) -> npt.NDArray[np.object_]:
        return _linestrings(*self._straight_coords)

    def csr(
        self, weight: Weight = "length", *, reverse: bool = False, copy: bool = True
    ) -> sp.csr_array:
        """The adjacency matrix as CSR (parallel arcs reduced to their minimum).

        Parameters
        ----------
        weight
            ``"length"`` (m) or ``"time"`` (s).
        reverse
            Transpose: row ``i`` holds the arcs *into* node ``i``.
        copy
            Return a copy the caller may modify (default); ``False`` returns the
            cached matrix itself, whose arrays are read-only.

        Returns
        -------
        scipy.sparse.csr_array
            ``(n_nodes, n_nodes)``; explicit zero-weight arcs are kept as edges.
        """
        key = (weight, reverse)
        if key not in self._csr_store:  # built once per weight and direction
            w = self.weights(weight)
            rows, cols = (self.v, self.u) if reverse else (self.u, self.v)
            m = _min_csr(rows, cols, w, self.n_nodes)
            for arr in (m.data, m.indices, m.indptr):
                arr.flags.writeable = False
            self._csr_store[key] = m
        m = self._csr_store[key]
        if not copy:
            return m
        return sp.csr_array((m.data.copy(), m.indices.copy(), m.indptr.copy()), shape=m.shape)

    @cached_property
    def _csr_store(self) -> dict[tuple[str, bool], sp.csr_array]:
        return {}

    def search_csr(self, weight: Weight = "length") -> tuple[sp.csr_array, IntArray]:
        """The reversed CSR with the nodes renumbered along a Hilbert curve (cached).

        Nodes close together on the map get close numbers, so a Dijkstra's memory
        accesses stay local (measured 15-25 % faster at 1.6 M nodes, for scipy and
        for the engine's own search). Used by the engine; the Network's own node
        numbering is unchanged.

        Returns
        -------
        graph
            Read-only CSR over the renumbered nodes: row ``r`` holds the arcs *into*
            node ``order[r]``.
        rank
            ``rank[i]`` is the new number of node ``i`` (``order[rank[i]] == i``).
        """
        key = ("search", weight)
        store = self._snap_store
        if key not in store:
            # the reversed CSR renumbered, built from the arcs in one pass (the same arrays
            # as renumbering :meth:`csr`: a renumbering is one-to-one)
            rank = self._hilbert_rank
            m = _min_csr(rank[self.v], rank[self.u], self.weights(weight), self.n_nodes)
            for arr in (m.data, m.indices, m.indptr):
                arr.flags.writeable = False
            store[key] = m
        graph = store[key]
        assert isinstance(graph, sp.csr_array)
        return graph, self._hilbert_rank

    @cached_property
    def _hilbert_rank(self) -> IntArray:
        hilbert_keys = kernel("hilbert_keys")

        bits = 16
        xi, yi = _hilbert_cells(self.x, self.y, bits)
        order = np.argsort(hilbert_keys(xi, yi, bits), kind="stable")
        rank = np.empty(self.n_nodes, dtype=np.int64)
        rank[order] = np.arange(self.n_nodes)
        rank.flags.writeable = False
        return rank

    @cached_property
    def _snap_store(self) -> dict[tuple[Any, ...], object]:
        # indexes built by the engine (search graph, snapping indexes), keyed by kind
        return {}

    def cached(self, key: tuple[Any, ...], build: Callable[[], object]) -> object:
        """An index derived from this network: built once by ``build``, then kept.

        The engine keeps its snapping indexes here (:mod:`bereikbaar.engine.snap`),
        so every search on the same network shares them. A network is immutable,
        so a derived index never goes stale; it lives as long as the network.

        Parameters
        ----------
        key
            What the index is (its kind and the parameters it was built with).
        build
            Builds the index when it is not kept yet.

        Returns
        -------
        object
            The kept index (callers check its type).
        """
        store = self._snap_store
        if key not in store:
            store[key] = build()
        return store[key]

    def prepare(self, *, coverage_buffer_m: float | None = None, core_only: bool = True) -> Network:
        """Build every index the first search needs, now (the loaders call it).

        A search on a fresh network otherwise builds them on first use, inside the
        first :func:`~bereikbaar.accessibility.nearest_library` call (≈ 3 s of CPU
        at 1 M nodes): the twin arcs, the connected parts, the Hilbert order and the
        search graph of every weight (:meth:`search_csr`), the eligible arcs and the
        snapping grid of the default snapping (:func:`bereikbaar.engine.snap.snap_to_arcs`,
        ``method="grid"``) and the coverage (:meth:`coverage`); the compiled kernels of
        the snapping and of the search are loaded from numba's cache. Everything is kept
        on the network (and what :meth:`save` stores is read back by :meth:`load`), so a
        call does no work twice; the results do not depend on it. A network of 100,000 arcs
        or more is prepared on two threads (the search graphs and the coverage beside the
        snapping's indexes).

        Parameters
        ----------
        coverage_buffer_m
            The coverage's reach beyond the roads (m) the searches will use; default
            :data:`~bereikbaar.engine.coverage.COVERAGE_BUFFER_M`.
        core_only
            The snapping the searches will use (see
            :func:`~bereikbaar.engine.snap.snap_to_arcs`).

        Returns
        -------
        Network
            This network.
        """
        if self.n_arcs == 0:
            return self
        from . import snap  # the engine's modules that import this one

        multi_source_dijkstra = kernel("multi_source_dijkstra")

        def search_side() -> None:  # the search graphs and the coverage
            self.coverage(buffer_m=coverage_buffer_m)
            for weight in ("length", "time") if self.time_s is not None else ("length",):
                graph, _ = self.search_csr(weight)
                none = np.zeros(0, dtype=np.int64)  # loads the search kernel for these types
                multi_source_dijkstra(
                    graph.indptr, graph.indices, graph.data, none, np.zeros(0), none
                )

        def snap_side() -> None:  # the twins, the eligible arcs and the grid
            self.reverse_arc()
            # the snapping kernel too (one point snapped); a network without arcs to snap
            # onto is refused by the search, not here
            if len(snap.eligible_arcs(self, core_only)):
                release_memory()  # freed work arrays go back before the grid's peak
                snap.snap_to_arcs(self, np.array([[self.x[0], self.y[0]]]), core_only=core_only)

        # The two sides share nothing but the read-only arrays; their compiled kernels
        # release the GIL, so on two cores they overlap (a small network: one thread).
        if self.n_arcs >= _PREPARE_THREADS_MIN_ARCS and (os.cpu_count() or 1) > 1:
            with ThreadPoolExecutor(2) as pool:
                sides = [pool.submit(search_side), pool.submit(snap_side)]
                for side in sides:
                    side.result()  # raises what the side raised
        else:
            search_side()
            snap_side()
        return self

    def extent_polygon(self) -> Any:
        """The declared :attr:`extent` as a shapely Polygon (RD New), or ``None``."""
        if self.extent is None:
            return None
        return shapely.Polygon(np.asarray(self.extent, dtype=float))

    def coverage(self, *, cell_m: float | None = None, buffer_m: float | None = None) -> Any:
        """The area this network covers (:func:`bereikbaar.engine.coverage.network_coverage`).

        Origins outside it are not snapped: the roads they would use are not in the data.

        Parameters
        ----------
        cell_m, buffer_m
            Raster cell and reach beyond the roads (m); defaults
            :data:`~bereikbaar.engine.coverage.COVERAGE_CELL_M` and
            :data:`~bereikbaar.engine.coverage.COVERAGE_BUFFER_M`.

        Returns
        -------
        bereikbaar.engine.coverage.Coverage
        """
        from . import coverage as cov  # the coverage module imports this one

        return cov.network_coverage(
            self,
            cell_m=cov.COVERAGE_CELL_M if cell_m is None else cell_m,
            buffer_m=cov.COVERAGE_BUFFER_M if buffer_m is None else buffer_m,
        )

    def core_nodes(self) -> npt.NDArray[np.bool_]:
        """Mask of nodes in the largest strongly connected component."""
        return self._core

    @cached_property
    def _core(self) -> npt.NDArray[np.bool_]:
        return self._parts[0]

    @cached_property
    def _parts(self) -> tuple[npt.NDArray[np.bool_], IntArray]:
        # the strongly connected core and the weakly connected labels, from one 0/1 CSR
        # of the arcs (the arrays scipy builds from their COO, in a counting pass, no sort)
        if self.n_nodes == 0:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        g = _min_csr(self.u, self.v, np.ones(self.n_arcs), self.n_nodes)
        _, strong = connected_components(g, directed=True, connection="strong")
        counts = np.bincount(strong)
        _, weak = connected_components(g, directed=True, connection="weak")
        return _frozen(np.asarray(strong == counts.argmax())), _frozen(
            np.asarray(weak, dtype=np.int64)
        )

    def snappable_nodes(self, min_island_nodes: int = 50) -> npt.NDArray[np.bool_]:
        """Mask of nodes whose roads origins and libraries may be snapped onto.

        The main network (the weakly connected part holding the strongly connected
        core) contributes only its core: one-way traps and dead-end fragments inside
        it are skipped. Other weakly connected parts with at least
        ``min_island_nodes`` nodes (an island without a ferry, Schiermonnikoog in a
        car network where the ferry is foot-only) are kept whole, so their residents
        reach the libraries on the island, or are reported unreachable; smaller
        fragments (clipped or mistagged bits of road) are skipped.

        Parameters
        ----------
        min_island_nodes
            Smallest separate road network that counts as an island.
        """
        core = self.core_nodes()
        if self.n_nodes == 0:
            return core
        labels = self._weak_labels
        main = labels[np.argmax(core)]
        sizes = np.bincount(labels)
        island = (labels != main) & (sizes[labels] >= min_island_nodes)
        return np.asarray(core | island)

    @cached_property
    def _weak_labels(self) -> IntArray:
        return self._parts[1]

    def reverse_arc(self) -> IntArray:
        """For each arc ``u→v`` the index of a twin arc ``v→u`` with the same length, or -1."""
        return self._reverse_arc

    @cached_property
    def _reverse_arc(self) -> IntArray:
        m = self.n_arcs
        out = np.full(m, -1, dtype=np.int64)
        if m == 0:
            return out
        n = self.n_nodes
        lmm = np.round(self.length_m * 1000.0).astype(np.int64)
        if lmm.max() >= 1 << 40:
            msg = "an arc is longer than 1,000 km; lengths must be in metres"
            raise NetworkError(msg)
        twin_arcs = kernel("twin_arcs")

        # the lowest-index arc v -> u of the same length (mm), from the arcs sorted by tail
        out = twin_arcs(
            np.asarray(self.u, dtype=np.int64), np.asarray(self.v, dtype=np.int64), lmm, n
        )
        # self-loops: a two-way loop is two arcs a→a of one length; pair them with
        # each other (the twin search above leaves every loop at -1)
        loops = np.flatnonzero(self.u == self.v)
        if len(loops):
            lp = loops[np.lexsort((loops, lmm[loops], self.u[loops]))]
            start = np.ones(len(lp), dtype=bool)
            start[1:] = (self.u[lp[1:]] != self.u[lp[:-1]]) | (lmm[lp[1:]] != lmm[lp[:-1]])
            group_start = np.flatnonzero(start)[np.cumsum(start) - 1]
            group_end = np.r_[np.flatnonzero(start)[1:], len(lp)][np.cumsum(start) - 1]
            rank = np.arange(len(lp)) - group_start
            partner = np.where(rank % 2 == 0, np.arange(len(lp)) + 1, np.arange(len(lp)) - 1)
            paired = partner < group_end
            out[lp] = -1
            out[lp[paired]] = lp[partner[paired]]
        return _frozen(out)

    # ------------------------------------------------------------------ osmnx
    @classmethod
    def from_osmnx(
        cls,
        graph: nx.MultiDiGraph | nx.MultiGraph | nx.DiGraph,
        *,
        mode: str = "custom",
        rules: EdgeRules | None = None,
        min_core_share: float = MIN_CORE_SHARE,
    ) -> Network:
        """Build a Network from an osmnx/networkx graph, in any of the shapes osmnx gives.

        Takes ``graph_from_*`` results, ``ox.convert.to_undirected`` and
        ``ox.convert.to_digraph`` outputs, ``graph_from_gdfs`` round trips (of
        directed and undirected graphs) and ``ox.io.load_graphml`` of saved graphs;
        projected (``graph.graph["crs"]``) or lon/lat. An undirected edge is an arc
        each way, or only ``from → to`` when osmnx marked it ``oneway``; every
        arc's geometry starts at its tail (see :mod:`bereikbaar.engine.osmnx_graph`).
        Lengths are the geometry lengths in RD New (m); ``travel_time`` (s)
        becomes the time weight when every edge has it and no ``rules`` are given.

        Parameters
        ----------
        graph
            Nodes with ``x``/``y``; edges optionally with ``geometry``, ``oneway``,
            ``reversed``, ``from``/``to``, ``travel_time``, ``route`` (``ferry``)
            and the OSM tags the ``rules`` read.
        mode
            Label stored on the Network. The travel modes ``car``, ``bike`` and
            ``walk`` need their tag ``rules``: use
            :func:`bereikbaar.sources.osmnx_graph.network_from_osmnx` (the same rules as
            the OSM loader).
        rules
            A mode's tag rules (:class:`bereikbaar.sources.osm_tags.WayRules`):
            which edges the mode keeps, in which direction, at what speed.
        min_core_share
            Warn when less than this share of the main network's nodes is in the
            strongly connected core (a likely direction error).

        Returns
        -------
        Network

        Raises
        ------
        NetworkError
            Not a MultiDiGraph/MultiGraph/DiGraph; nodes without x/y; an edge whose
            geometry does not join its nodes; a travel mode without its rules; no
            usable edge.

        Warns
        -----
        BereikbaarWarning
            The strongly connected core is below ``min_core_share``.
        """
        from .osmnx_graph import network_from_graph

        if rules is None and mode in MODES:
            msg = (
                f"Network.from_osmnx(mode={mode!r}) needs the mode's tag rules: use "
                f"bereikbaar.network_from_osmnx(graph, mode={mode!r}), or pass "
                "rules=bereikbaar.sources.osm_tags.rules_for(mode, settings)"
            )
            raise NetworkError(msg)
        return network_from_graph(graph, mode=mode, rules=rules, min_core_share=min_core_share)

    def to_osmnx(self) -> nx.MultiDiGraph:
        """Return an osmnx-compatible ``MultiDiGraph`` in RD New.

        Nodes carry ``x``/``y``; edges carry ``length`` (m), ``geometry``,
        ``travel_time`` (s, when present) and ``route="ferry"`` for ferries.
        """
        import networkx as nx

        g = nx.MultiDiGraph(crs=CRS_RD, mode=self.mode)
        ids = self.node_id if self.node_id is not None else np.arange(self.n_nodes)
        for i in range(self.n_nodes):
            g.add_node(int(ids[i]), x=float(self.x[i]), y=float(self.y[i]))
        geoms = self.geometry
        for k in range(self.n_arcs):
            data: dict[str, Any] = {"length": float(self.length_m[k])}
            if geoms is not None:
                data["geometry"] = geoms[k]
            if self.time_s is not None:
                data["travel_time"] = float(self.time_s[k])
            if self.ferry is not None and self.ferry[k]:
                data["route"] = "ferry"
            g.add_edge(int(ids[self.u[k]]), int(ids[self.v[k]]), **data)
        return g

    def to_networkx_digraph(self, weight: Weight = "length") -> nx.DiGraph:
        """A simple ``DiGraph`` on node indices with the minimum weight per node pair."""
        import networkx as nx

        w = self.weights(weight)
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        for a, b, c in zip(self.u.tolist(), self.v.tolist(), w.tolist(), strict=True):
            if g.has_edge(a, b):
                if c < g[a][b]["weight"]:
                    g[a][b]["weight"] = c
            else:
                g.add_edge(a, b, weight=c)
        return g

    # ------------------------------------------------------------------ cache
    def save(self, path: str | Path) -> Path:
        """Write the network to an ``.npz`` file (NumPy arrays only, never pickle).

        Arc geometry is stored as flat coordinates plus offsets (GeoArrow-like);
        a SHA-256 over every array is stored inside, so :meth:`load` detects a
        corrupt or truncated file. The file is written to a temporary name and
        then renamed (:func:`bereikbaar.output.files.atomic_path`), so a crash never
        leaves a half-written cache entry.

        Parameters
        ----------
        path
            Output file; ``.npz`` is appended by NumPy when missing.

        Returns
        -------
        pathlib.Path
            The written file.

        Raises
        ------
        OutputError
            The file cannot be written (an :class:`OSError`; an existing file is unchanged).
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays = self._to_arrays()
        arrays["sha256"] = np.array(_digest(arrays))
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network written by :meth:`save`.

        Parameters
        ----------
        path
            The ``.npz`` file.

        Returns
        -------
        Network
            Equal, array by array, to the saved one.

        Raises
        ------
        NetworkError
            The file is unreadable, incomplete, or its content does not match the
            SHA-256 stored inside (corrupt).
        """
        path = Path(path)
        try:
            with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            msg = f"file '{path}': cannot read this saved network ({err})"
            raise NetworkError(msg) from err
        stored = str(arrays.pop("sha256", ""))
        if not stored or stored != _digest(arrays):
            msg = f"file '{path}': saved network is corrupt (checksum mismatch)"
            raise NetworkError(msg)
        try:
            return cls._from_arrays(arrays)
        except (KeyError, ValueError) as err:
            msg = f"file '{path}': saved network is incomplete ({err})"
            raise NetworkError(msg) from err

    def _to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {
            "format": np.array(_SAVE_FORMAT),
            "mode": np.array(self.mode),
            "crs": np.array(self.crs),
            "x": self.x,
            "y": self.y,
            "u": self.u,
            "v": self.v,
            "length_m": self.length_m,
        }
        if self.time_s is not None:
            out["time_s"] = self.time_s
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.ferry is not None:
            out["ferry"] = self.ferry
        if self.extent is not None:
            out["extent"] = np.asarray(self.extent, dtype=float)
        if self.geometry_coords is not None and self.geometry_offsets is not None:
            out["geometry_coords"] = self.geometry_coords
            out["geometry_offsets"] = self.geometry_offsets
        # derived indexes every run needs (twins, Hilbert order, connected parts): stored so
        # that a cached run does not rebuild them (≈ 3 s at 1.6 M nodes); checked by the digest
        for name in _DERIVED:
            out[f"derived{name}"] = np.asarray(getattr(self, name))
        # the coverage raster (kilobytes; ≈ 0.6 s to build at 1 M nodes), when it is built
        from .coverage import Coverage  # the coverage module imports this one

        for key, area in self._snap_store.items():
            if key[0] == "coverage" and isinstance(area, Coverage):
                out["derived_coverage"] = np.array([area.x0, area.y0, key[1], key[2]])
                out["derived_coverage_mask"] = area.mask
                break
        return out

    @classmethod
    def _from_arrays(cls, a: dict[str, npt.NDArray[Any]]) -> Network:
        fmt = str(a["format"])
        if fmt not in (_SAVE_FORMAT, _SAVE_FORMAT_1):
            msg = f"unknown format {fmt!r}"
            raise ValueError(msg)
        geometry = None
        coords = offsets = None
        if "geometry_coords" in a:
            coords, offsets = a["geometry_coords"], a["geometry_offsets"]
            missing = a.get("geometry_missing")
            if fmt == _SAVE_FORMAT_1 and missing is not None and missing.any():
                # written before geometry was stored flat: arcs without geometry (straight)
                # are converted by the constructor, as any geometry passed in
                counts = np.diff(offsets)
                geometry = np.full(len(counts), None, dtype=object)
                have = np.flatnonzero(~missing)
                if len(have):
                    idx = np.repeat(np.arange(len(have)), counts[have])
                    geometry[have] = shapely.linestrings(coords, indices=idx)
                coords = offsets = None
        net = cls(
            x=a["x"],
            y=a["y"],
            u=a["u"],
            v=a["v"],
            length_m=a["length_m"],
            time_s=a.get("time_s"),
            geometry=geometry,
            node_id=a.get("node_id"),
            ferry=a.get("ferry"),
            mode=str(a["mode"]),
            crs=str(a["crs"]),
            extent=a.get("extent"),
            geometry_coords=coords,
            geometry_offsets=offsets,
        )
        for name, size in _DERIVED.items():
            arr = a.get(f"derived{name}")
            if arr is None:  # written before they were stored: built when first needed
                continue
            if len(arr) != (net.n_nodes if size == "nodes" else net.n_arcs):
                msg = f"derived array {name!r} has the wrong length"
                raise ValueError(msg)
            arr.flags.writeable = False
            net.__dict__[name] = arr  # the cached_property's value
        if "derived_coverage" in a:
            from .coverage import Coverage  # the coverage module imports this one

            x0, y0, cell_m, buffer_m = (float(c) for c in a["derived_coverage"])  # 4 or error
            mask = np.asarray(a["derived_coverage_mask"], dtype=bool)
            if mask.ndim != 2:
                msg = "derived coverage mask is not a raster"
                raise ValueError(msg)
            area = Coverage(x0, y0, cell_m, mask, net.extent_polygon())
            net._snap_store["coverage", cell_m, buffer_m] = area
        return net


def take_arcs(coords: FloatArray, offsets: IntArray, arcs: IntArray) -> tuple[FloatArray, IntArray]:
    """The flat vertices of the arcs ``arcs`` (in that order) out of flat ``coords``/``offsets``.

    >>> c = np.arange(10.0).reshape(5, 2)
    >>> take_arcs(c, np.array([0, 2, 5]), np.array([1]))[1]
    array([0, 3])
    """
    counts = offsets[1:][arcs] - offsets[:-1][arcs]
    new = np.zeros(len(arcs) + 1, dtype=np.int64)
    np.cumsum(counts, out=new[1:])
    src = np.repeat(offsets[:-1][arcs] - new[:-1], counts) + np.arange(new[-1], dtype=np.int64)
    return coords[src], new


def _linestrings(coords: FloatArray, offsets: IntArray) -> npt.NDArray[np.object_]:
    """One shapely LineString per arc of flat ``coords``/``offsets``."""
    m = len(offsets) - 1
    if m == 0:
        return np.empty(0, dtype=object)
    idx = np.repeat(np.arange(m), np.diff(offsets))
    return np.asarray(shapely.linestrings(coords, indices=idx), dtype=object)


def _flatten_geometry(
    net: Network, geometry: npt.NDArray[np.object_] | Sequence[Any]
) -> tuple[FloatArray, IntArray]:
    """LineStrings (``None``: a straight arc) → flat coordinates and offsets."""
    geoms = np.asarray(geometry, dtype=object)
    if geoms.ndim != 1 or len(geoms) != net.n_arcs:
        msg = "Network.geometry must have one entry per arc"
        raise NetworkError(msg)
    missing = shapely.is_missing(geoms)
    kind = shapely.get_type_id(geoms)
    missing |= (kind >= 0) & shapely.is_empty(geoms)
    if np.any(~missing & (kind != shapely.GeometryType.LINESTRING)):
        msg = "Network.geometry must hold LineStrings (or None for a straight arc)"
        raise NetworkError(msg)
    counts = np.where(missing, 2, shapely.get_num_coordinates(geoms)).astype(np.int64)
    if np.any(counts < 2):
        msg = "Network.geometry: every LineString needs at least two vertices"
        raise NetworkError(msg)
    offsets = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    coords = np.empty((int(offsets[-1]), 2), dtype=np.float64)
    have = np.repeat(~missing, counts)
    coords[have] = shapely.get_coordinates(geoms[~missing])
    gap = np.flatnonzero(missing)
    start = offsets[gap]
    coords[start, 0], coords[start, 1] = net.x[net.u[gap]], net.y[net.u[gap]]
    coords[start + 1, 0], coords[start + 1, 1] = net.x[net.v[gap]], net.y[net.v[gap]]
    return coords, offsets


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``arr``, read-only: a cached index is shared by every caller and saved with the network."""
    arr.flags.writeable = False
    return arr


def hilbert_index(x: FloatArray, y: FloatArray, bits: int = 16) -> IntArray:
    """Position of each point along a Hilbert curve over the points' bounding box.

    The box is cut into ``2**bits`` by ``2**bits`` cells; points in nearby cells
    get nearby positions (the usual locality order for spatial data).

    >>> hilbert_index(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0]), bits=1)
    array([0, 1, 2, 3])
    """
    side = np.int64(1) << bits
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    xi, yi = _hilbert_cells(x, y, bits)
    d = np.zeros(len(x), dtype=np.int64)
    s = side >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        # rotate the quadrant so that the curve continues
        flip = ~ry
        fx = np.where(flip & rx, s - 1 - xi, xi)
        fy = np.where(flip & rx, s - 1 - yi, yi)
        xi = np.where(flip, fy, fx)
        yi = np.where(flip, fx, fy)
        s >>= 1
    return d


def _hilbert_cells(x: FloatArray, y: FloatArray, bits: int) -> tuple[IntArray, IntArray]:
    """The ``2**bits`` by ``2**bits`` grid cell of each point over the points' bounding box."""
    side = np.int64(1) << bits

    def grid(c: FloatArray) -> IntArray:
        if len(c) == 0:
            return np.zeros(0, dtype=np.int64)
        span = float(np.ptp(c))
        if span <= 0:
            return np.zeros(len(c), dtype=np.int64)
        return np.asarray(np.minimum(((c - c.min()) / span * side).astype(np.int64), side - 1))

    return grid(x), grid(y)


def _min_csr(rows: IntArray, cols: IntArray, w: FloatArray, n: int) -> sp.csr_array:
    """CSR with the minimum over duplicate (row, col) pairs; zero weights stay edges.

    Columns ascending within a row; one compiled counting pass over the arcs
    (:func:`bereikbaar.engine._kernels.min_csr`), no sort of all arcs.
    """
    if len(rows) == 0:
        return sp.csr_array(
            (np.zeros(0), np.zeros(0, dtype=np.int32), np.zeros(n + 1, dtype=np.int32)),
            shape=(n, n),
        )
    min_csr = kernel("min_csr")

    indptr, indices, data = min_csr(
        np.asarray(rows, dtype=np.int64),
        np.asarray(cols, dtype=np.int64),
        np.asarray(w, dtype=np.float64),
        n,
    )
    return sp.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)), shape=(n, n))


_PREPARE_THREADS_MIN_ARCS = 100_000  # smaller networks prepare in one thread (ms)
_SAVE_FORMAT = "bereikbaar-network-2"
# written before arc geometry was stored flat (with a mask of arcs without geometry); read
_SAVE_FORMAT_1 = "bereikbaar-network-1"
# cached properties stored with a saved network (name -> one entry per "nodes" or "arcs")
_DERIVED = {
    "_reverse_arc": "arcs",
    "_hilbert_rank": "nodes",
    "_core": "nodes",
    "_weak_labels": "nodes",
}


def arrays_digest(arrays: dict[str, npt.NDArray[Any]]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of the arrays (sorted by name).

    The checksum inside every saved cache file (networks, map contexts).
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


_digest = arrays_digest
