"""Deprecated import path, kept for one release: use bereikbaar.engine._kernels.

The compiled functions are the same objects (one numba cache, next to
:mod:`bereikbaar.engine._kernels`).
"""

from __future__ import annotations

from .engine._kernels import (
    bounded_site_costs,
    grid_segments,
    multi_source_dijkstra,
    segment_stats,
    snap_grid,
)

__all__ = [
    "bounded_site_costs",
    "grid_segments",
    "multi_source_dijkstra",
    "segment_stats",
    "snap_grid",
]
