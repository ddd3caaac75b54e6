"""Deprecated import path, kept for one release: use bereikbaar.examples.synthetic."""

from __future__ import annotations

from .examples.synthetic import (
    NATIONAL,
    SyntheticInputs,
    SyntheticSpec,
    make_road_grid,
    write_pbf,
    write_synthetic_case,
)

__all__ = [
    "NATIONAL",
    "SyntheticInputs",
    "SyntheticSpec",
    "make_road_grid",
    "write_pbf",
    "write_synthetic_case",
]
