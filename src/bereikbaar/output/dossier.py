"""The consultation dossier: one self-contained, printable HTML file per run (Dutch, A4).

The page is rendered from the package's Jinja templates (``output/templates/``) with
autoescaping on: every value from the input data is text, never markup or template source.
The maps are drawn with matplotlib (:mod:`bereikbaar.output.dossier_maps`) and inlined as
SVG (text as SVG ``<text>``, escaped by matplotlib's SVG writer, mathtext off). No scripts and
no external requests (a Content-Security-Policy forbids them as a second line of defence).
:func:`write_pdf` prints ``rapport.pdf`` with headless Chromium when it is installed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import jinja2
import markupsafe
import numpy as np
import numpy.typing as npt
import pandas as pd

from bereikbaar import schema as s
from bereikbaar.aggregate import cell_gemeenten
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output.dossier_maps import full_service_mask, svg_map
from bereikbaar.output.files import atomic_path, safe_filename
from bereikbaar.output.style import (
    DOSSIER_NUMBERS,
    KM_CLASSES,
    MODE_NL,
    SOURCE_LINE,
    VERDICTS,
    classify_km,
    is_missing,
    nl_date,
    nl_general,
    nl_number,
    peiljaar_of,
    verdict_of,
)
from bereikbaar.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["dossier_html", "dutch_warning", "write_dossier", "write_pdf"]

_NEAREST_FULL_SERVICE = 5
_MAP_SERVING_SHARE = 0.05
"""A library serving at least this share of a gemeente's residents widens its map to show it."""
_MAP_MAX_REACH_M = 30_000.0
"""... unless it lies farther than this from the gemeente (metres)."""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bereikbaar.output", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
    keep_trailing_newline=True,
)


# --------------------------------------------------------------------------- warnings

_WARNING_NL: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"^(?P<loc>.*): (?P<n>[\d,.]+) of (?P<m>[\d,.]+) cells have a suppressed or missing "
            r"population.*$"
        ),
        "{loc}: {n} van de {m} vierkanten hebben een geheimgehouden of ontbrekend inwonertal;"
        " die tellen niet mee",
    ),
    (
        re.compile(
            r"^(?P<loc>.*): (?P<n>[\d,.]+) of (?P<m>[\d,.]+) branches have no coordinates and "
            r"need geocoding \(rows? (?P<rows>.*)\)$"
        ),
        "{loc}: {n} van de {m} vestigingen hebben geen coördinaten en moeten nog worden"
        " gegeocodeerd (rij {rows})",
    ),
    (
        re.compile(r"^(?P<loc>.*): (?P<n>[\d,.]+) way node\(s\) have no coordinates.*$"),
        "{loc}: {n} wegpunten zonder coördinaten (rand van het uittreksel?); de wegen zijn"
        " daar afgebroken",
    ),
)
_LOCATION_NL = (("file '", "bestand '"), ("column '", "kolom '"), (", row ", ", rij "))


def dutch_warning(message: str) -> str:
    """A run warning in Dutch: known messages translated, file/column/row words always.

    Examples
    --------
    >>> msg = "file 'b.csv', column 'x': 3 of 9 cells have a suppressed or missing population"
    >>> dutch_warning(msg)[:58]
    "bestand 'b.csv', kolom 'x': 3 van de 9 vierkanten hebben e"
    """
    text = str(message)
    for pattern, template in _WARNING_NL:
        match = pattern.match(text)
        if match:
            text = template.format(**match.groupdict())
            break
    for english, dutch in _LOCATION_NL:
        text = text.replace(english, dutch)
    return text


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- per gemeente


def _library_cells(lib: pd.Series) -> list[str]:
    raw_type = lib.get(s.BRANCH_TYPE)
    kind = s.BRANCH_TYPE_LABELS_NL.get(str(raw_type), "" if is_missing(raw_type) else str(raw_type))
    place = lib.get(s.PLACE) if s.PLACE in lib.index else None
    address = " ".join(
        str(v) for v in (lib.get(s.ADDRESS), lib.get(s.POSTCODE)) if not is_missing(v) and v != ""
    )
    return [_text(lib.get(s.NAME)), kind, address, _text(place)]


def _text(value: object) -> str:
    return "" if is_missing(value) else str(value)


_SITE_HEADERS_NL = {
    "locatie": "Bij (straat, plaats)",
    "inwoners_erbij_binnen_bereik": "Inwoners erbij (bovenop hogere rangen)",
    "inwoners_binnen_bereik_alleen": "Inwoners (deze locatie alleen)",
    "vierkant": "CBS-vierkant",
}
_SITE_GAIN = "inwoners_erbij_binnen_bereik"


def _sites_context(table: pd.DataFrame | None, min_residents: int) -> dict[str, Any] | None:
    # HOOK(scenarios): suggested sites for a new full-service library come from
    # bereikbaar.scenarios (best_sites_for_gemeente) via the ``sites`` argument of write_dossier.
    if table is None:
        return None
    dropped = 0
    if _SITE_GAIN in table.columns:
        keep = pd.to_numeric(table[_SITE_GAIN], errors="coerce").fillna(0) >= min_residents
        dropped = int((~keep).sum())
        table = table[keep.to_numpy(dtype=bool)]
    geom_col = table.geometry.name if isinstance(table, gpd.GeoDataFrame) else None
    cols = [str(c) for c in table.columns if c not in (geom_col, s.GEMEENTECODE, "rang")]
    if "locatie" in cols:  # the name first
        cols = ["locatie", *(c for c in cols if c != "locatie")]
    headers = ["#", *(_SITE_HEADERS_NL.get(c, c.replace("_", " ")) for c in cols)]
    ranks = table["rang"].tolist() if "rang" in table.columns else range(1, len(table) + 1)
    rows: list[list[str]] = []
    numeric: set[int] = set()
    for rank, (_, row) in zip(ranks, table.iterrows(), strict=True):
        cells = [_text(rank)]
        for j, c in enumerate(cols, start=1):
            v = row[c]
            if isinstance(v, bool | np.bool_):
                cells.append("ja" if v else "nee")
            elif isinstance(v, int | np.integer):
                cells.append(DOSSIER_NUMBERS.count(v))
                numeric.add(j)
            elif isinstance(v, float | np.floating) and not is_missing(v):
                cells.append(nl_number(float(v), 2, grouping=False))
                numeric.add(j)
            else:
                cells.append(_text(v))
        rows.append(cells)
    if geom_col is not None:
        headers.append("RD x, y (m)")
        for cells, geom in zip(rows, table.geometry, strict=True):
            if geom is None or geom.is_empty:
                cells.append("–")
            else:
                c = geom.centroid
                cells.append(f"{c.x:.0f}, {c.y:.0f}")
    return {
        "headers": headers,
        "rows": rows,
        "numeric": tuple(sorted(numeric)),
        "min_residents": DOSSIER_NUMBERS.count(min_residents),
        "dropped": dropped,
        "table": table,
    }


def _gemeente_context(
    row: pd.Series,
    cells: gpd.GeoDataFrame,
    in_gem: npt.NDArray[np.bool_],
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    settings: Settings,
    sites: pd.DataFrame | None,
    roads: gpd.GeoDataFrame | None,
    buurten: pd.DataFrame | None = None,
) -> dict[str, Any]:
    rule = settings.flag_rule
    code = str(row[s.GEMEENTECODE])
    gcells = cells[in_gem]
    pop = gcells[s.POPULATION].to_numpy(dtype=float)
    dist_km = gcells[s.DISTANCE_M].to_numpy(dtype=float) / 1000.0
    reach = (
        gcells[s.REACHABLE].to_numpy(dtype=bool)
        if s.REACHABLE in gcells.columns
        else np.isfinite(dist_km)
    )
    dist_km = np.where(reach, dist_km, np.nan)
    key = verdict_of(row)
    verdict = VERDICTS[key]
    reasons = [r for r in _text(row.get(s.REASONS)).split("; ") if r]

    libs_geo = libraries[libraries.geometry.notna() & ~libraries.geometry.is_empty]
    geom = row.geometry
    inside = (
        libs_geo.within(geom).to_numpy(dtype=bool)
        if geom is not None and not geom.is_empty
        else np.zeros(len(libs_geo), dtype=bool)
    )
    fs_geo = full_service_mask(libs_geo)
    others = libs_geo[inside & ~fs_geo]
    threshold = nl_general(rule.threshold_km)
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
            f"Inwoners verder dan {threshold} km of zonder route",
            f"{DOSSIER_NUMBERS.count(row.get(s.POPULATION_BEYOND))} "
            f"({DOSSIER_NUMBERS.share(row.get(s.SHARE_BEYOND))})",
        ),
        (
            "Inwoners zonder route over de weg",
            DOSSIER_NUMBERS.count(row.get(s.POPULATION_UNREACHABLE, float("nan"))),
        ),
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
    group_rows: list[list[str]] = []
    for col, label in s.GROUP_COLUMNS.items():
        suffix = col.removeprefix(f"{s.POPULATION}_")
        if f"{s.POPULATION}_{suffix}" not in row.index:
            continue
        group_rows.append(
            [
                label,
                DOSSIER_NUMBERS.count(row.get(f"{s.POPULATION}_{suffix}")),
                DOSSIER_NUMBERS.km(row.get(f"{s.MEAN_DISTANCE_KM}_{suffix}")),
                f"{DOSSIER_NUMBERS.count(row.get(f'{s.POPULATION_BEYOND}_{suffix}'))} "
                f"({DOSSIER_NUMBERS.share(row.get(f'{s.SHARE_BEYOND}_{suffix}'))})",
            ]
        )
    groups = (
        {
            "headers": ["Groep", "Aantal", "Gemiddelde afstand", f"Verder dan {threshold} km"],
            "rows": group_rows,
        }
        if group_rows
        else None
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
    near_rows: list[list[str]] = []
    fs_all = libs_geo[fs_geo]
    if geom is not None and not geom.is_empty and len(fs_all):
        gap_km = fs_all.distance(geom).to_numpy(dtype=float) / 1000.0
        order = np.argsort(gap_km, kind="stable")[:_NEAREST_FULL_SERVICE]
        for rank, i in enumerate(order):
            lib = fs_all.iloc[int(i)]
            where_txt = (
                "in de gemeente"
                if gap_km[i] <= 0
                else f"{DOSSIER_NUMBERS.km(gap_km[i])} buiten de grens"
            )
            near_rows.append([*_library_cells(lib), where_txt])
            # the map shows the nearest full-service library (and any inside)
            if (rank == 0 or gap_km[i] <= 0) and gap_km[i] * 1000 <= _MAP_MAX_REACH_M:
                serving_points.append((lib.geometry.x, lib.geometry.y))

    bins = (
        KM_CLASSES.bounds(rule.threshold_km)
        if not settings.km_classes
        else tuple(sorted(set(settings.km_classes) | {float(rule.threshold_km)}))
    )
    colours = KM_CLASSES.colours(len(bins) + 1)
    labels = KM_CLASSES.labels(bins)
    classes = classify_km(np.where(np.isfinite(dist_km), dist_km, np.nan), bins)
    site_info = _sites_context(sites, settings.site_min_residents)
    drawn_sites = site_info["table"] if site_info is not None else None
    if not (isinstance(drawn_sites, gpd.GeoDataFrame) and drawn_sites.crs is not None):
        drawn_sites = None
    else:
        drawn_sites = drawn_sites.to_crs(s.CRS_RD)
        serving_points.extend((p.x, p.y) for p in drawn_sites.geometry.centroid)
    svg = svg_map(
        row,
        gcells,
        classes,
        colours,
        labels,
        summary,
        libraries,
        serving_points,
        drawn_sites,
        roads,
    )
    caption = (
        f"Afstand over de weg ({MODE_NL.get(settings.mode, settings.mode)}) van elk bewoond "
        "vierkant tot de dichtstbijzijnde volwaardige bibliotheek, met de gemeentegrens, de "
        "bibliotheken en de hoofdwegen. Noord is boven. Kaart: RD New (EPSG:28992)."
    )
    facts = [*facts, *_outside_fact(row), *_buurten_fact(buurten, rule.threshold_km)]
    return {
        "code": code,
        "name": _text(row.get(s.GEMEENTENAAM)),
        "anchor": "g-" + safe_filename(code),
        "verdict_text": (
            f"Afstand tot een volwaardige bibliotheek: {verdict.label.lower()}"
            if key == "te_groot"
            else (verdict.label if key != "ok" else "")
        ),
        "verdict_class": "flag" if key == "te_groot" else f"verdict-{key}",
        "reasons": reasons,
        "facts": facts,
        "groups": groups,
        "svg": markupsafe.Markup(svg),
        "caption": caption,
        "served": served_rows,
        "near": near_rows,
        "others": [_library_cells(lib) for _, lib in others.iterrows()],
        "sites": site_info,
    }


# --------------------------------------------------------------------------- whole document


def _rule_context(settings: Settings) -> dict[str, str]:
    rule = settings.flag_rule
    types = ", ".join(
        s.BRANCH_TYPE_LABELS_NL.get(t, t).lower() for t in settings.full_service_types
    )
    return {
        "no_library_mean": nl_general(rule.no_library_mean_km),
        "max_share": DOSSIER_NUMBERS.share(rule.max_share_beyond),
        "threshold": nl_general(rule.threshold_km),
        "max_mean": nl_general(rule.max_mean_km),
        "types": types,
    }


def _overview_context(summary: gpd.GeoDataFrame, settings: Settings) -> dict[str, Any]:
    order = summary.assign(
        _f=~summary[s.TE_GROOT].fillna(False).astype(bool),
        _m=-summary[s.MEAN_DISTANCE_KM].astype(float).fillna(-1.0),
    ).sort_values(["_f", "_m"], kind="stable")
    rows = []
    for _, r in order.iterrows():
        key = verdict_of(r)
        rows.append(
            {
                "cells": [
                    _text(r.get(s.GEMEENTENAAM)),
                    _text(r.get(s.GEMEENTECODE)),
                    DOSSIER_NUMBERS.count(r.get(s.POPULATION)),
                    DOSSIER_NUMBERS.km(r.get(s.MEAN_DISTANCE_KM)),
                    DOSSIER_NUMBERS.km(r.get(s.P90_DISTANCE_KM)),
                    DOSSIER_NUMBERS.share(r.get(s.SHARE_BEYOND)),
                    DOSSIER_NUMBERS.count(r.get(s.FULL_SERVICE_LIBRARIES)),
                ],
                "verdict": {"te_groot": "ja", "ok": "nee"}.get(key, VERDICTS[key].label),
                "verdict_class": "flag" if key == "te_groot" else f"verdict-{key}",
            }
        )
    return {
        "headers": [
            "Gemeente",
            "Code",
            "Inwoners",
            "Gem. afstand",
            "P90",
            f"> {nl_general(settings.flag_rule.threshold_km)} km",
            "Volw. bibl.",
            "Te groot",
        ],
        "numeric": (2, 3, 4, 5, 6),
        "rows": rows,
    }


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


def _buurten_fact(
    buurten: pd.DataFrame | None, threshold_km: float, top: int = 5
) -> list[tuple[str, str]]:
    """The buurten with the most residents beyond the threshold (one fact row, as text)."""
    if buurten is None or len(buurten) == 0 or s.POPULATION_BEYOND not in buurten:
        return []
    far = buurten[buurten[s.POPULATION_BEYOND].astype(float) > 0]
    if len(far) == 0:
        return []
    far = far.sort_values([s.POPULATION_BEYOND, s.BUURTCODE], ascending=[False, True]).head(top)
    text = "; ".join(
        f"{_text(r.get(s.BUURTNAAM))} ({_text(r.get(s.BUURTCODE))}):"
        f" {DOSSIER_NUMBERS.count(r.get(s.POPULATION_BEYOND))}"
        f" ({DOSSIER_NUMBERS.share(r.get(s.SHARE_BEYOND))})"
        for _, r in far.iterrows()
    )
    return [(f"Buurten met de meeste inwoners verder dan {nl_general(threshold_km)} km", text)]


def _plausibility_facts(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Plausibility (run.json's ``plausibiliteit``) as fact rows."""
    block = provenance.get("plausibiliteit")
    if not isinstance(block, Mapping):
        return []
    facts = [
        (
            "Plausibiliteit: inwoners binnen het gebied van het wegennet",
            DOSSIER_NUMBERS.share(block.get("share_covered")),
        )
    ]
    snap = block.get("snap_m")
    if isinstance(snap, Mapping) and snap.get("p50") is not None:
        facts.append(
            (
                "Plausibiliteit: afstand vierkant tot de weg (p50 / p95 / max)",
                " / ".join(f"{nl_general(round(float(snap[k])))} m" for k in ("p50", "p95", "max")),
            )
        )
    if block.get("core_share_of_nodes") is not None:
        facts.append(
            (
                "Plausibiliteit: knopen in het samenhangende kernnet",
                DOSSIER_NUMBERS.share(block.get("core_share_of_nodes")),
            )
        )
    unused = block.get("libraries_not_used")
    if isinstance(unused, Mapping):
        text = ", ".join(f"{n} {reason}" for reason, n in unused.items() if n) or "geen"
        facts.append(("Plausibiliteit: bibliotheken niet gebruikt (reden)", text))
    agreement = block.get("cbs_agreement")
    if isinstance(agreement, Mapping):
        for level, st in agreement.items():
            if not isinstance(st, Mapping):
                continue
            rho = st.get("spearman_rho")
            rho_text = nl_general(round(float(rho), 2)) if rho is not None and rho == rho else "–"
            facts.append(
                (
                    f"Plausibiliteit: overeenkomst met CBS per {level}"
                    " (n, mediaan |verschil|, Spearman)",
                    f"{st.get('n')}, {DOSSIER_NUMBERS.km(st.get('median_abs_difference_km'))},"
                    f" {rho_text}",
                )
            )
    return facts


def _provenance_context(provenance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not provenance:
        return None
    facts: list[tuple[str, object]] = [
        ("Gemaakt", nl_date(provenance.get("created"))),
        ("bereikbaar-versie", _text(provenance.get("bereikbaar"))),
    ]
    counts = provenance.get("counts")
    if isinstance(counts, Mapping):
        facts.extend(
            (label, DOSSIER_NUMBERS.count(counts.get(key)))
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
                (f"Vierkanten zonder afstand: {reason}", DOSSIER_NUMBERS.count(n))
                for reason, n in per_reason.items()
                if n
            )
    facts.extend(_plausibility_facts(provenance))
    inputs = provenance.get("inputs")
    rows = []
    if isinstance(inputs, Mapping):
        rows = [
            (_text(name), Path(str(info.get("path", ""))).name, _text(info.get("sha256")))
            for name, info in inputs.items()
            if isinstance(info, Mapping)
        ]
    versions = provenance.get("versions")
    text = (
        ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, Mapping) else ""
    )
    warns = provenance.get("warnings")
    warn_list = list(warns) if isinstance(warns, Sequence) and not isinstance(warns, str) else []
    return {
        "facts": facts,
        "inputs": rows,
        "versions": text,
        "warnings": [dutch_warning(str(w)) for w in warn_list[:25]],
        "n_warnings": len(warn_list),
        "more_warnings": max(0, len(warn_list) - 25),
    }


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
    roads: gpd.GeoDataFrame | None = None,
    demo: bool = False,
    buurten: pd.DataFrame | None = None,
) -> str:
    """The consultation dossier as one self-contained HTML document (Dutch, printable on A4).

    For every selected gemeente: residents, mean/median/P90 road distance, residents beyond
    the threshold, which criterion fired, target groups, a map (matplotlib, inline SVG: the
    gemeente's cells by distance class, its outline, its neighbours and libraries by name,
    the main roads, a scale bar and a legend of the symbols drawn), the full-service
    libraries its residents reach, the full-service libraries in and around the gemeente
    and the other branches inside, and the suggested sites that bring at least
    ``settings.site_min_residents`` residents within the threshold. Followed by the data
    sources with the run's provenance (warnings in Dutch). Rendered from the package's
    Jinja templates with autoescaping; no script, no external request.

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
        The run's settings (rule thresholds, mode, km classes, site minimum); default
        :class:`~bereikbaar.Settings`.
    provenance
        The run's provenance (``RunResult.provenance``) for the sources section.
    sites
        Suggested sites: a DataFrame (rows with a ``gemeentecode`` column are shown with
        that gemeente, otherwise all rows with every gemeente) or a mapping gemeentecode →
        DataFrame. Point geometries (any CRS) are drawn on the map; a ``locatie`` column
        (nearest street and place) names them.
    gemeentecodes
        Gemeenten to give a section (in this order); default: every gemeente flagged
        "te groot", by descending mean distance.
    title
        Document title.
    roads
        Main roads and ferries (``soort``), drawn on the maps
        (:func:`bereikbaar.sources.context.load_context`).
    demo
        The data are the fictional demo region: a banner says so and no real source is
        credited.

    Returns
    -------
    str
        The HTML document.
    """
    settings = settings or Settings()
    summary = summary.to_crs(s.CRS_RD)
    cells = cells.to_crs(s.CRS_RD)
    libraries = libraries.to_crs(s.CRS_RD)
    roads = roads.to_crs(s.CRS_RD) if roads is not None and len(roads) else None
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
    codes = (
        cell_gemeenten(cells, summary).to_numpy(dtype=object)
        if len(chosen)
        else np.array([], dtype=object)
    )
    sections = [
        _gemeente_context(
            row,
            cells,
            codes == str(row[s.GEMEENTECODE]),
            summary,
            libraries,
            settings,
            _sites_for(sites, str(row[s.GEMEENTECODE])),
            roads,
            None
            if buurten is None or s.GEMEENTECODE not in buurten
            else buurten[buurten[s.GEMEENTECODE].astype(str) == str(row[s.GEMEENTECODE])],
        )
        for _, row in chosen.iterrows()
    ]
    context = {
        "csp": markupsafe.Markup(_CSP),  # a constant of this module
        "title": title,
        "demo": demo,
        "created": nl_date((provenance or {}).get("created")),
        "mode_nl": MODE_NL.get(settings.mode, settings.mode),
        "peiljaar": peiljaar_of(settings.peiljaar, settings.inputs.cells),
        "n_gemeenten": len(summary),
        "n_flagged": int(flagged_mask.sum()),
        "rule": _rule_context(settings),
        "overview": _overview_context(summary, settings),
        "gemeenten": sections,
        "source_line": SOURCE_LINE,
        "provenance": _provenance_context(provenance),
    }
    return _ENV.get_template("rapport.html.j2").render(context)


# --------------------------------------------------------------------------- files

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
"""Where :func:`write_pdf` looks for headless Chromium (Debian's package first)."""


def _chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = (
            shutil.which(name)
            if not Path(name).is_absolute()
            else (name if Path(name).is_file() else None)
        )
        if found:
            return found
    return None


def write_pdf(html_path: str | os.PathLike[str], *, timeout_s: float = 180.0) -> Path | None:
    """Print ``rapport.html`` to ``rapport.pdf`` (A4) with headless Chromium, atomically.

    Parameters
    ----------
    html_path
        The dossier's HTML file.
    timeout_s
        Longest wait for Chromium.

    Returns
    -------
    pathlib.Path or None
        The PDF, or ``None`` (logged) when Chromium is not installed.

    Raises
    ------
    OutputError
        When Chromium fails or writes no PDF (an earlier PDF stays as it was).
    """
    source = Path(html_path)
    target = source.with_suffix(".pdf")
    browser = _chromium()
    if browser is None:
        logger.info(
            "rapport.pdf niet gemaakt: Chromium is niet geïnstalleerd (apt install chromium)"
        )
        return None
    with atomic_path(target) as tmp:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}",
            source.resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            msg = f"cannot print '{target}' with {browser}: {err}"
            raise OutputError(msg) from err
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            msg = f"cannot print '{target}' with {browser}: {proc.stderr.strip()[-300:]}"
            raise OutputError(msg)
    logger.info("wrote %s (%d bytes)", target, target.stat().st_size)
    return target


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
    roads: gpd.GeoDataFrame | None = None,
    demo: bool = False,
    pdf: bool = False,
    buurten: pd.DataFrame | None = None,
) -> Path:
    """Write the consultation dossier ``rapport.html`` (and optionally one file per gemeente).

    See :func:`dossier_html` for the content. Files are written atomically (UTF-8).

    Parameters
    ----------
    out_dir
        Output folder; created when missing.
    cells, summary, libraries, settings, provenance, sites, gemeentecodes, roads, demo
        As in :func:`dossier_html` (geometries in RD New, EPSG:28992, or any CRS that
        converts to it).
    per_gemeente
        Also write ``dossier/<gemeentecode>.html`` for every selected gemeente, each a
        complete dossier of that gemeente alone. Codes are sanitised with
        :func:`safe_filename` so that no file lands outside ``out_dir/dossier``.
    pdf
        Also print ``rapport.pdf`` (:func:`write_pdf`; skipped with a log note when
        Chromium is not installed).

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
    kwargs: dict[str, Any] = {
        "provenance": provenance,
        "sites": sites,
        "roads": roads,
        "demo": demo,
        "buurten": buurten,
    }
    text = dossier_html(cells, summary, libraries, settings, gemeentecodes=gemeentecodes, **kwargs)
    path = out / "rapport.html"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s (%d bytes)", path, len(text.encode("utf-8")))
    if pdf:
        write_pdf(path)
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
