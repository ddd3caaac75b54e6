"""The map page's own elements: browser scripts, page CSS, controls, search box, title bar.

Each element is a branca ``MacroElement`` whose template holds only constant JavaScript,
HTML and CSS; data from inputs reaches the page as JSON in a ``<script type="application/json">``
element (:func:`_json_for_html`) or as base64, and the scripts set every name as DOM text,
never as HTML. :mod:`bereikbaar.output.maps` builds the map and adds these elements to it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import Search
from folium.template import Template

from bereikbaar.output.raster import CellDetails
from bereikbaar.output.style import escape_text

__all__ = [
    "PAGE_CSS",
    "BackgroundFallback",
    "BranchMarkers",
    "CellHover",
    "FitClear",
    "GemeenteSearch",
    "HtmlBox",
    "Labels",
    "LazyAreas",
    "LegendControl",
    "MetricScale",
    "title_html",
]


# --------------------------------------------------------------------------- scripts


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


class BranchMarkers(MacroElement):
    """Branch markers built in the browser from one JSON array (fast for 1,000s of branches).

    Name, address and place are set as DOM text (never parsed as HTML); popups are built
    when opened.

    Parameters
    ----------
    full, other
        The layer groups of the full-service and the other branches.
    rows
        One dict per branch: ``lat``, ``lon``, ``full``, ``icon`` (a key of ``icons``), ``lines``.
    icons
        Per icon key: ``svg``, ``size`` (CSS pixels) and ``className``.
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
    marker.bindTooltip(tip, {className: "bereikbaar-tip"});
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


class LazyAreas(MacroElement):
    """Polygons (GeoJSON) drawn into a layer group the first time it is switched on.

    Each feature has ``kleur`` (colour) and ``lines`` (tooltip text lines, set as DOM text).

    Parameters
    ----------
    group
        The layer group the polygons are drawn into.
    data
        A GeoJSON FeatureCollection in WGS84.
    pane
        The Leaflet pane of the polygons.
    class_name
        CSS class of the polygons' paths.
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
        layer.bindTooltip(function () { return bereikbaarLines(f.properties.lines.slice(0, 1)); },
                          {sticky: true, className: "bereikbaar-tip"});
        layer.bindPopup(function () { return bereikbaarLines(f.properties.lines); },
                        {maxWidth: 300});
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


class MetricScale(MacroElement):
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


class CellHover(MacroElement):
    """Info box with the residents, distance and nearest library of the cell under the mouse.

    Parameters
    ----------
    overlay
        The cell raster; the box shows only while it is on.
    details
        The packed cells (:func:`bereikbaar.output.raster.cell_details`).
    """

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


class GemeenteSearch(Search):
    """Search box for gemeente names (leaflet-search), Dutch texts, names shown as text.

    Parameters
    ----------
    layer
        The gemeente polygons, with the name in the ``naam`` property.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var layer = {{ this.layer.get_name() }};
  var control = new L.Control.Search({
    layer: layer,
    propertyName: "naam",
    initial: false,
    collapsed: window.innerWidth < 700,
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


class HtmlBox(MacroElement):
    """A piece of HTML in the page body (title bar, legend). ``html`` must already be safe.

    Parameters
    ----------
    html_text
        The HTML, already escaped.
    """

    _template = Template("{% macro html(this, kwargs) %}{{ this.html }}{% endmacro %}")

    def __init__(self, html_text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "HtmlBox"
        self.html = html_text


PAGE_CSS = """
<style>
body { display: flex; flex-direction: column; }
.folium-map { flex: 1 1 auto; height: auto !important; min-height: 0; }
.bereikbaar-title { flex: none; order: -1; padding: 6px 12px; background: #ffffff;
  border-bottom: 1px solid #bbbbbb; font-family: Arial, Helvetica, sans-serif;
  font-size: 15px; line-height: 1.3; color: #08306b; }
.bereikbaar-title .bereikbaar-demo { color: #b2182b; font-weight: bold; margin-right: 8px; }
.bereikbaar-box { background: rgba(255,255,255,0.94); padding: 6px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); font-family: Arial, Helvetica, sans-serif;
  font-size: 12px; line-height: 1.35; }
.bereikbaar-legend { max-width: min(300px, 70vw); max-height: max(55vh, calc(100vh - 230px));
  overflow-y: auto; }
.bereikbaar-legend summary { cursor: pointer; font-weight: bold; }
.leaflet-tooltip.bereikbaar-tip, .leaflet-tooltip.foliumtooltip {
  white-space: normal; width: max-content; max-width: min(260px, 42vw);
  overflow-wrap: anywhere; }
.bereikbaar-notice { max-width: min(260px, 60vw); border-left: 4px solid #b2182b; }
.bereikbaar-label { pointer-events: none; }
.bereikbaar-label span { position: absolute; transform: translate(-50%, -50%);
  white-space: nowrap; font-family: Arial, Helvetica, sans-serif; color: #1f1f1f;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff; }
.bereikbaar-label-gemeente span { font-size: 13px; font-weight: bold; letter-spacing: 0.3px; }
.bereikbaar-label-town span { font-size: 12px; font-style: italic; }
.bereikbaar-label-village span { font-size: 11px; font-style: italic; color: #333; }
@media (max-width: 600px) { .bereikbaar-cellinfo { display: none; } }
</style>
"""


class Labels(MacroElement):
    """Permanent name labels (gemeenten, places), hidden where they would overlap.

    Labels are ranked (gemeenten first, by residents; then towns, then villages); after
    every zoom or pan a label is shown on its point, or else just below, above, right or
    left of it, at the first place where its box clears every label already shown and
    every branch icon; where none does it is hidden.
    Names are set as DOM text.

    Parameters
    ----------
    group
        The layer group of the labels.
    rows
        One dict per label, in rank order: ``text``, ``kind``, ``lat``, ``lon``.
    """

    _template = Template(
        _JSON_DATA_HTML
        + """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var group = {{ this.group.get_name() }};
  var rows = JSON.parse(document.getElementById("{{ this.get_name() }}_data").textContent);
  var pane = map.createPane("bereikbaarNamen");
  pane.style.zIndex = 460;
  pane.style.pointerEvents = "none";
  var markers = rows.map(function (r) {
    var span = document.createElement("span");
    span.textContent = r.text;
    var icon = L.divIcon({className: "bereikbaar-label bereikbaar-label-" + r.kind,
                          html: span, iconSize: null});
    var marker = L.marker([r.lat, r.lon], {icon: icon, pane: "bereikbaarNamen",
                                          interactive: false, keyboard: false});
    marker.addTo(group);
    return marker;
  });
  function hits(r, boxes, pad) {
    return boxes.some(function (k) {
      return r.left < k.right + pad && r.right + pad > k.left &&
             r.top < k.bottom + pad && r.bottom + pad > k.top;
    });
  }
  function declutter() {
    if (!map.hasLayer(group)) { return; }
    // the branch icons drawn now: a name is never set under one
    var icons = Array.from(map.getContainer().querySelectorAll(".bereikbaar-branch"))
      .map(function (i) { return i.getBoundingClientRect(); })
      .filter(function (r) { return r.width > 0; });
    var kept = [];
    markers.forEach(function (marker) {
      var el = marker.getElement();
      if (!el || !el.firstChild) { return; }
      var span = el.firstChild;
      span.style.transform = "";
      span.style.visibility = "visible";
      var r = span.getBoundingClientRect(), pad = 3;
      // on the point; else below, above, right or left of it, clear of the icon there
      var dy = r.height / 2 + 12, dx = r.width / 2 + 14;
      var moves = [[0, 0], [0, dy], [0, -dy], [dx, 0], [-dx, 0]];
      for (var i = 0; i < moves.length; i++) {
        var m = moves[i];
        var box = {left: r.left + m[0], right: r.right + m[0],
                   top: r.top + m[1], bottom: r.bottom + m[1]};
        if (!hits(box, kept, pad) && !hits(box, icons, 1)) {
          if (m[0] || m[1]) {
            span.style.transform = "translate(calc(-50% + " + m[0] + "px), calc(-50% + " +
              m[1] + "px))";
          }
          kept.push(box);
          return;
        }
      }
      span.style.visibility = "hidden";
    });
  }
  map.on("zoomend moveend overlayadd overlayremove resize", declutter);
  window.bereikbaarLabels = {declutter: declutter};
  setTimeout(declutter, 0);
})();
{% endmacro %}
"""
    )

    def __init__(self, group: folium.FeatureGroup, rows: list[dict[str, Any]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Labels"
        self.group = group
        self.data_json = _json_for_html(rows)


class BackgroundFallback(MacroElement):
    """Offline: when a background's tiles cannot load, switch to "Geen achtergrond" and say so.

    A tile layer that fails before any of its tiles loaded is removed (and with it its
    attribution, so Kadaster is not credited for a map it did not draw), the empty
    "Geen achtergrond" layer is selected and a Dutch notice is shown.

    Parameters
    ----------
    tiles
        The background tile layers.
    none
        The empty "Geen achtergrond" layer.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var none = {{ this.none.get_name() }};
  var tiles = [{{ this.tile_names }}];
  var notice = null;
  function showNotice() {
    if (notice !== null) { return; }
    notice = L.control({position: "topright"});
    notice.onAdd = function () {
      var div = L.DomUtil.create("div", "bereikbaar-box bereikbaar-notice");
      var head = document.createElement("b");
      head.textContent = "Geen achtergrondkaart";
      var text = document.createElement("div");
      text.textContent = "De achtergrondkaart kan niet worden geladen (geen internet?). "
        + "De kaart toont alleen de gegevens van deze analyse, zonder achtergrond.";
      div.appendChild(head);
      div.appendChild(text);
      return div;
    };
    notice.addTo(map);
  }
  tiles.forEach(function (layer) {
    var loaded = 0;
    layer.on("tileload", function () { loaded += 1; });
    layer.on("tileerror", function () {
      if (loaded > 0 || !map.hasLayer(layer)) { return; }
      map.removeLayer(layer);
      if (!map.hasLayer(none)) { map.addLayer(none); }
      showNotice();
    });
  });
  window.bereikbaarBackground = {noticeShown: function () { return notice !== null; }};
})();
{% endmacro %}
"""
    )

    def __init__(self, tiles: Sequence[folium.TileLayer], none: folium.FeatureGroup) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "BackgroundFallback"
        self.tile_names = ", ".join(t.get_name() for t in tiles)
        self.none = none


class LegendControl(MacroElement):
    """Moves the legend (rendered in the page body) into a Leaflet control (bottom left).

    As a control it stacks with the other controls of its corner instead of covering
    them; it is folded open on wide screens and closed on narrow ones.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var legend = L.control({position: "bottomleft"});
  legend.onAdd = function () {
    var div = document.getElementById("bereikbaar-legend");
    div.removeAttribute("hidden");
    var details = div.querySelector("details");
    if (details && window.innerWidth < 700) { details.removeAttribute("open"); }
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo(map);
})();
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LegendControl"


class FitClear(MacroElement):
    """Fit the data's bounds into the part of the map that no control covers.

    Parameters
    ----------
    bounds
        ``[[south, west], [north, east]]`` in WGS84.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var bounds = {{ this.bounds|tojson }};
  function fit() {
    var c = map.getContainer();
    function corner(sel) {
      var e = c.querySelector(sel);
      return e ? e.getBoundingClientRect() : {width: 0, height: 0};
    }
    var tl = corner(".leaflet-top.leaflet-left"), tr = corner(".leaflet-top.leaflet-right");
    var bl = corner(".leaflet-bottom.leaflet-left"), br = corner(".leaflet-bottom.leaflet-right");
    var wide = c.clientWidth >= 800;
    // Either keep the data clear of the controls sideways (left and right strips) or
    // above and below them (top and bottom strips): whichever lets the map zoom in further.
    var left = Math.max(tl.width, bl.width) + 12;
    var right = Math.max(tr.width, wide ? br.width : 0) + 12;
    var top = Math.max(tl.height, tr.height) + 12;
    var bottom = Math.max(bl.height, wide ? br.height : 0) + 12;
    var side = {paddingTopLeft: [left, 16], paddingBottomRight: [right, 16]};
    var updown = {paddingTopLeft: [16, top], paddingBottomRight: [16, bottom]};
    var b = L.latLngBounds(bounds);
    var zSide = map.getBoundsZoom(b, false, L.point(left + right, 32));
    var zUpDown = map.getBoundsZoom(b, false, L.point(32, top + bottom));
    map.fitBounds(b, zUpDown > zSide ? updown : side);
  }
  fit();
  window.bereikbaarFit = fit;
})();
{% endmacro %}
"""
    )

    def __init__(self, bounds: list[list[float]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "FitClear"
        self.bounds = bounds


def title_html(title: str, demo: bool) -> str:
    """The title bar above the map (for :class:`HtmlBox`).

    Parameters
    ----------
    title
        The map's title; escaped here.
    demo
        Whether to put the "Fictieve demoregio" banner in front of it.

    Returns
    -------
    str
        A ``<div class="bereikbaar-title">`` element.

    Examples
    --------
    >>> title_html("A & B", False)
    '<div class="bereikbaar-title"><b>A &amp; B</b></div>'
    """
    banner = '<span class="bereikbaar-demo">Fictieve demoregio</span>' if demo else ""
    return f'<div class="bereikbaar-title">{banner}<b>{escape_text(title)}</b></div>'
