"""What-if scenarios, closure impact, suggested sites and capacity-weighted access.

Questions asked of a run (:class:`~bereikbaar.RunResult`), one module each; they
compute and never write (writing and drawing a scenario is
:mod:`bereikbaar.output.scenario`), and never import folium.

* :mod:`~bereikbaar.scenarios.baseline`: :func:`prepare_baseline` snaps a run's
  cells and branches once, for many questions (:class:`Baseline`).
* :mod:`~bereikbaar.scenarios.whatif`: :func:`scenario` closes, opens and re-types
  branches and measures the result against the baseline; its numbers are identical
  to a full re-run of the pipeline with the edited branch list.
* :mod:`~bereikbaar.scenarios.closures`: :func:`closure_impact` ranks every
  full-service branch by the residents who would end up beyond the threshold if it
  closed (per branch a Dijkstra on the region it serves, on Dask or serially, with
  identical results).
* :mod:`~bereikbaar.scenarios.sites`: :func:`suggest_sites` solves the maximal
  covering location problem (greedy with lazy gains, exact with
  :func:`scipy.optimize.milp` when small); :func:`best_sites_for_gemeenten` does this
  for all flagged gemeenten of the dossier at once. Coverage comes from Dijkstras
  bounded at the threshold (:mod:`bereikbaar.engine.bounded`).
* :mod:`~bereikbaar.scenarios.fca`: :func:`two_step_fca` gives the capacity-weighted
  view: 2SFCA and enhanced 2SFCA (Gaussian or step decay).

Everything reuses the engine of :mod:`bereikbaar.accessibility` (origins and libraries
projected onto road arcs, Dijkstras on the **reversed** graph from a virtual node per
library, so every cost is the road distance from a home **to** a library) and is in
RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..engine.bounded import bounded_costs
from .baseline import Baseline, SupportsBaseline, concat_snapped, prepare_baseline, slice_snapped
from .closures import (
    ClosureEngine,
    ClosureImpact,
    build_closure_engine,
    closure_impact,
    run_closures,
)
from .fca import (
    DEFAULT_CATCHMENT_KM,
    TwoStepFCA,
    fca_from_costs,
    gaussian_decay,
    step_decay,
    travel_costs,
    two_step_fca,
)
from .sites import (
    SiteSuggestion,
    best_sites_for_gemeente,
    best_sites_for_gemeenten,
    max_coverage_greedy,
    max_coverage_milp,
    suggest_sites,
)
from .whatif import RESULT_COLUMNS, NewBranch, OpenSpec, ScenarioResult, scenario

__all__ = [
    "DEFAULT_CATCHMENT_KM",
    "RESULT_COLUMNS",
    "Baseline",
    "ClosureEngine",
    "ClosureImpact",
    "NewBranch",
    "OpenSpec",
    "ScenarioResult",
    "SiteSuggestion",
    "SupportsBaseline",
    "TwoStepFCA",
    "best_sites_for_gemeente",
    "best_sites_for_gemeenten",
    "bounded_costs",
    "build_closure_engine",
    "closure_impact",
    "concat_snapped",
    "fca_from_costs",
    "gaussian_decay",
    "max_coverage_greedy",
    "max_coverage_milp",
    "parse_open",
    "parse_retype",
    "prepare_baseline",
    "run_closures",
    "run_scenario_command",
    "scenario",
    "scenario_layer",
    "slice_snapped",
    "step_decay",
    "suggest_sites",
    "travel_costs",
    "two_step_fca",
    "write_branch_list",
    "write_scenario",
]

# Deprecated import paths, kept for one release: these names moved up the layers
# (writing and drawing to bereikbaar.output.scenario, the command to bereikbaar.cli).
# They are resolved on first use, so that importing the scenarios loads neither
# folium nor the command line.
_MOVED: dict[str, str] = {
    "write_branch_list": "bereikbaar.output.scenario",
    "write_scenario": "bereikbaar.output.scenario",
    "scenario_layer": "bereikbaar.output.scenario",
    "parse_open": "bereikbaar.cli",
    "parse_retype": "bereikbaar.cli",
    "run_scenario_command": "bereikbaar.cli",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        msg = f"module 'bereikbaar.scenarios' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(_MOVED[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MOVED))
