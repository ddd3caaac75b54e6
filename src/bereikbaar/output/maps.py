"""Folium maps of library accessibility, with Dutch labels for policy makers.

The map has one layer per theme (toggled with a layer control):

- gemeenten coloured by their person-weighted mean distance (classed by the one scheme of
  :data:`~bereikbaar.output.style.KM_CLASSES`, bounds from ``Settings.km_classes``),
  with tooltips giving the key figures;
- gemeenten with a verdict (:data:`~bereikbaar.output.style.VERDICTS`: "te groot" thick red),
  with the reasons in a popup; permanent, collision-aware gemeente and place labels;
- main roads and ferries from the run's own OSM input (offline orientation);
- populated CBS grid cells coloured by distance, rendered as one PNG raster
  (:mod:`bereikbaar.output.raster`), with per-cell details under the mouse;
- the catchment area of every full-service library (:mod:`bereikbaar.output.catchments`);
- library markers, full-service branches visibly larger and darker than other service points.

Every string that comes from input data (names, addresses, reasons) is HTML-escaped, and the
characters that are special inside JavaScript template literals are escaped too, because folium
puts popup and tooltip HTML inside backtick strings. Pages render with text as data, never as
template source (:mod:`bereikbaar.output.offline`).

The page's own elements (browser scripts, CSS, controls, search box, title bar) are in
:mod:`bereikbaar.output.map_page`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from branca.element import Figure

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output.catchments import catchment_areas
from bereikbaar.output.files import atomic_path
from bereikbaar.output.frames import has_geometry, require_columns, to_rd, truthy
from bereikbaar.output.map_page import (
    PAGE_CSS,
    BackgroundFallback,
    BranchMarkers,
    CellHover,
    FitClear,
    GemeenteSearch,
    HtmlBox,
    Labels,
    LazyAreas,
    LegendControl,
    MetricScale,
    title_html,
)
from bereikbaar.output.offline import TextElement, make_offline, make_safe, render_page
from bereikbaar.output.raster import cell_details, rasterize_cells
from bereikbaar.output.style import (
    DEFAULT_BINS_KM,
    FERRY_COLOUR,
    MAP_NUMBERS,
    ROAD_COLOUR,
    SOURCE_LINE,
    UNREACHABLE_COLOUR,
    VERDICTS,
    class_colours,
    class_labels,
    classify_km,
    escape_text,
    is_missing,
    map_class_bounds,
    nl_trimmed,
    run_title,
    verdict_of,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BACKGROUNDS",
    "FLAG_COLOUR",
    "NO_DATA_COLOUR",
    "add_backgrounds",
    "branch_icon_svg",
    "make_map",
    "write_map",
]

NO_DATA_COLOUR = "#d4d4d4"
ONVOLLEDIG_COLOUR = "#9e9e9e"  # a buurt with too few residents inside the network: no figure
"""Gemeenten without a mean distance (no populated cells)."""
FLAG_COLOUR = "#d7191c"
"""Outline of gemeenten flagged "te groot"."""

_BRANCH_COLOURS: dict[str, str] = {
    "vestiging": "#08519c",
    "servicepunt": "#6a51a3",
    "afhaalpunt": "#fd8d3c",
    "zelfbediening": "#238b45",
    "bibliobus": "#e7298a",
    "bibliotheek_op_school": "#a6761d",
    "other": "#737373",
}

_NL_CENTRE = (52.2, 5.3)
_PDOK_ATTRIBUTION = 'Kaartgegevens &copy; <a href="https://www.kadaster.nl">Kadaster</a>'


# --------------------------------------------------------------------------- backgrounds

_PDOK_WMTS = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/{layer}/EPSG:3857/{{z}}/{{x}}/{{y}}.png"
)
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap-bijdragers</a>'
)
BACKGROUNDS: tuple[str, ...] = (
    "PDOK BRT-Achtergrondkaart grijs",
    "PDOK BRT-Achtergrondkaart standaard",
    "OpenStreetMap",
    "Geen achtergrond",
)
"""Names of the background layers, in the order of the layer control; the first is shown."""


def add_backgrounds(
    m: folium.Map, *, default: str = BACKGROUNDS[0]
) -> tuple[list[folium.TileLayer], folium.FeatureGroup]:
    """Add the background layers (PDOK grijs/standaard, OpenStreetMap, none) to a map.

    PDOK's BRT-Achtergrondkaart is the Kadaster's Web Mercator (EPSG:3857) WMTS, attributed
    "Kaartgegevens © Kadaster". Tiles are the only part of a map that is loaded online.

    Parameters
    ----------
    m
        The map (created with ``tiles=None``).
    default
        The background shown when the map opens; one of :data:`BACKGROUNDS`.

    Returns
    -------
    tuple
        The tile layers and the empty "Geen achtergrond" layer.
    """
    if default not in BACKGROUNDS:
        msg = f"unknown background {default!r}; expected one of {list(BACKGROUNDS)}"
        raise InputError(msg)
    grey, standard, osm, none = BACKGROUNDS
    tiles: list[folium.TileLayer] = []
    for name, layer in ((grey, "grijs"), (standard, "standaard")):
        tile = folium.TileLayer(
            tiles=_PDOK_WMTS.format(layer=layer),
            attr=_PDOK_ATTRIBUTION,
            name=name,
            max_zoom=19,
            max_native_zoom=19,
            show=name == default,
        )
        tile.add_to(m)
        tiles.append(tile)
    tile = folium.TileLayer(
        tiles=_OSM_URL, attr=_OSM_ATTRIBUTION, name=osm, max_zoom=19, show=osm == default
    )
    tile.add_to(m)
    tiles.append(tile)
    empty = folium.FeatureGroup(name=none, overlay=False, control=True, show=none == default)
    empty.add_to(m)
    return tiles, empty


# --------------------------------------------------------------------------- branch icons

_BRANCH_GLYPH: dict[str, str] = {
    "vestiging": (
        '<rect x="1.5" y="1.5" width="21" height="21" rx="4" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/><path d="M5 7.5Q8.5 5.8 11.5 7.5V18Q8.5 16.3 5 18Z'
        'M19 7.5Q15.5 5.8 12.5 7.5V18Q15.5 16.3 19 18Z" fill="#ffffff"/>'
    ),
    "servicepunt": (
        '<circle cx="12" cy="12" r="10.5" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
        "{letter}"
    ),
    "afhaalpunt": (
        '<polygon points="12,1 23,12 12,23 1,12" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/>{letter}'
    ),
    "zelfbediening": (
        '<polygon points="6.5,2 17.5,2 23,12 17.5,22 6.5,22 1,12" fill="{fill}"'
        ' stroke="{stroke}" stroke-width="{sw}"/>{letter}'
    ),
    "bibliobus": (
        '<rect x="1.5" y="4" width="21" height="14" rx="3" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/><rect x="4" y="6.5" width="6" height="4.5" fill="#ffffff"/>'
        '<rect x="12" y="6.5" width="8" height="4.5" fill="#ffffff"/>'
        '<circle cx="6.5" cy="19.5" r="2.5" fill="#222222"/>'
        '<circle cx="17.5" cy="19.5" r="2.5" fill="#222222"/>'
    ),
    "bibliotheek_op_school": (
        '<polygon points="12,1.5 23,22 1,22" fill="{fill}" stroke="{stroke}"'
        ' stroke-width="{sw}"/>{letter_low}'
    ),
    "other": (
        '<circle cx="12" cy="12" r="8" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
    ),
}
_BRANCH_LETTER: dict[str, str] = {
    "servicepunt": "S",
    "afhaalpunt": "A",
    "zelfbediening": "Z",
    "bibliotheek_op_school": "S",
}


def branch_icon_svg(branch_type: str, full_service: bool, size_px: int | None = None) -> str:
    """Inline SVG pictogram of a library branch (no icon font, works offline).

    The shape and colour give the branch type (vestiging: book, servicepunt: circle "S",
    afhaalpunt: diamond "A", zelfbediening: hexagon "Z", bibliobus: bus, bibliotheek op
    school: triangle "S", other: dot); full-service branches are larger with a black rim.

    Parameters
    ----------
    branch_type
        One of :data:`bereikbaar.schema.BRANCH_TYPES`; unknown types draw as ``other``.
    full_service
        Whether the branch is a full-service library.
    size_px
        Width and height in CSS pixels; default 26 (full service) or 18.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> branch_icon_svg("afhaalpunt", False).startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    True
    """
    kind = branch_type if branch_type in _BRANCH_GLYPH else "other"
    size = size_px if size_px is not None else (26 if full_service else 18)
    letter = _BRANCH_LETTER.get(kind, "")
    text = (
        '<text x="12" y="{y}" text-anchor="middle" font-family="Arial,Helvetica,sans-serif"'
        ' font-size="{fs}" font-weight="bold" fill="#ffffff">{t}</text>'
    )
    body = _BRANCH_GLYPH[kind].format(
        fill=_BRANCH_COLOURS.get(kind, _BRANCH_COLOURS["other"]),
        stroke="#000000" if full_service else "#ffffff",
        sw="2" if full_service else "1.5",
        letter=text.format(y="16.5", fs="12", t=letter),
        letter_low=text.format(y="19.5", fs="10", t=letter),
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}"'
        f' viewBox="0 0 24 24" style="display:block;overflow:visible">{body}</svg>'
    )


_CATCHMENT_COLOURS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#1f78b4",
)


def _add_catchments(m: folium.Map, areas: gpd.GeoDataFrame, pane: str, show: bool) -> None:
    areas = areas[has_geometry(areas)]
    if len(areas) == 0:
        return
    lines = [
        [
            f"Verzorgingsgebied van {'' if is_missing(row[s.NAME]) else row[s.NAME]}",
            f"Inwoners: {MAP_NUMBERS.count(row[s.POPULATION])}",
            f"Gemiddelde afstand: {MAP_NUMBERS.km(row[s.MEAN_DISTANCE_KM])}",
            f"Grootste afstand: {MAP_NUMBERS.km(row['max_distance_km'])}",
        ]
        for _, row in areas.iterrows()
    ]
    colours = [_CATCHMENT_COLOURS[k % len(_CATCHMENT_COLOURS)] for k in range(len(areas))]
    ids = [f"c{k}" for k in range(len(areas))]
    data = _geojson(areas, {"lines": lines, "kleur": colours}, ids)
    group = folium.FeatureGroup(name="Verzorgingsgebieden van volwaardige bibliotheken", show=show)
    group.add_to(m)
    m.add_child(LazyAreas(group, data, pane, "bereikbaar-catchment"))


# --------------------------------------------------------------------------- legend


def _swatch(colour: str, border: str = "#555", width: float = 1, dash: bool = False) -> str:
    style = "dashed" if dash else "solid"
    return (
        f'<span style="display:inline-block;width:14px;height:12px;background:{colour};'
        f'border:{width}px {style} {border};margin-right:6px;vertical-align:middle"></span>'
    )


def _line_swatch(colour: str, width: float, dash: str = "") -> str:
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<svg width="22" height="12" style="margin-right:6px;vertical-align:middle">'
        f'<line x1="1" y1="6" x2="21" y2="6" stroke="{colour}" stroke-width="{width}"'
        f"{dash_attr}/></svg>"
    )


def _legend_html(
    bins_km: Sequence[float],
    threshold_km: float,
    branch_kinds: Sequence[tuple[str, bool]],
    verdicts: Sequence[str] = ("te_groot",),
    *,
    roads: bool = False,
    ferries: bool = False,
    catchments: bool = False,
    source_line: str = SOURCE_LINE,
) -> str:
    colours = class_colours(len(bins_km) + 1)
    rows = [
        "<b>Afstand over de weg tot de dichtstbijzijnde volwaardige bibliotheek</b>",
        *(
            f"<div>{_swatch(c)}{escape_text(lab)}</div>"
            for c, lab in zip(colours, class_labels(bins_km), strict=True)
        ),
        f"<div>{_swatch(UNREACHABLE_COLOUR)}niet bereikbaar</div>",
        f"<div>{_swatch(NO_DATA_COLOUR)}geen gegevens</div>",
    ]
    for key in verdicts:
        v = VERDICTS[key]
        if v.weight > 0:
            rows.append(
                f"<div>{_swatch('transparent', v.colour, 3, bool(v.dash))}"
                f"gemeente: {escape_text(v.label.lower())}</div>"
            )
    if catchments:
        rows.append(
            f"<div>{_swatch('#1b9e7740', '#1b9e77', 1.5)}verzorgingsgebied van een volwaardige"
            " bibliotheek (kleur per bibliotheek; laag aanzetten)</div>"
        )
    if roads:
        rows.append(f"<div>{_line_swatch(ROAD_COLOUR, 2.5)}hoofdweg (uit het wegennet)</div>")
    if ferries:
        rows.append(f"<div>{_line_swatch(FERRY_COLOUR, 2, '5 4')}veerdienst</div>")
    for kind, full in branch_kinds:
        label = s.BRANCH_TYPE_LABELS_NL.get(kind, kind)
        extra = " (volwaardig)" if full else ""
        icon = branch_icon_svg(kind, full, 16).replace("display:block", "display:inline-block")
        rows.append(
            f'<div><span style="display:inline-block;width:20px;vertical-align:middle">'
            f"{icon}</span>{escape_text(label)}{extra}</div>"
        )
    rows.append(
        f'<div style="margin-top:4px;color:#444">Drempel: {escape_text(nl_trimmed(threshold_km))}'
        " km. Gemeenten: inwoner-gewogen gemiddelde; vierkanten: afstand per bewoond"
        " vierkant.</div>"
    )
    rows.append(f'<div style="margin-top:4px;color:#444">{escape_text(source_line)}</div>')
    body = "".join(rows)
    return (
        '<div id="bereikbaar-legend" class="bereikbaar-box bereikbaar-legend" hidden>'
        "<details open><summary>Legenda</summary>"
        f"{body}</details></div>"
    )


# --------------------------------------------------------------------------- layers

_ROAD_WEIGHT = {"motorway": 2.6, "trunk": 2.2, "primary": 1.8, "secondary": 1.3}


def _verdict_line(row: pd.Series) -> str:
    v = VERDICTS[verdict_of(row)]
    colour = v.colour if v.weight > 0 else "#333333"
    return f'<b style="color:{colour}">{escape_text(v.label)}</b>'


def _gemeente_tip(row: pd.Series) -> str:
    """Tooltip: name (code) and verdict only (the figures are in the popup)."""
    name = escape_text(row.get(s.GEMEENTENAAM, ""))
    code = escape_text(row.get(s.GEMEENTECODE, ""))
    head = f"<b>{name}</b> ({code})" if code else f"<b>{name}</b>"
    return f"{head}<br>{_verdict_line(row)}<br><i>Klik voor de cijfers</i>"


def _gemeente_html(row: pd.Series, threshold_km: float, with_reasons: bool) -> str:
    name = escape_text(row.get(s.GEMEENTENAAM, ""))
    code = escape_text(row.get(s.GEMEENTECODE, ""))
    parts = [
        f"<b>{name}</b> ({code})" if code else f"<b>{name}</b>",
        _verdict_line(row),
        f"Inwoners: {MAP_NUMBERS.count(row.get(s.POPULATION))}",
        f"Gemiddelde afstand: {MAP_NUMBERS.km(row.get(s.MEAN_DISTANCE_KM))}",
        f"Mediane afstand: {MAP_NUMBERS.km(row.get(s.MEDIAN_DISTANCE_KM))}",
        f"P90-afstand: {MAP_NUMBERS.km(row.get(s.P90_DISTANCE_KM))}",
        f"Aandeel verder dan {nl_trimmed(threshold_km)} km: "
        f"{MAP_NUMBERS.share(row.get(s.SHARE_BEYOND))}",
    ]
    if s.FULL_SERVICE_LIBRARIES in row.index:
        libraries = MAP_NUMBERS.count(row.get(s.FULL_SERVICE_LIBRARIES))
        parts.append(f"Volwaardige bibliotheken: {libraries}")
    if "cbs_mean_distance_km" in row.index:  # comparison with CBS (inputs.cbs_reference)
        parts.append(
            f"Zoals CBS (vestigingen en servicepunten): "
            f"{MAP_NUMBERS.km(row.get('cbs_comparable_mean_km'))}; "
            f"CBS: {MAP_NUMBERS.km(row.get('cbs_mean_distance_km'))}"
        )
    reasons = row.get(s.REASONS, "")
    if with_reasons and not is_missing(reasons) and str(reasons):
        parts.append(f"Reden: {escape_text(reasons)}")
    return "<br>".join(parts)


def _geojson(gdf: gpd.GeoDataFrame, props: dict[str, list[Any]], ids: list[str]) -> dict[str, Any]:
    """FeatureCollection with rounded WGS84 coordinates (5 decimals ≈ 1 m)."""
    geoms = shapely.transform(gdf.to_crs(s.CRS_WGS84).geometry.to_numpy(), lambda c: np.round(c, 5))
    features = []
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": ids[k],
                "properties": {key: values[k] for key, values in props.items()},
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _area_classes(
    areas: gpd.GeoDataFrame,
    name_column: str,
    what: str,
    bins_km: Sequence[float],
    simplify_m: float,
) -> tuple[gpd.GeoDataFrame, list[str], npt.NDArray[np.int64]]:
    """The areas checked and in RD (simplified), the class colours and each area's km class."""
    require_columns(areas, [name_column, s.MEAN_DISTANCE_KM], what)
    areas = to_rd(areas, what)
    if simplify_m > 0:
        areas = areas.set_geometry(areas.geometry.simplify(simplify_m, preserve_topology=True))
    colours = class_colours(len(bins_km) + 1)
    cls = classify_km(areas[s.MEAN_DISTANCE_KM].to_numpy(dtype=float), bins_km)
    return areas, colours, cls


def _area_layer(
    data: dict[str, Any],
    name: str,
    *,
    outline: str,
    weight: float,
    class_name: str,
    **options: Any,
) -> folium.GeoJson:
    """Areas (gemeenten, buurten) filled with each feature's ``fill`` colour and outlined."""
    return folium.GeoJson(
        data,
        name=name,
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": outline,
            "weight": weight,
            "className": class_name,
        },
        **options,
    )


def _add_gemeenten(
    m: folium.Map,
    summary: gpd.GeoDataFrame,
    bins_km: Sequence[float],
    threshold_km: float,
    simplify_m: float,
    flag_pane: str,
) -> tuple[folium.GeoJson, list[str]]:
    """Gemeente fills (tooltip: name and verdict; popup: the figures) and verdict outlines.

    Returns the fill layer and the verdicts drawn as outlines (keys of :data:`VERDICTS`).
    """
    summary, colours, cls = _area_classes(
        summary, s.GEMEENTENAAM, "gemeente summary", bins_km, simplify_m
    )
    fill = [colours[c] if c >= 0 else NO_DATA_COLOUR for c in cls]
    tips = [_gemeente_tip(r) for _, r in summary.iterrows()]
    pops = [_gemeente_html(r, threshold_km, True) for _, r in summary.iterrows()]
    names = ["" if is_missing(v) else str(v) for v in summary[s.GEMEENTENAAM]]
    ids = [f"g{k}" for k in range(len(summary))]
    data = _geojson(summary, {"fill": fill, "tip": tips, "pop": pops, "naam": names}, ids)
    layer = _area_layer(
        data,
        "Gemiddelde afstand per gemeente",
        outline="#555555",
        weight=0.7,
        class_name="bereikbaar-gemeente",
        highlight_function=lambda f: {"weight": 2.5, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(
            fields=["tip"], labels=False, sticky=True, class_name="bereikbaar-tip"
        ),
        popup=folium.GeoJsonPopup(fields=["pop"], labels=False, max_width=320),
    )
    layer.add_to(m)

    keys = [verdict_of(r) for _, r in summary.iterrows()]
    outlined = np.array([VERDICTS[k].weight > 0 for k in keys], dtype=bool)
    if not outlined.any():
        return layer, []
    marked = summary[outlined]
    marked_keys = [k for k, o in zip(keys, outlined, strict=True) if o]
    style = {
        k: {
            "colour": v.colour,
            "weight": v.weight,
            "dash": v.dash,
            "cls": "bereikbaar-flagged" if k == "te_groot" else f"bereikbaar-verdict-{k}",
        }
        for k, v in VERDICTS.items()
    }
    tips = [_gemeente_tip(r) for _, r in marked.iterrows()]
    popups = [_gemeente_html(r, threshold_km, True) for _, r in marked.iterrows()]
    ids = [f"f{k}" for k in range(len(marked))]
    data = _geojson(marked, {"tip": tips, "pop": popups, "oordeel": marked_keys}, ids)
    folium.GeoJson(
        data,
        name="Gemeenten met een oordeel (te groot, onvolledig)",
        style_function=lambda f: {
            "fill": True,
            "fillOpacity": 0.0,
            "color": style[f["properties"]["oordeel"]]["colour"],
            "weight": style[f["properties"]["oordeel"]]["weight"],
            "dashArray": style[f["properties"]["oordeel"]]["dash"] or None,
            "className": style[f["properties"]["oordeel"]]["cls"],
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["tip"], labels=False, sticky=True, class_name="bereikbaar-tip"
        ),
        popup=folium.GeoJsonPopup(fields=["pop"], labels=False, max_width=320),
        pane=flag_pane,
    ).add_to(m)
    order = list(VERDICTS)
    return layer, sorted(set(marked_keys), key=order.index)


def _add_context(m: folium.Map, roads: gpd.GeoDataFrame | None) -> tuple[bool, bool]:
    """Main roads (thin grey) and ferries (dashed) from the run's network file."""
    if roads is None or len(roads) == 0:
        return False, False
    roads = to_rd(roads, "roads")
    roads = roads[has_geometry(roads)]
    kind = roads["soort"].astype(str).str.removesuffix("_link").to_numpy()
    props = {"soort": list(kind)}
    data = _geojson(roads, props, [f"r{k}" for k in range(len(roads))])
    group = folium.FeatureGroup(name="Hoofdwegen en veerdiensten (uit het wegennet)", show=True)
    group.add_to(m)
    folium.GeoJson(
        data,
        style_function=lambda f: {
            "color": FERRY_COLOUR if f["properties"]["soort"] == "ferry" else ROAD_COLOUR,
            "weight": _ROAD_WEIGHT.get(f["properties"]["soort"], 1.6),
            "opacity": 0.85,
            "dashArray": "6 5" if f["properties"]["soort"] == "ferry" else None,
            "className": "bereikbaar-road",
            "interactive": False,
        },
        pane="bereikbaarWegen",
        control=False,
    ).add_to(group)
    return bool((kind != "ferry").any()), bool((kind == "ferry").any())


def _label_rows(
    summary: gpd.GeoDataFrame | None, places: gpd.GeoDataFrame | None
) -> list[dict[str, Any]]:
    """Label texts and positions, most important first (gemeenten by residents, places)."""
    rows: list[tuple[float, dict[str, Any]]] = []
    to_wgs = s.transformer(s.CRS_RD, s.CRS_WGS84)
    if summary is not None and len(summary):
        gem = to_rd(summary, "gemeente summary")
        gem = gem[has_geometry(gem)]
        pts = shapely.point_on_surface(gem.geometry.to_numpy())
        pop = gem[s.POPULATION] if s.POPULATION in gem else pd.Series(0, index=gem.index)
        for pt, name, p in zip(pts, gem[s.GEMEENTENAAM], pop, strict=True):
            if is_missing(name):
                continue
            lon, lat = to_wgs.transform(pt.x, pt.y)
            weight = 0.0 if is_missing(p) else float(p)
            rows.append((1e12 + weight, {"lat": lat, "lon": lon, "text": str(name)}))
            rows[-1][1]["kind"] = "gemeente"
    if places is not None and len(places):
        pl = to_rd(places, "places")
        pl = pl[has_geometry(pl)]
        rank = {"city": 3e9, "town": 2e9, "village": 1e9}
        seen = {r["text"] for _, r in rows}
        for pt, name, kind in zip(pl.geometry, pl["name"], pl["place"], strict=True):
            lon, lat = to_wgs.transform(pt.x, pt.y)
            if str(name) in seen:
                continue
            label = {"lat": lat, "lon": lon, "text": str(name)}
            label["kind"] = "village" if kind == "village" else "town"
            rows.append((rank.get(str(kind), 0.0), label))
    rows.sort(key=lambda r: -r[0])
    return [
        {**r, "lat": round(float(r["lat"]), 6), "lon": round(float(r["lon"]), 6)} for _, r in rows
    ]


def _library_lines(row: pd.Series) -> list[str]:
    """Popup lines of a branch (plain text): name, type, address, postcode and place."""
    branch = str(row.get(s.BRANCH_TYPE, "other"))
    label = s.BRANCH_TYPE_LABELS_NL.get(branch, branch)
    kind = (
        "volwaardige bibliotheek"
        if truthy(row.get(s.FULL_SERVICE))
        else "geen volwaardige bibliotheek"
    )
    lines = [
        "" if is_missing(row.get(s.NAME)) else str(row.get(s.NAME)),
        f"{label} ({kind})",
    ]
    if not is_missing(row.get(s.ADDRESS)):
        lines.append(str(row.get(s.ADDRESS)))
    place = " ".join(str(row.get(c)) for c in (s.POSTCODE, s.PLACE) if not is_missing(row.get(c)))
    if place:
        lines.append(place)
    return lines


def _add_libraries(m: folium.Map, libraries: gpd.GeoDataFrame) -> list[tuple[str, bool]]:
    """Branch markers (inline SVG icons); returns the (type, full service) pairs drawn."""
    require_columns(libraries, [s.NAME, s.FULL_SERVICE], "libraries")
    libraries = to_rd(libraries, "libraries")
    libraries = libraries[has_geometry(libraries)]
    if len(libraries) == 0:
        return []
    points = libraries.geometry.to_crs(s.CRS_WGS84).representative_point()
    other = folium.FeatureGroup(name="Overige bibliotheekvoorzieningen")
    other.add_to(m)
    full = folium.FeatureGroup(name="Volwaardige bibliotheken")
    full.add_to(m)
    kinds: set[tuple[str, bool]] = set()
    icons: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for (_, row), pt in zip(libraries.iterrows(), points, strict=True):
        is_full = truthy(row.get(s.FULL_SERVICE))
        branch = str(row.get(s.BRANCH_TYPE, "other"))
        branch = branch if branch in _BRANCH_GLYPH else "other"
        kinds.add((branch, is_full))
        key = f"{branch}|{int(is_full)}"
        if key not in icons:
            icons[key] = {
                "svg": branch_icon_svg(branch, is_full),
                "size": 26 if is_full else 18,
                "className": f"bereikbaar-branch bereikbaar-branch-{branch}",
            }
        rows.append(
            {
                "lat": round(float(pt.y), 6),
                "lon": round(float(pt.x), 6),
                "full": is_full,
                "icon": key,
                "lines": _library_lines(row),
            }
        )
    m.add_child(BranchMarkers(full, other, rows, icons))
    order = {k: i for i, k in enumerate(_BRANCH_GLYPH)}
    return sorted(kinds, key=lambda k: (not k[1], order[k[0]]))


def _bounds_wgs84(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (degrees) around frames in RD New."""
    boxes = []
    for gdf in frames:
        geoms = gdf.geometry.to_numpy()[has_geometry(gdf)]
        if len(geoms):
            b = shapely.bounds(geoms)
            boxes.append([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    if not boxes:
        return None
    b = np.asarray(boxes, dtype=float)
    to_wgs = s.transformer(s.CRS_RD, s.CRS_WGS84)
    west, south, east, north = to_wgs.transform_bounds(
        b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max(), densify_pts=21
    )
    return [[float(south), float(west)], [float(north), float(east)]]


def _add_buurten(
    m: folium.Map, buurten: gpd.GeoDataFrame, bins_km: Sequence[float], simplify_m: float
) -> None:
    """The buurten coloured by their mean distance (onvolledig grey), off when the map opens."""
    buurten, colours, cls = _area_classes(
        buurten, s.BUURTNAAM, "buurt summary", bins_km, simplify_m
    )
    short = (
        s.bool_values(buurten[s.ONVOLLEDIG])
        if s.ONVOLLEDIG in buurten
        else np.zeros(len(cls), bool)
    )
    fill = [
        ONVOLLEDIG_COLOUR if k else (colours[c] if c >= 0 else NO_DATA_COLOUR)
        for c, k in zip(cls, short, strict=True)
    ]
    tips = []
    for k, (_, r) in enumerate(buurten.iterrows()):
        parts = [
            f"<b>{escape_text(r.get(s.BUURTNAAM, ''))}</b> ({escape_text(r.get(s.BUURTCODE, ''))})",
            f"Inwoners: {MAP_NUMBERS.count(r.get(s.POPULATION))}",
            f"Gemiddelde afstand: {MAP_NUMBERS.km(r.get(s.MEAN_DISTANCE_KM))}",
        ]
        if short[k]:
            parts.append(
                f"<b>Onvolledig</b>: {MAP_NUMBERS.share(r.get(s.SHARE_COVERED))} van de"
                " inwoners binnen het wegennet"
            )
        tips.append("<br>".join(parts))
    ids = [f"b{k}" for k in range(len(buurten))]
    data = _geojson(buurten, {"fill": fill, "tip": tips}, ids)
    _area_layer(
        data,
        "Gemiddelde afstand per buurt",
        outline="#777777",
        weight=0.5,
        class_name="bereikbaar-buurt",
        show=False,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(m)


def make_map(
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    *,
    title: str | None = None,
    mode: str = "car",
    peiljaar: int | None = None,
    demo: bool = False,
    roads: gpd.GeoDataFrame | None = None,
    places: gpd.GeoDataFrame | None = None,
    threshold_km: float = 5.0,
    bins_km: Sequence[float] = DEFAULT_BINS_KM,
    simplify_m: float = 10.0,
    max_pixels: int = 4096,
    show_cells: bool = True,
    offline: bool = True,
    background: str = BACKGROUNDS[0],
    catchments: bool = True,
    catchment_resolution_m: float = 500.0,
    catchment_simplify_m: float = 250.0,
    hover: bool = True,
    buurten: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the interactive map (Dutch labels) of distances, gemeenten and libraries.

    Layers: the background maps (:data:`BACKGROUNDS`), gemeenten coloured by their
    person-weighted mean distance (classed, with a search box for names), the populated
    cells as one embedded PNG raster with per-cell details under the mouse, the catchment
    area of each full-service library (off when the map opens), gemeenten flagged "te groot"
    outlined in red with their reasons in a popup, and the branches with a pictogram per
    type. Everything but the background tiles is embedded in the page.

    Parameters
    ----------
    cells
        Nearest-library result per CBS grid cell (EPSG:28992): ``distance_m`` in metres (NaN
        when unreachable), ``reachable``, ``population``, ``library_id``; geometry the cell
        squares. Drawn as one embedded PNG raster (see :func:`rasterize_cells`).
    summary
        Gemeente summary (EPSG:28992) with the contract columns (``mean_distance_km`` …
        ``te_groot``, ``reasons``) and the gemeente (Multi)Polygons.
    libraries
        Library branches (EPSG:28992) with ``name``, ``branch_type``, ``full_service``,
        ``address``, ``postcode``; rows without a geometry (still to be geocoded) are skipped.
    title
        Title shown above the map; default :func:`run_title` of ``mode``, ``peiljaar``
        and ``threshold_km``.
    mode
        Travel mode of the run (``car``, ``bike``, ``walk``), named in the title.
    peiljaar
        Reference year of the grid, named in the title.
    demo
        The data are the fictional demo region: the title bar says so.
    roads
        Main roads and ferries (``soort``: an OSM highway value or ``ferry``), drawn thin
        grey and dashed blue (see :func:`bereikbaar.sources.context.load_context`).
    places
        Place names (``name``, ``place``) shown as labels next to the gemeente names.
    threshold_km
        The distance threshold in km used for ``share_beyond``; it is also added as a class
        bound so the legend breaks there.
    bins_km
        Upper class bounds in km for colouring gemeenten and cells.
    simplify_m
        Tolerance in metres (RD) to simplify gemeente outlines; 0 keeps them as they are.
    max_pixels
        Largest width/height of the cell raster in pixels.
    show_cells
        Whether the cell layer is switched on when the map opens.
    offline
        Inline Leaflet, jQuery, Bootstrap and the plugins (from ``folium-offline``) whenever
        the map is rendered, saved or shown in a notebook (see :func:`make_offline`).
    background
        The background shown when the map opens, one of :data:`BACKGROUNDS`.
    catchments
        Add the catchment areas (needs ``library_id`` in ``cells``).
    catchment_resolution_m, catchment_simplify_m
        Block size and simplification tolerance in metres of the catchment outlines (see
        :func:`catchment_areas`).
    hover
        Embed per-cell details (:func:`cell_details`) shown in a box under the mouse.
    buurten
        Summary per buurt (:func:`~bereikbaar.aggregate.aggregate_areas`): drawn as a layer
        "Gemiddelde afstand per buurt" (onvolledig grey), off when the map opens.

    Returns
    -------
    folium.Map
        The map; save it with :func:`write_map`.
    """
    bins = map_class_bounds(bins_km, threshold_km)
    title = title if title is not None else run_title(mode, peiljaar, threshold_km)
    # disable_3d: no CSS 3-D transform (and so no compositing layer) per marker, which makes
    # the first render of a thousand branches several times faster in software rendering.
    m = folium.Map(
        location=list(_NL_CENTRE),
        zoom_start=8,
        tiles=None,
        control_scale=False,
        disable_3d=True,
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    if offline:
        make_offline(m)
    else:
        make_safe(m)
    root = m.get_root()
    # folium sets L_DISABLE_3D after leaflet.js has read it; set it before.
    root.header.add_child(  # type: ignore[attr-defined]
        TextElement("<script>window.L_DISABLE_3D = true;</script>"), name="bereikbaar_no_3d"
    )
    root.header.add_child(TextElement(PAGE_CSS), name="bereikbaar_css")  # type: ignore[attr-defined]
    tiles, no_background = add_backgrounds(m, default=background)
    # Panes: roads under the fills' outlines, the cell raster above the gemeente fills
    # (overlayPane, 400), outlines above it.
    folium.map.CustomPane("bereikbaarWegen", z_index=410, pointer_events=False).add_to(m)
    folium.map.CustomPane("bereikbaarCellen", z_index=420, pointer_events=False).add_to(m)
    folium.map.CustomPane("bereikbaarGebieden", z_index=430, pointer_events=True).add_to(m)
    folium.map.CustomPane("bereikbaarVlaggen", z_index=440, pointer_events=True).add_to(m)
    named = (("gemeente summary", summary), ("libraries", libraries), ("cells", cells))
    frames = [to_rd(f, what) for what, f in named if f is not None and len(f) > 0]
    bounds = _bounds_wgs84(frames)

    gemeente_layer = None
    verdicts: list[str] = []
    if summary is not None and len(summary) > 0:
        gemeente_layer, verdicts = _add_gemeenten(
            m, summary, bins, threshold_km, simplify_m, "bereikbaarVlaggen"
        )
    has_catchments = False
    if cells is not None and len(cells) > 0:
        raster = rasterize_cells(cells, bins_km=bins, max_pixels=max_pixels)
        if raster is not None:
            overlay = folium.raster_layers.ImageOverlay(
                image=raster.to_data_uri(),
                bounds=[list(raster.bounds_wgs84[0]), list(raster.bounds_wgs84[1])],
                name="Afstand per bewoond vierkant",
                opacity=0.85,
                pixelated=True,
                show=show_cells,
                pane="bereikbaarCellen",
                class_name="bereikbaar-cells",
            )
            overlay.add_to(m)
            details = cell_details(cells, libraries) if hover else None
            if details is not None:
                m.add_child(CellHover(overlay, details))
        if catchments and s.LIBRARY_ID in cells.columns:
            areas = catchment_areas(
                cells,
                libraries,
                resolution_m=catchment_resolution_m,
                simplify_m=catchment_simplify_m,
            )
            _add_catchments(m, areas, "bereikbaarGebieden", show=False)
            has_catchments = len(areas) > 0
    has_roads, has_ferries = _add_context(m, roads)
    if buurten is not None and len(buurten) > 0:
        _add_buurten(m, buurten, bins, simplify_m)
    kinds: list[tuple[str, bool]] = []
    if libraries is not None and len(libraries) > 0:
        kinds = _add_libraries(m, libraries)
    labels = _label_rows(summary, places)
    if labels:
        group = folium.FeatureGroup(name="Namen van gemeenten en plaatsen", show=True)
        group.add_to(m)
        m.add_child(Labels(group, labels))

    root.header.add_child(  # type: ignore[attr-defined]
        TextElement(f"<title>{html.escape(title)}</title>"), name="bereikbaar_title"
    )
    root.add_child(HtmlBox(title_html(title, demo)))
    source_line = (
        "Fictieve gegevens (demoregio): geen CBS-, OSM- of KB-gegevens" if demo else SOURCE_LINE
    )
    legend = _legend_html(
        bins,
        threshold_km,
        kinds,
        verdicts,
        roads=has_roads,
        ferries=has_ferries,
        catchments=has_catchments,
        source_line=source_line,
    )
    root.add_child(HtmlBox(legend))
    m.add_child(MetricScale())
    m.add_child(LegendControl())
    if gemeente_layer is not None:
        GemeenteSearch(gemeente_layer).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    m.add_child(BackgroundFallback(tiles, no_background))
    if bounds is not None:
        m.add_child(FitClear(bounds))
    return m


def write_map(m: folium.Map, path: str | Path) -> Path:
    """Save the map as one HTML file, atomically (temp file in the same folder, then rename).

    Parameters
    ----------
    m
        The map from :func:`make_map`.
    path
        Output ``.html`` file; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    root = m.get_root()
    if not isinstance(root, Figure):
        msg = f"cannot write the map {path}: it is not inside a branca Figure"
        raise OutputError(msg)
    page = render_page(root).replace("<html>", '<html lang="nl">', 1)
    with atomic_path(path) as tmp:
        tmp.write_bytes(page.encode("utf-8"))
    logger.info("wrote map %s (%d bytes)", path, path.stat().st_size)
    return path
