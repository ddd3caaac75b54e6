"""Red-team catalogue, geometric inputs (issue 11, class 2 "silent wrong numbers" and class 4).

Each case is a mutated copy of a good input: the demo region
(:func:`bereikbaar.examples.demo.write_demo_inputs`) or real public data in ``../shared/data``
(CBS gemeenten 2024 and 2025, NWB wegvakken of Wageningen). Before these checks each of
them was accepted (exit 0 with wrong numbers: 0 residents everywhere, residents dropped,
distances off by hundreds of metres), ended in an internal error, or named the wrong cause.
Now each must:

1. raise the documented :class:`~bereikbaar.exceptions.BereikbaarError` from the loader
   (or ``pipeline.run`` when the problem is between inputs), naming the file and, where
   there is one, the row and the column;
2. make ``bereikbaar run`` exit 2 with exactly one line on stderr, no traceback, and write
   none of the tables.

A few cases are survivable and must not be silent: they run (exit 0) and their warning is
in ``run.json``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings

from bereikbaar import pipeline
from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import (
    BereikbaarError,
    BereikbaarWarning,
    ConfigError,
    InputError,
    NetworkError,
)
from bereikbaar.settings import Settings
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.nwb import load_nwb, read_wegvakken

NWB = Path("nwb-wageningen") / "nwb_wegvakken_wageningen_2020.gml"
GEM_2025 = Path("gemeenten-2025") / "gemeente_2025.geojson"
KWB_2024 = Path("cbs-kwb-2024") / "gemeente_2024.geojson"


@dataclass(frozen=True)
class Good:
    """The good demo inputs every case starts from, and the real data folder (or None)."""

    demo: DemoInputs
    cells: Path  # 300-cell cut of the demo grid
    data: Path | None


@pytest.fixture(scope="module")
def good(demo_inputs: DemoInputs, tmp_path_factory: pytest.TempPathFactory) -> Good:
    cells = gpd.read_file(demo_inputs.cells)
    keep = cells.iloc[np.r_[0:150, len(cells) - 150 : len(cells)]]
    small = tmp_path_factory.mktemp("demo-cut") / "cells_small.gpkg"
    keep.to_file(small, driver="GPKG", layer="vierkant_100m_2024")
    return Good(demo_inputs, small, None)


Maker = Callable[[Good, Path], Path]


def _write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        gdf.to_file(path, driver="GPKG")
    return path


def _gem(edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], name: str = "gem.gpkg") -> Maker:
    """The demo gemeenten (rows 1..6: GM9001, GM9002, GM9003, GM9004 land and water, GM9005)."""

    def make(good: Good, tmp: Path) -> Path:
        return _write(edit(gpd.read_file(good.demo.gemeenten)), tmp / name)

    return make


def _set_geom(gdf: gpd.GeoDataFrame, i: int, geom: object) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.to_numpy().copy()
    geoms[i] = geom
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def _interior_points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 2 (Lange Velden) as a MultiPoint of points inside its polygon."""
    poly = gdf.geometry.iloc[1]
    inner = poly.buffer(-500.0)
    pts = [p for p in shapely.get_parts(shapely.points(shapely.get_coordinates(inner)))]
    return _set_geom(gdf, 1, shapely.MultiPoint(pts[:30]))


def _outline(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 3 (Middeldorp) as the LineString of its outline."""
    poly = shapely.get_parts(gdf.geometry.iloc[2])[0]
    return _set_geom(gdf, 2, shapely.LineString(poly.exterior.coords))


def _nan_vertex(gdf: gpd.GeoDataFrame, i: int = 2) -> gpd.GeoDataFrame:
    coords = shapely.get_coordinates(gdf.geometry.iloc[i])
    coords[1] = np.nan
    return _set_geom(gdf, i, shapely.set_coordinates(gdf.geometry.iloc[i], coords))


def _every_problem(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Three broken rows at once: a MultiPoint (row 2), a NaN vertex (row 3), a bad code (6)."""
    out = _nan_vertex(_interior_points(gdf))
    out.loc[5, "gemeentecode"] = "Westerhoek"
    return out


def _moved(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 6 (Westerhoek) shifted 600 km east: outside the Netherlands."""
    return _set_geom(gdf, 5, shapely.affinity.translate(gdf.geometry.iloc[5], 600_000.0, 0.0))


def _swap_xy(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lon/lat written as lat/lon (x and y swapped), declared WGS84."""
    wgs = gdf.to_crs(4326)
    swapped = shapely.transform(wgs.geometry.to_numpy(), lambda c: c[:, ::-1])
    return wgs.set_geometry(gpd.GeoSeries(swapped, index=wgs.index, crs=4326))


def _real(
    rel: Path, edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], name: str
) -> Callable[[Good, Path], Path]:
    """A real gemeente file (loaded with its stats: names), edited and written as GeoPackage."""

    def make(good: Good, tmp: Path) -> Path:
        assert good.data is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BereikbaarWarning)
            gem = load_gemeenten(good.data / rel)
        return _write(edit(gem), tmp / name)

    return make


def _moved_north(code: str) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """The gemeente ``code`` shifted 150 km north (into the North Sea, beyond the extent)."""

    def edit(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        i = int(np.flatnonzero(gdf["gemeentecode"] == code)[0])
        return _set_geom(gdf, i, shapely.affinity.translate(gdf.geometry.iloc[i], 0.0, 150_000.0))

    return edit


def _same_code(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 2 gets row 1's code (its own name kept)."""
    gdf = gdf.copy()
    gdf.loc[1, "gemeentecode"] = gdf.loc[0, "gemeentecode"]
    return gdf


def _cells_coded(edit: Callable[[gpd.GeoDataFrame, gpd.GeoDataFrame], None]) -> Maker:
    """The full demo grid with a ``gemeentecode`` column (by location), then ``edit``."""

    def make(good: Good, tmp: Path) -> Path:
        cells = gpd.read_file(good.demo.cells)
        gem = gpd.read_file(good.demo.gemeenten)
        gem = gem[gem["water"] == "NEE"]
        hit = gpd.sjoin(
            gpd.GeoDataFrame(geometry=cells.centroid, crs=cells.crs), gem, predicate="within"
        )
        cells["gemeentecode"] = hit["gemeentecode"].groupby(level=0).first().reindex(cells.index)
        edit(cells, gem)
        return _write(cells, tmp / "vierkant_met_code.gpkg")

    return make


def _stale_code(cells: gpd.GeoDataFrame, gem: gpd.GeoDataFrame) -> None:
    cells.loc[cells["gemeentecode"] == "GM9002", "gemeentecode"] = "GM9012"


def _cells_csv(lines: list[str]) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        path = tmp / "vierkant.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


def _nwb(
    edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], name: str = "wegvakken.gpkg"
) -> Maker:
    """The real NWB wegvakken of Wageningen (247 rows), edited and written as GeoPackage."""

    def make(good: Good, tmp: Path) -> Path:
        assert good.data is not None
        frame = read_wegvakken(good.data / NWB).drop(columns=["lowercorner", "uppercorner"])
        return _write(edit(frame), tmp / name)

    return make


SWAPPED_ROWS = list(range(0, 40, 4))  # 0-based rows whose junction ids are swapped


def _swap_junctions(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    beg = frame.loc[SWAPPED_ROWS, "jte_id_beg"].to_numpy()
    frame.loc[SWAPPED_ROWS, "jte_id_beg"] = frame.loc[SWAPPED_ROWS, "jte_id_end"].to_numpy()
    frame.loc[SWAPPED_ROWS, "jte_id_end"] = beg
    return frame


def _rewire(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 7's end junction id replaced by the end junction of row 200 (elsewhere in town)."""
    frame = frame.copy()
    frame.loc[6, "jte_id_end"] = frame.loc[199, "jte_id_end"]
    return frame


def _nan_vertex_nwb(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 4's second vertex becomes NaN."""
    return _nan_vertex(frame, 3)


def _lonlat_without_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(4326).set_crs(None, allow_override=True)


def _libraries_in_amsterdam(good: Good, tmp: Path) -> Path:
    """The demo branch list with every coordinate moved to Amsterdam (lat 52.37, lon 4.89)."""
    rows = [line.split(";") for line in good.demo.libraries.read_text("utf-8").splitlines()]
    lat, lon = rows[0].index("lat"), rows[0].index("lon")
    for n, row in enumerate(rows[1:]):
        if row[lat].strip():
            row[lat], row[lon] = f"{52.37 + n * 0.001:.6f}", f"{4.89 + n * 0.001:.6f}"
    path = tmp / "bibliotheken_amsterdam.csv"
    path.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _config(good: Good, tmp: Path, *, extra: str = "", **replace: Path) -> Path:
    paths = {
        "network": good.demo.network,
        "cells": good.cells,
        "libraries": good.demo.libraries,
        "gemeenten": good.demo.gemeenten,
        **replace,
    }
    lines = [f'out_dir = "{(tmp / "out").as_posix()}"', 'mode = "car"', extra, "[inputs]"]
    lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in paths.items()]
    path = tmp / "run.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_with(target: str, maker: Maker, extra: str = "") -> Maker:
    """A whole-run case: a config with ``target`` replaced by ``maker``'s file."""

    def make(good: Good, tmp: Path) -> Path:
        replace = {target: maker(good, tmp)} if target else {}
        return _config(good, tmp, extra=extra, **replace)

    return make


def _real_file(rel: Path) -> Maker:
    def make(good: Good, tmp: Path) -> Path:
        assert good.data is not None
        return good.data / rel

    return make


@dataclass(frozen=True)
class Case:
    """One mutated input.

    ``target``: the loader that must refuse it (``gemeenten``, ``cells``, ``nwb``), or
    ``run`` (``make`` returns a run config; ``pipeline.run`` must refuse it). ``real``: the
    case needs ``../shared/data``. ``named``: the file name the message must contain
    (default the name of the file ``make`` returns).
    """

    id: str
    target: str
    make: Maker
    exc: type[BereikbaarError]
    row: int | None = None
    column: str | None = None
    contains: tuple[str, ...] = ()
    named: str | None = None
    real: bool = False


CASES: list[Case] = [
    # ---- CRS plausibility (gemeenten)
    Case(
        "gem-3857-declared-on-rd-metres",
        "gemeenten",
        _gem(lambda g: g.set_crs(3857, allow_override=True)),
        InputError,
        contains=("declares CRS EPSG:3857", "x 180000..220000, y 540000..570000", "EPSG:28992 (RD"),
    ),
    Case(
        "gem-lonlat-declared-as-rd",
        "gemeenten",
        _gem(lambda g: g.to_crs(4326).set_crs(28992, allow_override=True)),
        InputError,
        contains=("declares CRS EPSG:28992", "fit EPSG:4326 (WGS84 lon/lat"),
    ),
    Case(
        "gem-lat-lon-swapped",
        "gemeenten",
        _gem(_swap_xy),
        InputError,
        contains=("declares CRS EPSG:4326", "x and y swapped"),
    ),
    Case(
        "gem-one-gemeente-outside-nl",
        "gemeenten",
        _gem(_moved),
        InputError,
        row=6,
        column="gemeentecode",
        contains=("GM9005", "outside the Netherlands"),
    ),
    Case(
        "gem-missing-crs-names-the-crs-that-fits",
        "gemeenten",
        _gem(lambda g: g.set_crs(None, allow_override=True)),
        InputError,
        contains=("no CRS", "fit EPSG:28992 (RD New, metres)"),
    ),
    # ---- geometry types (gemeenten)
    Case(
        "gem-multipoint",
        "gemeenten",
        _gem(_interior_points),
        InputError,
        row=2,
        column="geometry",
        contains=("GM9002: a MultiPoint (expected a Polygon or MultiPolygon)",),
    ),
    Case(
        "gem-linestring",
        "gemeenten",
        _gem(_outline),
        InputError,
        row=3,
        column="geometry",
        contains=("GM9003: a LineString",),
    ),
    Case(
        "gem-nan-vertex",
        "gemeenten",
        _gem(_nan_vertex),
        InputError,
        row=3,
        column="geometry",
        contains=("GM9003: 1 vertex/vertices with a NaN",),
    ),
    Case(
        "gem-every-problem-at-once",
        "gemeenten",
        _gem(_every_problem),
        InputError,
        row=2,
        contains=("3 problems", "row 3, column 'geometry': GM9003", "row 6, column 'gemeentecode'"),
    ),
    # ---- codes (gemeenten)
    Case(
        "gem-same-code-two-names",
        "gemeenten",
        _gem(
            lambda g: g.assign(gemeentecode=["GM9001", "GM9002", "GM9001", *g["gemeentecode"][3:]])
        ),
        InputError,
        row=3,
        column="gemeentecode",
        contains=("GM9001 is named 'Middeldorp' here but 'Bibliostad' in row 1",),
    ),
    # ---- real gemeenten (CBS 2024 and 2025)
    Case(
        "real-gem-2025-rd-declared-3857",
        "gemeenten",
        _real(GEM_2025, lambda g: g.set_crs(3857, allow_override=True), "gem2025_3857.gpkg"),
        InputError,
        contains=("declares CRS EPSG:3857", "EPSG:28992 (RD New"),
        real=True,
    ),
    Case(
        "real-kwb-2024-lonlat-declared-rd",
        "gemeenten",
        _real(
            KWB_2024,
            lambda g: g.to_crs(4326).set_crs(28992, allow_override=True),
            "gem2024_lonlat_als_rd.gpkg",
        ),
        InputError,
        contains=("declares CRS EPSG:28992", "EPSG:4326"),
        real=True,
    ),
    Case(
        "real-gem-2025-same-code-two-names",
        "gemeenten",
        _real(GEM_2025, _same_code, "gem2025_dubbel.gpkg"),
        InputError,
        row=2,
        column="gemeentecode",
        contains=("in row 1", "cannot share a code"),
        real=True,
    ),
    Case(
        "real-gem-2025-schiermonnikoog-moved-north",
        "gemeenten",
        _real(GEM_2025, _moved_north("GM0088"), "gem2025_verschoven.gpkg"),
        InputError,
        column="gemeentecode",
        contains=("GM0088 lies outside the Netherlands",),
        real=True,
    ),
    # ---- cells
    Case(
        "cells-outside-nl",
        "cells",
        _cells_csv(["crs28992res100m;aantal_inwoners", "E1900N5500;10", "E9000N9000;25"]),
        InputError,
        row=2,
        column="crs28992res100m",
        contains=("E9000N9000", "outside the Netherlands"),
    ),
    Case(
        "cells-code-absent-from-gemeenten",
        "run",
        _run_with("cells", _cells_coded(_stale_code)),
        InputError,
        column="gemeentecode",
        named="vierkant_met_code.gpkg",
        contains=("GM9012", "8130 residents", "GM9002 (Lange Velden)", "Fix:"),
    ),
    # ---- NWB wegvakken (real, Wageningen)
    Case(
        "real-nwb-junction-ids-swapped",
        "nwb",
        _nwb(_swap_junctions),
        InputError,
        row=1,
        column="jte_id_beg",
        contains=("wegvak 348286006 begins 114 m", "of 247 wegvakken affected"),
        real=True,
    ),
    Case(
        "real-nwb-junction-id-rewired",
        "nwb",
        _nwb(_rewire),
        InputError,
        row=7,
        column="jte_id_end",
        contains=("1 of 247 wegvakken affected",),
        real=True,
    ),
    Case(
        "real-nwb-nan-vertex",
        "nwb",
        _nwb(_nan_vertex_nwb),
        InputError,
        row=4,
        column="geometry",
        contains=("a vertex with a NaN or infinite coordinate",),
        real=True,
    ),
    Case(
        "real-nwb-lonlat-without-crs",
        "run",
        _run_with("network", _nwb(_lonlat_without_crs, "wegvakken_lonlat.gpkg")),
        NetworkError,
        named="wegvakken_lonlat.gpkg",
        contains=("outside the Netherlands", "none (read as EPSG:28992)"),
        real=True,
    ),
    Case(
        "real-nwb-rd-declared-3857",
        "run",
        _run_with(
            "network",
            _nwb(lambda f: f.set_crs(3857, allow_override=True), "wegvakken_3857.gpkg"),
        ),
        NetworkError,
        named="wegvakken_3857.gpkg",
        contains=("outside the Netherlands", "declared CRS EPSG:3857"),
        real=True,
    ),
    Case(
        "real-osm-extract-of-another-country",
        "run",
        _run_with("network", _real_file(Path("osm") / "liechtenstein.osm.pbf")),
        NetworkError,
        named="liechtenstein.osm.pbf",
        contains=("outside the Netherlands", "EPSG:4326 (OSM)"),
        real=True,
    ),
    # ---- inputs that do not overlap
    Case(
        "real-nwb-network-of-another-region",
        "run",
        _run_with("network", _real_file(NWB)),
        NetworkError,
        named="nwb_wegvakken_wageningen_2020.gml",
        contains=(
            "does not overlap the cells",
            "x 172953..174687, y 442900..444828 m",
            "full-service libraries",
        ),
        real=True,
    ),
    Case(
        "real-osm-network-of-another-dutch-region",
        "run",
        _run_with("network", _real_file(Path("osm") / "amsterdam-oost-2016.osm.pbf")),
        NetworkError,
        named="amsterdam-oost-2016.osm.pbf",
        contains=("does not overlap the cells", "x 123491..124539, y 483583..484522 m"),
        real=True,
    ),
    Case(
        "libraries-of-another-region",
        "run",
        _run_with("libraries", _libraries_in_amsterdam),
        NetworkError,
        named="bibliotheken_amsterdam.csv",
        # lat 52.37.., lon 4.89.. is RD x 121138, y 487018 (pyproj); the cells are not named
        contains=("does not overlap the full-service libraries", "x 121138..121896, y 487018"),
    ),
    # ---- study area
    Case(
        "study-unknown-code",
        "run",
        _run_with("", lambda g, t: t, extra="study_area = ['GM9007']"),
        ConfigError,
        named="study_area",
        contains=("GM9007: did you mean GM9005 (Westerhoek)",),
    ),
    Case(
        "study-gemeente-name-instead-of-code",
        "run",
        _run_with("", lambda g, t: t, extra="study_area = ['Westerhoek']"),
        ConfigError,
        named="study_area",
        contains=("did you mean GM9005 (Westerhoek)?",),
    ),
    Case(
        "study-province-typo",
        "run",
        _run_with("", lambda g, t: t, extra="study_area = ['Zeelnd']"),
        ConfigError,
        named="study_area",
        contains=("did you mean Zeeland?",),
    ),
    Case(
        "real-study-area-misspelt-gemeente",
        "run",
        _run_with("gemeenten", _real_file(GEM_2025), extra="study_area = ['Rotterdm']"),
        ConfigError,
        named="study_area",
        contains=("did you mean GM0599 (Rotterdam) or",),
        real=True,
    ),
]


def _call(case: Case, path: Path) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        if case.target == "gemeenten":
            return load_gemeenten(path)
        if case.target == "cells":
            return load_cbs_grid(path)
        if case.target == "nwb":
            return load_nwb(path)
        return pipeline.run(Settings.from_toml(path))


def _check_message(case: Case, text: str, named: str) -> None:
    assert named in text, f"{named!r} not named in: {text}"
    if case.row is not None:
        assert f"row {case.row}" in text, text
    if case.column is not None:
        assert f"column '{case.column}'" in text, text
    for part in case.contains:
        assert part in text, f"{part!r} not in: {text}"


def test_catalogue_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) == 29


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_geo_input_refused(
    case: Case,
    good: Good,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if case.real:
        good = Good(good.demo, good.cells, request.getfixturevalue("shared_data"))
    bad = case.make(good, tmp_path)
    named = case.named or bad.name

    # 1. the API raises the documented error, naming file, row and column
    with pytest.raises(case.exc) as info:
        _call(case, bad)
    _check_message(case, str(info.value), named)

    # 2. the CLI: exit 2, one line on stderr, no traceback, nothing written
    if case.target == "run":
        config = bad
    else:
        target = "network" if case.target == "nwb" else case.target
        config = _config(good, tmp_path, **{target: bad})
    capfd.readouterr()
    code = main(["-q", "run", str(config)])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("fout: ") and "Traceback" not in err
    _check_message(case, lines[0], named)
    assert out == ""
    assert (
        not any((tmp_path / "out").glob("*.csv")) and not (tmp_path / "out" / "run.json").exists()
    )


# --------------------------------------------------------------------------- never silent
def _bowtie_in_row_2(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Row 2 (Lange Velden) with a small loop at its first vertex: invalid, repairable."""
    poly = shapely.get_parts(gdf.geometry.iloc[1])[0]
    ring = np.asarray(poly.exterior.coords)
    a = ring[0]
    c = np.asarray(poly.representative_point().coords[0])
    step = (c - a) / np.linalg.norm(c - a) * 50.0
    normal = np.array([-step[1], step[0]])
    loop = [a, a + step + normal, a + step - normal, a]
    twisted = shapely.Polygon(np.vstack([loop, ring[1:]]))
    assert not twisted.is_valid and abs(twisted.buffer(0).area - poly.area) < 1e4
    return _set_geom(gdf, 1, twisted)


def test_repaired_polygons_are_a_warning_in_run_json(good: Good, tmp_path: Path) -> None:
    """make_valid still repairs an invalid gemeente polygon; the run says so (with the count)."""
    gem = _gem(_bowtie_in_row_2)(good, tmp_path)
    config = _config(good, tmp_path, gemeenten=gem)
    assert main(["-q", "run", str(config)]) == 0
    messages = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["warnings"]
    repaired = [m for m in messages if "repaired with shapely.make_valid" in m]
    assert len(repaired) == 1 and "1 invalid gemeente polygon(s) (rows 2;" in repaired[0]


def test_cells_outside_every_gemeente_are_counted_in_run_json(good: Good, tmp_path: Path) -> None:
    """Cells beyond the gemeenten file's area are not aggregated; the run says how many."""
    cells = gpd.read_file(good.cells)
    far = cells.iloc[[0, 1]].copy()
    far["crs28992res100m"] = ["E1000N4000", "E1001N4000"]
    far["aantal_inwoners"] = [40, 25]
    far = far.set_geometry(
        gpd.GeoSeries(
            [
                shapely.box(100_000, 400_000, 100_100, 400_100),
                shapely.box(100_100, 400_000, 100_200, 400_100),
            ],
            index=far.index,
            crs=cells.crs,
        )
    )
    path = _write(
        gpd.GeoDataFrame(pd.concat([cells, far], ignore_index=True), crs=cells.crs),
        tmp_path / "v.gpkg",
    )
    config = _config(good, tmp_path, cells=path)
    assert main(["-q", "run", str(config)]) == 0
    messages = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["warnings"]
    assert any("2 of 302 cells (65 residents) lie outside every gemeente" in m for m in messages)


# --------------------------------------------------------------------------- properties
_RD = pyproj.Transformer.from_crs(28992, 4326, always_xy=True)
_MERC = pyproj.Transformer.from_crs(28992, 3857, always_xy=True)


@given(
    x=st.floats(20_000, 270_000),
    y=st.floats(310_000, 610_000),
    w=st.floats(100, 20_000),
    h=st.floats(100, 20_000),
)
def test_likely_crs_recovers_the_true_crs(x: float, y: float, w: float, h: float) -> None:
    """Any box in the Netherlands, written in WGS84, Web Mercator or RD, is recognised as such."""
    from bereikbaar.sources.geocheck import likely_crs

    xs, ys = np.array([x, x + w]), np.array([y, y + h])
    lon, lat = _RD.transform(xs, ys)
    mx, my = _MERC.transform(xs, ys)
    assert "EPSG:28992 (RD New, metres)" in likely_crs((x, y, x + w, y + h))
    assert "EPSG:4326 (WGS84 lon/lat, degrees)" in likely_crs((lon[0], lat[0], lon[1], lat[1]))
    assert "EPSG:3857 (Web Mercator, metres)" in likely_crs((mx[0], my[0], mx[1], my[1]))
    # lon/lat is never mistaken for RD metres, nor RD metres for lon/lat
    assert not any(g.startswith("EPSG:28992") for g in likely_crs((lon[0], lat[0], lon[1], lat[1])))
    assert not any(g.startswith("EPSG:4326") for g in likely_crs((x, y, x + w, y + h)))


@given(dx=st.floats(-2_000_000, 2_000_000), dy=st.floats(-2_000_000, 2_000_000))
def test_a_shifted_gemeente_is_accepted_exactly_inside_the_padded_extent(
    dx: float, dy: float, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Moving one square gemeente: accepted iff its box centre stays in the padded RD box."""
    from bereikbaar.sources.geocheck import EXTENT_SLACK_M, NL_EXTENT_RD, check_in_netherlands

    cx, cy = 150_000.0 + dx, 450_000.0 + dy
    xmin, ymin, xmax, ymax = NL_EXTENT_RD
    inside = (
        xmin - EXTENT_SLACK_M <= cx <= xmax + EXTENT_SLACK_M
        and ymin - EXTENT_SLACK_M <= cy <= ymax + EXTENT_SLACK_M
    )
    box = (cx - 500, cy - 500, cx + 500, cy + 500)

    def call() -> None:
        check_in_netherlands("g.gpkg", "gemeente polygons", "EPSG:28992", box, [cx], [cy])

    if inside:
        call()
    else:
        with pytest.raises(
            InputError, match=re.escape("file 'g.gpkg': the gemeente polygons do not lie")
        ):
            call()


@settings(max_examples=25)
@given(broken=st.sets(st.integers(0, 5), min_size=1), kind=st.sampled_from(["line", "point"]))
def test_every_broken_row_is_reported(
    broken: set[int],
    kind: str,
    demo_inputs: DemoInputs,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """However many gemeente rows are broken, one error lists each of them (row and code)."""
    gdf = gpd.read_file(demo_inputs.gemeenten)
    for i in broken:
        poly = shapely.get_parts(gdf.geometry.iloc[i])[0]
        geom = shapely.LineString(poly.exterior.coords) if kind == "line" else poly.centroid
        gdf = _set_geom(gdf, i, geom)
    path = _write(gdf, tmp_path_factory.mktemp("gem") / "gem.gpkg")
    with pytest.raises(InputError) as info:
        load_gemeenten(path)
    text = str(info.value)
    assert text.startswith(f"file '{path}'"), text
    if len(broken) > 1:
        assert f"{len(broken)} problems" in text
    expected = "LineString" if kind == "line" else "Point"
    for i in broken:
        code = gdf["gemeentecode"].iloc[i]
        assert (
            f"row {i + 1}, column 'geometry': {code}: a {expected}"
            " (expected a Polygon or MultiPolygon)"
        ) in text
