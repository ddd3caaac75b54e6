"""The public API of bereikbaar: the one list of its names (read by lazy_loader and type checkers).

Each name is imported from its one home on first use (``bereikbaar.__init__`` attaches this
stub with ``lazy_loader.attach_stub``), so ``import bereikbaar`` loads none of the stages.
"""

from ._version import __version__ as __version__
from .accessibility import nearest_library, snap_to_arcs
from .aggregate import aggregate_areas, aggregate_gemeenten, weighted_quantile
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
    ServiceError,
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
from .sources.osmnx_graph import network_from_osmnx
from .sources.overpass import network_from_overpass
from .sources.wijkbuurt import load_areas
from .study_area import PROVINCES, StudyArea, resolve_study_area
