"""The baseline of every scenario: a run's cells and branches, snapped onto the network once.

Every question in :mod:`bereikbaar.scenarios` is asked of a situation: a run
(:class:`~bereikbaar.RunResult`), a :class:`Baseline` prepared from one, or an earlier
scenario. :func:`prepare_baseline` turns any of them into a :class:`Baseline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt

from ..accessibility import points_xy as _points_xy
from ..engine.network import Network
from ..engine.snap import Snapped, snap_to_arcs
from ..result import RunResult
from ..schema import GEMEENTECODE, GEMEENTENAAM
from ..settings import FlagRule, Settings

__all__ = [
    "Baseline",
    "SupportsBaseline",
    "concat_snapped",
    "prepare_baseline",
    "slice_snapped",
]


@dataclass
class Baseline:
    """A run prepared for scenarios: the cells snapped once, the libraries snapped once.

    Build it with :func:`prepare_baseline`; every function of :mod:`bereikbaar.scenarios`
    also accepts a :class:`~bereikbaar.RunResult` and prepares it on the fly.

    Attributes
    ----------
    network
        Road network (RD New).
    cells
        Cells with the nearest-library columns (``distance_m`` … ``reachable``).
    summary
        Gemeente summary of this situation (its polygons are the gemeenten).
    libraries
        The branch list of this situation.
    settings
        Settings of the run (flag rule, full-service types, snap distance).
    origins
        The cells projected onto the network (as the pipeline does).
    library_snaps
        Each branch (row of ``libraries``) projected onto the network.
    """

    network: Network
    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    libraries: gpd.GeoDataFrame
    settings: Settings
    origins: Snapped
    library_snaps: Snapped

    @property
    def rule(self) -> FlagRule:
        """The "te groot" rule."""
        return self.settings.flag_rule

    @property
    def gemeenten(self) -> gpd.GeoDataFrame:
        """Gemeente polygons (code, name, geometry) in RD New."""
        return self.summary[[GEMEENTECODE, GEMEENTENAAM, "geometry"]]


class SupportsBaseline(Protocol):
    """A situation that gives its own baseline (e.g. the result of a scenario)."""

    def as_baseline(self) -> Baseline:
        """The situation as a baseline."""
        ...


def _settings_from_provenance(provenance: Mapping[str, Any]) -> Settings:
    """What scenarios need of the settings, from the provenance of a run without settings."""
    data = provenance.get("settings") or {}
    kwargs: dict[str, Any] = {}
    if "flag_rule" in data:
        kwargs["flag_rule"] = FlagRule(**data["flag_rule"])
    if "full_service_types" in data:
        kwargs["full_service_types"] = tuple(data["full_service_types"])
    for key in ("max_snap_m", "mode", "coverage_buffer_m"):
        if key in data:
            kwargs[key] = data[key]
    if "dask_scheduler" in data:
        kwargs["dask_scheduler"] = data["dask_scheduler"]
    return Settings(**kwargs)


def slice_snapped(s: Snapped, idx: npt.ArrayLike) -> Snapped:
    """The snapped points ``idx`` (indices, in that order) of ``s``.

    Parameters
    ----------
    s
        Snapped points.
    idx
        Indices into ``s`` (repeats allowed).

    Returns
    -------
    Snapped
        ``s[idx]``.
    """
    i = np.asarray(idx, dtype=np.int64)
    return Snapped(s.arc[i], s.offset_m[i], s.snap_m[i])


def concat_snapped(parts: Sequence[Snapped]) -> Snapped:
    """The snapped points of ``parts``, one after the other.

    Parameters
    ----------
    parts
        Snapped point sets.

    Returns
    -------
    Snapped
        All points, in the order of ``parts``.
    """
    return Snapped(
        np.concatenate([p.arc for p in parts]).astype(np.int64),
        np.concatenate([p.offset_m for p in parts]),
        np.concatenate([p.snap_m for p in parts]),
    )


def prepare_baseline(
    result: RunResult | Baseline | SupportsBaseline, settings: Settings | None = None
) -> Baseline:
    """Snap the cells and branches of a run once, for many scenarios.

    A run made by :func:`bereikbaar.run` has already snapped them
    (:attr:`RunResult.snaps <bereikbaar.RunResult.snaps>`); those snaps are used as they are
    when they fit (the run's network, the same ``max_snap_m`` and coverage, the same rows),
    so only a result built by hand, or settings with another snap limit, snap again.

    Parameters
    ----------
    result
        The run (:func:`bereikbaar.run`); a :class:`Baseline` is returned as is, and
        a scenario (:class:`~bereikbaar.scenarios.ScenarioResult`) gives its own
        situation as the baseline (:meth:`~bereikbaar.scenarios.ScenarioResult.as_baseline`).
    settings
        The run's settings; default those the run carries (``result.settings``);
        only for a result built by hand without them rebuilt from
        ``result.provenance["settings"]`` (flag rule, full-service types, ``max_snap_m``).

    Returns
    -------
    Baseline
        The prepared baseline.
    """
    if isinstance(result, Baseline):
        return result
    if not isinstance(result, RunResult):
        return result.as_baseline()
    if settings is None:
        settings = result.settings
    if settings is None:
        settings = _settings_from_provenance(result.provenance)
    network = result.network
    libs = result.libraries
    snaps = result.snaps
    if snaps is not None and snaps.fits(network, settings, result.cells, libs):
        # the run's own snaps: snapping the same points again gives the same
        return Baseline(
            network, result.cells, result.summary, libs, settings, snaps.origins, snaps.libraries
        )
    # as the run: nothing outside the network's coverage is snapped
    area = network.coverage(buffer_m=settings.coverage_buffer_m)

    def inside(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(area.contains(xy)[:, None], xy, np.nan)

    origins = snap_to_arcs(
        network, inside(_points_xy(result.cells, "cells")), max_snap_m=settings.max_snap_m
    )
    lib_snaps = snap_to_arcs(
        network, inside(_points_xy(libs, "libraries")), max_snap_m=settings.max_snap_m
    )
    return Baseline(network, result.cells, result.summary, libs, settings, origins, lib_snaps)
