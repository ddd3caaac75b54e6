"""The pipeline: the only module that chains the stages.

``run(settings)`` loads the four inputs, measures the road distance from every
populated cell to the nearest full-service library, aggregates per gemeente,
and writes the outputs (``cells.gpkg``, ``gemeenten.gpkg``, ``gemeenten.csv``,
``gemeenten.parquet``, ``kaart.html``, ``rapport.html``, ``run.json``) into
``settings.out_dir`` as one set (:func:`write_outputs`,
:func:`~bereikbaar.output.files.output_set`): all replace the previous ones, or none.
``run_scenario(settings, ...)`` chains a run with a what-if
scenario and its outputs (what ``bereikbaar scenario`` does).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import platform
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._version import __version__
from .aggregate import aggregate_areas, aggregate_gemeenten, cell_covered
from .compare import (
    CBS_BRANCH_TYPES,
    CBS_COMPARABLE_KM,
    DIFFERENCE_KM,
    compare_with_cbs,
)
from .exceptions import (
    BereikbaarError,
    BereikbaarWarning,
    ConfigError,
    InputError,
    where,
)
from .output.files import atomic_path, output_set, write_excel_csv
from .output.style import peiljaar_of
from .result import RunResult
from .schema import (
    AREA_LEVELS,
    BRANCH_TYPE,
    DISTANCE_M,
    FULL_SERVICE,
    GEMEENTECODE,
    GEMEENTENAAM,
    LIBRARY_ID,
    MEAN_DISTANCE_KM,
    ONVOLLEDIG,
    POPULATION,
    POPULATION_BEYOND,
    REACHABLE,
    SHARE_COVERED,
    SNAP_M,
    TE_GROOT,
    TIME_S,
    UNREACHABLE_REASON,
    full_service_mask,
)
from .settings import Settings
from .sources.cbs_reference import CBS_MEAN_DISTANCE_KM, load_cbs_reference
from .sources.context import MapContext, load_context, street_names_near
from .sources.wijkbuurt import AREA_LAYERS, load_areas

if TYPE_CHECKING:
    from .accessibility import Snaps
    from .engine.network import Network
    from .scenarios import ClosureImpact, OpenSpec, ScenarioResult, SiteSuggestion
    from .sources.geocode import Geocoder

# The stages' heavy libraries (numba and scipy for the search, folium for the map, matplotlib
# and Jinja for the dossier, openpyxl for the workbook, requests for the geocoder, the
# scenarios) are imported by the stage that uses them, so that their loading is timed in that
# stage and a run that fails early (a bad input) does not pay for them.

log = logging.getLogger(__name__)

__all__ = [
    "STAGES",
    "RunResult",
    "ScenarioRun",
    "run",
    "run_scenario",
    "sha256_file",
    "write_outputs",
]

STAGES = (
    "gemeenten laden",
    "CBS-vierkanten laden",
    "bibliotheken laden",
    "wegennet laden",
    "afstanden berekenen",
    "per gemeente samenvatten",
    "tabellen en kaart schrijven",
)


SITES_STAGE = "locatiesuggesties"
"""The timing (in ``run.json``) of the suggested sites for the dossier, between the stages."""


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


@contextmanager
def _geocoder(settings: Settings) -> Iterator[Any]:
    """The geocoder the settings ask for (``None``, PDOK online, or an address table)."""
    from .sources.geocode import PdokGeocoder, TableGeocoder

    if settings.geocoder == "table":
        assert settings.inputs.address_table is not None
        yield TableGeocoder(settings.inputs.address_table)
    elif settings.geocoder == "pdok":
        cache = Path(settings.cache_dir or settings.out_dir) / "geocode-cache.sqlite"
        cache.parent.mkdir(parents=True, exist_ok=True)
        with PdokGeocoder.from_settings(settings, cache_path=cache) as geocoder:
            yield geocoder
    else:
        yield None


def write_map(fmap: Any, path: Path) -> Path:
    """:func:`bereikbaar.output.maps.write_map`, imported when the map is written (folium)."""
    from .output.maps import write_map as write

    return write(fmap, path)


def write_dossier(*args: Any, **kwargs: Any) -> Path:
    """:func:`bereikbaar.output.dossier.write_dossier`, imported when the dossier is written."""
    from .output.dossier import write_dossier as write

    return write(*args, **kwargs)


def run(
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    demo: bool = False,
    timings: Mapping[str, float] | None = None,
) -> RunResult:
    """Run the whole pipeline for one study area and write its outputs.

    Parameters
    ----------
    settings
        Inputs, mode, thresholds and output folder.
    progress
        Called with the Dutch name of each stage as it starts (the CLI passes a
        progress bar); ``None`` for silence.
    demo
        The inputs are the fictional demo region (:mod:`bereikbaar.examples.demo`): the map
        and the dossier say so and credit no real source.
    timings
        Seconds of work done for this run before it (the demo's input files), recorded first
        in ``run.json``'s ``timings_s``, by name.

    Returns
    -------
    RunResult
        Cells, gemeente summary, libraries, network, outputs and provenance.

    Raises
    ------
    ConfigError
        An input path is not set.
    InputError, NetworkError, OutputError
        Bad input, an unwritable output folder, or another run writing into it; the
        previous output set stays as it was (nothing is replaced before all outputs
        are written).
    """
    inputs = settings.inputs
    for name in ("network", "cells", "libraries", "gemeenten"):
        if getattr(inputs, name) is None:
            msg = f"settings: inputs.{name} is not set (give the path of the {name} file)"
            raise ConfigError(msg)
    with output_set(settings.out_dir) as staged:
        run_result, cbs_table = _compute(settings, progress)
        t0 = time.perf_counter()
        sites = _suggested_sites(run_result, settings)
        done = run_result.provenance["timings_s"]
        done[SITES_STAGE] = round(time.perf_counter() - t0, 3)
        run_result.provenance["timings_s"] = {**(timings or {}), **done}
        outputs, run_result.provenance = _write_set(
            run_result, staged.path, cbs_table=cbs_table, sites=sites, progress=progress, demo=demo
        )
    run_result.outputs = {name: staged.final(p) for name, p in outputs.items()}
    return run_result


def _compute(
    settings: Settings, progress: Callable[[str], None] | None
) -> tuple[RunResult, pd.DataFrame | None]:
    """Stages 1-6 of :func:`run`: everything but writing (the CBS table for writing)."""
    inputs = settings.inputs
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

    cbs_table: pd.DataFrame | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BereikbaarWarning)
        with stage():
            from .sources.gemeenten import load_gemeenten
            from .sources.study_area import StudyArea

            gemeenten = all_gemeenten = load_gemeenten(inputs.gemeenten)
            study = None
            if settings.study_area:
                study = StudyArea.build(gemeenten, settings.study_area, settings.study_buffer_m)
                gemeenten = study.gemeenten(gemeenten)
        with stage():
            from .sources.cbs_grid import load_cbs_grid
            from .sources.geocheck import check_cell_codes

            cells = load_cbs_grid(inputs.cells)
            cells = study.cells(cells) if study is not None else cells
            check_cell_codes(cells, all_gemeenten, inputs.cells, inputs.gemeenten)
        with stage():
            from .sources.libraries import load_libraries

            with _geocoder(settings) as geocoder:
                libraries = load_libraries(inputs.libraries, settings=settings, geocoder=geocoder)
            libraries = study.libraries(libraries) if study is not None else libraries
            _check_full_service(libraries, inputs.libraries, settings, study is not None)
        with stage():
            from .sources.osm import load_network_with_context

            # the maps' roads and names come from the same read (the file is read once)
            network, osm_context = load_network_with_context(
                inputs.network,
                mode=settings.mode,
                settings=settings,
                cache_dir=settings.cache_dir,
            )
            _check_network(network, cells, libraries, settings)
            network = study.network(network) if study is not None else network
        with stage():
            from .accessibility import nearest_library_with_snaps  # numba's kernels load here

            result, snaps = nearest_library_with_snaps(
                network,
                cells,
                libraries,
                max_snap_m=settings.max_snap_m,
                coverage_buffer_m=settings.coverage_buffer_m,
            )
            reach_counts = dict(result.attrs.get("unreachable", {}))
            libraries_unused = dict(result.attrs.get("libraries_unused", {}))
            cells = cells.join(result)
        with stage():
            summary = aggregate_gemeenten(
                cells,
                gemeenten,
                libraries,
                rule=settings.flag_rule,
                min_share_covered=settings.min_share_covered,
            )
            cbs_stats: dict[str, Any] | None = None
            comparable_cells: gpd.GeoDataFrame | None = None
            if inputs.cbs_reference is not None:
                summary, cbs_table, cbs_stats, comparable_cells = _compare_cbs(
                    settings,
                    inputs.cbs_reference,
                    network,
                    cells,
                    libraries,
                    gemeenten,
                    summary,
                    snaps,
                )
            areas, area_cbs = _summarise_areas(settings, cells, comparable_cells)
    messages = _pass_on(caught)
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
                ("cbs_reference", inputs.cbs_reference),
                ("buurten", inputs.buurten),
                ("wijken", inputs.wijken),
            )
            if p is not None
        },
        "settings": settings.to_dict(),
        "versions": _versions(),
        "timings_s": timings,
        "warnings": messages,
        "cbs_vergelijking": cbs_stats,
        "cbs_vergelijking_wijk_buurt": area_cbs,
        "plausibiliteit": plausibility(
            cells,
            network,
            libraries,
            libraries_unused,
            {"gemeente": cbs_stats, **area_cbs},
        ),
        "counts": {
            "gemeenten": len(summary),
            "te_groot": int(summary[TE_GROOT].sum()),
            "cells": len(cells),
            "unreachable_cells": int((~cells[REACHABLE]).sum()),
            "unreachable_per_reason": reach_counts,
            "libraries_unused_per_reason": libraries_unused,
            "onvolledig": int(summary[ONVOLLEDIG].sum()),
            "libraries": len(libraries),
            "network_nodes": network.n_nodes,
            "network_arcs": network.n_arcs,
        },
    }
    run_result = RunResult(
        cells,
        summary,
        libraries,
        network,
        {},
        provenance,
        settings,
        areas,
        context=osm_context,
        snaps=snaps,
    )
    return run_result, cbs_table


def _pass_on(caught: list[warnings.WarningMessage]) -> list[str]:
    """Log our warnings (returned as text) and re-issue the others unchanged."""
    for w in caught:
        if not issubclass(w.category, BereikbaarWarning):  # not ours: pass on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [str(w.message) for w in caught if issubclass(w.category, BereikbaarWarning)]
    for msg in messages:
        log.warning(msg)
    return messages


def write_outputs(
    result: RunResult,
    out_dir: str | Path,
    *,
    cbs_table: pd.DataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    demo: bool = False,
) -> dict[str, Path]:
    """Write a run's output set into ``out_dir``, as one set (:func:`.output.files.output_set`).

    ``cells.gpkg``, ``gemeenten.gpkg``, ``gemeenten.csv``, ``gemeenten.parquet``,
    (``vergelijking_cbs.csv``, ``buurten.csv``, ``wijken.csv``), ``kaart.html``,
    ``rapport.html`` and ``run.json``
    replace the previous set in one step, or, when anything fails or the process is
    interrupted, nothing in ``out_dir`` changes.

    Parameters
    ----------
    result
        A run (its ``provenance`` becomes ``run.json``; its ``settings`` give the threshold).
    out_dir
        The output folder.
    cbs_table
        The CBS comparison per gemeente (``vergelijking_cbs.csv``), when made.
    sites
        Suggested sites for the dossier.
    progress
        Called with the name of the writing stage.
    demo
        The run is the fictional demo region (see :func:`run`).

    Returns
    -------
    dict of str to pathlib.Path
        Output name → path (also set as ``result.outputs``). ``result.provenance`` is
        not changed (``run.json`` adds this writing's timings and warnings to a copy).

    Raises
    ------
    OutputError
        Another run writes into ``out_dir``, or an output cannot be written; the previous
        set is unchanged.
    """
    with output_set(out_dir) as staged:
        outputs, _ = _write_set(
            result, staged.path, cbs_table=cbs_table, sites=sites, progress=progress, demo=demo
        )
    result.outputs = {key: staged.final(p) for key, p in outputs.items()}
    return result.outputs


def _write_set(
    result: RunResult,
    out: Path,
    *,
    cbs_table: pd.DataFrame | None,
    sites: gpd.GeoDataFrame | None,
    progress: Callable[[str], None] | None,
    demo: bool = False,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the output files into ``out`` (a stage); the outputs and what run.json holds."""
    settings = result.settings or Settings()
    provenance = dict(result.provenance)
    timings = provenance["timings_s"] = dict(provenance.get("timings_s", {}))
    name = STAGES[-1]
    if progress is not None:
        progress(name)
    log.info("stage: %s", name)
    t0 = time.perf_counter()
    from .output.maps import make_map
    from .output.tables import write_comparison, write_tables

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BereikbaarWarning)
        levels = {"Gemeenten": result.summary}
        for level in ("wijken", "buurten"):
            if level in result.areas:
                levels[level.capitalize()] = result.areas[level]
        outputs = write_tables(
            out,
            result.cells,
            result.summary,
            result.libraries,
            result.areas,
            settings=settings,
            levels=levels,
        )
        if cbs_table is not None:
            path = out / "vergelijking_cbs.csv"
            outputs["vergelijking_cbs"] = write_comparison(path, cbs_table)
        network_file = settings.inputs.network
        context = (
            load_context(network_file, data=result.context)
            if network_file is not None
            else MapContext.empty()
        )
        fmap = make_map(
            result.cells,
            result.summary,
            result.libraries,
            threshold_km=settings.flag_rule.threshold_km,
            buurten=result.areas.get("buurten"),
            bins_km=settings.km_classes,
            mode=settings.mode,
            peiljaar=peiljaar_of(settings.peiljaar, settings.inputs.cells),
            demo=demo,
            roads=context.roads,
            places=context.places,
        )
        outputs["kaart"] = write_map(fmap, out / "kaart.html")
    provenance["warnings"] = [*provenance.get("warnings", []), *_pass_on(caught)]
    timings[name] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    if sites is not None and len(sites) and network_file is not None:
        # named by their nearest street and place
        names = street_names_near(
            network_file, sites.geometry, places=context.places, data=result.context
        )
        sites = sites.assign(locatie=names)
    outputs["rapport"] = write_dossier(
        out,
        result.cells,
        result.summary,
        result.libraries,
        settings,
        provenance=provenance,
        sites=sites,
        buurten=result.areas.get("buurten"),
        roads=context.roads,
        demo=demo,
        pdf=settings.rapport_pdf,
    )
    if (out / "rapport.pdf").is_file():
        outputs["rapport_pdf"] = out / "rapport.pdf"
    timings["rapport schrijven"] = round(time.perf_counter() - t0, 3)
    run_json = out / "run.json"
    with atomic_path(run_json) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2, ensure_ascii=False), encoding="utf-8")
    outputs["run"] = run_json
    return outputs, provenance


@dataclass
class ScenarioRun:
    """What :func:`run_scenario` produced.

    Attributes
    ----------
    baseline
        The run of the current situation (its outputs in ``settings.out_dir``).
    scenario
        The what-if situation measured against it.
    outputs
        Output name → path of the scenario's files.
    sites
        Suggested sites in the scenario's situation (when asked for).
    closures
        Closure impact of every full-service branch of the scenario (when asked for).
    """

    baseline: RunResult
    scenario: ScenarioResult
    outputs: dict[str, Path]
    sites: SiteSuggestion | None = None
    closures: ClosureImpact | None = None


def run_scenario(
    settings: Settings,
    *,
    close: Sequence[str] = (),
    open: Sequence[OpenSpec] = (),
    retype: Mapping[str, str] | None = None,
    geocoder: Geocoder | Callable[[str], Any] | None = None,
    out_dir: str | Path | None = None,
    n_sites: int = 0,
    rank: bool = False,
    scheduler: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScenarioRun:
    """Run the pipeline, then a what-if scenario on it, and write both (``bereikbaar scenario``).

    The baseline is written to ``settings.out_dir`` (as :func:`run`), the scenario
    to ``out_dir``: ``scenario_gemeenten.csv``, ``scenario_cellen.csv``,
    ``scenario_bibliotheken.csv``, ``scenario_kaart.html``
    (:func:`~bereikbaar.output.scenario.write_scenario`), plus
    ``scenario_locaties.csv`` with ``n_sites`` and ``sluitingseffect.csv`` with ``rank``.
    Everything is computed before anything replaces an output: the baseline and a scenario
    folder inside ``settings.out_dir`` are one output set
    (:func:`~bereikbaar.output.files.output_set`), so a scenario that fails (an unknown id to
    close) leaves the previous outputs as they were; a scenario folder elsewhere is its own
    set, committed just before the baseline's.

    Parameters
    ----------
    settings
        As for :func:`run`.
    close, open, retype, geocoder
        The changes, as for :func:`~bereikbaar.scenarios.scenario`.
    out_dir
        Folder of the scenario's files (default ``settings.out_dir / "scenario"``).
    n_sites
        Suggest this many sites for new branches in the scenario's situation (0: none).
    rank
        Rank the scenario's full-service branches by the effect of closing each.
    scheduler
        Dask scheduler address for the ranking (default ``settings.dask_scheduler``,
        else a local cluster).
    progress
        As for :func:`run`.

    Returns
    -------
    ScenarioRun
        The baseline run, the scenario, its output files and the optional answers.
    """
    out = Path(out_dir) if out_dir is not None else Path(settings.out_dir) / "scenario"
    base_dir = Path(settings.out_dir).resolve()
    if out.resolve() != base_dir and out.resolve() in base_dir.parents:
        msg = (
            f"the scenario folder '{out}' contains the run's out_dir '{settings.out_dir}';"
            " choose a scenario folder inside or beside it"
        )
        raise ConfigError(msg)
    from .output.scenario import write_scenario
    from .scenarios import closure_impact, scenario, suggest_sites

    # one set: the baseline and (in its folder) the scenario are committed together, so a
    # scenario that fails (an unknown id to close) leaves the previous outputs as they were
    with output_set(settings.out_dir) as staged:
        baseline = run(settings, progress=progress)
        res = scenario(
            baseline,
            close=close,
            open=open,
            retype=retype or {},
            settings=settings,
            geocoder=geocoder,
        )
        sites = suggest_sites(res, k=n_sites) if n_sites > 0 else None
        closures = None
        if rank:
            closures = closure_impact(res, settings=settings, scheduler=scheduler)
        with output_set(out) as scen:
            outputs = write_scenario(res, scen.path)
            if sites is not None:
                table = sites.sites.drop(columns="geometry")
                outputs["scenario_locaties"] = write_excel_csv(
                    table, scen.path / "scenario_locaties.csv", line_terminator="\n"
                )
            if closures is not None:
                outputs["sluitingseffect"] = write_excel_csv(
                    closures.ranking, scen.path / "sluitingseffect.csv", line_terminator="\n"
                )
        outputs = {name: scen.final(p) for name, p in outputs.items()}
    baseline.outputs = {name: staged.final(p) for name, p in baseline.outputs.items()}
    outputs = {name: staged.final(p) for name, p in outputs.items()}
    return ScenarioRun(baseline, res, outputs, sites, closures)


def _check_network(
    network: Network, cells: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame, settings: Settings
) -> None:
    """NetworkError when the network lies outside the Netherlands or misses the other inputs."""
    from .sources.geocheck import check_network_extent, check_overlap

    inputs = settings.inputs
    path = Path(str(inputs.network))
    check_network_extent(network, path)
    centres = shapely.centroid(cells.geometry.to_numpy())
    usable = full_service_mask(libraries) & ~(
        libraries.geometry.isna() | libraries.geometry.is_empty
    ).to_numpy(dtype=bool)
    points = libraries.geometry.to_numpy()[usable]
    check_overlap(
        network,
        path,
        [
            ("cells", inputs.cells, shapely.get_x(centres), shapely.get_y(centres)),
            (
                "full-service libraries",
                inputs.libraries,
                shapely.get_x(points),
                shapely.get_y(points),
            ),
        ],
        reach_m=settings.max_snap_m,
    )


def _check_full_service(
    libraries: gpd.GeoDataFrame, path: Path, settings: Settings, in_study_area: bool
) -> None:
    """InputError naming the branch list when no full-service branch has a location."""
    usable = (
        full_service_mask(libraries)
        & ~(libraries.geometry.isna() | libraries.geometry.is_empty).to_numpy()
    )
    if usable.any():
        return
    area = " in or near the study area" if in_study_area else ""
    msg = (
        f"{where(path)}: no full-service branch with a location{area}"
        f" ({len(libraries)} branches; full service = type"
        f" {', '.join(settings.full_service_types)}); nothing to measure the distance to"
    )
    raise InputError(msg)


def _suggested_sites(result: RunResult, settings: Settings) -> gpd.GeoDataFrame | None:
    """Suggested sites for a new full-service library in each flagged gemeente (dossier).

    All flagged gemeenten at once (:func:`~bereikbaar.scenarios.best_sites_for_gemeenten`),
    at most ``settings.site_suggestions_max_gemeenten`` of them (those with the most
    residents beyond the threshold first). When the suggestions fail, the dossier has
    none; the reason is logged and added to the provenance warnings.
    """
    flagged = result.flagged.sort_values(
        [POPULATION_BEYOND, GEMEENTECODE], ascending=[False, True], kind="stable"
    )
    codes = flagged[GEMEENTECODE].astype(str).tolist()
    if not codes or settings.site_suggestions == 0:
        return None
    cap = settings.site_suggestions_max_gemeenten
    skipped = codes[cap:] if cap is not None else []
    codes = codes[:cap] if cap is not None else codes
    from .scenarios import best_sites_for_gemeenten, prepare_baseline

    parts: list[gpd.GeoDataFrame] = []
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BereikbaarWarning)
        try:
            base = prepare_baseline(result, settings)
            tables = best_sites_for_gemeenten(
                base, codes, k=settings.site_suggestions, settings=settings
            )
            parts = [tables[code] for code in codes if code in tables]
        except BereikbaarError as err:
            messages.append(f"locatiesuggesties niet berekend: {err}")
    if skipped:
        messages.append(
            f"locatiesuggesties alleen voor de {len(codes)} gemeenten met de meeste inwoners "
            f"boven de drempel; niet voor {len(skipped)} andere (site_suggestions_max_gemeenten)"
        )
    for w in caught:
        if issubclass(w.category, BereikbaarWarning):
            messages.append(str(w.message))
        else:  # not ours: pass on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for msg in messages:
        log.warning(msg)
        result.provenance.setdefault("warnings", []).append(msg)
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def _compare_cbs(
    settings: Settings,
    reference: Path,
    network: Network,
    cells: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    gemeenten: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    snaps: Snaps,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict[str, Any], gpd.GeoDataFrame]:
    """CBS-comparable means (vestigingen + servicepunten) next to CBS's figure.

    The cells are not snapped again: ``snaps`` (of the nearest-library stage, same network
    and settings) has them. Also returns the cells with their CBS-comparable distances (for
    wijken and buurten).
    """
    if settings.mode != "car":
        msg = (
            f"CBS measures over car roads; the comparison in mode {settings.mode!r}"
            " is not like for like"
        )
        warnings.warn(msg, BereikbaarWarning, stacklevel=3)
    cbs_libraries = libraries[libraries[BRANCH_TYPE].isin(CBS_BRANCH_TYPES)]
    result_columns = (DISTANCE_M, SNAP_M, TIME_S, REACHABLE, LIBRARY_ID, UNREACHABLE_REASON)
    origins = cells.drop(columns=[c for c in result_columns if c in cells.columns])
    from .accessibility import nearest_library_with_snaps

    reach, _ = nearest_library_with_snaps(
        network,
        origins,
        cbs_libraries,
        max_snap_m=settings.max_snap_m,
        full_service_only=False,
        coverage_buffer_m=settings.coverage_buffer_m,
        origin_snaps=snaps.origins if snaps.fits(network, settings, origins) else None,
    )
    comparable_cells = origins.join(reach)
    comparable = aggregate_gemeenten(
        comparable_cells,
        gemeenten,
        None,
        rule=settings.flag_rule,
        min_share_covered=settings.min_share_covered,
    )
    ours = comparable.set_index(GEMEENTECODE)[MEAN_DISTANCE_KM]
    frame = pd.DataFrame(
        {
            GEMEENTECODE: summary[GEMEENTECODE].to_numpy(),
            MEAN_DISTANCE_KM: ours.reindex(summary[GEMEENTECODE]).to_numpy(),
        },
        index=summary.index,
    )
    if GEMEENTENAAM in summary.columns:
        frame[GEMEENTENAAM] = summary[GEMEENTENAAM]
    for col in (ONVOLLEDIG, SHARE_COVERED):
        frame[col] = summary[col].to_numpy()
    per, stats = compare_with_cbs(frame, reference)
    summary = summary.copy()
    for col in (CBS_COMPARABLE_KM, CBS_MEAN_DISTANCE_KM, DIFFERENCE_KM):
        summary[col] = per[col]
    return summary, per, stats, comparable_cells


def _summarise_areas(
    settings: Settings, cells: gpd.GeoDataFrame, comparable_cells: gpd.GeoDataFrame | None
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Summaries per wijk and buurt (when their files are given), compared with CBS's figure.

    CBS's figure per wijk/buurt is read from the same file (or its sibling statistics) when it
    carries ``bibliotheek_gemiddelde_afstand_in_km`` and the run compares with CBS.
    """
    areas: dict[str, gpd.GeoDataFrame] = {}
    stats: dict[str, Any] = {}
    for level, path in (("wijk", settings.inputs.wijken), ("buurt", settings.inputs.buurten)):
        if path is None:
            continue
        # one summary routine for all cells and for the CBS-comparable ones
        summarise = functools.partial(
            aggregate_areas,
            areas=load_areas(path, level),
            level=level,
            rule=settings.flag_rule,
            min_share_covered=settings.min_share_covered,
        )
        table = summarise(cells)
        if comparable_cells is not None:
            try:
                reference = load_cbs_reference(path, level=level)
            except InputError as err:
                log.info("no CBS figure per %s: %s", level, err)
            else:
                with warnings.catch_warnings():  # the same cells and coverage: warned above
                    warnings.simplefilter("ignore", BereikbaarWarning)
                    ours = summarise(comparable_cells)
                frame = table[[AREA_LEVELS[level][0], ONVOLLEDIG, SHARE_COVERED]].copy()
                frame[MEAN_DISTANCE_KM] = ours[MEAN_DISTANCE_KM].to_numpy()
                per, stats[level] = compare_with_cbs(frame, reference, level=level)
                for col in (CBS_COMPARABLE_KM, CBS_MEAN_DISTANCE_KM, DIFFERENCE_KM):
                    table[col] = per[col].to_numpy()
        areas[AREA_LAYERS[level]] = table
    return areas, stats


def plausibility(
    cells: pd.DataFrame,
    network: Network,
    libraries: pd.DataFrame,
    libraries_unused: Mapping[str, int],
    agreement: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """The plausibility block of ``run.json``: can these numbers be trusted?

    Parameters
    ----------
    cells
        The run's cells with ``population``, ``snap_m`` and ``unreachable_reason``.
    network
        The road network used.
    libraries
        The branch list.
    libraries_unused
        Full-service branches not used, per reason (``nearest_library``'s
        ``attrs["libraries_unused"]``).
    agreement
        Per level the statistics of :func:`~bereikbaar.compare.compare_with_cbs` (or None).

    Returns
    -------
    dict
        ``share_covered`` (residents inside the network's coverage), ``snap_m``
        (p50/p95/max over snapped cells), ``core_share_of_nodes``,
        ``libraries_not_used`` (per reason, with the branches that are not full
        service) and ``cbs_agreement`` per level (n, median |Δ| km, Spearman).
    """
    pop = cells[POPULATION].to_numpy(dtype=float)
    covered = cell_covered(cells)
    known = np.isfinite(pop)
    total = float(pop[known].sum())
    snap = cells[SNAP_M].to_numpy(dtype=float) if SNAP_M in cells.columns else np.array([])
    snap = snap[np.isfinite(snap)]

    def pct(q: float) -> float | None:
        return round(float(np.percentile(snap, q)), 1) if len(snap) else None

    not_full = int((~full_service_mask(libraries)).sum()) if FULL_SERVICE in libraries else 0
    return {
        "population": total,
        "population_covered": float(pop[known & covered].sum()),
        "share_covered": float(pop[known & covered].sum()) / total if total > 0 else None,
        "snap_m": {"p50": pct(50), "p95": pct(95), "max": pct(100), "n": len(snap)},
        "core_share_of_nodes": float(network.core_nodes().mean()) if network.n_nodes else None,
        "libraries_not_used": {"niet volwaardig": not_full, **dict(libraries_unused)},
        "cbs_agreement": {
            level: {
                "n": st.get("n_compared"),
                "median_abs_difference_km": st.get("median_abs_difference_km"),
                "spearman_rho": st.get("spearman_rho"),
                "left_out_onvolledig": len(st.get("left_out", {})),
            }
            for level, st in agreement.items()
            if st
        },
    }
