"""What a run produced: :class:`RunResult`, handed from the pipeline to the questions asked of it.

It lives on its own (not in :mod:`bereikbaar.pipeline`) so that the modules that take a run
(:mod:`bereikbaar.scenarios`) need not import the pipeline that makes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from .schema import TE_GROOT
from .settings import Settings

if TYPE_CHECKING:
    # the engine (scipy, numba) loads when a run needs it
    from .accessibility import Snaps
    from .engine.network import Network
    from .engine.snap import Snapped
    from .sources.osm import OsmContext

__all__ = ["RunResult"]


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
    settings
        The settings the run was made with; the scenarios, site suggestions and
        closures take theirs from here (None only for a result built by hand: the
        scenarios then rebuild what they need from ``provenance["settings"]``).
    areas
        Summaries per wijk and buurt (``"wijken"``, ``"buurten"``) when the run had
        their files (:func:`~bereikbaar.aggregate.aggregate_areas`).
    snaps
        The cells (their centroids) and every branch as the run snapped them onto
        ``network`` (:func:`~bereikbaar.accessibility.nearest_library_with_snaps`);
        :func:`~bereikbaar.scenarios.prepare_baseline` reuses them instead of snapping
        again while they fit (:meth:`Snaps.fits
        <bereikbaar.accessibility.Snaps.fits>`: the same network, ``max_snap_m``,
        coverage and rows). None for a result built by hand.
    context
        What the maps take from the run's OSM file beside the network (main roads,
        ferries, place and street names), read with the network
        (:func:`~bereikbaar.sources.osm.load_network_with_context`); ``None``: the
        outputs read it from ``settings.inputs.network`` when they need it.
    """

    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    libraries: gpd.GeoDataFrame
    network: Network
    outputs: dict[str, Path] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    settings: Settings | None = None
    areas: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    snaps: Snaps | None = field(default=None, repr=False)

    @property
    def origin_snaps(self) -> Snapped | None:
        """The cells as the run snapped them (one per row of :attr:`cells`), or None."""
        return None if self.snaps is None else self.snaps.origins

    @property
    def library_snaps(self) -> Snapped | None:
        """Every branch as the run snapped it (one per row of :attr:`libraries`), or None."""
        return None if self.snaps is None else self.snaps.libraries

    context: OsmContext | None = None

    @property
    def flagged(self) -> gpd.GeoDataFrame:
        """The gemeenten flagged "te groot"."""
        return self.summary[self.summary[TE_GROOT]]
