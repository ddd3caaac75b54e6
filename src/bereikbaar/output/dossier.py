"""The consultation dossier: one self-contained, printable HTML file per run (Dutch, A4).

Plain HTML + CSS, maps as inline SVG drawn here from the RD New geometries. No scripts, no
external requests (a Content-Security-Policy forbids them as a second line of defence), every
string from the input data HTML-escaped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from bereikbaar import schema as s
from bereikbaar.aggregate import assign_gemeenten
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output.files import atomic_path, safe_filename
from bereikbaar.output.frames import bool_mask, truthy
from bereikbaar.output.style import (
    DOSSIER_CLASSES,
    DOSSIER_NUMBERS,
    SOURCE_LINE,
    UNREACHABLE_COLOUR,
    classify_km,
    escape_html,
    is_missing,
    nl_general,
    nl_number,
)
from bereikbaar.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["dossier_html", "write_dossier"]

_MODE_NL = {"car": "auto", "bike": "fiets", "walk": "te voet"}
_FULL_SERVICE_COLOUR = "#08519c"
_OTHER_BRANCH_COLOUR = "#6a51a3"
_SITE_COLOUR = "#e7298a"
_SVG_WIDTH_PX = 640
_NEAREST_FULL_SERVICE = 5
_MAP_SERVING_SHARE = 0.05
"""A library serving at least this share of a gemeente's residents widens its map to show it."""
_MAP_MAX_REACH_M = 30_000.0
"""... unless it lies farther than this from the gemeente (metres)."""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
@page { size: A4 portrait; margin: 15mm 14mm 16mm 14mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "Segoe UI", Calibri, Arial, sans-serif; font-size: 10.5pt; color: #1f1f1f;
       line-height: 1.4; max-width: 190mm; margin: 0 auto; padding: 8mm 6mm; }
h1 { font-size: 19pt; margin: 0 0 2mm; color: #08306b; }
h2 { font-size: 15pt; margin: 0 0 2mm; color: #08306b; border-bottom: 2px solid #08306b; }
h3 { font-size: 11.5pt; margin: 5mm 0 1.5mm; color: #08306b; }
p { margin: 1.5mm 0; }
.sub { color: #555; margin-bottom: 4mm; }
.note { color: #555; font-size: 9pt; }
.flag { color: #b2182b; font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 1.5mm 0 3mm; font-size: 9.5pt; }
th, td { border-bottom: 1px solid #d9d9d9; padding: 1mm 1.5mm; text-align: left;
         vertical-align: top; }
th { background: #eef3f8; font-weight: 600; }
td.n, th.n { text-align: right; white-space: nowrap; }
tr { break-inside: avoid; page-break-inside: avoid; }
table.facts th { width: 58%; background: none; font-weight: normal; color: #333; }
table.facts td { font-weight: 600; }
ul.reasons { margin: 1mm 0 3mm; padding-left: 6mm; }
ul.reasons li { margin: 0.8mm 0; }
figure { margin: 2mm 0 3mm; break-inside: avoid; page-break-inside: avoid; }
figure svg { width: 100%; height: auto; max-height: 125mm; border: 1px solid #bbb;
             background: #fafafa; display: block; }
figcaption { font-size: 8.5pt; color: #444; margin-top: 1mm; }
.legend span.sw { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px;
                  border: 1px solid #555; vertical-align: -1px; }
.legend span.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
                   margin: 0 3px 0 8px; vertical-align: -1px; }
section.gemeente { break-before: page; page-break-before: always; }
section.bronnen { break-before: page; page-break-before: always; }
.rule { border: 1px solid #c6dbef; background: #f4f8fc; padding: 2mm 3mm; margin: 2mm 0 4mm; }
.hook { border: 1px dashed #999; padding: 2mm 3mm; color: #444; }
code, .mono { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: 8.5pt;
              word-break: break-all; }
nav ol { columns: 2; margin: 1mm 0 3mm; }
@media print {
  body { padding: 0; max-width: none; }
  a { color: inherit; text-decoration: none; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


# --------------------------------------------------------------------------- SVG map


class _SvgFrame:
    """Maps RD New metres onto SVG user units (metres from the top-left corner, y down)."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        xmin, ymin, xmax, ymax = bounds
        w, h = xmax - xmin, ymax - ymin
        side = max(w, h, 2000.0)
        pad = 0.05 * side
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        half_w = max(w, 0.55 * side) / 2 + pad
        half_h = max(h, 0.55 * side) / 2 + pad
        self.x0, self.y1 = cx - half_w, cy + half_h
        self.width, self.height = 2 * half_w, 2 * half_h
        self.tolerance = max(self.width, self.height) / 900.0

    def box(self) -> Polygon:
        return shapely.box(self.x0, self.y1 - self.height, self.x0 + self.width, self.y1)

    def xy(self, x: float, y: float) -> tuple[int, int]:
        return round(x - self.x0), round(self.y1 - y)

    def path(self, geom: BaseGeometry | None) -> str:
        """SVG path data of a (multi)polygon's rings, simplified to ~1/900 of the frame."""
        if geom is None or geom.is_empty:
            return ""
        geom = geom.simplify(self.tolerance, preserve_topology=True)
        parts: list[str] = []
        for poly in getattr(geom, "geoms", [geom]):
            if not isinstance(poly, Polygon):
                continue
            for ring in (poly.exterior, *poly.interiors):
                pts: list[tuple[int, int]] = []
                for x, y in np.asarray(ring.coords)[:, :2]:
                    p = self.xy(float(x), float(y))
                    if not pts or pts[-1] != p:
                        pts.append(p)
                if len(pts) >= 3:
                    parts.append("M" + " ".join(f"{a} {b}" for a, b in pts) + "Z")
        return "".join(parts)


def _nice_length_m(width_m: float) -> float:
    for km in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if km * 1000 >= width_m / 6:
            return km * 1000.0
    return 100_000.0


def _svg_map(
    gemeente: pd.Series,
    cells: gpd.GeoDataFrame,
    classes: npt.NDArray[np.int64],
    colours: Sequence[str],
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    extra_points: Sequence[tuple[float, float]],
    sites: gpd.GeoDataFrame | None,
) -> str:
    """Inline SVG: neighbours, the gemeente's cells by distance class, outline, branches."""
    geom = gemeente.geometry
    bounds = list(geom.bounds) if geom is not None and not geom.is_empty else [0.0, 0.0, 1.0, 1.0]
    for x, y in extra_points:
        bounds = [min(bounds[0], x), min(bounds[1], y), max(bounds[2], x), max(bounds[3], y)]
    frame = _SvgFrame((bounds[0], bounds[1], bounds[2], bounds[3]))
    view = frame.box()
    r = max(frame.width, frame.height) / 110.0
    font = max(frame.width, frame.height) / 48.0
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width:.0f} '
        f'{frame.height:.0f}" width="{_SVG_WIDTH_PX}" role="img" '
        f'aria-label="Kaart van {escape_html(gemeente.get(s.GEMEENTENAAM))}">'
    ]
    # neighbouring gemeenten (light grey), clipped by the view box
    idx = summary.sindex.query(view, predicate="intersects")
    for _, nb in summary.iloc[np.sort(idx)].iterrows():
        if nb[s.GEMEENTECODE] == gemeente[s.GEMEENTECODE]:
            continue
        d = frame.path(nb.geometry.intersection(view) if nb.geometry is not None else None)
        if d:
            out.append(
                f'<path d="{d}" fill="#f0f0f0" stroke="#b0b0b0" stroke-width="0.8" '
                f'vector-effect="non-scaling-stroke" fill-rule="evenodd">'
                f"<title>{escape_html(nb.get(s.GEMEENTENAAM))}</title></path>"
            )
    # cells, one dissolved path per distance class
    for k in np.unique(classes):
        members = cells.geometry.to_numpy()[classes == k]
        union = shapely.union_all(members)
        colour = UNREACHABLE_COLOUR if k < 0 else colours[int(k)]
        out.append(f'<path d="{frame.path(union)}" fill="{colour}" stroke="none"/>')
    out.append(
        f'<path d="{frame.path(geom)}" fill="none" stroke="#b2182b" stroke-width="2.2" '
        f'vector-effect="non-scaling-stroke" fill-rule="evenodd"/>'
    )
    # branches in view: other types first, full-service on top
    libs = libraries[libraries.geometry.notna() & ~libraries.geometry.is_empty]
    libs = libs.iloc[np.sort(libs.sindex.query(view, predicate="intersects"))]
    fs = _full_service_mask(libs)
    for is_fs in (False, True):
        for _, lib in libs[fs == is_fs].iterrows():
            cx, cy = frame.xy(lib.geometry.x, lib.geometry.y)
            kind = s.BRANCH_TYPE_LABELS_NL.get(str(lib.get(s.BRANCH_TYPE)), "Overig")
            title = f"<title>{escape_html(lib.get(s.NAME))} ({escape_html(kind)})</title>"
            if is_fs:
                out.append(
                    f'<circle cx="{cx}" cy="{cy}" r="{r * 1.2:.0f}" fill="{_FULL_SERVICE_COLOUR}" '
                    f'stroke="#fff" stroke-width="1.5" vector-effect="non-scaling-stroke">'
                    f"{title}</circle>"
                )
            else:
                out.append(
                    f'<rect x="{cx - r * 0.8:.0f}" y="{cy - r * 0.8:.0f}" width="{r * 1.6:.0f}" '
                    f'height="{r * 1.6:.0f}" fill="#fff" stroke="{_OTHER_BRANCH_COLOUR}" '
                    f'stroke-width="2" vector-effect="non-scaling-stroke">{title}</rect>'
                )
    if sites is not None:
        pts = sites[sites.geometry.notna() & ~sites.geometry.is_empty]
        ranks = pts["rang"].tolist() if "rang" in pts.columns else range(1, len(pts) + 1)
        for i, (_, site) in zip(ranks, pts.iterrows(), strict=True):
            c = site.geometry.centroid
            cx, cy = frame.xy(c.x, c.y)
            out.append(
                f'<path d="M{cx} {cy - r * 1.5:.0f} L{cx + r * 1.3:.0f} {cy + r:.0f} '
                f'L{cx - r * 1.3:.0f} {cy + r:.0f}Z" fill="{_SITE_COLOUR}" stroke="#fff" '
                f'stroke-width="1.5" vector-effect="non-scaling-stroke">'
                f"<title>Voorgestelde locatie {escape_html(i)}</title></path>"
                f'<text x="{cx + r * 1.5:.0f}" y="{cy + r * 0.5:.0f}" font-size="{font:.0f}" '
                f'font-family="Arial, sans-serif" font-weight="bold" fill="{_SITE_COLOUR}">'
                f"{escape_html(i)}</text>"
            )
    # scale bar (bottom left)
    bar = _nice_length_m(frame.width)
    x0, y0 = frame.width * 0.04, frame.height * 0.95
    out.append(
        f'<rect x="{x0:.0f}" y="{y0 - font * 0.45:.0f}" width="{bar:.0f}" '
        f'height="{font * 0.35:.0f}" fill="#222"/>'
        f'<text x="{x0:.0f}" y="{y0 - font * 0.7:.0f}" font-size="{font:.0f}" '
        f'font-family="Arial, sans-serif" fill="#222">{nl_general(bar / 1000)} km</text>'
    )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- per-gemeente facts


def _full_service_mask(libraries: pd.DataFrame) -> npt.NDArray[np.bool_]:
    if s.FULL_SERVICE not in libraries.columns:
        return np.zeros(len(libraries), dtype=bool)
    return bool_mask(libraries[s.FULL_SERVICE])


def _cell_gemeenten(cells: gpd.GeoDataFrame, summary: gpd.GeoDataFrame) -> npt.NDArray[np.object_]:
    """Gemeentecode per cell, assigned exactly as :func:`aggregate_gemeenten` does."""
    if s.GEMEENTECODE not in cells.columns:
        return assign_gemeenten(cells, summary).to_numpy(dtype=object)
    given = cells[s.GEMEENTECODE]
    known = (given.notna() & (given.astype(str) != "")).to_numpy(dtype=bool)
    code: npt.NDArray[np.object_] = given.to_numpy(dtype=object).copy()
    if not known.all():  # only the cells without a code are assigned by centroid
        code[~known] = assign_gemeenten(cells[~known], summary).to_numpy(dtype=object)
    return code


def _library_cells(lib: pd.Series) -> list[str]:
    raw_type = lib.get(s.BRANCH_TYPE)
    kind = s.BRANCH_TYPE_LABELS_NL.get(str(raw_type), "" if is_missing(raw_type) else str(raw_type))
    place = lib.get(s.PLACE) if s.PLACE in lib.index else None
    address = " ".join(
        str(v) for v in (lib.get(s.ADDRESS), lib.get(s.POSTCODE)) if not is_missing(v) and v != ""
    )
    return [
        escape_html(lib.get(s.NAME)),
        escape_html(kind),
        escape_html(address),
        escape_html(place),
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table; ``headers`` and ``rows`` are already escaped."""
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{h}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sites_for(
    sites: pd.DataFrame | Mapping[str, pd.DataFrame] | None, code: str
) -> pd.DataFrame | None:
    if sites is None:
        return None
    if isinstance(sites, Mapping):
        return sites.get(code)
    if s.GEMEENTECODE in sites.columns:
        return sites[sites[s.GEMEENTECODE].astype(str) == code]
    return sites


_SITE_HEADERS_NL = {
    "inwoners_erbij_binnen_bereik": "Inwoners erbij binnen bereik (bovenop hogere rangen)",
    "inwoners_binnen_bereik_alleen": "Inwoners binnen bereik (deze locatie alleen)",
    "vierkant": "CBS-vierkant",
}


def _sites_html(table: pd.DataFrame | None, threshold_km: float) -> str:
    # HOOK(scenarios): suggested sites for a new full-service library come from
    # bereikbaar.scenarios (best_sites_for_gemeente) via the ``sites`` argument of write_dossier.
    if table is None:
        return (
            '<div class="hook">Locatiesuggesties zijn in deze run niet berekend. Met de '
            "scenario-analyse van bereikbaar kunnen kandidaatlocaties voor een volwaardige "
            "bibliotheek worden toegevoegd aan dit dossier.</div>"
        )
    if len(table) == 0:
        return '<p class="note">De scenario-analyse vond geen locatie die de afstand verkleint.</p>'
    geom_col = table.geometry.name if isinstance(table, gpd.GeoDataFrame) else None
    cols = [str(c) for c in table.columns if c not in (geom_col, s.GEMEENTECODE, "rang")]
    headers = ["#", *(escape_html(_SITE_HEADERS_NL.get(c, c.replace("_", " "))) for c in cols)]
    ranks = table["rang"].tolist() if "rang" in table.columns else range(1, len(table) + 1)
    rows: list[list[str]] = []
    numeric: set[int] = set()
    for rank, (_, row) in zip(ranks, table.iterrows(), strict=True):
        cells = [escape_html(rank)]
        for j, c in enumerate(cols, start=1):
            v = row[c]
            if isinstance(v, bool | np.bool_):
                cells.append("ja" if v else "nee")
            elif isinstance(v, int | np.integer):
                cells.append(DOSSIER_NUMBERS.count(v))
                numeric.add(j)
            elif isinstance(v, float | np.floating) and not is_missing(v):
                cells.append(escape_html(nl_number(float(v), 2, grouping=False)))
                numeric.add(j)
            else:
                cells.append(escape_html(v))
        rows.append(cells)
    if geom_col is not None:
        headers.append("RD x, y (m)")
        for cells, geom in zip(rows, table.geometry, strict=True):
            if geom is None or geom.is_empty:
                cells.append("–")
            else:
                c = geom.centroid
                cells.append(f"{c.x:.0f}, {c.y:.0f}")
    note = (
        '<p class="note">Kandidaatlocaties voor een nieuwe volwaardige bibliotheek, gerangschikt '
        "naar het aantal inwoners dat nu verder dan "
        f"{escape_html(nl_general(threshold_km))} km woont en dan binnen die afstand komt "
        "(over de weg). "
        "Een suggestie om het gesprek te openen, geen advies.</p>"
    )
    return note + _table(headers, rows, numeric)


def _outside_fact(row: pd.Series) -> list[tuple[str, str]]:
    """The residents outside the network's coverage, when there are any (one fact row)."""
    if s.POPULATION_COVERED not in row.index:
        return []
    try:
        total = float(row[s.POPULATION])
        covered = float(row[s.POPULATION_COVERED])
    except (TypeError, ValueError):
        return []
    if not (np.isfinite(total) and np.isfinite(covered)) or covered >= total:
        return []
    label = "Inwoners buiten het gebied van het wegennet (niet meegeteld)"
    return [(label, DOSSIER_NUMBERS.count(float(total - covered)))]


def _buurten_html(buurten: pd.DataFrame | None, threshold_km: float, top: int = 5) -> str:
    """The buurten of one gemeente with the most residents beyond the threshold (a small table)."""
    if buurten is None or len(buurten) == 0:
        return ""
    far = buurten[buurten[s.POPULATION_BEYOND].astype(float) > 0]
    if len(far) == 0:
        return ""
    far = far.sort_values([s.POPULATION_BEYOND, s.BUURTCODE], ascending=[False, True]).head(top)
    rows = [
        [
            escape_html(r.get(s.BUURTNAAM)),
            escape_html(r.get(s.BUURTCODE)),
            DOSSIER_NUMBERS.count(r.get(s.POPULATION)),
            DOSSIER_NUMBERS.km(r.get(s.MEAN_DISTANCE_KM)),
            f"{DOSSIER_NUMBERS.count(r.get(s.POPULATION_BEYOND))} "
            f"({DOSSIER_NUMBERS.share(r.get(s.SHARE_BEYOND))})"
            + (" · onvolledig" if truthy(r.get(s.ONVOLLEDIG)) else ""),
        ]
        for _, r in far.iterrows()
    ]
    head = f"&gt; {escape_html(nl_general(threshold_km))} km"
    return (
        f"<h3>Buurten met de meeste inwoners verder dan {escape_html(nl_general(threshold_km))}"
        " km</h3>" + _table(["Buurt", "Code", "Inwoners", "Gem. afstand", head], rows, {2, 3, 4})
    )


def _plausibility_html(provenance: Mapping[str, Any] | None) -> str:
    """A short section: how far the numbers can be trusted (run.json's plausibility block)."""
    block = (provenance or {}).get("plausibiliteit")
    if not isinstance(block, Mapping):
        return ""
    facts: list[tuple[str, str]] = []
    facts.append(
        (
            "Inwoners binnen het gebied van het wegennet",
            DOSSIER_NUMBERS.share(block.get("share_covered")),
        )
    )
    snap = block.get("snap_m")
    if isinstance(snap, Mapping) and snap.get("p50") is not None:
        facts.append(
            (
                "Afstand vierkant tot de weg (p50 / p95 / max)",
                " / ".join(f"{nl_general(round(float(snap[k])))} m" for k in ("p50", "p95", "max")),
            )
        )
    if block.get("core_share_of_nodes") is not None:
        facts.append(
            (
                "Knopen in het samenhangende kernnet",
                DOSSIER_NUMBERS.share(block.get("core_share_of_nodes")),
            )
        )
    unused = block.get("libraries_not_used")
    if isinstance(unused, Mapping):
        text = ", ".join(f"{n} {reason}" for reason, n in unused.items() if n) or "geen"
        facts.append(("Bibliotheken niet gebruikt (reden)", text))
    agreement = block.get("cbs_agreement")
    if isinstance(agreement, Mapping):
        for level, st in agreement.items():
            if not isinstance(st, Mapping):
                continue
            rho = st.get("spearman_rho")
            med = st.get("median_abs_difference_km")
            facts.append(
                (
                    f"Overeenkomst met CBS per {level} (n, mediaan |verschil|, Spearman)",
                    f"{st.get('n')}, {DOSSIER_NUMBERS.km(med)}, "
                    + (nl_general(round(float(rho), 2)) if rho is not None and rho == rho else "–"),
                )
            )
    rows = "".join(
        f"<tr><th>{escape_html(k)}</th><td class=n>{escape_html(v)}</td></tr>" for k, v in facts
    )
    return (
        '<section class="plausibiliteit"><h2>Plausibiliteit</h2>'
        "<p class=note>Hoe ver de getallen te vertrouwen zijn (ook in run.json, "
        "<span class=mono>plausibiliteit</span>).</p>"
        f"<table class=facts><tbody>{rows}</tbody></table></section>"
    )


def _gemeente_section(
    row: pd.Series,
    cells: gpd.GeoDataFrame,
    in_gem: npt.NDArray[np.bool_],
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    settings: Settings,
    sites: pd.DataFrame | None,
    buurten: pd.DataFrame | None = None,
) -> str:
    rule = settings.flag_rule
    code = str(row[s.GEMEENTECODE])
    name = row.get(s.GEMEENTENAAM)
    gcells = cells[in_gem]
    pop = gcells[s.POPULATION].to_numpy(dtype=float)
    dist_km = gcells[s.DISTANCE_M].to_numpy(dtype=float) / 1000.0
    reach = (
        gcells[s.REACHABLE].to_numpy(dtype=bool)
        if s.REACHABLE in gcells.columns
        else np.isfinite(dist_km)
    )
    dist_km = np.where(reach, dist_km, np.nan)
    parts: list[str] = [
        f'<section class="gemeente" id="{escape_html("g-" + safe_filename(code))}">',
        f"<h2>{escape_html(name)} <span class=note>({escape_html(code)})</span></h2>",
    ]
    if bool(row.get(s.TE_GROOT, False)):
        parts.append('<p class="flag">Afstand tot een volwaardige bibliotheek: te groot</p>')
    reasons = [r for r in str("" if is_missing(row.get(s.REASONS)) else row[s.REASONS]).split("; ")]
    reasons = [r for r in reasons if r]
    if reasons:
        parts.append("<h3>Waarom deze gemeente is gemarkeerd</h3><ul class=reasons>")
        parts.extend(f"<li>{escape_html(r)}</li>" for r in reasons)
        parts.append("</ul>")

    libs_geo = libraries[libraries.geometry.notna() & ~libraries.geometry.is_empty]
    geom = row.geometry
    inside = (
        libs_geo.within(geom).to_numpy(dtype=bool)
        if geom is not None and not geom.is_empty
        else np.zeros(len(libs_geo), dtype=bool)
    )
    fs_geo = _full_service_mask(libs_geo)
    others = libs_geo[inside & ~fs_geo]

    facts = [
        (
            "Inwoners (CBS-vierkanten met gepubliceerd aantal)",
            DOSSIER_NUMBERS.count(row.get(s.POPULATION)),
        ),
        (
            "Gemiddelde afstand over de weg (persoonsgewogen, vergelijkbaar met CBS)",
            DOSSIER_NUMBERS.km(row.get(s.MEAN_DISTANCE_KM)),
        ),
        ("Mediane afstand", DOSSIER_NUMBERS.km(row.get(s.MEDIAN_DISTANCE_KM))),
        ("90% van de inwoners woont binnen (P90)", DOSSIER_NUMBERS.km(row.get(s.P90_DISTANCE_KM))),
        (
            f"Inwoners verder dan {nl_general(rule.threshold_km)} km of zonder route",
            f"{DOSSIER_NUMBERS.count(row.get(s.POPULATION_BEYOND))} "
            f"({DOSSIER_NUMBERS.share(row.get(s.SHARE_BEYOND))})",
        ),
        (
            "Inwoners zonder route over de weg",
            DOSSIER_NUMBERS.count(row.get(s.POPULATION_UNREACHABLE, float("nan"))),
        ),
        *_outside_fact(row),
        (
            "Volwaardige bibliotheken in de gemeente",
            DOSSIER_NUMBERS.count(row.get(s.FULL_SERVICE_LIBRARIES)),
        ),
        ("Andere bibliotheekvoorzieningen in de gemeente", DOSSIER_NUMBERS.count(len(others))),
        (
            "Bewoonde vierkanten (waarvan aantal geheim)",
            f"{DOSSIER_NUMBERS.count(int(in_gem.sum()))} "
            f"({DOSSIER_NUMBERS.count(int(np.isnan(pop).sum()))})",
        ),
    ]
    parts.append("<h3>Kernfeiten</h3><table class=facts><tbody>")
    parts.extend(
        f"<tr><th>{escape_html(k)}</th><td class=n>{escape_html(v)}</td></tr>" for k, v in facts
    )
    parts.append("</tbody></table>")

    parts.append(_buurten_html(buurten, rule.threshold_km))

    group_rows: list[list[str]] = []
    for col, label in s.GROUP_COLUMNS.items():
        suffix = col.removeprefix(f"{s.POPULATION}_")
        if f"{s.POPULATION}_{suffix}" not in row.index:
            continue
        group_rows.append(
            [
                escape_html(label),
                DOSSIER_NUMBERS.count(row.get(f"{s.POPULATION}_{suffix}")),
                DOSSIER_NUMBERS.km(row.get(f"{s.MEAN_DISTANCE_KM}_{suffix}")),
                f"{DOSSIER_NUMBERS.count(row.get(f'{s.POPULATION_BEYOND}_{suffix}'))} "
                f"({DOSSIER_NUMBERS.share(row.get(f'{s.SHARE_BEYOND}_{suffix}'))})",
            ]
        )
    if group_rows:
        parts.append("<h3>Doelgroepen</h3>")
        parts.append(
            _table(
                [
                    "Groep",
                    "Aantal",
                    "Gemiddelde afstand",
                    f"Verder dan {nl_general(rule.threshold_km)} km",
                ],
                group_rows,
                {1, 2, 3},
            )
        )

    # which full-service libraries the residents reach (the nearest one per cell)
    served_rows: list[list[str]] = []
    serving_points: list[tuple[float, float]] = []
    if s.LIBRARY_ID in gcells.columns and len(gcells):
        w = np.nan_to_num(pop, nan=0.0)
        frame = pd.DataFrame(
            {
                "lib": gcells[s.LIBRARY_ID].to_numpy(dtype=object),
                "w": w,
                "wd": w * np.nan_to_num(dist_km, nan=0.0),
                "d": dist_km,
                "ok": np.isfinite(dist_km),
            }
        )
        frame = frame[frame["ok"] & frame["lib"].notna()]
        grouped = frame.groupby("lib", sort=False).agg(
            residents=("w", "sum"), wd=("wd", "sum"), dmax=("d", "max")
        )
        grouped = grouped[grouped["residents"] > 0].sort_values(
            "residents", ascending=False, kind="stable"
        )
        total = float(np.nansum(pop))
        by_id = libraries.drop_duplicates(s.LIBRARY_ID).set_index(s.LIBRARY_ID)
        for lib_id, g in grouped.iterrows():
            lib = by_id.loc[lib_id] if lib_id in by_id.index else pd.Series({s.NAME: lib_id})
            resid = float(g["residents"])
            lg = lib.get("geometry")
            # the map also shows the libraries that serve a sizeable part of the residents
            if (
                lg is not None
                and not getattr(lg, "is_empty", True)
                and total > 0
                and resid >= _MAP_SERVING_SHARE * total
                and geom is not None
                and lg.distance(geom) <= _MAP_MAX_REACH_M
            ):
                serving_points.append((lg.x, lg.y))
            served_rows.append(
                [
                    *_library_cells(lib),
                    DOSSIER_NUMBERS.count(resid),
                    DOSSIER_NUMBERS.share(resid / total) if total > 0 else "–",
                    DOSSIER_NUMBERS.km(float(g["wd"]) / resid) if resid > 0 else "–",
                    DOSSIER_NUMBERS.km(g["dmax"]),
                ]
            )
    parts.append("<h3>Kaart</h3>")
    bins = DOSSIER_CLASSES.bounds(rule.threshold_km)
    colours = DOSSIER_CLASSES.colours(len(bins) + 1)
    # infinite distances count as missing, like NaN
    classes = classify_km(np.where(np.isfinite(dist_km), dist_km, np.nan), bins)
    gem_sites = sites if isinstance(sites, gpd.GeoDataFrame) and sites.crs is not None else None
    if gem_sites is not None:
        gem_sites = gem_sites.to_crs(s.CRS_RD)
    svg = _svg_map(row, gcells, classes, colours, summary, libraries, serving_points, gem_sites)
    legend = "".join(
        f'<span class=sw style="background:{c}"></span>{escape_html(lab)}'
        for c, lab in zip(colours, DOSSIER_CLASSES.labels(bins), strict=True)
        if (classes == colours.index(c)).any()
    )
    if (classes < 0).any():
        legend += f'<span class=sw style="background:{UNREACHABLE_COLOUR}"></span>geen route'
    legend += (
        f'<br><span class=dot style="background:{_FULL_SERVICE_COLOUR}"></span>volwaardige '
        f'bibliotheek<span class=sw style="background:#fff;border:2px solid '
        f'{_OTHER_BRANCH_COLOUR}"></span>andere voorziening (servicepunt, afhaalpunt, bus …)'
        f'<span class=sw style="background:#fff;border:2px solid #b2182b"></span>gemeentegrens'
    )
    if gem_sites is not None and len(gem_sites):
        legend += f'<span class=dot style="background:{_SITE_COLOUR}"></span>voorgestelde locatie'
    mode_nl = escape_html(_MODE_NL.get(settings.mode, settings.mode))
    parts.append(
        f"<figure>{svg}<figcaption class=legend>Afstand over de weg ({mode_nl}) "
        f"van elk bewoond vierkant tot de dichtstbijzijnde volwaardige bibliotheek:{legend}"
        f"<br>Noord is boven. Kaart: RD New (EPSG:28992).</figcaption></figure>"
    )

    parts.append("<h3>Dichtstbijzijnde volwaardige bibliotheken van de inwoners</h3>")
    if served_rows:
        parts.append(
            '<p class="note">Voor elk bewoond vierkant de volwaardige bibliotheek die over de weg '
            "het dichtst bij ligt; afstanden over de weg, persoonsgewogen.</p>"
        )
        parts.append(
            _table(
                [
                    "Bibliotheek",
                    "Type",
                    "Adres",
                    "Plaats",
                    "Inwoners",
                    "Aandeel",
                    "Gem. afstand",
                    "Max. afstand",
                ],
                served_rows,
                {4, 5, 6, 7},
            )
        )
    else:
        parts.append(
            "<p>Geen enkele inwoner kan over de weg een volwaardige bibliotheek bereiken.</p>"
        )

    fs_all = libs_geo[fs_geo]
    if geom is not None and not geom.is_empty and len(fs_all):
        gap_km = fs_all.distance(geom).to_numpy(dtype=float) / 1000.0
        order = np.argsort(gap_km, kind="stable")[:_NEAREST_FULL_SERVICE]
        near_rows = []
        for i in order:
            lib = fs_all.iloc[int(i)]
            where_txt = (
                "in de gemeente"
                if gap_km[i] <= 0
                else f"{DOSSIER_NUMBERS.km(gap_km[i])} buiten de grens"
            )
            near_rows.append([*_library_cells(lib), escape_html(where_txt)])
        parts.append("<h3>Volwaardige bibliotheken in en rond de gemeente</h3>")
        parts.append(
            '<p class="note">Hemelsbreed gemeten vanaf de gemeentegrens; de '
            f"{_NEAREST_FULL_SERVICE} dichtstbijzijnde.</p>"
        )
        parts.append(
            _table(["Bibliotheek", "Type", "Adres", "Plaats", "Ligging"], near_rows, set())
        )
    if len(others):
        parts.append("<h3>Andere bibliotheekvoorzieningen in de gemeente</h3>")
        parts.append(
            '<p class="note">Deze tellen volgens de instellingen van deze run niet als '
            "volwaardige bibliotheek.</p>"
        )
        parts.append(
            _table(
                ["Naam", "Type", "Adres", "Plaats"],
                [_library_cells(lib) for _, lib in others.iterrows()],
                set(),
            )
        )
    parts.append("<h3>Voorgestelde locaties</h3>")
    parts.append(_sites_html(sites, rule.threshold_km))
    parts.append("</section>")
    return "".join(parts)


# --------------------------------------------------------------------------- whole document


def _rule_html(settings: Settings) -> str:
    rule = settings.flag_rule
    types = ", ".join(
        s.BRANCH_TYPE_LABELS_NL.get(t, t).lower() for t in settings.full_service_types
    )
    return (
        '<div class="rule"><b>Wanneer is de afstand "te groot"?</b> Er bestaat <b>geen '
        "officiële norm</b>; de criteria hieronder zijn <b>instelbare beleidskeuzes</b> "
        "(<code>[flag_rule]</code> in de configuratie). Een gemeente wordt gemarkeerd zodra één "
        "criterium geldt:<ul>"
        f"<li>(a) geen volwaardige bibliotheek in de gemeente <b>en</b> een gemiddelde afstand "
        f"boven {escape_html(nl_general(rule.no_library_mean_km))} km;</li>"
        f"<li>(b) {escape_html(DOSSIER_NUMBERS.share(rule.max_share_beyond))} of meer van de "
        "inwoners woont verder dan "
        f"{escape_html(nl_general(rule.threshold_km))} km van een volwaardige bibliotheek;</li>"
        "<li>(c) de gemiddelde afstand is "
        f"{escape_html(nl_general(rule.max_mean_km))} km of meer.</li>"
        "</ul>Inwoners zonder route over de weg tellen als verder dan de drempel. "
        f"Volwaardig = {escape_html(types)}. Afstand over de weg per "
        f"{escape_html(_MODE_NL.get(settings.mode, settings.mode))}, vanaf het middelpunt van "
        "elk bewoond CBS-vierkant, persoonsgewogen zoals in de CBS Nabijheidsstatistiek.</div>"
    )


def _overview_html(summary: gpd.GeoDataFrame, settings: Settings) -> str:
    order = summary.assign(
        _f=~summary[s.TE_GROOT].fillna(False).astype(bool),
        _m=-summary[s.MEAN_DISTANCE_KM].astype(float).fillna(-1.0),
    ).sort_values(["_f", "_m"], kind="stable")
    rows = [
        [
            escape_html(r.get(s.GEMEENTENAAM)),
            escape_html(r.get(s.GEMEENTECODE)),
            DOSSIER_NUMBERS.count(r.get(s.POPULATION)),
            DOSSIER_NUMBERS.km(r.get(s.MEAN_DISTANCE_KM)),
            DOSSIER_NUMBERS.km(r.get(s.P90_DISTANCE_KM)),
            DOSSIER_NUMBERS.share(r.get(s.SHARE_BEYOND)),
            DOSSIER_NUMBERS.count(r.get(s.FULL_SERVICE_LIBRARIES)),
            '<span class="flag">ja</span>'
            if bool(r.get(s.TE_GROOT))
            else ("onvolledig" if truthy(r.get(s.ONVOLLEDIG)) else "nee"),
        ]
        for _, r in order.iterrows()
    ]
    return _table(
        [
            "Gemeente",
            "Code",
            "Inwoners",
            "Gem. afstand",
            "P90",
            f"&gt; {escape_html(nl_general(settings.flag_rule.threshold_km))} km",
            "Volw. bibl.",
            "Te groot",
        ],
        rows,
        {2, 3, 4, 5, 6},
    )


def _sources_html(provenance: Mapping[str, Any] | None) -> str:
    parts = [
        '<section class="bronnen"><h2>Bronnen en verantwoording</h2>',
        "<ul>",
        "<li>Inwoners: CBS, Kaart met statistieken per vierkant (100 m of 500 m); vierkanten met "
        "een geheimgehouden aantal tellen niet mee.</li>",
        "<li>Gemeentegrenzen: CBS Wijk- en buurtkaart / gebiedsindelingen (landdelen).</li>",
        "<li>Wegennet: © OpenStreetMap-bijdragers (ODbL).</li>",
        "<li>Bibliotheekvestigingen: KB (Koninklijke Bibliotheek), lijst van vestigingen.</li>",
        "</ul>",
        f'<p class="note">{escape_html(SOURCE_LINE)}. Berekend met bereikbaar.</p>',
    ]
    if provenance:
        parts.append("<h3>Herkomst van deze run</h3>")
        facts = [
            ("Gemaakt", provenance.get("created")),
            ("bereikbaar-versie", provenance.get("bereikbaar")),
        ]
        counts = provenance.get("counts")
        if isinstance(counts, Mapping):
            facts.extend(
                (label, counts.get(key))
                for key, label in (
                    ("gemeenten", "Gemeenten"),
                    ("te_groot", "Gemeenten te groot"),
                    ("cells", "Bewoonde vierkanten"),
                    ("unreachable_cells", "Vierkanten zonder afstand"),
                    ("onvolledig", "Gemeenten onvolledig (te weinig inwoners binnen het wegennet)"),
                    ("libraries", "Bibliotheekvoorzieningen"),
                )
                if key in counts
            )
            per_reason = counts.get("unreachable_per_reason")
            if isinstance(per_reason, Mapping):
                facts.extend(
                    (f"Vierkanten zonder afstand: {reason}", n)
                    for reason, n in per_reason.items()
                    if n
                )
        parts.append("<table class=facts><tbody>")
        parts.extend(
            f"<tr><th>{escape_html(k)}</th><td>{escape_html(v)}</td></tr>" for k, v in facts
        )
        parts.append("</tbody></table>")
        inputs = provenance.get("inputs")
        if isinstance(inputs, Mapping) and inputs:
            rows = [
                [
                    escape_html(name),
                    f"<span class=mono>{escape_html(Path(str(info.get('path', ''))).name)}</span>",
                    f"<span class=mono>{escape_html(info.get('sha256'))}</span>",
                ]
                for name, info in inputs.items()
                if isinstance(info, Mapping)
            ]
            parts.append("<h3>Invoerbestanden</h3>")
            parts.append(_table(["Invoer", "Bestand", "SHA-256"], rows, set()))
        versions = provenance.get("versions")
        if isinstance(versions, Mapping) and versions:
            text = ", ".join(f"{k} {v}" for k, v in versions.items())
            parts.append(f'<p class="note">Softwareversies: {escape_html(text)}.</p>')
        warns = provenance.get("warnings")
        if isinstance(warns, Sequence) and not isinstance(warns, str) and warns:
            parts.append(f"<h3>Waarschuwingen tijdens de run ({len(warns)})</h3><ul>")
            parts.extend(f"<li class=note>{escape_html(w)}</li>" for w in list(warns)[:25])
            if len(warns) > 25:
                parts.append(f"<li class=note>… en {len(warns) - 25} meer (zie run.json)</li>")
            parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


def dossier_html(
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    settings: Settings | None = None,
    *,
    provenance: Mapping[str, Any] | None = None,
    sites: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    gemeentecodes: Sequence[str] | None = None,
    title: str = "Bereikbaarheid van volwaardige bibliotheken",
    buurten: pd.DataFrame | None = None,
) -> str:
    """The consultation dossier as one self-contained HTML document (Dutch, printable on A4).

    For every selected gemeente: residents, mean/median/P90 road distance, residents beyond
    the threshold, which criterion fired, target groups, an inline SVG map (the gemeente's
    cells coloured by distance class, its outline, branches), the full-service libraries its
    residents reach (residents served, mean and maximum distance), the full-service libraries
    in and around the gemeente (straight-line from the border) and the other branches inside,
    and the suggested sites when given. Followed by the rule and its thresholds and the data
    sources with the run's provenance. The document makes no external request and contains no
    script; every text from the input data is HTML-escaped.

    Parameters
    ----------
    cells
        Per-cell result (``population``, ``distance_m``, ``library_id``, ``reachable``),
        squares in RD New (EPSG:28992).
    summary
        Gemeente summary of :func:`~bereikbaar.aggregate_gemeenten` (polygons, EPSG:28992).
    libraries
        Branches (``library_id``, ``name``, ``branch_type``, ``full_service``, ``address``,
        points in EPSG:28992).
    settings
        The run's settings (rule thresholds, mode); default :class:`~bereikbaar.Settings`.
    provenance
        The run's provenance (``RunResult.provenance``) for the sources section.
    sites
        Suggested sites: a DataFrame (rows with a ``gemeentecode`` column are shown with
        that gemeente, otherwise all rows with every gemeente) or a mapping gemeentecode →
        DataFrame. Point geometries (any CRS) are drawn on the map.
    gemeentecodes
        Gemeenten to give a section (in this order); default: every gemeente flagged
        "te groot", by descending mean distance.
    title
        Document title.
    buurten
        Summary per buurt (with ``gemeentecode``): each gemeente's section lists its
        buurten with the most residents beyond the threshold.

    Returns
    -------
    str
        The HTML document.
    """
    settings = settings or Settings()
    summary = summary.to_crs(s.CRS_RD)
    cells = cells.to_crs(s.CRS_RD)
    libraries = libraries.to_crs(s.CRS_RD)
    flagged_mask = summary[s.TE_GROOT].fillna(False).astype(bool).to_numpy()
    if gemeentecodes is None:
        chosen = summary[flagged_mask].sort_values(
            s.MEAN_DISTANCE_KM, ascending=False, kind="stable"
        )
    else:
        by_code = summary.set_index(summary[s.GEMEENTECODE].astype(str), drop=False)
        missing = [c for c in gemeentecodes if c not in by_code.index]
        if missing:
            msg = f"gemeentecodes not in the summary: {', '.join(missing[:5])}"
            raise InputError(msg)
        chosen = by_code.loc[list(gemeentecodes)]
    codes = _cell_gemeenten(cells, summary) if len(chosen) else np.array([], dtype=object)

    n_flagged = int(flagged_mask.sum())
    created = (provenance or {}).get("created")
    head = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape_html(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{escape_html(title)}</h1>",
        '<p class="sub">Consultatiedossier'
        + (f" · {escape_html(created)}" if created else "")
        + f" · {len(summary)} gemeenten, waarvan {n_flagged} met een te grote afstand</p>",
        "<p>Het Bibliotheekconvenant vraagt de KB, de provinciale ondersteuningsinstelling (POI) "
        "en de lokale bibliotheek in overleg te gaan met gemeenten waar de afstand tot een "
        "bibliotheekvoorziening voor burgers te groot is. Dit dossier geeft per gemeente de "
        "feiten die dat gesprek openen.</p>",
        _rule_html(settings),
        "</header>",
    ]
    body: list[str] = []
    if len(chosen):
        body.append("<nav><h3>Gemeenten in dit dossier</h3><ol>")
        body.extend(
            f'<li><a href="#{escape_html("g-" + safe_filename(r[s.GEMEENTECODE]))}">'
            f"{escape_html(r.get(s.GEMEENTENAAM))} ({escape_html(r[s.GEMEENTECODE])})</a></li>"
            for _, r in chosen.iterrows()
        )
        body.append("</ol></nav>")
    else:
        body.append(
            "<p><b>Geen enkele gemeente voldoet aan de criteria voor een te grote afstand.</b></p>"
        )
    body.append("<h3>Alle gemeenten</h3>")
    body.append(_overview_html(summary, settings))
    for _, row in chosen.iterrows():
        code = str(row[s.GEMEENTECODE])
        body.append(
            _gemeente_section(
                row,
                cells,
                codes == code,
                summary,
                libraries,
                settings,
                _sites_for(sites, code),
                None
                if buurten is None or s.GEMEENTECODE not in buurten
                else buurten[buurten[s.GEMEENTECODE].astype(str) == code],
            )
        )
    body.append(_plausibility_html(provenance))
    body.append(_sources_html(provenance))
    body.append("</body></html>")
    return "\n".join([*head, *body]) + "\n"


def write_dossier(
    out_dir: str | os.PathLike[str],
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    settings: Settings | None = None,
    *,
    provenance: Mapping[str, Any] | None = None,
    sites: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    gemeentecodes: Sequence[str] | None = None,
    per_gemeente: bool = False,
    buurten: pd.DataFrame | None = None,
) -> Path:
    """Write the consultation dossier ``rapport.html`` (and optionally one file per gemeente).

    See :func:`dossier_html` for the content. Files are written atomically (UTF-8).

    Parameters
    ----------
    out_dir
        Output folder; created when missing.
    cells, summary, libraries, settings, provenance, sites, gemeentecodes, buurten
        As in :func:`dossier_html` (geometries in RD New, EPSG:28992, or any CRS that
        converts to it).
    per_gemeente
        Also write ``dossier/<gemeentecode>.html`` for every selected gemeente, each a
        complete dossier of that gemeente alone. Codes are sanitised with
        :func:`safe_filename` so that no file lands outside ``out_dir/dossier``.

    Returns
    -------
    pathlib.Path
        Path of ``rapport.html``.

    Raises
    ------
    OutputError
        When a file cannot be written (an earlier file stays as it was).
    InputError
        When ``gemeentecodes`` names a gemeente not in ``summary``.
    """
    out = Path(out_dir)
    settings = settings or Settings()
    kwargs: dict[str, Any] = {"provenance": provenance, "sites": sites, "buurten": buurten}
    text = dossier_html(cells, summary, libraries, settings, gemeentecodes=gemeentecodes, **kwargs)
    path = out / "rapport.html"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s (%d bytes)", path, len(text.encode("utf-8")))
    if per_gemeente:
        if gemeentecodes is None:
            flagged = summary[summary[s.TE_GROOT].fillna(False).astype(bool)]
            gemeentecodes = flagged[s.GEMEENTECODE].astype(str).tolist()
        folder = out / "dossier"
        used: set[str] = set()
        for code in gemeentecodes:
            stem = safe_filename(code)
            candidate, n = stem, 1
            while candidate.lower() in used:
                n += 1
                candidate = f"{stem}-{n}"
            used.add(candidate.lower())
            target = folder / f"{candidate}.html"
            if target.resolve().parent != folder.resolve():  # pragma: no cover - defensive
                msg = f"refusing to write '{target}' outside '{folder}'"
                raise OutputError(msg)
            one = dossier_html(cells, summary, libraries, settings, gemeentecodes=[code], **kwargs)
            with atomic_path(target) as tmp:
                tmp.write_text(one, encoding="utf-8")
        logger.info("wrote %d gemeente dossiers in %s", len(gemeentecodes), folder)
    return path
