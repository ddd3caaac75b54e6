"""Settings: the only place defaults live.

A :class:`Settings` is a frozen dataclass passed down through the pipeline; it is
read from TOML with :meth:`Settings.from_toml` (unknown keys, wrong types and
missing input files are :class:`~bereikbaar.exceptions.ConfigError`).

No official norm exists for when the distance to a library is "te groot"; the
defaults of :class:`FlagRule` are adjustable policy choices (see README).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import ConfigError
from .schema import BRANCH_TYPES, MODES

# Default car speeds (km/h) per OSM highway class where no maxspeed is tagged;
# Dutch legal defaults (50 in built-up areas, 80 outside, 100 on motorways).
CAR_SPEEDS_KMH: Mapping[str, float] = types.MappingProxyType(
    {
        "motorway": 100.0,
        "motorway_link": 60.0,
        "trunk": 80.0,
        "trunk_link": 50.0,
        "primary": 70.0,
        "primary_link": 50.0,
        "secondary": 60.0,
        "secondary_link": 50.0,
        "tertiary": 50.0,
        "tertiary_link": 40.0,
        "unclassified": 50.0,
        "road": 40.0,
        "residential": 30.0,
        "living_street": 15.0,
        "service": 15.0,
        "ferry": 10.0,
    }
)


@dataclass(frozen=True)
class FlagRule:
    """When a gemeente's distance to a full-service library is "te groot".

    A gemeente is flagged when **any** criterion fires; ``reasons`` names each
    one that did. No official norm exists: these are adjustable policy choices.

    Parameters
    ----------
    threshold_km
        Distance (km) beyond which a resident counts as "far" (criterion b and
        ``population_beyond``). Default 5 km.
    no_library_mean_km
        Criterion (a): no full-service library inside the gemeente **and** the
        person-weighted mean distance exceeds this (km). Default 3 km.
    max_share_beyond
        Criterion (b): the share of residents farther than ``threshold_km`` is at
        least this (0-1). Default 0.25.
    max_mean_km
        Criterion (c): the person-weighted mean distance is at least this (km).
        Default 5 km, the level at which CBS reporting singles out gemeenten.
    """

    threshold_km: float = 5.0
    no_library_mean_km: float = 3.0
    max_share_beyond: float = 0.25
    max_mean_km: float = 5.0

    def __post_init__(self) -> None:
        for name in ("threshold_km", "no_library_mean_km", "max_mean_km"):
            value = getattr(self, name)
            if not _positive_finite(value):
                msg = f"FlagRule.{name} must be a positive number of km (finite), got {value!r}"
                raise ConfigError(msg)
        if not 0 < self.max_share_beyond <= 1:
            msg = f"FlagRule.max_share_beyond must be in (0, 1], got {self.max_share_beyond!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class Inputs:
    """Paths of the four inputs of a run (any format the loaders read).

    ``cbs_reference`` (optional) is CBS's Kerncijfers wijken en buurten with the
    library distance per gemeente; when set, a run compares its figures with CBS's.
    ``address_table`` (optional) is an offline address → point table (CSV or
    GeoPackage, e.g. a BAG extract) used to geocode branches without coordinates.
    ``buurten`` and ``wijken`` (optional) are the CBS Wijk- en buurtkaart (GeoPackage,
    layers ``buurten``/``wijken``) or a GeoJSON of those polygons with a sibling
    ``<stem>_stats.parquet``; when set, a run also summarises per buurt and wijk (and,
    where the file carries CBS's ``bibliotheek_gemiddelde_afstand_in_km``, compares).
    ``libraries_sheet`` (optional) names the sheet of an XLSX branch list; without it a
    workbook must have exactly one sheet with data (another sheet is never ignored).
    """

    network: Path | None = None
    cells: Path | None = None
    libraries: Path | None = None
    gemeenten: Path | None = None
    cbs_reference: Path | None = None
    address_table: Path | None = None
    buurten: Path | None = None
    wijken: Path | None = None
    libraries_sheet: str | None = None

    def __post_init__(self) -> None:
        sheet = self.libraries_sheet
        if sheet is not None and (not isinstance(sheet, str) or not sheet.strip()):
            msg = f"inputs.libraries_sheet must be a sheet name (text), got {sheet!r}"
            raise ConfigError(msg)

    def paths(self) -> dict[str, Path | None]:
        """The input files by name (every field but ``libraries_sheet``)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "libraries_sheet"
        }


@dataclass(frozen=True)
class Settings:
    """All settings of a run; the only place defaults live.

    Parameters
    ----------
    inputs
        Paths of the road network, the CBS grid, the branch list and the gemeente
        boundaries.
    out_dir
        Output folder (``data/processed/<run-name>/``).
    mode
        ``"car"`` (CBS-comparable), ``"bike"`` or ``"walk"``.
    full_service_types
        Normalised branch types that count as a full-service library
        (default: ``vestiging``; ``hoofdvestiging`` normalises to it).
    flag_rule
        The "te groot" rule.
    max_snap_m
        Origins farther than this (m) from the road network's core are
        unreachable ("te ver van de weg"; reported, never a fake distance). Default
        1 km: measured on the real networks, no populated 100 m cell centroid lies
        farther than 300 m from its road (see README, "Dekking en snaplimiet").
    bike_speed_kmh, walk_speed_kmh, ferry_speed_kmh
        Travel speeds for the ``time_s`` weight.
    car_speeds_kmh
        Car speed per OSM ``highway`` class where no ``maxspeed`` is tagged.
    study_area
        Province names (``"Zuid-Holland"``) and/or gemeentecodes (``"GM0599"``);
        empty = every gemeente in the gemeenten file.
    study_buffer_m
        Libraries and roads are taken from this far (m) around the study area, so
        the nearest library across its border counts. Default 20 km.
    dask_scheduler
        Address of a Dask scheduler (``tcp://host:8786``) for the closure ranking;
        ``None`` starts a local cluster.
    site_suggestions
        How many suggested sites for a new full-service branch the dossier gives per
        flagged gemeente (maximal covering, see :func:`bereikbaar.suggest_sites`);
        0 switches the suggestions off (faster national runs).
    site_suggestions_max_gemeenten
        Suggestions are computed for at most this many flagged gemeenten, those with
        the most residents beyond the threshold first; ``None`` (default): every
        flagged gemeente (the national synthetic case flags 186; their suggestions
        took 37 s, ``benchmarks/bench_sites.py``).
    geocoder
        How branches without coordinates get a location: ``"none"`` (reported as
        needing geocoding), ``"pdok"`` (online, PDOK Locatieserver at ``pdok_url``,
        cached in ``cache_dir`` or the output folder) or ``"table"`` (offline, from
        ``inputs.address_table``).
    pdok_url
        Base URL of the PDOK Locatieserver used for geocoding branch addresses.
    cache_dir
        Folder where built road networks are cached (keyed by the network file's
        SHA-256, the mode, the speeds and the package version); ``None``: no cache.
    network_extent
        The box the road network file holds, ``[min_lon, min_lat, max_lon, max_lat]``
        (WGS84), when the file does not declare it in its header (``osmium extract
        -b`` boxes usually do); empty: the header's box, else the roads' own extent.
        Origins outside the network's coverage are not snapped ("buiten het wegennet").
    coverage_buffer_m
        How far (m) the network's coverage reaches beyond its roads (raster of 500 m
        cells, see :mod:`bereikbaar.engine.coverage`). Default 1 km.
    min_share_covered
        An area (gemeente, wijk, buurt) of which a smaller share of the residents lies
        inside the network's coverage gets the verdict "onvolledig" instead of "te
        groot"/"niet te groot", and is left out of the comparison with CBS. Default 0.95.
    km_classes
        Upper bounds (km, increasing) of the distance classes of the map and the dossier
        (one scheme, one colour ramp); the rule's ``threshold_km`` is added as a bound.
        Default 1, 2, 3, 5, 10, 15 km.
    peiljaar
        Reference year of the CBS grid, shown in the titles; ``None``: taken from a year
        (``2023``) in the grid's file name, else not shown.
    site_min_residents
        A suggested site is listed in the dossier only when it brings at least this many
        residents within the threshold (default 250).
    rapport_pdf
        Also print the dossier as ``rapport.pdf`` with headless Chromium when it is
        installed (default ``True``; a few seconds per run).
    """

    inputs: Inputs = field(default_factory=Inputs)
    out_dir: Path = Path("data/processed/run")
    mode: str = "car"
    full_service_types: tuple[str, ...] = ("vestiging",)
    flag_rule: FlagRule = field(default_factory=FlagRule)
    max_snap_m: float = 1000.0
    bike_speed_kmh: float = 15.0
    walk_speed_kmh: float = 5.0
    ferry_speed_kmh: float = 10.0
    car_speeds_kmh: Mapping[str, float] = field(default_factory=lambda: CAR_SPEEDS_KMH)
    study_area: tuple[str, ...] = ()
    study_buffer_m: float = 20_000.0
    dask_scheduler: str | None = None
    site_suggestions: int = 3
    site_suggestions_max_gemeenten: int | None = None
    geocoder: str = "none"
    pdok_url: str = "https://api.pdok.nl/bzk/locatieserver/search/v3_1"
    cache_dir: Path | None = None
    network_extent: tuple[float, ...] = ()
    coverage_buffer_m: float = 1000.0
    min_share_covered: float = 0.95
    km_classes: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
    peiljaar: int | None = None
    site_min_residents: int = 250
    rapport_pdf: bool = True

    def __post_init__(self) -> None:
        bounds = self.km_classes
        if (
            not bounds
            or any(not _positive_finite(b) for b in bounds)
            or list(bounds) != sorted(set(bounds))
        ):
            msg = f"km_classes must be increasing positive km values, got {bounds!r}"
            raise ConfigError(msg)
        if self.peiljaar is not None and not (
            isinstance(self.peiljaar, int) and 1900 <= self.peiljaar <= 2100
        ):
            msg = f"peiljaar must be a year such as 2024, got {self.peiljaar!r}"
            raise ConfigError(msg)
        if isinstance(self.site_min_residents, bool) or not (
            isinstance(self.site_min_residents, int) and self.site_min_residents >= 0
        ):
            msg = f"site_min_residents must be a whole number >= 0, got {self.site_min_residents!r}"
            raise ConfigError(msg)
        if not isinstance(self.rapport_pdf, bool):
            msg = f"rapport_pdf must be true or false, got {self.rapport_pdf!r}"
            raise ConfigError(msg)
        if isinstance(self.site_suggestions, bool) or not (
            isinstance(self.site_suggestions, int) and 0 <= self.site_suggestions <= 20
        ):
            msg = f"site_suggestions must be a whole number 0-20, got {self.site_suggestions!r}"
            raise ConfigError(msg)
        cap = self.site_suggestions_max_gemeenten
        if cap is not None and (isinstance(cap, bool) or not (isinstance(cap, int) and cap >= 0)):
            msg = (
                "site_suggestions_max_gemeenten must be a whole number >= 0 (or absent: all), got "
                f"{self.site_suggestions_max_gemeenten!r}"
            )
            raise ConfigError(msg)
        if self.geocoder not in ("none", "pdok", "table"):
            msg = f"geocoder must be one of 'none', 'pdok', 'table', got {self.geocoder!r}"
            raise ConfigError(msg)
        if self.geocoder == "table" and self.inputs.address_table is None:
            msg = "geocoder = 'table' needs inputs.address_table (an address → point table)"
            raise ConfigError(msg)
        if self.mode not in MODES:
            msg = f"mode must be one of {', '.join(map(repr, MODES))}, got {self.mode!r}"
            raise ConfigError(msg)
        for name in ("max_snap_m", "bike_speed_kmh", "walk_speed_kmh", "ferry_speed_kmh"):
            if not _positive_finite(getattr(self, name)):
                msg = f"{name} must be a positive, finite number, got {getattr(self, name)!r}"
                raise ConfigError(msg)
        if not (
            isinstance(self.min_share_covered, int | float)
            and not isinstance(self.min_share_covered, bool)
            and 0 <= self.min_share_covered <= 1
        ):
            msg = (
                "min_share_covered must be a share between 0 and 1 (e.g. 0.95), got "
                f"{self.min_share_covered!r}"
            )
            raise ConfigError(msg)
        if not (self.coverage_buffer_m >= 0 and math.isfinite(self.coverage_buffer_m)):
            msg = (
                "coverage_buffer_m must be a finite number >= 0 (m), got "
                f"{self.coverage_buffer_m!r}"
            )
            raise ConfigError(msg)
        box = self.network_extent
        if box and not (
            len(box) == 4
            and all(isinstance(v, int | float) and math.isfinite(v) for v in box)
            and -180 <= box[0] < box[2] <= 180
            and -90 <= box[1] < box[3] <= 90
        ):
            msg = (
                "network_extent must be [min_lon, min_lat, max_lon, max_lat] in degrees"
                f" (WGS84, min < max), got {list(box)!r}"
            )
            raise ConfigError(msg)
        if not (self.study_buffer_m >= 0 and math.isfinite(self.study_buffer_m)):
            msg = f"study_buffer_m must be a finite number >= 0 (m), got {self.study_buffer_m!r}"
            raise ConfigError(msg)
        for highway, speed in self.car_speeds_kmh.items():
            _require_known(
                highway,
                CAR_SPEEDS_KMH,
                "car_speeds_kmh: unknown road class",
                "expected OSM highway classes",
            )
            if not _positive_finite(speed):
                msg = (
                    f"car_speeds_kmh.{highway} must be a positive, finite speed (km/h),"
                    f" got {speed!r}"
                )
                raise ConfigError(msg)
        if not self.full_service_types:
            msg = "full_service_types must name at least one branch type (e.g. ['vestiging'])"
            raise ConfigError(msg)
        for kind in self.full_service_types:
            _require_known(
                kind, BRANCH_TYPES, "full_service_types: unknown branch type", "expected any of"
            )

    @classmethod
    def from_toml(cls, path: str | Path) -> Settings:
        """Read settings from a TOML file.

        Relative paths in ``[inputs]`` and ``out_dir`` are resolved against the
        folder of the TOML file.

        Parameters
        ----------
        path
            The TOML file.

        Returns
        -------
        Settings
            Validated settings.

        Raises
        ------
        ConfigError
            Unreadable TOML, unknown keys, wrong types, or input files that do not exist.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            msg = f"file '{path}': config file not found"
            raise ConfigError(msg) from err
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            msg = f"file '{path}': not valid TOML ({err})"
            raise ConfigError(msg) from err
        settings: Settings = cls.from_dict(data, source=path, base=path.parent)
        return settings

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: object = "<dict>", base: Path | None = None
    ) -> Settings:
        """Build settings from a mapping shaped like the TOML file.

        Parameters
        ----------
        data
            Keys as in the TOML file (``inputs`` and ``flag_rule`` are tables).
        source
            Named in error messages.
        base
            Folder that relative paths are resolved against (default: current folder).

        Returns
        -------
        Settings
            Validated settings.
        """
        settings: Settings = _build(cls, data, source, base or Path.cwd(), "")
        for name, p in settings.inputs.paths().items():
            if p is not None and not Path(p).exists():
                msg = f"file '{source}': inputs.{name} points to '{p}', which does not exist"
                raise ConfigError(msg)
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable representation (for ``run.json``)."""
        return _to_plain(self)  # type: ignore[no-any-return]


def _positive_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


def _require_known(
    value: str, choices: typing.Collection[str], unknown: str, expected: str
) -> None:
    """ConfigError ``<unknown> 'x' (did you mean 'y'?) (<expected>: a, b, …)`` if not a choice."""
    if value in choices:
        return
    close = difflib.get_close_matches(str(value).lower(), list(choices), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    msg = f"{unknown} {value!r}{hint} ({expected}: {', '.join(choices)})"
    raise ConfigError(msg)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj


def _build(cls: type[Any], data: Mapping[str, Any], source: object, base: Path, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        msg = f"file '{source}': '{prefix.rstrip('.') or 'settings'}' must be a table"
        raise ConfigError(msg)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        msg = (
            f"file '{source}': unknown key '{prefix}{unknown[0]}'"
            f" (expected one of: {', '.join(sorted(names))})"
        )
        raise ConfigError(msg)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kwargs[key] = _convert(hints[key], value, source, base, f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        msg = f"file '{source}': {err}"
        raise ConfigError(msg) from err


def _convert(hint: Any, value: Any, source: object, base: Path, key: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"file '{source}': key '{key}' must be {expected}, got {value!r}")

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, base, f"{key}.")  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return _convert(inner, value, source, base, key)
    if hint is Path:
        if not isinstance(value, str):
            raise bad("a path string")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if origin is tuple and args and args[0] is float:
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise bad("a list of numbers")
        return tuple(float(v) for v in value)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise bad("a table of numbers")
        return types.MappingProxyType({str(k): float(v) for k, v in value.items()})
    raise bad(str(hint))  # pragma: no cover
