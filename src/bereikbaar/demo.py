"""Deprecated import path, kept for one release: use bereikbaar.examples.demo."""

from __future__ import annotations

from .examples.demo import (
    BRANCHES,
    DESIGN_POPULATION,
    EXPECTED_TE_GROOT,
    GEMEENTEN,
    REGION_BOUNDS,
    SETTLEMENTS,
    SUPPRESSED,
    DemoBranch,
    DemoInputs,
    Settlement,
    run_demo,
    write_demo_inputs,
)

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
