"""The bad-input catalogue: every way a user's file can be wrong, one case per row.

Each case builds one broken input next to the (good) demo inputs and asserts three things:

1. the loader (or ``Settings.from_toml`` / ``pipeline.run``) raises the expected
   :class:`~bereikbaar.exceptions.BereikbaarError` subclass, with a message that names the
   file and, where there is one, the 1-based data row and the column;
2. ``bereikbaar run`` on a config with that one input replaced exits with code 2 and prints
   exactly one line on stderr (captured at the file-descriptor level, so GDAL's own C-level
   messages would count too), and no traceback;
3. (separately, for a few cases) ``--debug`` shows the traceback.

The good inputs are the demo region (:func:`bereikbaar.demo.write_demo_inputs`), generated
once per module; the cell grid is cut to 300 cells to keep each CLI run short.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
from shapely.geometry import Polygon

from bereikbaar import pipeline
from bereikbaar.accessibility import nearest_library
from bereikbaar.aggregate import assign_gemeenten
from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import (
    BereikbaarError,
    BereikbaarWarning,
    ConfigError,
    InputError,
    NetworkError,
    OutputError,
)
from bereikbaar.schema import REACHABLE
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.osm import load_network


@dataclass(frozen=True)
class Good:
    """The good inputs every case starts from."""

    demo: DemoInputs
    cells: Path  # 300-cell cut of the demo grid (GeoPackage)
    libraries_text: str


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[Path], DemoInputs]) -> Good:
    folder = tmp_path_factory.mktemp("demo")
    demo = demo_copy(folder)
    cells = gpd.read_file(demo.cells)
    # the cells of Bibliostad's centre and the island: both reach the rest of the run
    keep = cells.iloc[np.r_[0:150, len(cells) - 150 : len(cells)]]
    small = folder / "cells_small.gpkg"
    keep.to_file(small, driver="GPKG", layer="vierkant_100m_2024")
    return Good(demo, small, demo.libraries.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- builders
Maker = Callable[[Good, Path], Path]


def _text(name: str, text: str, encoding: str = "utf-8") -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        path = tmp / name
        path.write_text(text, encoding=encoding)
        return path

    return make


def _libs(edit: Callable[[list[list[str]]], None], name: str = "bibliotheken.csv") -> Maker:
    """The demo branch list with ``edit`` applied to its rows (header = row 0)."""

    def make(good: Good, tmp: Path) -> Path:
        rows = [line.split(";") for line in good.libraries_text.splitlines()]
        edit(rows)
        path = tmp / name
        path.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
        return path

    return make


def _set(row: int, column: str, value: str) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        rows[row][rows[0].index(column)] = value

    return edit


def _swap_latlon(row: int) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        i, j = rows[0].index("lat"), rows[0].index("lon")
        rows[row][i], rows[row][j] = rows[row][j], rows[row][i]

    return edit


def _drop_column(column: str) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        j = rows[0].index(column)
        for r in rows:
            del r[j]

    return edit


def _with_ids(*ids: str) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        rows[0].insert(0, "id")
        for n, r in enumerate(rows[1:]):
            r.insert(0, ids[n] if n < len(ids) else f"B{n:03d}")

    return edit


def _all_types(value: str) -> Callable[[list[list[str]]], None]:
    def edit(rows: list[list[str]]) -> None:
        j = rows[0].index("type")
        for r in rows[1:]:
            r[j] = value

    return edit


def _copy_of(source: Callable[[Good], Path], name: str) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        return Path(shutil.copyfile(source(good), tmp / name))

    return make


def _truncated(source: Callable[[Good], Path], name: str, share: float = 0.5) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        data = source(good).read_bytes()
        path = tmp / name
        path.write_bytes(data[: int(len(data) * share)])
        return path

    return make


def _cells_csv(lines: list[str], name: str = "vierkant.csv") -> Maker:
    return _text(name, "\n".join(lines) + "\n")


def _cells_edit(edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        path = tmp / "vierkant.gpkg"
        edit(gpd.read_file(good.cells)).to_file(path, driver="GPKG")
        return path

    return make


def _gem_edit(
    edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], name: str = "gem.gpkg"
) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        path = tmp / name
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
            edit(gpd.read_file(good.demo.gemeenten)).to_file(path, driver="GPKG")
        return path

    return make


def _gem_overlap(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A sixth gemeente whose polygon is Middeldorp's, shifted 200 m (row 7)."""
    extra = gdf[gdf["gemeentecode"] == "GM9003"].copy()
    extra["gemeentecode"] = "GM9006"
    extra["gemeentenaam"] = "Dubbeldorp"
    extra = extra.set_geometry(extra.geometry.translate(200.0, 0.0))
    return gpd.GeoDataFrame(pd.concat([gdf, extra], ignore_index=True), crs=gdf.crs)


def _gem_collapsed(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 2's polygon collapses to a line (zero area): invalid, nothing to repair."""
    x0, y0 = 190_000.0, 550_000.0
    flat = Polygon([(x0, y0), (x0 + 1000.0, y0), (x0 + 2000.0, y0), (x0, y0)])
    geoms = gdf.geometry.to_numpy().copy()
    geoms[1] = flat
    return gdf.set_geometry(gpd.GeoSeries(geoms, crs=gdf.crs))


def _no_crs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same polygons with the CRS removed (written without one)."""
    return gdf.set_crs(None, allow_override=True)


def _gem_no_crs(good: Good, tmp: Path) -> Path:
    gdf = gpd.read_file(good.demo.gemeenten)
    path = tmp / "gem.geojson"
    frame = gdf.drop(columns="geometry").astype(str)
    features = [
        {"type": "Feature", "properties": dict(props), "geometry": geom.__geo_interface__}
        for props, geom in zip(frame.to_dict("records"), gdf.geometry, strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _osm_xml(ways: list[tuple[str, list[tuple[float, float]]]]) -> str:
    """A tiny OSM XML file: (highway, [(lon, lat), ...]) per way."""
    nodes, way_xml = [], []
    nid = 1
    for wid, (highway, coords) in enumerate(ways, start=1):
        refs = []
        for lon, lat in coords:
            nodes.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
            refs.append(f'<nd ref="{nid}"/>')
            nid += 1
        way_xml.append(
            f'<way id="{wid}" version="1">{"".join(refs)}<tag k="highway" v="{highway}"/></way>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        + "\n".join(nodes + way_xml)
        + "\n</osm>\n"
    )


def _config(
    good: Good, tmp: Path, *, extra: str = "", drop: str | None = None, **replace: Path
) -> Path:
    """A run config on the good inputs with some replaced (absolute paths)."""
    paths = {
        "network": good.demo.network,
        "cells": good.cells,
        "libraries": good.demo.libraries,
        "gemeenten": good.demo.gemeenten,
        **replace,
    }
    mode = "" if "mode =" in extra else 'mode = "car"'
    lines = [f'out_dir = "{(tmp / "out").as_posix()}"', mode, extra, "[inputs]"]
    lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in paths.items() if k != drop]
    path = tmp / "run.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cfg(extra: str = "", inputs_extra: str = "", drop: str | None = None, **rep: str) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        replace = {k: tmp / v for k, v in rep.items()}
        path = _config(good, tmp, extra=extra, drop=drop, **replace)
        if inputs_extra:
            path.write_text(path.read_text() + inputs_extra + "\n", encoding="utf-8")
        return path

    return make


def _raw_cfg(text: str) -> Maker:
    return _text("run.toml", text)


def _out_under_file(good: Good, tmp: Path) -> Path:
    (tmp / "a_file").write_text("not a folder")
    path = _config(good, tmp)
    text = path.read_text().replace(
        f'out_dir = "{(tmp / "out").as_posix()}"',
        f'out_dir = "{(tmp / "a_file" / "sub").as_posix()}"',
    )
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Case:
    """One bad input.

    ``target`` is the input replaced (``libraries``, ``cells``, ``gemeenten``, ``network``),
    or ``config`` (the TOML itself is bad) or ``run`` (the TOML is fine, the run must fail).
    ``named`` is the text that must appear as the file in the message (default: the name of
    the file ``make`` returns).
    """

    id: str
    target: str
    make: Maker
    exc: type[BereikbaarError]
    row: int | None = None
    line: int | None = None  # a CSV's physical line (header and blank lines counted)
    column: str | None = None
    contains: tuple[str, ...] = ()
    named: str | None = None
    mode: str = "car"


_P = "Bibliotheek Bibliostad"  # row 1 of the demo list: a hoofdvestiging

CASES: list[Case] = [
    # ---- branch list (CSV/XLSX)
    Case("lib-empty-file", "libraries", _text("b.csv", ""), InputError, contains=("empty",)),
    Case("lib-blank-lines-only", "libraries", _text("b.csv", "\n \n\t\n"), InputError),
    Case(
        "lib-header-only",
        "libraries",
        _text("b.csv", "naam;type;lat;lon\n"),
        InputError,
        contains=("no data rows",),
    ),
    Case(
        "lib-wrong-separator",
        "libraries",
        lambda g, t: _text("b.csv", g.libraries_text.replace(";", "|"))(g, t),
        InputError,
        column="name",
        contains=("required column missing",),
    ),
    Case(
        "lib-utf16-without-bom",
        "libraries",
        lambda g, t: _text("b.csv", g.libraries_text, encoding="utf-16-le")(g, t),
        InputError,
        contains=("NUL byte", "UTF-16"),
    ),
    Case(
        "lib-pbf-named-csv",
        "libraries",
        _copy_of(lambda g: g.demo.network, "bibliotheken.csv"),
        InputError,
        contains=("not a text CSV",),
    ),
    Case(
        "lib-csv-named-xlsx",
        "libraries",
        _copy_of(lambda g: g.demo.libraries, "bibliotheken.xlsx"),
        InputError,
        contains=("XLSX",),
    ),
    Case(
        "lib-unquoted-separator-in-value",
        "libraries",
        _libs(_set(3, "naam", "Bibliotheek Linde; dependance")),
        InputError,
        line=4,
        contains=("more fields than the header",),
    ),
    Case(
        "lib-missing-type-column",
        "libraries",
        _libs(_drop_column("type")),
        InputError,
        column="branch_type",
        contains=("required column missing",),
    ),
    Case(
        "lib-duplicate-id",
        "libraries",
        _libs(_with_ids("B1", "B2", "B1")),
        InputError,
        line=4,
        column="id",
        contains=("duplicate id 'B1'", "also on line 2"),
    ),
    Case(
        "lib-lat-lon-swapped",
        "libraries",
        _libs(_swap_latlon(2)),
        InputError,
        line=3,
        column="lat",
        contains=("swapped",),
    ),
    Case(
        "lib-rd-xy-in-lat-lon",
        "libraries",
        _libs(lambda r: (_set(4, "lat", "198500")(r), _set(4, "lon", "557000")(r))),
        InputError,
        line=5,
        column="lat",
        contains=("RD x/y",),
    ),
    Case(
        "lib-outside-netherlands",
        "libraries",
        _libs(lambda r: (_set(3, "lat", "48.8566")(r), _set(3, "lon", "2.3522")(r))),
        InputError,
        line=4,
        column="lat",
        contains=("outside the Netherlands",),
    ),
    Case(
        "lib-coordinate-not-a-number",
        "libraries",
        _libs(_set(6, "lon", "5°54'")),
        InputError,
        line=7,
        column="lon",
        contains=("not a number",),
    ),
    Case(
        "lib-half-coordinate",
        "libraries",
        _libs(_set(2, "lon", "")),
        InputError,
        line=3,
        column="lon",
        contains=("empty",),
    ),
    Case(
        "lib-unknown-type",
        "libraries",
        _libs(_set(6, "type", "Bieb")),
        InputError,
        line=7,
        column="type",
        contains=("unknown branch type 'Bieb'",),
    ),
    Case(
        "lib-empty-name",
        "libraries",
        _libs(_set(3, "naam", "")),
        InputError,
        line=4,
        column="naam",
        contains=("empty name",),
    ),
    # ---- CBS grid
    Case("cells-empty-file", "cells", _text("v.gpkg", ""), InputError, contains=("cannot read",)),
    Case(
        "cells-truncated-gpkg",
        "cells",
        _truncated(lambda g: g.cells, "v.gpkg"),
        InputError,
        contains=("cannot read",),
    ),
    Case(
        "cells-csv-named-gpkg",
        "cells",
        _text("v.gpkg", "crs28992res100m;aantal_inwoners\nE1900N5500;5\n"),
        InputError,
        contains=("cannot read",),
    ),
    Case(
        "cells-malformed-code",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;5", "E190N5501;10"]),
        InputError,
        line=3,
        column="crs28992res100m",
        contains=("E190N5501",),
    ),
    Case(
        "cells-mixed-100-and-500",
        "cells",
        _cells_csv(
            [
                "c28992r100;crs28992res500m;aantal_inwoners",
                "E1900N5500;;5",
                ";E1905N5505;10",
            ]
        ),
        InputError,
        line=3,
        column="crs28992res500m",
        contains=("mixed resolutions",),
    ),
    Case(
        "cells-100m-code-in-500m-column",
        "cells",
        _cells_csv(["crs28992res500m;aantal_inwoners", "E1900N5500;5", "E1901N5500;5"]),
        InputError,
        line=3,
        column="crs28992res500m",
        contains=("E1901N5500",),
    ),
    Case(
        "cells-negative-population",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;-99997", "E1901N5500;-3"]),
        InputError,
        line=3,
        column="aantal_inwoners",
        contains=("not a CBS suppression code",),
    ),
    Case(
        "cells-population-not-a-number",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;5", "E1901N5500;veel"]),
        InputError,
        line=3,
        column="aantal_inwoners",
        contains=("'veel' is not a number",),
    ),
    Case(
        "cells-missing-population-column",
        "cells",
        _cells_csv(["crs28992res100m;inwoners_totaal", "E1900N5500;5"]),
        InputError,
        contains=("no population column",),
    ),
    Case(
        "cells-duplicate-code",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;5", "e1900n5500 ;10"]),
        InputError,
        line=3,
        column="crs28992res100m",
        contains=("duplicate cell code",),
    ),
    Case(
        "cells-lying-crs",
        "cells",
        _cells_edit(lambda g: g.set_crs("EPSG:3857", allow_override=True)),
        InputError,
        row=1,
        column="crs28992res100m",
        contains=("lies outside cell",),
    ),
    # ---- gemeenten
    Case(
        "gem-missing-crs",
        "gemeenten",
        _gem_edit(_no_crs),
        InputError,
        contains=("no CRS",),
    ),
    Case(
        "gem-rd-geojson-without-crs",
        "gemeenten",
        _gem_no_crs,
        InputError,
        contains=("EPSG:4326", "RD New"),
    ),
    Case(
        "gem-truncated-gpkg",
        "gemeenten",
        _truncated(lambda g: g.demo.gemeenten, "gem.gpkg", 0.3),
        InputError,
        contains=("cannot read",),
    ),
    Case(
        "gem-no-features",
        "gemeenten",
        _text("gem.geojson", '{"type": "FeatureCollection", "features": []}'),
        InputError,
        contains=("no features",),
    ),
    Case(
        "gem-overlapping",
        "gemeenten",
        _gem_edit(_gem_overlap),
        InputError,
        row=7,
        column="gemeentecode",
        contains=("GM9006 overlaps GM9003",),
    ),
    Case(
        "gem-invalid-geometry",
        "gemeenten",
        _gem_edit(_gem_collapsed),
        InputError,
        row=2,
        contains=("no polygonal part",),
    ),
    Case(
        "gem-name-in-code-column",
        "gemeenten",
        _gem_edit(
            lambda g: g.assign(gemeentecode=["GM9001", "Lange Velden", *g["gemeentecode"][2:]])
        ),
        InputError,
        row=2,
        column="gemeentecode",
        contains=("'Lange Velden' is not a gemeente code",),
    ),
    Case(
        "gem-no-name-column",
        "gemeenten",
        _gem_edit(lambda g: g.drop(columns="gemeentenaam")),
        InputError,
        column="gemeentenaam",
    ),
    # ---- road network
    Case(
        "net-empty-pbf",
        "network",
        _text("wegen.osm.pbf", ""),
        InputError,
        contains=("cannot read this OSM file",),
    ),
    Case(
        "net-truncated-pbf",
        "network",
        _truncated(lambda g: g.demo.network, "wegen.osm.pbf"),
        InputError,
        contains=("cannot read this OSM file",),
    ),
    Case(
        "net-gpkg-named-pbf",
        "network",
        _copy_of(lambda g: g.demo.gemeenten, "wegen.osm.pbf"),
        InputError,
        contains=("cannot read this OSM file",),
    ),
    Case(
        "net-unknown-extension",
        "network",
        _copy_of(lambda g: g.demo.network, "wegen.txt"),
        InputError,
        contains=("unknown road network file type",),
    ),
    Case(
        "net-no-edges-for-mode",
        "network",
        _text(
            "voetpaden.osm",
            _osm_xml(
                [
                    ("footway", [(5.90, 52.99), (5.91, 52.99)]),
                    ("steps", [(5.91, 52.99), (5.91, 53.0)]),
                ]
            ),
        ),
        NetworkError,
        contains=("no usable ways for mode 'car'",),
    ),
    # ---- the TOML config
    Case(
        "cfg-not-toml",
        "config",
        _raw_cfg('mode = car\n[inputs\nnetwork = "x"\n'),
        ConfigError,
        contains=("not valid TOML",),
    ),
    Case(
        "cfg-unknown-key",
        "config",
        _cfg(extra="treshold_km = 5"),
        ConfigError,
        contains=("unknown key 'treshold_km'",),
    ),
    Case(
        "cfg-unknown-input-key",
        "config",
        _cfg(inputs_extra='wegen = "x.osm.pbf"'),
        ConfigError,
        contains=("unknown key 'inputs.wegen'",),
    ),
    Case(
        "cfg-wrong-type-number",
        "config",
        _cfg(extra='max_snap_m = "ver"'),
        ConfigError,
        contains=("'max_snap_m' must be a number",),
    ),
    Case(
        "cfg-wrong-type-table",
        "config",
        _cfg(extra="flag_rule = 5"),
        ConfigError,
        contains=("'flag_rule' must be a table",),
    ),
    Case(
        "cfg-unknown-mode",
        "config",
        _cfg(extra='mode = "boot"'),
        ConfigError,
        contains=("mode must be one of",),
    ),
    Case(
        "cfg-negative-threshold",
        "config",
        _cfg(extra="[flag_rule]\nthreshold_km = -5"),
        ConfigError,
        contains=("threshold_km must be a positive number",),
    ),
    Case(
        "cfg-missing-input-file",
        "config",
        _cfg(network="bestaat_niet.osm.pbf"),
        ConfigError,
        contains=("inputs.network", "bestaat_niet.osm.pbf", "does not exist"),
    ),
    Case(
        "cfg-input-not-set",
        "config",
        _cfg(drop="gemeenten"),
        ConfigError,
        contains=("gemeenten is not set",),
    ),
    # ---- the run as a whole
    Case(
        "run-no-full-service-branch",
        "run",
        lambda g, t: _config(g, t, libraries=_libs(_all_types("Servicepunt"))(g, t)),
        InputError,
        named="bibliotheken.csv",
        contains=("no full-service branch",),
    ),
    Case(
        "run-branches-outside-study-area",
        "run",
        lambda g, t: _config(
            g,
            t,
            extra="study_area = ['GM9004']\nstudy_buffer_m = 0.0",
            libraries=_libs(lambda rows: None)(g, t),
        ),
        InputError,
        named="bibliotheken.csv",
        contains=("no full-service branch", "study area"),
    ),
    Case(
        "run-out-dir-under-a-file",
        "run",
        _out_under_file,
        OutputError,
        named="a_file/sub",
        contains=("kan de uitvoermap", "niet maken"),
    ),
]


def _call(case: Case, path: Path) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        if case.target == "libraries":
            return load_libraries(path)
        if case.target == "cells":
            return load_cbs_grid(path)
        if case.target == "gemeenten":
            return load_gemeenten(path)
        if case.target == "network":
            return load_network(path, mode=case.mode)
        settings = Settings.from_toml(path)
        if case.target == "config":
            for name in ("network", "cells", "libraries", "gemeenten"):
                if getattr(settings.inputs, name) is None:  # what the CLI checks
                    raise ConfigError(f"file '{path}': [inputs] {name} is not set")
            return settings
        return pipeline.run(settings)


def _check_message(case: Case, text: str, named: str) -> None:
    assert named in text, f"file {named!r} not named in: {text}"
    if case.row is not None:
        assert f"row {case.row}" in text, text
    if case.line is not None:
        assert f"line {case.line}" in text, text
    if case.column is not None:
        assert f"column '{case.column}'" in text, text
    for part in case.contains:
        assert part in text, f"{part!r} not in: {text}"


def test_catalogue_is_large_and_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case, good: Good, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = case.make(good, tmp_path)
    named = case.named or bad.name

    # 1. the API raises the documented error, naming file, row and column
    with pytest.raises(case.exc) as info:
        _call(case, bad)
    assert isinstance(info.value, BereikbaarError)
    _check_message(case, str(info.value), named)

    # 2. the CLI: exit 2, one line on stderr, no traceback
    config = (
        bad if case.target in ("config", "run") else _config(good, tmp_path, **{case.target: bad})
    )
    capfd.readouterr()
    code = main(["-q", "run", str(config)])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("fout: ") and "Traceback" not in err
    _check_message(case, lines[0], named)
    assert out == ""
    assert not (tmp_path / "out" / "gemeenten.csv").exists()  # nothing half-written


_DEBUG_CASES = [
    c for c in CASES if c.id in ("lib-duplicate-id", "cells-negative-population", "cfg-unknown-key")
]


@pytest.mark.parametrize("case", _DEBUG_CASES, ids=[c.id for c in _DEBUG_CASES])
def test_debug_shows_the_traceback(case: Case, good: Good, tmp_path: Path) -> None:
    bad = case.make(good, tmp_path)
    config = (
        bad if case.target in ("config", "run") else _config(good, tmp_path, **{case.target: bad})
    )
    with pytest.raises(case.exc) as info:
        main(["-q", "--debug", "run", str(config)])
    assert info.traceback and len(info.traceback) > 1  # the real traceback, not a summary


def test_error_line_is_last_even_with_progress_bar(
    good: Good, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = _libs(_with_ids("B1", "B1"))(good, tmp_path)
    assert main(["run", str(_config(good, tmp_path, libraries=bad))]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("fout: ") and "line 3" in last and "column 'id'" in last


def test_suppression_codes_are_accepted(tmp_path: Path) -> None:
    """-99997 and -99995 are CBS suppression codes (→ NaN, counted), not errors."""
    path = tmp_path / "v.csv"
    path.write_text(
        "crs28992res100m;aantal_inwoners\nE1900N5500;-99997\nE1901N5500;-99995\nE1902N5500;0\n"
    )
    with pytest.warns(BereikbaarWarning, match="2 of 3 cells"):
        cells = load_cbs_grid(path)
    assert cells["population"].isna().tolist() == [True, True, False]


def test_utf16_with_bom_from_excel_is_read(good: Good, tmp_path: Path) -> None:
    """Excel's "Unicode text" (UTF-16 with BOM, tab-separated) is a good file, not a bad one."""
    path = tmp_path / "b.txt"
    path.write_text(good.libraries_text.replace(";", "\t"), encoding="utf-16")
    with pytest.warns(BereikbaarWarning, match="need geocoding"):
        libs = load_libraries(path)
    assert libs["name"].iloc[0] == _P and len(libs) == good.libraries_text.count("\n") - 1


def test_real_boundaries_do_not_count_as_overlapping(shared_data: Path) -> None:
    """CBS's own generalised polygons overlap neighbours by up to ~2.5 %: accepted."""
    with pytest.warns(BereikbaarWarning, match="repaired with shapely.make_valid"):
        gem = load_gemeenten(shared_data / "gemeenten-2025" / "gemeente_2025.geojson")
    assert len(gem) == 342


def test_island_without_ferry_is_reported_not_faked(good: Good, tmp_path: Path) -> None:
    """No ferry: the island's residents are unreachable (NaN, warned), never a fake distance.

    Not an error: the rest of the region is still measured, and the island counts as
    beyond the threshold in the aggregation.
    """
    no_ferry = tmp_path / "zonder_veer.osm.pbf"
    with osmium.SimpleWriter(str(no_ferry)) as writer:
        for obj in osmium.FileProcessor(str(good.demo.network)):
            if obj.is_way() and obj.tags.get("route") == "ferry":
                continue
            writer.add(obj)
    with_ferry = load_network(good.demo.network)
    network = load_network(no_ferry)
    assert int(network.ferry.sum()) == 0 < int(with_ferry.ferry.sum())
    cells = load_cbs_grid(good.cells)
    gem = load_gemeenten(good.demo.gemeenten)
    with pytest.warns(BereikbaarWarning, match="need geocoding"):
        libs = load_libraries(good.demo.libraries)

    code = assign_gemeenten(cells, gem)
    island = np.asarray(code == "GM9004")
    assert island.any() and not island.all()
    max_snap_m = Settings().max_snap_m  # what a run uses; never snap across the lake
    with pytest.warns(BereikbaarWarning, match="cannot reach a library"):
        result = nearest_library(network, cells, libs, max_snap_m=max_snap_m)
    assert not result[REACHABLE].to_numpy()[island].any()
    assert result["distance_m"].to_numpy()[island].tolist() == pytest.approx(
        [np.nan] * int(island.sum()), nan_ok=True
    )
    assert result[REACHABLE].to_numpy()[~island].all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        ferry = nearest_library(with_ferry, cells, libs, max_snap_m=max_snap_m)
    assert ferry[REACHABLE].to_numpy()[island].all()
