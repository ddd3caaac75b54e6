"""Tests for bereikbaar.maps: Dutch labels, escaping, the embedded cell raster."""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from numpy.typing import NDArray
from PIL import Image
from shapely.geometry import Point, box

from bereikbaar import maps
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output import offline, raster

RD = "EPSG:28992"
XSS_NAME = "<img src=x onerror=alert(1)>"
R_EARTH = 6378137.0


# --------------------------------------------------------------------------- fixtures


def _cells(specs: list[tuple[float, float, float, float, bool]]) -> gpd.GeoDataFrame:
    """Cells from (x_ll, y_ll, population, distance_m, reachable), 100 m squares in RD."""
    return gpd.GeoDataFrame(
        {
            "cell_id": [f"E{int(x) // 100:04d}N{int(y) // 100:04d}" for x, y, *_ in specs],
            "population": [p for _, _, p, _, _ in specs],
            "gemeentecode": "GM0001",
            "library_id": ["L1" if r else None for *_, r in specs],
            "distance_m": [d if r else np.nan for _, _, _, d, r in specs],
            "snap_m": 10.0,
            "reachable": [r for *_, r in specs],
        },
        geometry=[box(x, y, x + 100, y + 100) for x, y, *_ in specs],
        crs=RD,
    )


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    return _cells(
        [
            (149900, 449900, 25.0, 400.0, True),
            (150000, 449900, np.nan, 1500.0, True),
            (150000, 450000, 10.0, 2500.0, True),
            (150100, 450000, 5.0, 4000.0, True),
            (150200, 450000, 40.0, 6200.0, True),
            (150300, 450000, 15.0, np.nan, False),
            (150400, 450000, 0.0, 800.0, True),
        ]
    )


@pytest.fixture
def summary() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "gemeentecode": ["GM0001", "GM0002", "GM0003"],
            "gemeentenaam": ["Alfadorp", "Bètastad", "Gamma & Delta"],
            "population": [12345.0, 800.0, np.nan],
            "mean_distance_km": [0.8, 6.2, np.nan],
            "median_distance_km": [0.7, 5.9, np.nan],
            "p90_distance_km": [1.4, 8.25, np.nan],
            "population_beyond": [0.0, 500.0, np.nan],
            "share_beyond": [0.0, 0.625, np.nan],
            "full_service_libraries": [2, 0, 0],
            "te_groot": [False, True, False],
            "reasons": [
                "",
                "geen volwaardige bibliotheek in de gemeente en gemiddelde afstand 6,2 km > 3 km"
                " <script>alert(3)</script>",
                "",
            ],
        },
        geometry=[
            box(149000, 449000, 150000, 451000),
            box(150000, 449000, 151000, 451000),
            box(151000, 449000, 152000, 451000),
        ],
        crs=RD,
    )


@pytest.fixture
def libraries() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "library_id": ["L1", "L2", "L3", "L4", "L5"],
            "name": [
                "Bibliotheek Alfadorp",
                XSS_NAME,
                "Servicepunt Bèta",
                "Nog te geocoderen",
                "Leeg",
            ],
            "branch_type": ["vestiging", "servicepunt", "afhaalpunt", "vestiging", "vestiging"],
            "full_service": [True, False, False, True, True],
            "address": ["Dorpsstraat 1", "`${alert(2)}`", "Kerkplein 3", "Onbekend 9", "X"],
            "postcode": ["1234 AB", "1234 AC", "1234 AD", "1234 AE", "1234 AF"],
        },
        geometry=[
            Point(149950, 450050),
            Point(150550, 450150),
            Point(151500, 450000),
            None,
            Point(),
        ],
        crs=RD,
    )


def _decode_png(data: bytes) -> tuple[NDArray[np.uint8], list[tuple[int, ...]]]:
    """Palette indices and RGBA palette of an 8-bit palette PNG (read with Pillow)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    rgb = image.getpalette() or []
    n = len(rgb) // 3
    given = image.info.get("transparency", b"")
    if isinstance(given, int):  # one fully transparent index
        given = bytes(255 if k != given else 0 for k in range(n))
    alpha = bytes(given) + b"\xff" * (n - len(given))
    palette = [(*rgb[3 * k : 3 * k + 3], alpha[k]) for k in range(n)]
    return np.asarray(image, dtype=np.uint8), palette


def _merc(lon: float, lat: float) -> tuple[float, float]:
    return (
        R_EARTH * math.radians(lon),
        R_EARTH * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)),
    )


def _pixel(raster: maps.RasterImage, lon: float, lat: float) -> int:
    """Palette index of the pixel that contains lon/lat (degrees, WGS84)."""
    (south, west), (north, east) = raster.bounds_wgs84
    x0, y0 = _merc(west, south)
    x1, y1 = _merc(east, north)
    x, y = _merc(lon, lat)
    height, width = raster.indices.shape
    col = math.floor((x - x0) / (x1 - x0) * width)
    row = math.floor((y1 - y) / (y1 - y0) * height)
    return int(raster.indices[row, col])


_RASTER_URI = re.compile(r'L\.imageOverlay\(\s*"data:image/png;base64,([A-Za-z0-9+/=]+)"')
_JSON_BLOCK = re.compile(
    r'<script type="application/json" id="(?P<id>[^"]+)">(?P<body>.*?)</script>', re.DOTALL
)


def _json_blocks(html_text: str) -> dict[str, object]:
    """The ``<script type="application/json">`` data blocks of a page, by element id."""
    return {m["id"]: json.loads(m["body"]) for m in _JSON_BLOCK.finditer(html_text)}


def _without_json_blocks(html_text: str) -> str:
    return _JSON_BLOCK.sub("", html_text)


def _branch_rows(html_text: str) -> list[dict[str, Any]]:
    rows = [v for k, v in _json_blocks(html_text).items() if k.startswith("branch_markers")]
    assert len(rows) <= 1
    return rows[0] if rows else []  # type: ignore[return-value]


# --------------------------------------------------------------------------- helpers


def test_classify_matches_hand_classes() -> None:
    bins = (1.0, 2.0, 3.0, 5.0)
    got = maps.classify_km([0.0, 1.0, 1.0001, 2.9, 5.0, 5.01, 60.0, np.nan], bins)
    assert got.tolist() == [0, 0, 1, 2, 3, 4, 4, -1]
    assert maps.class_labels(bins) == ["0–1 km", "1–2 km", "2–3 km", "3–5 km", "> 5 km"]


def test_escape_text_neutralises_html_and_template_literals() -> None:
    assert maps.escape_text(XSS_NAME) == "&lt;img src=x onerror=alert(1)&gt;"
    assert maps.escape_text("`${x}`\\") == "&#96;&#36;{x}&#96;&#92;"
    assert maps.escape_text(None) == ""
    assert maps.escape_text(float("nan")) == ""


def test_png_round_trip() -> None:
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = [(0, 0, 0, 0), (255, 0, 0, 255), (0, 0, 255, 128)]
    got, pal = _decode_png(maps.encode_png(indices, palette))
    assert got.tolist() == indices.tolist()
    assert pal == palette


# --------------------------------------------------------------------------- raster


def test_raster_puts_cells_at_their_lon_lat() -> None:
    # Cell A is centred on the Amersfoort origin of RD New, RD (155000, 463000), whose ETRS89
    # coordinates are published: 52.15517440 N, 5.38720621 E (RDNAPTRANS).
    cells = _cells(
        [
            (154950, 462950, 20.0, 500.0, True),  # A: class 0-1 km → index 1
            (155050, 462950, 20.0, np.nan, False),  # B: east of A, unreachable → index 6
            (154950, 463050, 20.0, 7000.0, True),  # C: north of A, > 5 km → index 5
            (154850, 462950, 0.0, 500.0, True),  # D: west of A, nobody lives there → not drawn
        ]
    )
    raster = maps.rasterize_cells(cells, bins_km=(1, 2, 3, 5))
    assert raster is not None
    assert _pixel(raster, 5.38720621, 52.15517440) == 1
    to_wgs = pyproj.Transformer.from_crs(RD, "EPSG:4326", always_xy=True)
    assert _pixel(raster, *to_wgs.transform(155100, 463000)) == 6  # centre of B
    assert _pixel(raster, *to_wgs.transform(155000, 463100)) == 5  # centre of C
    lon_d, lat_d = to_wgs.transform(154900, 463000)  # centre of D: outside the image or empty
    (_, west), _ = raster.bounds_wgs84
    assert lon_d < west or _pixel(raster, lon_d, lat_d) == 0
    # Unreachable grey and class colours in the palette; index 0 transparent.
    assert raster.palette[0][3] == 0
    assert raster.palette[6][:3] == (0x6E, 0x6E, 0x6E)
    # Pixels on the ground are about half a cell (oversampling): the drawn cells span
    # 200 m × 200 m, so about 4 × 4 pixels.
    assert 4 <= raster.indices.shape[0] <= 5
    assert 4 <= raster.indices.shape[1] <= 5
    # Every populated cell shows up; only 3 codes (+ transparent) are present.
    assert set(np.unique(raster.indices).tolist()) == {0, 1, 5, 6}


def test_raster_skips_empty_input_and_needs_distance(cells: gpd.GeoDataFrame) -> None:
    assert maps.rasterize_cells(cells.iloc[:0]) is None
    with pytest.raises(InputError, match="distance_m"):
        maps.rasterize_cells(cells.drop(columns="distance_m"))
    with pytest.raises(InputError, match="no CRS"):
        maps.rasterize_cells(cells.set_crs(None, allow_override=True))


def test_raster_handles_500m_cells_and_other_crs() -> None:
    cells = gpd.GeoDataFrame(
        {"population": [100.0, 50.0], "distance_m": [1500.0, 3500.0], "reachable": [True, True]},
        geometry=[box(150000, 450000, 150500, 450500), box(150500, 450000, 151000, 450500)],
        crs=RD,
    )
    raster = maps.rasterize_cells(cells.to_crs("EPSG:4326"), bins_km=(1, 2, 3, 5))
    assert raster is not None
    to_wgs = pyproj.Transformer.from_crs(RD, "EPSG:4326", always_xy=True)
    assert _pixel(raster, *to_wgs.transform(150250, 450250)) == 2
    assert _pixel(raster, *to_wgs.transform(150750, 450250)) == 4


# --------------------------------------------------------------------------- the map


def test_map_html(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    m = maps.make_map(cells, summary, libraries)
    path = maps.write_map(m, tmp_path / "uit" / "kaart.html")
    assert path.is_file()
    text = path.read_text(encoding="utf-8")

    for label in (
        "Afstand per auto tot een volwaardige bibliotheek · drempel 5 km",
        "Bron: CBS, © OpenStreetMap-bijdragers, KB",
        "0–1 km",
        "3–5 km",
        "5–10 km",
        "&gt; 15 km",
        "niet bereikbaar",
        "Gemiddelde afstand per gemeente",
        "Gemeenten met een oordeel (te groot, onvolledig)",
        "gemeente: afstand te groot",
        "Afstand per bewoond vierkant",
        "Volwaardige bibliotheken",
        "Aandeel verder dan 5 km",
        "Inwoners: 12.345",
        "Gemiddelde afstand: 6,2 km",
        "P90-afstand: 8,2 km",
        "62,5%",
        "Bibliotheek Alfadorp",
        "Dorpsstraat 1",
    ):
        assert label in text, label

    # Input text never appears as HTML: branch names/addresses travel as JSON data (with
    # < > & as \\u escapes) that the page sets as DOM text; tooltips are HTML-escaped.
    assert XSS_NAME not in text
    assert "<script>alert(3)" not in text
    assert "alert(3)" in text  # the reason is there (escaped, inside GeoJSON)
    branches = _branch_rows(text)
    assert [r["lines"][0] for r in branches] == [
        "Bibliotheek Alfadorp",
        XSS_NAME,
        "Servicepunt Bèta",
    ]
    assert branches[1]["lines"][2] == "`${alert(2)}`"  # data, never a template literal
    assert "`${alert(2)}`" not in _without_json_blocks(text)
    assert [r["full"] for r in branches] == [True, False, False]

    # Three gemeente features + one flagged outline; three markers (two rows lack a point).
    assert len(re.findall(r'"type":\s*"Feature"(?!Collection)', _without_json_blocks(text))) == 4
    assert len(re.findall(r'"id":\s*"g\d+"', text)) == 3
    # One catchment: every reachable cell is served by L1 (data drawn when switched on).
    areas = [v for k, v in _json_blocks(text).items() if k.startswith("lazy_areas")]
    assert len(areas) == 1
    assert [f["properties"]["lines"][:2] for f in areas[0]["features"]] == [  # type: ignore[index]
        ["Verzorgingsgebied van Bibliotheek Alfadorp", "Inwoners: 80"]
    ]
    assert len(re.findall(r'"id":\s*"f\d+"', text)) == 1
    assert "L.control.layers" in text

    # The embedded PNG is the cell raster, pixel for pixel.
    uris = _RASTER_URI.findall(text)
    assert len(uris) == 1
    indices, _ = _decode_png(base64.b64decode(uris[0]))
    raster = maps.rasterize_cells(cells, bins_km=(1, 2, 3, 5, 10, 15))
    assert raster is not None
    assert np.array_equal(indices, raster.indices)
    # 6 populated cells in 5 of the 7 classes: 0-1 (400 m), 1-2, 2-3, 3-5, 5-10 km, and
    # unreachable (palette index 1 + 7 classes = 8); 0 is transparent.
    assert set(np.unique(indices).tolist()) == {0, 1, 2, 3, 4, 5, 8}


def test_threshold_becomes_class_bound(
    cells: gpd.GeoDataFrame, summary: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame
) -> None:
    html = maps.make_map(cells, summary, libraries, threshold_km=2.5).get_root().render()
    assert "2–2,5 km" in html
    assert "2,5–3 km" in html
    assert "Aandeel verder dan 2,5 km" in html


def test_map_without_cells_or_libraries(summary: gpd.GeoDataFrame) -> None:
    empty_cells = _cells([])
    empty_libs = gpd.GeoDataFrame({"name": [], "full_service": []}, geometry=[], crs=RD)
    html = maps.make_map(empty_cells, summary, empty_libs).get_root().render()
    assert not _RASTER_URI.findall(html)
    assert "L.imageOverlay(" not in html
    assert _branch_rows(html) == []
    assert "Alfadorp" in html


def test_raster_size_scales_to_400k_cells() -> None:
    """16,000 cells with a smooth distance field: well under 15 MB / 400,000 cells."""
    rng = np.random.default_rng(1)
    xs, ys = np.meshgrid(np.arange(160), np.arange(100))
    x0, y0 = 140000, 440000
    dist = np.hypot(xs - 60, ys - 40) * 100.0 + rng.normal(0, 150, xs.shape)
    specs = [
        (x0 + 100 * float(i), y0 + 100 * float(j), 10.0, max(float(d), 0.0), bool(d < 12000))
        for i, j, d in zip(xs.ravel(), ys.ravel(), dist.ravel(), strict=True)
    ]
    cells = _cells(specs)
    raster = maps.rasterize_cells(cells)
    assert raster is not None
    per_cell = len(raster.to_data_uri()) / len(cells)
    assert per_cell < 15_000_000 / 400_000


def test_write_map_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, summary: gpd.GeoDataFrame
) -> None:
    target = tmp_path / "kaart.html"
    target.write_text("old map", encoding="utf-8")
    m = maps.make_map(_cells([]), summary, gpd.GeoDataFrame(geometry=[], crs=RD))

    real_write = Path.write_bytes

    def broken_write(self: Path, data: bytes) -> int:
        real_write(self, data[:10])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken_write)
    with pytest.raises(OutputError, match=r"kaart\.html"):
        maps.write_map(m, target)
    assert target.read_text(encoding="utf-8") == "old map"
    assert [p.name for p in tmp_path.iterdir()] == ["kaart.html"]


def _inline_scripts(html_text: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html_text, flags=re.DOTALL)


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_map_scripts_are_valid_javascript(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    """The escaped names must not break the generated JavaScript (checked by node --check)."""
    html_text = maps.make_map(cells, summary, libraries).get_root().render()
    scripts = _inline_scripts(html_text)
    assert scripts
    js = tmp_path / "map.js"
    js.write_text("\n;\n".join(scripts), encoding="utf-8")
    done = subprocess.run(
        ["node", "--check", str(js)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_map_of_real_gemeenten_and_rijnmond_cells(tmp_path: Path, shared_data: Path) -> None:
    """342 real gemeente outlines and the 16,383 real populated 100 m cells of Rijnmond."""
    stats = pd.read_parquet(
        shared_data / "cbs-vierkant-2024-rijnmond" / "grid_100m_rijnmond_stats.parquet",
        columns=["crs28992res100m", "aantal_inwoners"],
    )
    codes = stats["crs28992res100m"]
    x = codes.str[1:5].astype(int).to_numpy() * 100.0
    y = codes.str[6:10].astype(int).to_numpy() * 100.0
    # Synthetic distances: 1.3 × straight line to Rotterdam Centraal (RD 92000, 437500).
    dist = 1.3 * np.hypot(x + 50 - 92000, y + 50 - 437500)
    reachable = dist < 25000
    cells = gpd.GeoDataFrame(
        {
            "cell_id": codes,
            "population": stats["aantal_inwoners"].astype(float),
            "distance_m": np.where(reachable, dist, np.nan),
            "reachable": reachable,
        },
        geometry=shapely.box(x, y, x + 100, y + 100),
        crs=RD,
    )
    gem = gpd.read_file(shared_data / "gemeenten-2025" / "gemeente_2025.geojson").to_crs(RD)
    centre = gem.geometry.representative_point()
    mean_km = np.hypot(centre.x - 155000, centre.y - 463000) / 30000  # 0 … ~7 km, synthetic
    summary = gpd.GeoDataFrame(
        {
            "gemeentecode": gem["statcode"],
            "gemeentenaam": gem["statnaam"],
            "population": 10000.0,
            "mean_distance_km": mean_km,
            "median_distance_km": mean_km,
            "p90_distance_km": 1.5 * mean_km,
            "share_beyond": 0.1,
            "full_service_libraries": 1,
            "te_groot": mean_km > 5,
            "reasons": "gemiddelde afstand > 5 km",
        },
        geometry=gem.geometry,
        crs=RD,
    )
    libraries = gpd.GeoDataFrame(geometry=[], crs=RD).assign(name=[], full_service=[])
    path = maps.write_map(maps.make_map(cells, summary, libraries), tmp_path / "kaart.html")
    text = path.read_text(encoding="utf-8")
    n_flagged = int(summary["te_groot"].sum())
    assert 0 < n_flagged < len(summary)
    features = re.findall(r'"type":\s*"Feature"(?!Collection)', _without_json_blocks(text))
    assert len(features) == len(gem) + n_flagged
    uri = _RASTER_URI.findall(text)[0]
    indices, _ = _decode_png(base64.b64decode(uri))
    # Every populated cell class shows up (0-1 km near the station … unreachable far away).
    assert set(np.unique(indices).tolist()) == set(range(9))
    assert len(uri) / len(cells) < 15_000_000 / 400_000  # raster scales to 400,000 cells
    assert path.stat().st_size < 3_000_000


def test_missing_flags_count_as_false(
    cells: gpd.GeoDataFrame, summary: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame
) -> None:
    """None/NaN in te_groot, reachable or full_service never flags or promotes a row."""
    summary = summary.assign(te_groot=pd.Series([None, True, np.nan], dtype=object))
    cells = cells.assign(reachable=pd.Series([True, None, True, True, True, False, True]))
    libraries = libraries.assign(full_service=[np.nan, False, False, True, True])
    html_text = maps.make_map(cells, summary, libraries).get_root().render()
    assert len(re.findall(r'"id":\s*"f\d+"', html_text)) == 1  # only GM0002 outlined
    # its tooltip and popup, on the fill and on the outline
    assert html_text.count("Afstand te groot") == 4
    assert html_text.count("(volwaardige bibliotheek)") == 0  # the L1 marker lost its flag
    raster = maps.rasterize_cells(cells, bins_km=(1, 2, 3, 5, 10, 15))
    assert raster is not None
    to_wgs = pyproj.Transformer.from_crs(RD, "EPSG:4326", always_xy=True)
    assert _pixel(raster, *to_wgs.transform(150050, 449950)) == 8  # reachable None → grey


# --------------------------------------------------------------------------- offline pages

_EXTERNAL = re.compile(
    r'<script[^>]*\bsrc="https?://|<link[^>]*rel="stylesheet"[^>]*href="https?://', re.I
)


def test_make_map_inlines_every_script_and_stylesheet(
    tmp_path: Path,
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
) -> None:
    m = maps.make_map(cells, summary, libraries)
    text = maps.write_map(m, tmp_path / "kaart.html").read_text(encoding="utf-8")
    assert not _EXTERNAL.search(text)
    # Leaflet, jQuery (folium popups use it) and the search plugin are embedded.
    for marker in ("leaflet@1.9.3/dist/leaflet.js (folium-offline)", "jquery-3.7.1.min.js"):
        assert marker in text, marker
    assert "leaflet-search@2.9.7/dist/leaflet-search.min.js (folium-offline)" in text
    # No icon fonts: the branches are SVG pictograms.
    assert "fontawesome" not in text
    assert "<title>Afstand per auto tot een volwaardige bibliotheek · drempel 5 km</title>" in text
    assert '<html lang="nl">' in text
    # The notebook display of the same map is self-contained too.
    assert not _EXTERNAL.search(html_lib.unescape(m._repr_html_()))

    online = maps.make_map(cells, summary, libraries, offline=False).get_root().render()
    assert _EXTERNAL.search(online)


def test_self_contained_html_of_any_folium_map() -> None:
    m = folium.Map(tiles=None)
    folium.Marker([52.0, 5.0], icon=folium.Icon(icon="info-sign")).add_to(m)
    page = maps.self_contained_html(m)
    assert not _EXTERNAL.search(page)
    assert "fontawesome-free@6.2.0" in page  # icon fonts kept: the page uses AwesomeMarkers
    bare = maps.self_contained_html(folium.Map(tiles=None))
    assert "fontawesome" not in bare
    assert len(bare) < len(page) - 500_000


def test_inline_resources_refuses_unknown_urls_and_escapes_script_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = '<head><script src="https://example.org/x.js"></script></head>'
    with pytest.raises(OutputError, match=r"https://example\.org/x\.js"):
        maps.inline_resources(page)
    monkeypatch.setattr(
        offline,
        "_offline_resources",
        lambda: {"https://example.org/x.js": 'var s = "</script><b>";'},
    )
    out = maps.inline_resources(page)
    assert out.count("</script>") == 1
    assert 'var s = "<\\/script><b>";' in out


def test_backgrounds() -> None:
    m = folium.Map(tiles=None)
    maps.add_backgrounds(m, default="OpenStreetMap")
    folium.LayerControl().add_to(m)
    html_text = m.get_root().render()
    for name in maps.BACKGROUNDS:
        assert f'"{name}"' in html_text, name
    assert "achtergrondkaart/wmts/v2_0/grijs/EPSG:3857/{z}/{x}/{y}.png" in html_text
    assert "achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png" in html_text
    attributions = re.findall(r'"attribution": "((?:[^"\\]|\\.)*)"', html_text)
    texts = [re.sub(r"<[^>]+>", "", html_lib.unescape(json.loads(f'"{a}"'))) for a in attributions]
    assert texts == [
        "Kaartgegevens © Kadaster",
        "Kaartgegevens © Kadaster",
        "© OpenStreetMap-bijdragers",
    ]
    with pytest.raises(InputError, match="unknown background"):
        maps.add_backgrounds(folium.Map(tiles=None), default="Google")


# --------------------------------------------------------------------------- content


def test_branch_icons_differ_by_type_and_service() -> None:
    svgs = {t: maps.branch_icon_svg(t, False) for t in ("vestiging", "servicepunt", "bibliobus")}
    assert len(set(svgs.values())) == 3
    assert 'width="26"' in maps.branch_icon_svg("vestiging", True)
    assert 'width="18"' in maps.branch_icon_svg("vestiging", False)
    assert maps.branch_icon_svg("onbekend", False) == maps.branch_icon_svg("other", False)


def test_catchment_areas_by_hand() -> None:
    # L1 serves three cells (pop 10 at 1 km, 30 at 3 km, suppressed at 2 km), L2 one cell;
    # one unreachable cell and one empty cell belong to nobody.
    specs = [
        (150000, 450000, 10.0, 1000.0, True),
        (150100, 450000, 30.0, 3000.0, True),
        (150200, 450000, np.nan, 2000.0, True),
        (152000, 450000, 20.0, 500.0, True),
        (154000, 450000, 5.0, np.nan, False),
        (150000, 450100, 0.0, 100.0, True),
    ]
    cells = _cells(specs).assign(library_id=["L1", "L1", "L1", "L2", None, "L1"])
    libs = gpd.GeoDataFrame({"library_id": ["L1", "L2"], "name": ["Een", "Twee"]})
    exact = maps.catchment_areas(cells, libs, resolution_m=0, simplify_m=0)
    assert exact["library_id"].tolist() == ["L1", "L2"]
    assert exact["name"].tolist() == ["Een", "Twee"]
    assert exact["cells"].tolist() == [3, 1]
    assert exact["population"].tolist() == [40.0, 20.0]
    assert exact["mean_distance_km"].tolist() == pytest.approx([(10 * 1 + 30 * 3) / 40, 0.5])
    assert exact["max_distance_km"].tolist() == pytest.approx([3.0, 0.5])
    assert exact.area.tolist() == pytest.approx([30_000.0, 10_000.0])  # the cells themselves
    assert exact.geometry.iloc[0].equals(box(150000, 450000, 150300, 450100))

    # Outlines on 500 m blocks: each library's cells lie inside its own area, areas disjoint.
    coarse = maps.catchment_areas(cells, libs, resolution_m=500, fill_m=0, simplify_m=0)
    centres = cells.geometry.centroid
    assert coarse.geometry.iloc[0].contains(centres.iloc[0])
    assert coarse.geometry.iloc[1].contains(centres.iloc[3])
    assert coarse.geometry.iloc[0].intersection(coarse.geometry.iloc[1]).area == 0.0
    assert coarse["population"].tolist() == [40.0, 20.0]  # figures stay exact
    filled = maps.catchment_areas(cells, libs, resolution_m=500, fill_m=1000, simplify_m=0)
    assert filled.union_all().area > coarse.union_all().area


def test_catchment_areas_need_library_id(cells: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError, match="library_id"):
        maps.catchment_areas(cells.drop(columns="library_id"))
    assert len(maps.catchment_areas(cells.assign(library_id=None))) == 0


def test_cell_details_pack_every_cell(cells: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame) -> None:
    details = maps.cell_details(cells, libraries)
    assert details is not None
    got = details.unpack()
    meta = details.meta
    # 6 populated cells (the 0-resident cell is left out); grid 5 columns × 2 rows of 100 m.
    assert meta["n"] == 6
    assert (meta["x0"], meta["y_top"], meta["size"]) == (149900.0, 450100.0, 100.0)
    assert (meta["n_cols"], meta["n_rows"]) == (5, 2)
    assert meta["names"] == ["Bibliotheek Alfadorp"]
    # key = row * n_cols + col, row 0 at the north
    assert got["key"].tolist() == [1, 2, 3, 4, 5, 6]
    assert got["distance_dam"].tolist() == [250, 400, 620, 65535, 40, 150]
    assert got["population"].tolist() == [10, 5, 40, 15, 25, 65535]
    assert got["library"].tolist() == [0, 0, 0, 65535, 0, 0]
    assert len(details.data) < 200


def test_hover_polynomial_matches_pyproj() -> None:
    """The Mercator→RD polynomial the browser evaluates is sub-metre over the country."""
    params = raster.fit_merc_to_rd((13_000.0, 306_000.0, 278_000.0, 620_000.0))
    assert params["max_error_m"] < 0.5
    to_merc = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    # Amersfoort, the RD origin (155000, 463000): 52.15517440 N, 5.38720621 E.
    mx, my = to_merc.transform(5.38720621, 52.15517440)
    x, y = maps.merc_to_rd(params, mx, my)
    assert math.hypot(x - 155000.0, y - 463000.0) < 1.0


def test_map_has_search_scale_and_hover(
    cells: gpd.GeoDataFrame, summary: gpd.GeoDataFrame, libraries: gpd.GeoDataFrame
) -> None:
    html_text = maps.make_map(cells, summary, libraries).get_root().render()
    assert "new L.Control.Search(" in html_text
    assert 'textPlaceholder: "Zoek een gemeente…"' in html_text
    assert "imperial: false" in html_text
    assert "window.bereikbaarCells" in html_text
    assert '"naam": "Gamma \\u0026 Delta"' in html_text  # search property, JSON-escaped
    no_hover = maps.make_map(cells, summary, libraries, hover=False).get_root().render()
    assert "window.bereikbaarCells" not in no_hover
