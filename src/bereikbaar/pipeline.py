"""The pipeline: the only module that chains the stages.

``run(settings)`` loads the four inputs, measures the road distance from every
populated cell to the nearest full-service library, aggregates per gemeente,
and writes the outputs (``cells.gpkg``, ``gemeenten.gpkg``, ``gemeenten.csv``,
``gemeenten.parquet``, ``kaart.html``, ``run.json``) atomically into
``settings.out_dir``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from . import __version__
from .accessibility import nearest_library
from .aggregate import aggregate_gemeenten
from .exceptions import BereikbaarWarning, ConfigError
from .maps import make_map, write_map
from .network import Network
from .report import atomic_path, write_tables
from .schema import REACHABLE, TE_GROOT
from .settings import Settings
from .sources.cbs_grid import load_cbs_grid
from .sources.gemeenten import load_gemeenten
from .sources.libraries import load_libraries
from .sources.osm import load_network

log = logging.getLogger(__name__)

STAGES = (
    "gemeenten laden",
    "CBS-vierkanten laden",
    "bibliotheken laden",
    "wegennet laden",
    "afstanden berekenen",
    "per gemeente samenvatten",
    "tabellen en kaart schrijven",
)


@dataclass
class RunResult:
    """Everything a run produced.

    Attributes
    ----------
    cells
        Populated cells with ``library_id``, ``distance_m``, ``snap_m``,
        ``reachable`` (and ``time_s``), EPSG:28992.
    summary
        One row per gemeente (see :func:`~bereikbaar.aggregate_gemeenten`).
    libraries
        The branch list as loaded.
    network
        The road network used.
    outputs
        Output name → path.
    provenance
        What ``run.json`` holds: inputs with SHA-256, versions, settings, timings,
        warnings.
    """

    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    libraries: gpd.GeoDataFrame
    network: Network
    outputs: dict[str, Path] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> gpd.GeoDataFrame:
        """The gemeenten flagged "te groot"."""
        return self.summary[self.summary[TE_GROOT]]


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"bereikbaar": __version__, "python": platform.python_version()}
    for pkg in ("geopandas", "shapely", "pyproj", "scipy", "numpy", "osmium", "folium", "pandas"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "niet geïnstalleerd"
    return out


def run(settings: Settings, *, progress: Callable[[str], None] | None = None) -> RunResult:
    """Run the whole pipeline for one study area and write its outputs.

    Parameters
    ----------
    settings
        Inputs, mode, thresholds and output folder.
    progress
        Called with the Dutch name of each stage as it starts (the CLI passes a
        progress bar); ``None`` for silence.

    Returns
    -------
    RunResult
        Cells, gemeente summary, libraries, network, outputs and provenance.

    Raises
    ------
    ConfigError
        An input path is not set.
    InputError, NetworkError, OutputError
        Bad input or an unwritable output folder; previous outputs stay intact.
    """
    inputs = settings.inputs
    for name in ("network", "cells", "libraries", "gemeenten"):
        if getattr(inputs, name) is None:
            msg = f"settings: inputs.{name} is not set (give the path of the {name} file)"
            raise ConfigError(msg)
    assert inputs.network and inputs.cells and inputs.libraries and inputs.gemeenten
    timings: dict[str, float] = {}
    stage_iter = iter(STAGES)

    @contextmanager
    def stage() -> Iterator[None]:
        name = next(stage_iter)
        if progress is not None:
            progress(name)
        log.info("stage: %s", name)
        t0 = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t0, 3)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BereikbaarWarning)
        with stage():
            gemeenten = load_gemeenten(inputs.gemeenten)
        with stage():
            cells = load_cbs_grid(inputs.cells)
        with stage():
            libraries = load_libraries(inputs.libraries, settings=settings)
        with stage():
            network = load_network(inputs.network, mode=settings.mode, settings=settings)
        with stage():
            result = nearest_library(network, cells, libraries, max_snap_m=settings.max_snap_m)
            cells = cells.join(result)
        with stage():
            summary = aggregate_gemeenten(cells, gemeenten, libraries, rule=settings.flag_rule)
        with stage():
            out = Path(settings.out_dir)
            outputs = write_tables(out, cells, summary, libraries)
            fmap = make_map(cells, summary, libraries, threshold_km=settings.flag_rule.threshold_km)
            outputs["kaart"] = write_map(fmap, out / "kaart.html")
    other = [w for w in caught if not issubclass(w.category, BereikbaarWarning)]
    for w in other:  # not ours: pass on unchanged
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [str(w.message) for w in caught if issubclass(w.category, BereikbaarWarning)]
    for msg in messages:
        log.warning(msg)
    provenance: dict[str, Any] = {
        "bereikbaar": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "inputs": {
            name: {"path": str(p), "sha256": sha256_file(Path(p))}
            for name, p in (
                ("network", inputs.network),
                ("cells", inputs.cells),
                ("libraries", inputs.libraries),
                ("gemeenten", inputs.gemeenten),
            )
        },
        "settings": settings.to_dict(),
        "versions": _versions(),
        "timings_s": timings,
        "warnings": messages,
        "counts": {
            "gemeenten": len(summary),
            "te_groot": int(summary[TE_GROOT].sum()),
            "cells": len(cells),
            "unreachable_cells": int((~cells[REACHABLE]).sum()),
            "libraries": len(libraries),
            "network_nodes": network.n_nodes,
            "network_arcs": network.n_arcs,
        },
    }
    run_json = Path(settings.out_dir) / "run.json"
    with atomic_path(run_json) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2, ensure_ascii=False), encoding="utf-8")
    outputs["run"] = run_json
    return RunResult(cells, summary, libraries, network, outputs, provenance)
