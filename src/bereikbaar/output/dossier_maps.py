"""The dossier's maps: one gemeente drawn with matplotlib as an SVG to inline in the HTML.

Text is written as SVG ``<text>`` (escaped by matplotlib's SVG writer, mathtext off); the output
is deterministic (fixed hash salt, no date or creator metadata). The road and ferry colours are
the interactive map's (:mod:`bereikbaar.output.style`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from bereikbaar import schema as s
from bereikbaar.output.frames import bool_mask
from bereikbaar.output.style import (
    FERRY_COLOUR,
    ROAD_COLOUR,
    UNREACHABLE_COLOUR,
    is_missing,
    nl_general,
)

__all__ = ["full_service_mask", "svg_map"]

_FULL_SERVICE_COLOUR = "#08519c"
_OTHER_BRANCH_COLOUR = "#6a51a3"
_SITE_COLOUR = "#e7298a"
_OUTLINE_COLOUR = "#b2182b"
_XML_PROLOGUE = re.compile(r"\A<\?xml[^>]*\?>\s*<!DOCTYPE[^>]*>\s*")
"""matplotlib's XML declaration and DOCTYPE, dropped from an SVG inlined in HTML."""


@dataclass(frozen=True)
class _Symbol:
    """A point symbol: drawn on the map and shown in the legend with the same look."""

    marker: str
    area: float
    """Marker area on the map (pt², matplotlib's ``scatter(s=...)``)."""
    size: float
    """Marker size in the legend (pt)."""
    face: str
    edge: str
    edge_width: float
    label: str

    def draw(self, ax: Any, x: Any, y: Any, zorder: int) -> None:
        """Draw the symbol at the points ``x``, ``y``."""
        ax.scatter(
            x,
            y,
            marker=self.marker,
            s=self.area,
            color=self.face,
            edgecolors=self.edge,
            linewidths=self.edge_width,
            zorder=zorder,
        )

    def handle(self) -> Line2D:
        """The symbol's legend entry."""
        return Line2D(
            [],
            [],
            marker=self.marker,
            linestyle="none",
            markersize=self.size,
            markerfacecolor=self.face,
            markeredgecolor=self.edge,
            markeredgewidth=self.edge_width,
            label=self.label,
        )


_FULL_SERVICE = _Symbol("s", 60, 8, _FULL_SERVICE_COLOUR, "white", 1.0, "volwaardige bibliotheek")
_OTHER_BRANCH = _Symbol("D", 26, 5.5, "white", _OTHER_BRANCH_COLOUR, 1.6, "andere voorziening")
_SITE = _Symbol("^", 80, 8, _SITE_COLOUR, "white", 1.0, "voorgestelde locatie")
_ROAD_LINE: dict[str, Any] = {"color": ROAD_COLOUR, "linewidth": 1.1}
_FERRY_LINE: dict[str, Any] = {"color": FERRY_COLOUR, "linewidth": 1.1, "linestyle": (0, (4, 3))}
_OUTLINE_LINE: dict[str, Any] = {"color": _OUTLINE_COLOUR, "linewidth": 2.0}
"""Line styles on the map and in its legend: main roads, ferries, the gemeente's outline."""


def full_service_mask(libraries: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which rows of ``libraries`` are full-service branches (all ``False`` without the column)."""
    if s.FULL_SERVICE not in libraries.columns:
        return np.zeros(len(libraries), dtype=bool)
    return bool_mask(libraries[s.FULL_SERVICE])


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _label(value: object) -> str:
    """Text for a map label: control characters (a font has no glyph for them) dropped."""
    return _CONTROL.sub("", "" if is_missing(value) else str(value))


def _map_label(ax: Any, x: float, y: float, value: object, **style: Any) -> None:
    """Draw a map label: control characters dropped, no mathtext, clipped to the frame."""
    ax.text(x, y, _label(value), parse_math=False, clip_on=True, **style)


def _area_label(ax: Any, point: shapely.Point, value: object, **style: Any) -> None:
    """Label an area (a gemeente) centred on a point on its surface."""
    _map_label(ax, point.x, point.y, value, ha="center", va="center", **style)


def _clear_spot(
    point: shapely.Point,
    text: str,
    fontsize: float,
    markers: Sequence[tuple[float, float]],
    frame: tuple[float, float, float, float],
    width_in: float,
) -> tuple[float, float]:
    """Where to centre an area's name so that it covers no marker (branch, site).

    Tried in turn: on ``point``, then just above, below, right and left of it; the first
    box (estimated from the text's length and size, with a marker's radius around it)
    that holds no marker and stays inside ``frame`` wins; if none does, ``point``.
    """
    x0, y0, x1, y1 = frame
    per_pt = (x1 - x0) / (width_in * 72.0)  # map metres per typographic point
    half_w = 0.32 * fontsize * max(len(text), 1) * per_pt + 2 * per_pt
    half_h = 0.75 * fontsize * per_pt + 2 * per_pt
    reach = 6.0 * per_pt  # a marker's radius
    xy = np.asarray(markers, dtype=float).reshape(-1, 2)
    dy, dx = 2 * half_h + reach, 2 * half_w + reach
    for mx, my in ((0.0, 0.0), (0.0, dy), (0.0, -dy), (dx, 0.0), (-dx, 0.0)):
        cx, cy = point.x + mx, point.y + my
        if not (x0 + half_w <= cx <= x1 - half_w and y0 + half_h <= cy <= y1 - half_h):
            continue
        inside = (np.abs(xy[:, 0] - cx) < half_w + reach) & (np.abs(xy[:, 1] - cy) < half_h + reach)
        if not inside.any():
            return cx, cy
    return point.x, point.y


def _nice_length_m(width_m: float) -> float:
    for km in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if km * 1000 >= width_m / 6:
            return km * 1000.0
    return 100_000.0


def _frame(bounds: Sequence[float], aspect: float) -> tuple[float, float, float, float]:
    """A box around ``bounds`` (RD metres) with a margin and the width/height ``aspect``."""
    xmin, ymin, xmax, ymax = bounds
    w, h = max(xmax - xmin, 2000.0), max(ymax - ymin, 2000.0)
    w, h = w * 1.12, h * 1.12
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def svg_map(
    gemeente: pd.Series,
    cells: gpd.GeoDataFrame,
    classes: npt.NDArray[np.int64],
    colours: Sequence[str],
    labels: Sequence[str],
    summary: gpd.GeoDataFrame,
    libraries: gpd.GeoDataFrame,
    extra_points: Sequence[tuple[float, float]],
    sites: gpd.GeoDataFrame | None,
    roads: gpd.GeoDataFrame | None,
) -> str:
    """SVG map: neighbours (named), cells by class, roads, outline, named libraries, sites."""
    geom = gemeente.geometry
    bounds = list(geom.bounds) if geom is not None and not geom.is_empty else [0.0, 0.0, 1.0, 1.0]
    for x, y in extra_points:
        bounds = [min(bounds[0], x), min(bounds[1], y), max(bounds[2], x), max(bounds[3], y)]
    x0, y0, x1, y1 = _frame(bounds, 7.2 / (4.3 * 0.86))
    view = shapely.box(x0, y0, x1, y1)
    code = str(gemeente.get(s.GEMEENTECODE))
    with mpl.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": f"bereikbaar-{code}",
            "font.family": "DejaVu Sans",
            "text.parse_math": False,
            "text.usetex": False,
        }
    ):
        fig = Figure(figsize=(7.2, 4.3))
        ax = fig.add_axes((0.0, 0.14, 1.0, 0.86))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="#fafafa", zorder=0))
        # neighbouring gemeenten (light grey, named)
        idx = np.sort(summary.sindex.query(view, predicate="intersects"))
        near = summary.iloc[idx]
        others = near[near[s.GEMEENTECODE].astype(str) != code]
        if len(others):
            clipped = others.geometry.intersection(view)
            gpd.GeoSeries(clipped).plot(
                ax=ax, facecolor="#eeeeee", edgecolor="#a8a8a8", linewidth=0.6, zorder=1
            )
            for pt, name in zip(
                shapely.point_on_surface(clipped.to_numpy()), others[s.GEMEENTENAAM], strict=True
            ):
                if pt is None or pt.is_empty or is_missing(name):
                    continue
                _area_label(ax, pt, name, fontsize=8, color="#666666", style="italic", zorder=6)
        # cells, one dissolved shape per class
        used: list[int] = []
        for k in np.unique(classes):
            union = shapely.union_all(cells.geometry.to_numpy()[classes == k])
            colour = UNREACHABLE_COLOUR if k < 0 else colours[int(k)]
            gpd.GeoSeries([union]).plot(ax=ax, color=colour, linewidth=0, zorder=2)
            used.append(int(k))
        # main roads and ferries
        has_roads = has_ferries = False
        if roads is not None and len(roads):
            r = roads.iloc[np.sort(roads.sindex.query(view, predicate="intersects"))]
            ferry = r["soort"].astype(str).to_numpy() == "ferry"
            if (~ferry).any():
                has_roads = True
                gpd.GeoSeries(r.geometry[~ferry]).plot(ax=ax, zorder=3, **_ROAD_LINE)
            if ferry.any():
                has_ferries = True
                gpd.GeoSeries(r.geometry[ferry]).plot(ax=ax, zorder=3, **_FERRY_LINE)
        # the gemeente's outline (its name is set once the markers are known)
        if geom is not None and not geom.is_empty:
            gpd.GeoSeries([geom.boundary]).plot(ax=ax, zorder=4, **_OUTLINE_LINE)
        markers: list[tuple[float, float]] = []
        # branches in view: other types first, full-service on top (named)
        libs = libraries[libraries.geometry.notna() & ~libraries.geometry.is_empty]
        libs = libs.iloc[np.sort(libs.sindex.query(view, predicate="intersects"))]
        fs = full_service_mask(libs)
        markers += zip(libs.geometry.x.tolist(), libs.geometry.y.tolist(), strict=True)
        if (~fs).any():
            o = libs[~fs]
            _OTHER_BRANCH.draw(ax, o.geometry.x, o.geometry.y, zorder=5)
        if fs.any():
            f = libs[fs]
            _FULL_SERVICE.draw(ax, f.geometry.x, f.geometry.y, zorder=6)
            dx = (x1 - x0) / 90
            for x, y, name in zip(f.geometry.x, f.geometry.y, f[s.NAME], strict=True):
                if is_missing(name):
                    continue
                right_half = x > x0 + 0.6 * (x1 - x0)  # label to the left, inside the frame
                _map_label(
                    ax,
                    x - dx if right_half else x + dx,
                    y + dx,
                    name,
                    fontsize=7.5,
                    color=_FULL_SERVICE_COLOUR,
                    ha="right" if right_half else "left",
                    va="bottom",
                    zorder=8,
                    bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.8},
                )
        has_sites = False
        if sites is not None and len(sites):
            pts = sites[sites.geometry.notna() & ~sites.geometry.is_empty]
            ranks = pts["rang"].tolist() if "rang" in pts.columns else range(1, len(pts) + 1)
            for rank, (_, site) in zip(ranks, pts.iterrows(), strict=True):
                c = site.geometry.centroid
                has_sites = True
                markers.append((c.x, c.y))
                _SITE.draw(ax, [c.x], [c.y], zorder=7)
                ax.text(
                    c.x + (x1 - x0) / 70,
                    c.y,
                    str(rank),
                    fontsize=9,
                    weight="bold",
                    color=_SITE_COLOUR,
                    va="center",
                    zorder=8,
                    parse_math=False,
                    gid=f"site-{code}-{rank}",
                    # a white halo: the number stays legible on the darkest class colour
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")],
                )
        if geom is not None and not geom.is_empty:
            name = gemeente.get(s.GEMEENTENAAM)
            lx, ly = _clear_spot(
                geom.point_on_surface(), _label(name), 10, markers, (x0, y0, x1, y1), 7.2
            )
            _map_label(
                ax,
                lx,
                ly,
                name,
                ha="center",
                va="center",
                fontsize=10,
                weight="bold",
                color="#1f1f1f",
                zorder=7,
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.5},
            )
        # scale bar and north
        bar = _nice_length_m(x1 - x0)
        ax.add_artist(
            AnchoredSizeBar(
                ax.transData,
                bar,
                f"{nl_general(bar / 1000)} km",
                "lower left",
                pad=0.5,
                sep=3,
                frameon=True,
                size_vertical=(y1 - y0) / 200,
                fontproperties={"size": 8},
            )
        )
        ax.text(
            0.975,
            0.965,
            "N ↑",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            weight="bold",
            color="#333333",
        )
        # legend: the symbols drawn above
        handles: list[Any] = [
            Patch(facecolor=colours[k], label=labels[k]) for k in sorted(k for k in used if k >= 0)
        ]
        if -1 in used:
            handles.append(Patch(facecolor=UNREACHABLE_COLOUR, label="geen route"))
        handles.append(Line2D([], [], label="gemeentegrens", **_OUTLINE_LINE))
        handles.append(_FULL_SERVICE.handle())
        if (~fs).any():
            handles.append(_OTHER_BRANCH.handle())
        if has_roads:
            handles.append(Line2D([], [], label="hoofdweg", **_ROAD_LINE))
        if has_ferries:
            handles.append(Line2D([], [], label="veerdienst", **_FERRY_LINE))
        if has_sites:
            handles.append(_SITE.handle())
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=4,
            fontsize=7.5,
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
            handlelength=1.6,
            columnspacing=1.2,
        )
        buffer = io.StringIO()
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    return _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)
