"""Folium maps of library accessibility, with Dutch labels for policy makers.

The map has one layer per theme (toggled with a layer control):

- gemeenten coloured by their person-weighted mean distance (classed, e.g. 0–1–2–3–5–>5 km),
  with tooltips giving the key figures;
- gemeenten flagged "te groot", outlined thick red, with the reasons in a popup;
- populated CBS grid cells coloured by distance, rendered as one PNG raster
  (:mod:`bereikbaar.output.raster`), with per-cell details under the mouse;
- the catchment area of every full-service library (:mod:`bereikbaar.output.catchments`);
- library markers, full-service branches visibly larger and darker than other service points.

Every string that comes from input data (names, addresses, reasons) is HTML-escaped, and the
characters that are special inside JavaScript template literals are escaped too, because folium
puts popup and tooltip HTML inside backtick strings. Pages render with text as data, never as
template source (:mod:`bereikbaar.output.offline`).
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Figure, MacroElement
from folium.plugins import Search
from folium.template import Template

from bereikbaar import schema as s
from bereikbaar.exceptions import InputError, OutputError
from bereikbaar.output.catchments import catchment_areas
from bereikbaar.output.files import atomic_path
from bereikbaar.output.frames import bool_mask, has_geometry, require_columns, to_rd, truthy
from bereikbaar.output.offline import TextElement, make_offline, make_safe, render_page
from bereikbaar.output.raster import CellDetails, cell_details, rasterize_cells
from bereikbaar.output.style import (
    DEFAULT_BINS_KM,
    MAP_NUMBERS,
    SOURCE_LINE,
    UNREACHABLE_COLOUR,
    class_colours,
    class_labels,
    classify_km,
    escape_text,
    is_missing,
    map_class_bounds,
    nl_trimmed,
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
ONVOLLEDIG_COLOUR = "#9e9e9e"  # onvolledig: darker grey than "geen gegevens", dashed border
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


def add_backgrounds(m: folium.Map, *, default: str = BACKGROUNDS[0]) -> None:
    """Add the background layers (PDOK grijs/standaard, OpenStreetMap, none) to a map.

    PDOK's BRT-Achtergrondkaart is the Kadaster's Web Mercator (EPSG:3857) WMTS, attributed
    "Kaartgegevens © Kadaster". Tiles are the only part of a map that is loaded online.

    Parameters
    ----------
    m
        The map (created with ``tiles=None``).
    default
        The background shown when the map opens; one of :data:`BACKGROUNDS`.
    """
    if default not in BACKGROUNDS:
        msg = f"unknown background {default!r}; expected one of {list(BACKGROUNDS)}"
        raise InputError(msg)
    grey, standard, osm, none = BACKGROUNDS
    for name, layer in ((grey, "grijs"), (standard, "standaard")):
        folium.TileLayer(
            tiles=_PDOK_WMTS.format(layer=layer),
            attr=_PDOK_ATTRIBUTION,
            name=name,
            max_zoom=19,
            max_native_zoom=19,
            show=name == default,
        ).add_to(m)
    folium.TileLayer(
        tiles=_OSM_URL, attr=_OSM_ATTRIBUTION, name=osm, max_zoom=19, show=osm == default
    ).add_to(m)
    folium.FeatureGroup(name=none, overlay=False, control=True, show=none == default).add_to(m)


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
    m.add_child(_LazyAreas(group, data, pane, "bereikbaar-catchment"))


def _json_for_html(data: object) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&`` characters)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_DOM_LINES_JS = """
  function bereikbaarLines(lines) {
    var div = document.createElement("div");
    lines.forEach(function (text, k) {
      var line = document.createElement(k === 0 ? "b" : "div");
      line.textContent = text;
      div.appendChild(line);
    });
    return div;
  }
"""


_JSON_DATA_HTML = """
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}"""
"""The ``html`` macro of an element whose data (``this.data_json``) the script parses."""


class _BranchMarkers(MacroElement):
    """Branch markers built in the browser from one JSON array (fast for 1,000s of branches).

    Name, address and place are set as DOM text (never parsed as HTML); popups are built
    when opened.
    """

    _template = Template(
        _JSON_DATA_HTML
        + """
{% macro script(this, kwargs) %}
(function () {
  var groups = [{{ this.full.get_name() }}, {{ this.other.get_name() }}];
  var icons = {{ this.icons_json }};
  var rows = JSON.parse(document.getElementById("{{ this.get_name() }}_data").textContent);
  Object.keys(icons).forEach(function (key) {
    var icon = icons[key], half = icon.size / 2;
    icon.leaflet = L.icon({
      iconUrl: "data:image/svg+xml;base64," + btoa(icon.svg),
      iconSize: [icon.size, icon.size],
      iconAnchor: [half, half],
      popupAnchor: [0, -half],
      tooltipAnchor: [half, 0],
      className: icon.className
    });
  });
"""
        + _DOM_LINES_JS
        + """
  rows.forEach(function (r) {
    var icon = icons[r.icon];
    var marker = L.marker([r.lat, r.lon], {
      icon: icon.leaflet,
      zIndexOffset: r.full ? 1000 : 0,
      alt: r.lines[0],
      keyboard: false
    });
    marker.bindPopup(function () { return bereikbaarLines(r.lines); }, {maxWidth: 300});
    var tip = document.createElement("span");
    tip.textContent = r.lines[0];
    marker.bindTooltip(tip);
    marker.addTo(groups[r.full ? 0 : 1]);
  });
})();
{% endmacro %}
"""
    )

    def __init__(
        self,
        full: folium.FeatureGroup,
        other: folium.FeatureGroup,
        rows: list[dict[str, Any]],
        icons: dict[str, dict[str, Any]],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "BranchMarkers"
        self.full = full
        self.other = other
        self.data_json = _json_for_html(rows)
        self.icons_json = _json_for_html(icons)


class _LazyAreas(MacroElement):
    """Polygons (GeoJSON) drawn into a layer group the first time it is switched on.

    Each feature has ``kleur`` (colour) and ``lines`` (tooltip text lines, set as DOM text).
    """

    _template = Template(
        _JSON_DATA_HTML
        + """
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this.group.get_name() }};
  var built = false;
"""
        + _DOM_LINES_JS
        + """
  function build() {
    if (built) { return; }
    built = true;
    var data = JSON.parse(document.getElementById("{{ this.get_name() }}_data").textContent);
    L.geoJson(data, {
      pane: "{{ this.pane }}",
      style: function (f) {
        return {color: f.properties.kleur, fillColor: f.properties.kleur, weight: 1.5,
                fillOpacity: 0.25, className: "{{ this.class_name }}"};
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () { return bereikbaarLines(f.properties.lines); },
                          {sticky: true});
      }
    }).addTo(group);
  }
  group.on("add", build);
  if ({{ this._parent.get_name() }}.hasLayer(group)) { build(); }
})();
{% endmacro %}
"""
    )

    def __init__(
        self, group: folium.FeatureGroup, data: dict[str, Any], pane: str, class_name: str
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LazyAreas"
        self.group = group
        self.data_json = _json_for_html(data)
        self.pane = pane
        self.class_name = class_name


class _MetricScale(MacroElement):
    """Scale bar in metres/kilometres only."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MetricScale"


class _CellHover(MacroElement):
    """Info box with the residents, distance and nearest library of the cell under the mouse."""

    _template = Template(
        """
{% macro header(this, kwargs) %}
<style>
.bereikbaar-cellinfo { background: rgba(255,255,255,0.94); padding: 6px 10px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); min-width: 200px;
  font-family: Arial, Helvetica, sans-serif; font-size: 12px; line-height: 1.35; }
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<script type="application/octet-stream" id="{{ this.get_name() }}_data">{{ this.data_b64 }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var overlay = {{ this.overlay.get_name() }};
  var meta = {{ this.meta|tojson }};
  var state = null;
  var box = L.control({position: "bottomright"});
  box.onAdd = function () {
    var div = L.DomUtil.create("div", "bereikbaar-cellinfo");
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  box.addTo(map);
  var div = box.getContainer();
  function show(lines) {
    div.textContent = "";
    lines.forEach(function (text, k) {
      var line = document.createElement(k === 0 ? "b" : "div");
      line.textContent = text;
      div.appendChild(line);
    });
  }
  function km(dam) { return (dam / 100).toFixed(1).replace(".", ",") + " km"; }
  function pad4(v) { var t = String(v); while (t.length < 4) { t = "0" + t; } return t; }
  function poly(c, u, v) {
    var sum = 0, k = 0;
    for (var i = 0; i <= meta.poly.deg; i++) {
      for (var j = 0; j <= meta.poly.deg - i; j++) {
        sum += c[k++] * Math.pow(u, i) * Math.pow(v, j);
      }
    }
    return sum;
  }
  function toRd(latlng) {
    var p = L.CRS.EPSG3857.project(latlng);
    var u = (p.x - meta.poly.mx) / meta.poly.ms, v = (p.y - meta.poly.my) / meta.poly.ms;
    return [poly(meta.poly.cx, u, v), poly(meta.poly.cy, u, v)];
  }
  function lookup(lat, lng) {
    if (state === null) { return null; }
    var rd = toRd(L.latLng(lat, lng));
    var col = Math.floor((rd[0] - meta.x0) / meta.size);
    var row = Math.floor((meta.y_top - rd[1]) / meta.size);
    if (col < 0 || row < 0 || col >= meta.n_cols || row >= meta.n_rows) { return null; }
    var key = row * meta.n_cols + col, lo = 0, hi = meta.n - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1, k = state.key[mid];
      if (k === key) {
        var x = meta.x0 + col * meta.size, y = meta.y_top - (row + 1) * meta.size;
        var d = state.dist[mid], p = state.pop[mid], l = state.lib[mid];
        return {
          code: "E" + pad4(Math.floor(x / 100)) + "N" + pad4(Math.floor(y / 100)),
          population: p === 65535 ? null : p,
          distance_m: d === 65535 ? null : d * 10,
          library: l === 65535 ? null : meta.names[l]
        };
      }
      if (k < key) { lo = mid + 1; } else { hi = mid - 1; }
    }
    return null;
  }
  function describe(cell) {
    if (cell === null) { return ["Wijs een bewoond vierkant aan"]; }
    var lines = ["Vierkant " + cell.code];
    lines.push(cell.population === null ? "Inwoners: afgeschermd (CBS)"
                                        : "Inwoners: " + cell.population);
    if (cell.distance_m === null) {
      lines.push("Geen volwaardige bibliotheek bereikbaar over de weg");
    } else {
      lines.push("Afstand over de weg: " + km(cell.distance_m / 10));
      if (cell.library !== null) { lines.push("Dichtstbijzijnd: " + cell.library); }
    }
    return lines;
  }
  function onMove(e) {
    if (!map.hasLayer(overlay)) { return; }
    show(describe(lookup(e.latlng.lat, e.latlng.lng)));
  }
  function toggle() { div.style.display = map.hasLayer(overlay) ? "" : "none"; }
  map.on("overlayadd overlayremove", toggle);
  toggle();
  async function load() {
    if (typeof DecompressionStream === "undefined") {
      show(["Details per vierkant: deze browser kan ze niet tonen"]);
      return;
    }
    var b64 = document.getElementById("{{ this.get_name() }}_data").textContent.trim();
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    var buf = await new Response(stream).arrayBuffer();
    var n = meta.n, key = new Uint32Array(buf, 0, n), acc = 0;
    var sum = new Float64Array(n);
    for (var j = 0; j < n; j++) { acc += key[j]; sum[j] = acc; }
    state = {
      key: sum,
      dist: new Uint16Array(buf, 4 * n, n),
      pop: new Uint16Array(buf, 6 * n, n),
      lib: new Uint16Array(buf, 8 * n, n)
    };
    show(["Wijs een bewoond vierkant aan"]);
    map.on("mousemove click", onMove);
  }
  show(["Details per vierkant laden…"]);
  window.bereikbaarCells = {lookup: lookup, describe: describe, ready: load()};
})();
{% endmacro %}
"""
    )

    def __init__(self, overlay: folium.raster_layers.ImageOverlay, details: CellDetails) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CellHover"
        self.overlay = overlay
        self.meta = details.meta
        self.data_b64 = base64.b64encode(details.data).decode("ascii")


# --------------------------------------------------------------------------- search


class _GemeenteSearch(Search):
    """Search box for gemeente names (leaflet-search), Dutch texts, names shown as text."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var layer = {{ this.layer.get_name() }};
  var control = new L.Control.Search({
    layer: layer,
    propertyName: "naam",
    initial: false,
    collapsed: false,
    marker: false,
    position: "topleft",
    textPlaceholder: "Zoek een gemeente…",
    textErr: "Gemeente niet gevonden",
    textCancel: "Wissen",
    buildTip: function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      return li;
    },
    moveToLocation: function (latlng, title, map) {
      if (latlng.layer && latlng.layer.getBounds) {
        map.fitBounds(latlng.layer.getBounds());
      } else {
        map.setView(latlng, 11);
      }
    }
  });
  control.on("search:locationfound", function (e) {
    layer.resetStyle();
    e.layer.setStyle({weight: 4, color: "#000000"});
    if (e.layer.getTooltip()) { e.layer.openTooltip(); }
  });
  control.on("search:collapsed", function () { layer.resetStyle(); });
  {{ this._parent.get_name() }}.addControl(control);
})();
{% endmacro %}
"""
    )

    def __init__(self, layer: folium.GeoJson) -> None:
        super().__init__(layer, search_label="naam", geom_type="Polygon", collapsed=False)  # type: ignore[no-untyped-call]
        self._name = "GemeenteSearch"


# --------------------------------------------------------------------------- map boxes


class _HtmlBox(MacroElement):
    """A fixed HTML box on the map (title, legend). ``html`` must already be safe."""

    _template = Template("{% macro html(this, kwargs) %}{{ this.html }}{% endmacro %}")

    def __init__(self, html_text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "HtmlBox"
        self.html = html_text


_BOX_STYLE = (
    "position: fixed; z-index: 9999; background: rgba(255,255,255,0.92); padding: 6px 10px;"
    " border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);"
    " font-family: Arial, Helvetica, sans-serif; font-size: 12px; line-height: 1.35;"
)


def _swatch(colour: str, border: str = "#555", width: int = 1) -> str:
    return (
        f'<span style="display:inline-block;width:14px;height:12px;background:{colour};'
        f'border:{width}px solid {border};margin-right:6px;vertical-align:middle"></span>'
    )


def _legend_html(
    bins_km: Sequence[float],
    threshold_km: float,
    branch_kinds: Sequence[tuple[str, bool]],
    with_onvolledig: bool = False,
) -> str:
    colours = class_colours(len(bins_km) + 1)
    rows = [
        "<b>Afstand over de weg tot de<br>dichtstbijzijnde volwaardige bibliotheek</b>",
        *(
            f"<div>{_swatch(c)}{escape_text(lab)}</div>"
            for c, lab in zip(colours, class_labels(bins_km), strict=True)
        ),
        f"<div>{_swatch(UNREACHABLE_COLOUR)}niet bereikbaar</div>",
        f"<div>{_swatch(NO_DATA_COLOUR)}geen gegevens</div>",
        f"<div>{_swatch('transparent', FLAG_COLOUR, 3)}gemeente met te grote afstand</div>",
    ]
    if with_onvolledig:
        rows.append(
            f"<div>{_swatch(ONVOLLEDIG_COLOUR, '#555', 1).replace('solid', 'dashed')}"
            "onvolledig: te weinig inwoners binnen het wegennet, geen oordeel</div>"
        )
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
    rows.append(f'<div style="margin-top:4px;color:#444">{escape_text(SOURCE_LINE)}</div>')
    body = "".join(rows)
    style = (
        f"{_BOX_STYLE} bottom: 24px; left: 10px; max-width: 300px; max-height: 60vh;"
        " overflow-y: auto;"
    )
    return (
        f'<div class="bereikbaar-legend" style="{style}"><details open>'
        '<summary style="cursor:pointer"><b>Legenda</b></summary>'
        f"{body}</details></div>"
    )


def _title_html(title: str) -> str:
    return (
        f'<div class="bereikbaar-title" style="{_BOX_STYLE} top: 10px; left: 50%;'
        f' transform: translateX(-50%); font-size: 16px;"><b>{escape_text(title)}</b></div>'
    )


# --------------------------------------------------------------------------- layers


def _gemeente_html(row: pd.Series, threshold_km: float, with_reasons: bool) -> str:
    name = escape_text(row.get(s.GEMEENTENAAM, ""))
    code = escape_text(row.get(s.GEMEENTECODE, ""))
    parts = [
        f"<b>{name}</b> ({code})" if code else f"<b>{name}</b>",
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
    if truthy(row.get(s.ONVOLLEDIG)):
        parts.append(
            f"<b>Onvolledig</b>: {MAP_NUMBERS.share(row.get(s.SHARE_COVERED))} van de inwoners"
            " woont binnen het gebied van het wegennet; geen oordeel"
        )
    if truthy(row.get(s.TE_GROOT)):
        parts.append(f'<b style="color:{FLAG_COLOUR}">Afstand te groot</b>')
        if with_reasons:
            parts.append(f"Reden: {escape_text(row.get(s.REASONS, ''))}")
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


def _add_gemeenten(
    m: folium.Map,
    summary: gpd.GeoDataFrame,
    bins_km: Sequence[float],
    threshold_km: float,
    simplify_m: float,
    flag_pane: str,
) -> folium.GeoJson:
    require_columns(summary, [s.GEMEENTENAAM, s.MEAN_DISTANCE_KM], "gemeente summary")
    summary = to_rd(summary, "gemeente summary")
    if simplify_m > 0:
        summary = summary.set_geometry(
            summary.geometry.simplify(simplify_m, preserve_topology=True)
        )
    colours = class_colours(len(bins_km) + 1)
    cls = classify_km(summary[s.MEAN_DISTANCE_KM].to_numpy(dtype=float), bins_km)
    fill = [colours[c] if c >= 0 else NO_DATA_COLOUR for c in cls]
    short = (
        bool_mask(summary[s.ONVOLLEDIG]) if s.ONVOLLEDIG in summary else np.zeros(len(fill), bool)
    )
    fill = [ONVOLLEDIG_COLOUR if k else f for f, k in zip(fill, short, strict=True)]
    dash = ["6 4" if k else "" for k in short]  # onvolledig: grey with a dashed border
    tips = [_gemeente_html(r, threshold_km, False) for _, r in summary.iterrows()]
    names = ["" if is_missing(v) else str(v) for v in summary[s.GEMEENTENAAM]]
    ids = [f"g{k}" for k in range(len(summary))]
    props = {"fill": fill, "tip": tips, "naam": names}
    if short.any():
        props["dash"] = dash
    data = _geojson(summary, props, ids)
    layer = folium.GeoJson(
        data,
        name="Gemiddelde afstand per gemeente",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#555555",
            "weight": 0.7,
            "className": "bereikbaar-gemeente",
            **({"dashArray": f["properties"]["dash"]} if f["properties"].get("dash") else {}),
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )
    layer.add_to(m)

    flagged = summary[bool_mask(summary[s.TE_GROOT])] if s.TE_GROOT in summary else None
    if flagged is None or len(flagged) == 0:
        return layer
    popups = [_gemeente_html(r, threshold_km, True) for _, r in flagged.iterrows()]
    ids = [f"f{k}" for k in range(len(flagged))]
    data = _geojson(flagged, {"tip": popups}, ids)
    folium.GeoJson(
        data,
        name="Gemeenten met te grote afstand",
        style_function=lambda f: {
            "fill": True,
            "fillOpacity": 0.0,
            "color": FLAG_COLOUR,
            "weight": 4,
            "className": "bereikbaar-flagged",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        popup=folium.GeoJsonPopup(fields=["tip"], labels=False, max_width=360),
        pane=flag_pane,
    ).add_to(m)
    return layer


def _add_buurten(
    m: folium.Map, buurten: gpd.GeoDataFrame, bins_km: Sequence[float], simplify_m: float
) -> None:
    """The buurten coloured by their mean distance (onvolledig grey), off when the map opens."""
    require_columns(buurten, [s.BUURTNAAM, s.MEAN_DISTANCE_KM], "buurt summary")
    buurten = to_rd(buurten, "buurt summary")
    if simplify_m > 0:
        buurten = buurten.set_geometry(
            buurten.geometry.simplify(simplify_m, preserve_topology=True)
        )
    colours = class_colours(len(bins_km) + 1)
    cls = classify_km(buurten[s.MEAN_DISTANCE_KM].to_numpy(dtype=float), bins_km)
    short = (
        bool_mask(buurten[s.ONVOLLEDIG]) if s.ONVOLLEDIG in buurten else np.zeros(len(cls), bool)
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
    folium.GeoJson(
        data,
        name="Gemiddelde afstand per buurt",
        show=False,
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#777777",
            "weight": 0.5,
            "className": "bereikbaar-buurt",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(m)


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
    m.add_child(_BranchMarkers(full, other, rows, icons))
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
    to_wgs = pyproj.Transformer.from_crs(s.CRS_RD, s.CRS_WGS84, always_xy=True)
    west, south, east, north = to_wgs.transform_bounds(
        b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max(), densify_pts=21
    )
    return [[float(south), float(west)], [float(north), float(east)]]


def make_map(
    cells: gpd.GeoDataFrame,
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    *,
    title: str = "Afstand tot een volwaardige bibliotheek",
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
        Title shown on top of the map.
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
        "Gemiddelde afstand per buurt", off when the map opens.

    Returns
    -------
    folium.Map
        The map; save it with :func:`write_map`.
    """
    bins = map_class_bounds(bins_km, threshold_km)
    # disable_3d: no CSS 3-D transform (and so no compositing layer) per marker, which makes
    # the first render of a thousand branches several times faster in software rendering.
    m = folium.Map(
        location=list(_NL_CENTRE), zoom_start=8, tiles=None, control_scale=False, disable_3d=True
    )
    if offline:
        make_offline(m)
    else:
        make_safe(m)
    m.add_child(_MetricScale())
    # folium sets L_DISABLE_3D after leaflet.js has read it; set it before.
    m.get_root().header.add_child(  # type: ignore[attr-defined]
        TextElement("<script>window.L_DISABLE_3D = true;</script>"), name="bereikbaar_no_3d"
    )
    add_backgrounds(m, default=background)
    # Panes: the cell raster above the gemeente fills (overlayPane, 400), outlines above it.
    folium.map.CustomPane("bereikbaarCellen", z_index=420, pointer_events=False).add_to(m)
    folium.map.CustomPane("bereikbaarGebieden", z_index=430, pointer_events=True).add_to(m)
    folium.map.CustomPane("bereikbaarVlaggen", z_index=440, pointer_events=True).add_to(m)
    named = (("gemeente summary", summary), ("libraries", libraries), ("cells", cells))
    frames = [to_rd(f, what) for what, f in named if f is not None and len(f) > 0]
    bounds = _bounds_wgs84(frames)

    gemeente_layer = None
    if summary is not None and len(summary) > 0:
        gemeente_layer = _add_gemeenten(
            m, summary, bins, threshold_km, simplify_m, "bereikbaarVlaggen"
        )
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
                m.add_child(_CellHover(overlay, details))
        if catchments and s.LIBRARY_ID in cells.columns:
            areas = catchment_areas(
                cells,
                libraries,
                resolution_m=catchment_resolution_m,
                simplify_m=catchment_simplify_m,
            )
            _add_catchments(m, areas, "bereikbaarGebieden", show=False)
    if buurten is not None and len(buurten) > 0:
        _add_buurten(m, buurten, bins, simplify_m)
    kinds: list[tuple[str, bool]] = []
    if libraries is not None and len(libraries) > 0:
        kinds = _add_libraries(m, libraries)

    m.get_root().header.add_child(  # type: ignore[attr-defined]
        TextElement(f"<title>{html.escape(title)}</title>"), name="bereikbaar_title"
    )
    m.get_root().add_child(_HtmlBox(_title_html(title)))
    with_short = (
        summary is not None
        and s.ONVOLLEDIG in summary
        and bool(bool_mask(summary[s.ONVOLLEDIG]).any())
    )
    m.get_root().add_child(_HtmlBox(_legend_html(bins, threshold_km, kinds, with_short)))
    if gemeente_layer is not None:
        _GemeenteSearch(gemeente_layer).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds)
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
    page = render_page(root)
    with atomic_path(path) as tmp:
        tmp.write_bytes(page.encode("utf-8"))
    logger.info("wrote map %s (%d bytes)", path, path.stat().st_size)
    return path
