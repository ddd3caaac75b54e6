"""bereikbaar: road distance to the nearest full-service public library, per Dutch gemeente.

The public API, in pipeline order::

    import bereikbaar as bb

    gemeenten = bb.load_gemeenten("gemeenten.gpkg")
    cells = bb.load_cbs_grid("vierkant_100m.gpkg")
    libraries = bb.load_libraries("bibliotheken.csv")
    network = bb.load_network("provincie.osm.pbf", mode="car")
    cells = cells.join(bb.nearest_library(network, cells, libraries))
    summary = bb.aggregate_gemeenten(cells, gemeenten, libraries, rule=bb.FlagRule())
    bb.make_map(cells, summary, libraries).save("kaart.html")

Everything metric is in RD New (EPSG:28992, metres).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

# The public API is imported lazily (PEP 562): ``import bereikbaar`` stays cheap for the
# CLI, notebooks and Dask workers, and each stage's heavy dependencies (folium, scipy.stats,
# dask, ...) load on first use. Type checkers see the explicit imports below.
if TYPE_CHECKING:
    from .accessibility import nearest_library, snap_to_arcs
    from .aggregate import aggregate_gemeenten, weighted_quantile
    from .compare import compare_with_cbs, write_comparison
    from .demo import DemoInputs, run_demo, write_demo_inputs
    from .exceptions import (
        BereikbaarError,
        BereikbaarWarning,
        ConfigError,
        DownloadError,
        GeocodeError,
        InputError,
        NetworkError,
        OutputError,
    )
    from .maps import make_map, write_map
    from .network import Network
    from .pipeline import RunResult, run
    from .report import dossier_html, write_dossier, write_tables
    from .scenarios import (
        best_sites_for_gemeente,
        best_sites_for_gemeenten,
        closure_impact,
        scenario,
        suggest_sites,
        two_step_fca,
    )
    from .settings import FlagRule, Settings
    from .sources.cbs_grid import load_cbs_grid
    from .sources.cbs_reference import load_cbs_reference
    from .sources.download import (
        cbs_vierkant_source,
        cbs_wijkbuurtkaart_source,
        download_file,
        download_source,
        geofabrik_source,
    )
    from .sources.gemeenten import load_gemeenten
    from .sources.geocode import (
        AddressQuery,
        GeocodeResult,
        PdokGeocoder,
        TableGeocoder,
        geocode_libraries,
    )
    from .sources.libraries import load_libraries
    from .sources.nwb import load_nwb
    from .sources.osm import load_network
    from .sources.osm_libraries import libraries_from_osm
    from .sources.overpass import network_from_overpass
    from .study_area import PROVINCES, StudyArea, resolve_study_area

_LAZY: dict[str, str] = {
    "AddressQuery": ".sources.geocode",
    "BereikbaarError": ".exceptions",
    "BereikbaarWarning": ".exceptions",
    "ConfigError": ".exceptions",
    "DemoInputs": ".demo",
    "DownloadError": ".exceptions",
    "FlagRule": ".settings",
    "GeocodeError": ".exceptions",
    "GeocodeResult": ".sources.geocode",
    "InputError": ".exceptions",
    "Network": ".network",
    "NetworkError": ".exceptions",
    "OutputError": ".exceptions",
    "PROVINCES": ".study_area",
    "PdokGeocoder": ".sources.geocode",
    "RunResult": ".pipeline",
    "Settings": ".settings",
    "StudyArea": ".study_area",
    "TableGeocoder": ".sources.geocode",
    "aggregate_gemeenten": ".aggregate",
    "best_sites_for_gemeente": ".scenarios",
    "best_sites_for_gemeenten": ".scenarios",
    "cbs_vierkant_source": ".sources.download",
    "cbs_wijkbuurtkaart_source": ".sources.download",
    "closure_impact": ".scenarios",
    "compare_with_cbs": ".compare",
    "dossier_html": ".report",
    "download_file": ".sources.download",
    "download_source": ".sources.download",
    "geocode_libraries": ".sources.geocode",
    "geofabrik_source": ".sources.download",
    "libraries_from_osm": ".sources.osm_libraries",
    "load_cbs_grid": ".sources.cbs_grid",
    "load_cbs_reference": ".sources.cbs_reference",
    "load_gemeenten": ".sources.gemeenten",
    "load_libraries": ".sources.libraries",
    "load_network": ".sources.osm",
    "load_nwb": ".sources.nwb",
    "make_map": ".maps",
    "nearest_library": ".accessibility",
    "network_from_overpass": ".sources.overpass",
    "resolve_study_area": ".study_area",
    "run": ".pipeline",
    "run_demo": ".demo",
    "scenario": ".scenarios",
    "snap_to_arcs": ".accessibility",
    "suggest_sites": ".scenarios",
    "two_step_fca": ".scenarios",
    "weighted_quantile": ".aggregate",
    "write_comparison": ".compare",
    "write_demo_inputs": ".demo",
    "write_dossier": ".report",
    "write_map": ".maps",
    "write_tables": ".report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'bereikbaar' has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "PROVINCES",
    "AddressQuery",
    "BereikbaarError",
    "BereikbaarWarning",
    "ConfigError",
    "DemoInputs",
    "DownloadError",
    "FlagRule",
    "GeocodeError",
    "GeocodeResult",
    "InputError",
    "Network",
    "NetworkError",
    "OutputError",
    "PdokGeocoder",
    "RunResult",
    "Settings",
    "StudyArea",
    "TableGeocoder",
    "__version__",
    "aggregate_gemeenten",
    "best_sites_for_gemeente",
    "best_sites_for_gemeenten",
    "cbs_vierkant_source",
    "cbs_wijkbuurtkaart_source",
    "closure_impact",
    "compare_with_cbs",
    "dossier_html",
    "download_file",
    "download_source",
    "geocode_libraries",
    "geofabrik_source",
    "libraries_from_osm",
    "load_cbs_grid",
    "load_cbs_reference",
    "load_gemeenten",
    "load_libraries",
    "load_network",
    "load_nwb",
    "make_map",
    "nearest_library",
    "network_from_overpass",
    "resolve_study_area",
    "run",
    "run_demo",
    "scenario",
    "snap_to_arcs",
    "suggest_sites",
    "two_step_fca",
    "weighted_quantile",
    "write_comparison",
    "write_demo_inputs",
    "write_dossier",
    "write_map",
    "write_tables",
]
