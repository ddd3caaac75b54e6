"""Text from an input file is data in every output: never template source, never a terminal code.

A branch list arrives by e-mail; a gemeente layer or an OSM extract is edited by strangers.
Every text field of every input gets Jinja syntax (``{{ }}``, ``{% %}``, ``{#``) and a
terminal escape; the real command runs on them (in its own process, in a scratch working
folder) and the outputs must carry each payload literally, nothing rendered, nothing run.
"""

from __future__ import annotations

import csv
import html
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import branca.element
import folium
import geopandas as gpd
import markupsafe
import osmium
import pyogrio
import pytest
from branca.element import MacroElement

from bereikbaar.demo import write_demo_inputs
from bereikbaar.maps import TextElement, make_safe, render_page, self_contained_html

# Each payload carries a mark that survives HTML/JSON escaping; when a template engine
# renders it, the rendered form ('QQQ' + mark, 'IF' + mark) appears instead, or a folder
# named after the mark is created in the working folder.
PWN = "bereikbaar_pwned"
PAYLOADS = {
    "expr": "{{ 'Q' * 3 }}JX1",
    "stmt": "{% if true %}IF{% endif %}JX2",
    "comment": "{# JX3",
    "exec": "{{ cycler.__init__.__globals__.os.makedirs('" + PWN + "') }}JX4",
    "raw": "{% raw %}JX5{% endraw %}",
}
RENDERED = ("QQQJX1", "IFJX2", "NoneJX4", "PPPJX7")
TERMINAL = "\x1b]0;gekaapt\x07\x1b[2JTermJX6"


@dataclass(frozen=True)
class Injected:
    out: Path
    workdir: Path
    proc: subprocess.CompletedProcess[str]


AREA_PAYLOADS = {"buurt": "{{ 'B' * 3 }}JX8", "wijk": "{% if true %}WIF{% endif %}JX9"}
"""In every buurt name and every wijk name (buurten.csv, wijken.csv, the map, the dossier)."""
AREA_RENDERED = ("BBBJX8", "WIFJX9")

PLACE_PAYLOAD = "Plaats {{ 'P' * 3 }}JX7"
"""The name of every OSM place node (labels on the map)."""


def _rewrite_osm_names(src: Path, dst: Path, name: str) -> int:
    """Copy of an OSM PBF with the ``name`` of every named road replaced by ``name``
    (and of every place node by :data:`PLACE_PAYLOAD`)."""
    count = 0
    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node() and "place" in obj.tags:
                tags = dict(obj.tags)
                tags["name"] = PLACE_PAYLOAD
                writer.add(obj.replace(tags=tags))
            elif obj.is_way() and "name" in obj.tags:
                tags = dict(obj.tags)
                tags["name"] = name
                writer.add(obj.replace(tags=tags))
                count += 1
            else:
                writer.add(obj)
    return count


def _payload_cycle() -> list[str]:
    return list(PAYLOADS.values())


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> Injected:
    raw = tmp_path_factory.mktemp("raw")
    demo = write_demo_inputs(raw)
    payloads = _payload_cycle()
    # branch list: every text column of every row gets a payload (types and coordinates stay)
    with demo.libraries.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    text_columns = [c for c in ("naam", "straat", "plaats", "gemeente") if c in header]
    k = 0
    for row in rows[1:]:
        for column in text_columns:
            j = header.index(column)
            row[j] = f"{row[j]} {payloads[k % len(payloads)]}"
            k += 1
    with demo.libraries.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)
    # gemeente names, one flagged gemeente with a terminal escape
    gem = gpd.read_file(demo.gemeenten)
    for k, code in enumerate(sorted(set(gem["gemeentecode"]))):
        extra = f" {TERMINAL}" if code == "GM9002" else ""
        rows_of = gem["gemeentecode"] == code
        gem.loc[rows_of, "gemeentenaam"] = (
            gem.loc[rows_of, "gemeentenaam"] + f" {payloads[k % len(payloads)]}{extra}"
        )
    layer = pyogrio.list_layers(demo.gemeenten)[0][0]
    demo.gemeenten.unlink()
    gem.to_file(demo.gemeenten, driver="GPKG", layer=layer)
    # buurt and wijk names (one buurt and one wijk per gemeente, its land as the polygon)
    land = gem[gem["water"] != "JA"].dissolve(by="gemeentecode", as_index=False)
    digits = [c[2:] for c in land["gemeentecode"]]
    gpd.GeoDataFrame(
        {
            "buurtcode": [f"BU{d}0001" for d in digits],
            "buurtnaam": [f"Buurt {AREA_PAYLOADS['buurt']} {d}" for d in digits],
            "gemeentecode": land["gemeentecode"],
            "wijkcode": [f"WK{d}01" for d in digits],
        },
        geometry=land.geometry,
        crs=gem.crs,
    ).to_file(raw / "buurten.gpkg", layer="buurten", driver="GPKG")
    gpd.GeoDataFrame(
        {
            "wijkcode": [f"WK{d}01" for d in digits],
            "wijknaam": [f"Wijk {AREA_PAYLOADS['wijk']} {d}" for d in digits],
            "gemeentecode": land["gemeentecode"],
        },
        geometry=land.geometry,
        crs=gem.crs,
    ).to_file(raw / "wijken.gpkg", layer="wijken", driver="GPKG")
    config = demo.config.read_text(encoding="utf-8").replace(
        "[inputs]\n", '[inputs]\nbuurten = "buurten.gpkg"\nwijken = "wijken.gpkg"\n'
    )
    demo.config.write_text(config, encoding="utf-8")
    # street names in the road network
    named = raw / "named.osm.pbf"
    assert _rewrite_osm_names(demo.network, named, PAYLOADS["exec"]) > 0
    named.replace(demo.network)
    workdir = tmp_path_factory.mktemp("work")
    out = workdir / "uit"
    proc = subprocess.run(
        [sys.executable, "-m", "bereikbaar.cli", "run", str(demo.config), "--out", str(out)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    return Injected(out=out, workdir=workdir, proc=proc)


def _forms(payload: str) -> tuple[str, ...]:
    """The payload as it may appear in a file: raw, HTML-escaped (Python's or Jinja's
    autoescape), JSON-escaped."""
    as_json = json.dumps(payload)[1:-1]
    escaped = (
        html.escape(payload),
        html.escape(payload, quote=False),
        str(markupsafe.escape(payload)),
    )
    # HTML-escaped text inside a JSON data block, with <, > and & as \u escapes (the map's
    # GeoJSON tooltips: folium/branca's JSON writer)
    in_json = tuple(
        json.dumps(e)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        for e in escaped
    )
    return (payload, *escaped, as_json, *in_json)


def test_run_succeeds_and_runs_nothing(injected: Injected) -> None:
    assert injected.proc.returncode == 0, injected.proc.stderr
    assert not (injected.workdir / PWN).exists()
    assert not Path(PWN).exists()


@pytest.mark.parametrize("name", ["kaart.html", "rapport.html", "gemeenten.csv"])
def test_outputs_carry_every_payload_literally(injected: Injected, name: str) -> None:
    assert injected.proc.returncode == 0, injected.proc.stderr
    text = (injected.out / name).read_text(encoding="utf-8-sig")
    for key, payload in PAYLOADS.items():
        assert any(form in text for form in _forms(payload)), f"{name}: payload {key} missing"
    for rendered in RENDERED:
        assert rendered not in text, f"{name}: a template rendered {rendered!r}"


def test_place_names_are_map_labels_as_data(injected: Injected) -> None:
    """OSM place names become map labels: JSON data set as DOM text, never rendered."""
    assert injected.proc.returncode == 0, injected.proc.stderr
    text = (injected.out / "kaart.html").read_text(encoding="utf-8")
    assert json.dumps(PLACE_PAYLOAD)[1:-1] in text
    assert "PPPJX7" not in text


def test_dossier_site_names_and_map_labels_are_data(injected: Injected) -> None:
    """Street names (suggested sites) and names drawn in the dossier's SVG maps are text."""
    assert injected.proc.returncode == 0, injected.proc.stderr
    text = (injected.out / "rapport.html").read_text(encoding="utf-8")
    street = str(markupsafe.escape(PAYLOADS["exec"]))
    assert street in text  # a suggested site named after its (renamed) street
    assert "<svg" in text and "NoneJX4" not in text
    # every gemeente name is drawn as SVG text, escaped by matplotlib's writer
    assert text.count("JX1") >= 2


def test_workbook_holds_payloads_as_text(injected: Injected) -> None:
    """bereikbaar.xlsx: every input text is a text cell, never a formula, never rendered."""
    import openpyxl

    assert injected.proc.returncode == 0, injected.proc.stderr
    book = openpyxl.load_workbook(injected.out / "bereikbaar.xlsx")
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    joined = "\n".join(texts)
    for key, payload in PAYLOADS.items():
        assert payload in joined, key
    for rendered in RENDERED:
        assert rendered not in joined
    assert "TermJX6" in joined and "\x1b" not in joined  # control characters dropped


def test_no_output_file_holds_a_rendered_payload(injected: Injected) -> None:
    assert injected.proc.returncode == 0, injected.proc.stderr
    for path in injected.out.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".csv", ".json"}:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            for rendered in RENDERED:
                assert rendered not in text, f"{path.name}: rendered {rendered!r}"


def test_console_output_has_no_control_characters(injected: Injected) -> None:
    assert injected.proc.returncode == 0, injected.proc.stderr
    printed = injected.proc.stdout + injected.proc.stderr
    assert "TermJX6" in printed  # the flagged gemeente is listed ...
    for char in ("\x1b", "\x07"):
        assert char not in printed  # ... with its control characters escaped
    assert "\\x1b" in printed


@pytest.mark.parametrize("payload", list(PAYLOADS.values()))
def test_folium_elements_render_values_as_data(payload: str) -> None:
    """folium's own tooltip and popup keep template syntax literal (branca would render it)."""
    m = make_safe(folium.Map(tiles=None))
    folium.Marker([52.0, 5.0], tooltip=payload, popup=payload).add_to(m)
    feature = {
        "type": "Feature",
        "properties": {"naam": payload},
        "geometry": {"type": "Point", "coordinates": [5.0, 52.0]},
    }
    folium.GeoJson(
        {"type": "FeatureCollection", "features": [feature]},
        tooltip=folium.GeoJsonTooltip(fields=["naam"]),
    ).add_to(m)
    m.get_root().header.add_child(TextElement(f"<title>{payload}</title>"))  # type: ignore[attr-defined]
    for page in (m.get_root().render(), self_contained_html(m), render_page(m.get_root())):
        assert any(form in page for form in _forms(payload))
        for rendered in RENDERED:
            assert rendered not in page
    assert not Path(PWN).exists()


def test_branca_render_is_restored_after_a_failed_render() -> None:
    original = branca.element.Template

    class Broken(MacroElement):
        def render(self, **kwargs: object) -> None:
            raise RuntimeError("boom")

    m = make_safe(folium.Map(tiles=None))
    m.add_child(Broken())
    with pytest.raises(RuntimeError):
        render_page(m.get_root())
    assert branca.element.Template is original
    assert "QQQ" in branca.element.Element("{{ 'Q' * 3 }}").render()  # branca as it was


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("buurten.csv", ("buurt",)),
        ("wijken.csv", ("wijk",)),
        ("kaart.html", ("buurt",)),  # the buurt layer
    ],
)
def test_buurt_and_wijk_names_are_data(
    injected: Injected, name: str, levels: tuple[str, ...]
) -> None:
    assert injected.proc.returncode == 0, injected.proc.stderr
    text = (injected.out / name).read_text(encoding="utf-8-sig")
    for level in levels:
        payload = AREA_PAYLOADS[level]
        assert any(form in text for form in _forms(payload)), f"{name}: {level} name missing"
    for path in injected.out.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".csv", ".json"}:
            body = path.read_text(encoding="utf-8-sig", errors="replace")
            for rendered in AREA_RENDERED:
                assert rendered not in body, f"{path.name}: rendered {rendered!r}"
