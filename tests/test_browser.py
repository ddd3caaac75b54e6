"""Open the demo's kaart.html (and rapport.html) in headless Debian Chromium, network cut off.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python
package; the browser Playwright would download is never used. Every request that is not a
``file:``/``data:``/``blob:`` URL is aborted; only background map tiles may ask for the
network. Screenshots go to the folder named by the environment variable
``BEREIKBAAR_SCREENSHOTS`` when it is set, else to the test's ``tmp_path`` (their paths are
printed and recorded as the ``screenshot_*`` properties of the test).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import shapely

from bereikbaar import demo
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.pipeline import RunResult, run
from bereikbaar.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
XSS_NAME = "<img src=x onerror=alert(1)>"
TILE_HOSTS = {"service.pdok.nl", "tile.openstreetmap.org"}
LOCAL_SCHEMES = ("file:", "data:", "blob:")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.pdf,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="playwright not installed"
    ),
]


@dataclasses.dataclass
class Visit:
    """What happened while a page was open."""

    errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)
    blocked: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[[Path], DemoInputs]
) -> RunResult:
    """The demo region, with one branch renamed to an XSS attempt, run like run_demo."""
    root = tmp_path_factory.mktemp("demo")
    inputs = demo_copy(root / "raw")
    branches = pd.read_csv(inputs.libraries, sep=";", dtype=str, keep_default_na=False)
    target = branches.index[branches["naam"] == "Bibliotheek Bibliostad-Noord"]
    assert len(target) == 1
    branches.loc[target, "naam"] = XSS_NAME
    branches.to_csv(inputs.libraries, sep=";", index=False, encoding="utf-8", lineterminator="\n")
    settings = dataclasses.replace(Settings.from_toml(inputs.config), out_dir=root / "output")
    return run(settings, demo=True)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$BEREIKBAAR_SCREENSHOTS`` or the test's ``tmp_path``."""
    folder = os.environ.get("BEREIKBAAR_SCREENSHOTS")
    if not folder:
        return tmp_path
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def _open(browser: Any, path: Path, viewport: tuple[int, int] = (1280, 900)) -> tuple[Any, Visit]:
    """Open ``path`` with every non-local request aborted; record errors and dialogs."""
    visit = Visit()
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.on("pageerror", lambda e: visit.errors.append(f"pageerror: {e}"))

    def on_console(msg: Any) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and urlsplit(url).hostname in TILE_HOSTS:
            return  # a background tile: the only thing allowed to need the network
        visit.errors.append(f"console: {msg.text} ({url})")

    page.on("console", on_console)

    def on_dialog(dialog: Any) -> None:
        visit.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def route(r: Any) -> None:
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            visit.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page, visit


def _check_offline(visit: Visit) -> None:
    assert visit.errors == []
    assert visit.dialogs == []
    assert {urlsplit(u).hostname for u in visit.blocked} <= TILE_HOSTS, visit.blocked


def _screenshot(
    page: Any, path: Path, record_property: Callable[[str, object], None], name: str
) -> None:
    page.screenshot(path=str(path), full_page=name.startswith("rapport"))
    assert path.stat().st_size > 10_000
    record_property(f"screenshot_{name}", str(path))
    print(f"screenshot {name}: {path}")  # shown with pytest -s or -rA


def test_kaart_renders_offline(
    demo_run: RunResult,
    browser: Any,
    shots: Path,
    record_property: Callable[[str, object], None],
) -> None:
    kaart = demo_run.outputs["kaart"]
    page, visit = _open(browser, kaart)
    try:
        n = {
            sel: page.locator(sel).count()
            for sel in (
                "path.bereikbaar-gemeente",
                "path.bereikbaar-flagged",
                ".bereikbaar-branch",
                "img.bereikbaar-cells",
            )
        }
        with_point = sum(b.x is not None for b in demo.BRANCHES)
        assert n == {
            "path.bereikbaar-gemeente": 5,
            "path.bereikbaar-flagged": int(demo_run.summary["te_groot"].sum()),
            ".bereikbaar-branch": with_point,
            "img.bereikbaar-cells": 1,
        }
        legend = page.locator(".bereikbaar-legend").inner_text()
        # fictional data credit no real source
        assert "Fictieve gegevens (demoregio)" in legend
        assert "Bron: CBS" not in legend
        assert page.title() == (
            "Afstand per auto tot een volwaardige bibliotheek · peiljaar 2024 · drempel 5 km"
        )
        assert page.locator("html").get_attribute("lang") == "nl"
        assert "Fictieve demoregio" in page.locator(".bereikbaar-title").inner_text()
        layers = page.locator(".leaflet-control-layers").text_content() or ""
        for name in ("PDOK BRT-Achtergrondkaart grijs", "OpenStreetMap", "Geen achtergrond"):
            assert name in layers

        # The XSS branch name is text: marker alt text and popup, never an element.
        assert page.locator(f'img.bereikbaar-branch[alt="{XSS_NAME}"]').count() == 1
        page.locator(f'img.bereikbaar-branch[alt="{XSS_NAME}"]').click()
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert popup.splitlines()[0] == XSS_NAME
        assert page.locator('img[src="x"]').count() == 0

        # Hover details: the cell under the mouse, looked up in the embedded arrays.
        page.evaluate("window.bereikbaarCells.ready")
        cells = demo_run.cells
        cell = cells[cells["reachable"] & (cells["population"] > 0)].iloc[0]
        centre = shapely.centroid(cells.loc[[cell.name]].to_crs("EPSG:4326").geometry.iloc[0])
        found = page.evaluate(f"window.bereikbaarCells.lookup({centre.y}, {centre.x})")
        assert found["code"] == cell["cell_id"]
        assert found["distance_m"] == pytest.approx(cell["distance_m"], abs=5.0)

        # The search box finds a gemeente by part of its name.
        page.locator(".leaflet-control-search input").press_sequentially("Biblio")
        page.wait_for_selector(".search-tip", timeout=5000)
        assert "Bibliostad" in page.locator(".search-tooltip").inner_text()

        _screenshot(page, shots / "kaart.png", record_property, "kaart")
    finally:
        page.close()
    _check_offline(visit)


def test_rapport_renders_offline(
    demo_run: RunResult,
    browser: Any,
    shots: Path,
    record_property: Callable[[str, object], None],
) -> None:
    rapport = demo_run.outputs.get("rapport")
    if rapport is None or not Path(rapport).is_file():
        pytest.skip("this run wrote no rapport.html")
    page, visit = _open(browser, Path(rapport))
    try:
        body = page.locator("body").inner_text()
        flagged = demo_run.summary.loc[demo_run.summary["te_groot"], "gemeentenaam"]
        assert len(flagged) > 0
        for name in flagged:
            assert name in body, name
        assert page.locator('img[src="x"]').count() == 0
        _screenshot(page, shots / "rapport.png", record_property, "rapport")
    finally:
        page.close()
    _check_offline(visit)


_MAP_JS = """() => Object.values(window).find(v => v instanceof L.Map)"""


def _rect(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return {
        "l": box["x"],
        "t": box["y"],
        "r": box["x"] + box["width"],
        "b": box["y"] + box["height"],
    }


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]


@pytest.mark.parametrize("viewport", [(1400, 900), (390, 844)], ids=["1400x900", "390x844"])
def test_kaart_reads_offline(
    demo_run: RunResult,
    browser: Any,
    shots: Path,
    record_property: Callable[[str, object], None],
    viewport: tuple[int, int],
) -> None:
    """Labels, wrapped tooltips, controls that cover nothing, the no-background notice."""
    width, height = viewport
    page, visit = _open(browser, demo_run.outputs["kaart"], viewport)
    try:
        # Offline the PDOK tiles fail: "Geen achtergrond" is selected and a notice says so;
        # Kadaster is no longer credited.
        page.wait_for_selector(".bereikbaar-notice", state="visible", timeout=10_000)
        assert "Geen achtergrondkaart" in page.locator(".bereikbaar-notice").inner_text()
        assert "Kadaster" not in page.locator(".leaflet-control-attribution").inner_text()
        page.evaluate("window.bereikbaarLabels.declutter()")

        # One permanent label per gemeente (5 in the demo), names as text; no two shown
        # labels overlap.
        labels = page.locator(".bereikbaar-label-gemeente span")
        assert labels.count() == 5
        names = set(labels.all_text_contents())
        assert names == set(demo_run.summary["gemeentenaam"])
        shown = [
            b
            for b in page.evaluate(
                """() => Array.from(document.querySelectorAll('.bereikbaar-label span'))
                .filter(s => s.style.visibility !== 'hidden')
                .map(s => { const r = s.getBoundingClientRect();
                            return {l: r.left, t: r.top, r: r.right, b: r.bottom}; })"""
            )
        ]
        assert len(shown) >= (3 if width > 800 else 2)
        for i, a in enumerate(shown):
            for b in shown[i + 1 :]:
                assert not _overlap(a, b), (a, b)
        # and no shown name lies under a branch icon (it moves beside it, or hides)
        icons = page.evaluate(
            """() => Array.from(document.querySelectorAll('.bereikbaar-branch')).map(i => {
                const r = i.getBoundingClientRect();
                return {l: r.left, t: r.top, r: r.right, b: r.bottom}; })"""
        )
        assert icons
        for a in shown:
            for b in icons:
                assert not _overlap(a, b), (a, b)
        assert page.locator(".bereikbaar-label-village span, .bereikbaar-label-town span").count()

        # Legend and layer control: apart, and no marker's click point under either.
        layers = _rect(page, ".leaflet-control-layers")
        legend = _rect(page, ".bereikbaar-legend")
        assert not _overlap(layers, legend)
        assert "leaflet-control-layers-expanded" not in (
            page.locator(".leaflet-control-layers").get_attribute("class") or ""
        )
        centres = page.evaluate(
            """() => Array.from(document.querySelectorAll('img.bereikbaar-branch')).map(i => {
                const r = i.getBoundingClientRect();
                return [(r.left + r.right) / 2, (r.top + r.bottom) / 2]; })"""
        )
        assert len(centres) == sum(b.x is not None for b in demo.BRANCHES)
        for x, y in centres:
            assert 0 <= x <= width and 0 <= y <= height, (x, y)
            for box in (layers, legend):
                assert not (box["l"] <= x <= box["r"] and box["t"] <= y <= box["b"]), (x, y, box)

        _screenshot(page, shots / f"kaart_{width}x{height}.png", record_property, "kaart")

        # Tooltips of every gemeente (hovered where its label is) and every branch wrap
        # inside the viewport.
        widest = 0.0
        points = (
            page.evaluate(
                """() => Array.from(document.querySelectorAll('.bereikbaar-label-gemeente span'))
                .map(s => { const r = s.getBoundingClientRect();
                            return [(r.left + r.right) / 2, r.bottom + 4]; })"""
            )
            + centres
        )
        controls = [_rect(page, sel) for sel in (".leaflet-control-layers", ".bereikbaar-legend")]
        hovered = 0
        for x, y in points:
            if not (0 < x < width and 0 < y < height) or any(
                c["l"] <= x <= c["r"] and c["t"] <= y <= c["b"] for c in controls
            ):
                continue
            on_map = page.evaluate(
                "([x, y]) => { const e = document.elementFromPoint(x, y);"
                " return !!e && !!e.closest('.leaflet-map-pane'); }",
                [x, y],
            )
            if not on_map:  # under another control (the notice, the zoom buttons)
                continue
            hovered += 1
            page.mouse.move(x, y)
            tip = page.locator(".leaflet-tooltip.bereikbaar-tip").last
            tip.wait_for(state="visible", timeout=3000)
            box = tip.bounding_box()
            assert box is not None
            widest = max(widest, box["width"])
            assert box["width"] <= width, box
            page.mouse.move(1, height - 1)
        assert hovered >= len(centres)
        record_property(f"widest_tooltip_px_{width}", widest)
        print(f"widest tooltip at {width}x{height}: {widest:.0f} px of {hovered} hovered")
    finally:
        page.close()
    _check_offline(visit)


def _headings(html_text: str) -> set[str]:
    from html.parser import HTMLParser

    found: set[str] = set()

    class Collect(HTMLParser):
        depth = 0
        text = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("h1", "h2", "h3"):
                self.depth, self.text = 1, ""

        def handle_endtag(self, tag: str) -> None:
            if tag in ("h1", "h2", "h3") and self.depth:
                found.add(" ".join(self.text.split()))
                self.depth = 0

        def handle_data(self, data: str) -> None:
            if self.depth:
                self.text += data

    Collect().feed(html_text)
    return found


def test_rapport_pdf_pages(
    demo_run: RunResult, shots: Path, record_property: Callable[[str, object], None]
) -> None:
    """rapport.pdf (A4, printed by Chromium): a new page per flagged gemeente, no page under
    a quarter full but the last, no heading left at the bottom of a page."""
    import numpy as np
    import pypdfium2

    pdf_path = demo_run.outputs.get("rapport_pdf")
    assert pdf_path is not None and Path(pdf_path).is_file()  # chromium is installed here
    headings = _headings(Path(demo_run.outputs["rapport"]).read_text(encoding="utf-8"))
    assert "Kernfeiten" in headings
    doc = pypdfium2.PdfDocument(str(pdf_path))
    pages: list[tuple[list[str], float]] = []
    try:
        for k, page in enumerate(doc):
            width, height = page.get_size()
            assert (round(width), round(height)) == (595, 842)  # A4 in points
            text = page.get_textpage().get_text_range()
            lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
            image = page.render(scale=1.5).to_pil()
            image.save(shots / f"rapport_p{k + 1}.png")
            record_property(f"screenshot_rapport_p{k + 1}", str(shots / f"rapport_p{k + 1}.png"))
            grey = np.asarray(image.convert("L"))
            ink = np.flatnonzero((grey < 200).any(axis=1))
            used = (ink.max() - ink.min()) / grey.shape[0] if len(ink) else 0.0
            pages.append((lines, float(used)))
    finally:
        doc.close()
    print("rapport.pdf pages (share of the page height used):", [round(u, 2) for _, u in pages])
    record_property("rapport_pdf_pages", len(pages))
    firsts = [lines[0] if lines else "" for lines, _ in pages]
    for name, code in demo_run.flagged[["gemeentenaam", "gemeentecode"]].itertuples(index=False):
        assert f"{name} ({code})" in firsts, (name, firsts)
    for k, (lines, used) in enumerate(pages[:-1]):
        assert used >= 0.25, (k + 1, used)
        assert lines and lines[-1] not in headings, (k + 1, lines[-1])
