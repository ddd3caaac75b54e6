"""Hostile data: nothing from an input file becomes code, a formula, or a path.

Branch names, addresses, gemeente names and OSM tags are attacker-controlled text as far as
the program is concerned (a branch list forwarded by e-mail, an OSM edit). They must come out
HTML-escaped in the map and the dossier, neutralised in every CSV a spreadsheet opens, and
never steer where a file is written. Caches are never pickles; HTTP clients talk only to
the host they were configured with, and always with a timeout.
"""

from __future__ import annotations

import ast
import csv
import http.server
import io
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import geopandas as gpd
import pandas as pd
import pytest

from bereikbaar import report
from bereikbaar.accessibility import nearest_library
from bereikbaar.aggregate import aggregate_gemeenten
from bereikbaar.compare import COMPARISON_HEADERS_NL, write_comparison
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import BereikbaarWarning, DownloadError
from bereikbaar.maps import make_map, write_map
from bereikbaar.report import write_dossier, write_tables
from bereikbaar.scenarios import write_branch_list
from bereikbaar.schema import ADDRESS, GEMEENTECODE, GEMEENTENAAM, NAME, PLACE, TE_GROOT
from bereikbaar.sources.cbs_grid import load_cbs_grid
from bereikbaar.sources.download import download_file
from bereikbaar.sources.gemeenten import load_gemeenten
from bereikbaar.sources.libraries import load_libraries
from bereikbaar.sources.osm import load_network
from bereikbaar.sources.osm_libraries import libraries_from_osm

MARK = "ZQX"  # appears once per payload, so a test can see the text made it into the output
PAYLOADS = (
    f'{MARK}1<script>alert("x")</script>',
    f"{MARK}2<img src=x onerror=alert(1)>",
    f'{MARK}3"><svg onload=alert(1)>',
    f"{MARK}4`${{alert(1)}}`</script><script>alert(2)</script>",
    f"{MARK}5'}};alert(1);//",
)
RAW = ("<script>alert", "<img src=x", "<svg onload", "</script><script>alert(2)")
FORMULAS = ('=HYPERLINK("http://evil","klik")', "+SUM(A1:A9)", "-2+3", "@cmd|'/c calc'!A0")


@dataclass(frozen=True)
class Hostile:
    cells: gpd.GeoDataFrame
    summary: gpd.GeoDataFrame
    libraries: gpd.GeoDataFrame


def _osm_library_file(path: Path) -> Path:
    """An OSM XML file with one library whose name and address tags are payloads."""
    tags = {
        "amenity": "library",
        "name": PAYLOADS[3],
        "addr:street": PAYLOADS[1],
        "addr:housenumber": "1",
        "addr:city": PAYLOADS[4],
        "operator": PAYLOADS[0],
    }
    tag_xml = "".join(f'<tag k="{k}" v="{_xml(v)}"/>' for k, v in tags.items())
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        f'<node id="42" version="1" lat="52.99" lon="5.905">{tag_xml}</node>\n</osm>\n',
        encoding="utf-8",
    )
    return path


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[Path], DemoInputs]
) -> Hostile:
    folder = tmp_path_factory.mktemp("hostile")
    demo = demo_copy(folder / "raw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        cells = load_cbs_grid(demo.cells)
        gem = load_gemeenten(demo.gemeenten)
        libs = load_libraries(demo.libraries)
        network = load_network(demo.network)
    osm_libs = libraries_from_osm(_osm_library_file(folder / "bieb.osm"))
    assert len(osm_libs) == 1 and osm_libs[NAME].iloc[0] == PAYLOADS[3]  # tags arrive intact
    libs = libs.copy()
    libs[NAME] = [PAYLOADS[i % len(PAYLOADS)] + f" #{i}" for i in range(len(libs))]
    libs[ADDRESS] = [PAYLOADS[(i + 1) % len(PAYLOADS)] for i in range(len(libs))]
    libs[PLACE] = FORMULAS[0]
    libs = gpd.GeoDataFrame(
        pd.concat([libs, osm_libs[[c for c in libs.columns if c in osm_libs.columns]]]),
        crs=libs.crs,
    ).reset_index(drop=True)
    gem[GEMEENTENAAM] = [PAYLOADS[i % len(PAYLOADS)] for i in range(len(gem))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        result = cells.join(nearest_library(network, cells, libs, max_snap_m=2500.0))
        summary = aggregate_gemeenten(result, gem, libs)
    summary[GEMEENTENAAM] = [
        FORMULAS[i % len(FORMULAS)] + p for i, p in enumerate(gem[GEMEENTENAAM])
    ]
    summary["reasons"] = summary["reasons"].astype(str) + PAYLOADS[2]
    assert summary[TE_GROOT].any()
    return Hostile(result, summary, libs)


def _assert_safe_html(text: str, what: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{what}: raw {raw!r} in the output"
    assert MARK in text, f"{what}: the hostile names are not in the output at all"
    # a payload that closes the script it sits in, raw or in another case
    assert "</script><script>alert(2)" not in text.lower()


def test_map_escapes_every_input_string(hostile: Hostile, tmp_path: Path) -> None:
    fmap = make_map(hostile.cells, hostile.summary, hostile.libraries)
    path = write_map(fmap, tmp_path / "kaart.html")
    text = path.read_text(encoding="utf-8")
    _assert_safe_html(text, "kaart.html")
    for i in range(1, 6):
        assert f"{MARK}{i}" in text, f"payload {i} missing from the map"


def test_dossier_escapes_every_input_string(hostile: Hostile, tmp_path: Path) -> None:
    path = write_dossier(tmp_path, hostile.cells, hostile.summary, hostile.libraries)
    text = path.read_text(encoding="utf-8")
    _assert_safe_html(text, "rapport.html")
    assert "<script" not in text.lower()  # the dossier has no script at all (and a CSP)
    assert "Content-Security-Policy" in text


def _csv_cells(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    sep = ";" if text.count(";") >= text.count(",") else ","
    return [cell for row in csv.reader(io.StringIO(text), delimiter=sep) for cell in row]


def _assert_no_formula(cells: list[str], what: str) -> None:
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@") and not _number(c)]
    assert risky == [], f"{what}: cells a spreadsheet would run: {risky[:3]}"
    assert any(c.startswith("'=HYPERLINK") for c in cells), f"{what}: names not written"


def _number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def test_tables_csv_neutralises_formulas(hostile: Hostile, tmp_path: Path) -> None:
    written = write_tables(tmp_path, hostile.cells, hostile.summary, hostile.libraries)
    cells = _csv_cells(written["gemeenten.csv"])
    _assert_no_formula(cells, "gemeenten.csv")
    assert "'-2+3" + PAYLOADS[2] in cells and "'+SUM(A1:A9)" + PAYLOADS[1] in cells


def test_scenario_branch_list_csv_neutralises_formulas(hostile: Hostile, tmp_path: Path) -> None:
    libs = hostile.libraries.copy()
    libs[NAME] = [FORMULAS[i % len(FORMULAS)] for i in range(len(libs))]
    path = write_branch_list(libs, tmp_path / "scenario_bibliotheken.csv")
    _assert_no_formula(_csv_cells(path), path.name)


def test_cbs_comparison_csv_neutralises_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({col: [1.5, -2.25] for col in COMPARISON_HEADERS_NL})
    frame[GEMEENTECODE] = ["GM0001", "GM0002"]
    frame[GEMEENTENAAM] = [FORMULAS[0], FORMULAS[3]]
    path = write_comparison(tmp_path / "vergelijking_cbs.csv", frame)
    cells = _csv_cells(path)
    _assert_no_formula(cells, path.name)
    assert "-2,25" in cells  # numbers stay numbers


@pytest.mark.parametrize(
    "code",
    ["../../x", "/etc/passwd", "..", "a/../../b", "C:\\Windows\\x", "GM0001\x00.html", ".", ""],
)
def test_dossier_file_names_stay_in_the_output_folder(
    hostile: Hostile, tmp_path: Path, code: str
) -> None:
    summary = hostile.summary.copy()
    summary[GEMEENTECODE] = summary[GEMEENTECODE].astype(object)
    summary.iloc[0, summary.columns.get_loc(GEMEENTECODE)] = code
    summary.iloc[0, summary.columns.get_loc(TE_GROOT)] = True
    out = tmp_path / "a" / "b" / "out"
    write_dossier(
        out, hostile.cells, summary, hostile.libraries, gemeentecodes=[code], per_gemeente=True
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 2, written  # rapport.html and one dossier page
    folder = (out / "dossier").resolve()
    page = next(p for p in written if p.name != "rapport.html")
    assert page.resolve().parent == folder and page.suffix == ".html"
    assert "\x00" not in page.name and not page.name.startswith(".")


# --------------------------------------------------------------------------- HTTP clients
_HTTP_MODULES = ("geocode.py", "download.py", "overpass.py", "osm_libraries.py")


def _http_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "post", "head", "request", "urlopen")
            and any(
                isinstance(a, ast.keyword)
                and a.arg in ("stream", "params", "headers", "timeout", "allow_redirects")
                for a in node.keywords
            )
        ):
            yield node


def test_every_http_request_has_a_timeout() -> None:
    src = Path(report.__file__).parent
    found = 0
    for name in _HTTP_MODULES:
        path = src / "sources" / name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _http_calls(tree):
            found += 1
            keywords = {k.arg for k in call.keywords}
            assert "timeout" in keywords, f"{name}:{call.lineno}: HTTP call without a timeout"
    assert found >= 3  # the geocoder and the two download calls at least
    text = (src / "sources" / "overpass.py").read_text(encoding="utf-8")
    assert "requests_timeout" in text  # osmnx's own requests get one too
    all_src = "\n".join(p.read_text(encoding="utf-8") for p in src.rglob("*.py"))
    assert "urllib.request" not in all_src and "http.client" not in all_src


class _Redirector(http.server.BaseHTTPRequestHandler):
    target = ""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path.startswith("/file"):
            body = b"PAYLOAD" * 10
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[str, str, type[_Redirector]]]:
    """Two loopback servers: 'configured' (127.0.0.1) and 'other' (localhost, another port)."""

    class Other(_Redirector):
        hits: ClassVar[list[str]] = []

    class Configured(_Redirector):
        hits: ClassVar[list[str]] = []

    httpds = [
        http.server.ThreadingHTTPServer(("127.0.0.1", 0), Configured),
        http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other),
    ]
    threads = [threading.Thread(target=h.serve_forever, daemon=True) for h in httpds]
    for t in threads:
        t.start()
    configured = f"http://127.0.0.1:{httpds[0].server_address[1]}"
    other = f"http://localhost:{httpds[1].server_address[1]}"
    Configured.target = f"{other}/file"
    try:
        yield configured, other, Other
    finally:
        for h in httpds:
            h.shutdown()
            h.server_close()


def test_downloader_does_not_follow_a_redirect_to_another_host(
    servers: tuple[str, str, type[_Redirector]], tmp_path: Path
) -> None:
    configured, _, other = servers
    with pytest.raises(DownloadError, match=r"HTTP 302.*not followed"):
        download_file(f"{configured}/data.zip", tmp_path / "data.zip", retries=0, timeout_s=5.0)
    assert other.hits == []
    assert not (tmp_path / "data.zip").exists()


def test_downloader_follows_a_redirect_on_the_same_host(tmp_path: Path) -> None:
    class Same(_Redirector):
        hits: ClassVar[list[str]] = []

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Same)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        Same.target = "/file"
        url = f"http://127.0.0.1:{httpd.server_address[1]}/latest.pbf"
        result = download_file(url, tmp_path / "x.pbf", retries=0, timeout_s=5.0)
        assert result.path.read_bytes() == b"PAYLOAD" * 10
        assert Same.hits == ["/latest.pbf", "/file"]
    finally:
        httpd.shutdown()
        httpd.server_close()
