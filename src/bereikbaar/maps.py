"""Deprecated import path, kept for one release: use bereikbaar.output.maps.

The map moved to :mod:`bereikbaar.output`: the map itself to :mod:`bereikbaar.output.maps`,
the cell raster to :mod:`bereikbaar.output.raster`, the safe/offline pages to
:mod:`bereikbaar.output.offline`, the catchments to :mod:`bereikbaar.output.catchments` and
the classes, colours and escaping to :mod:`bereikbaar.output.style`.
"""

from __future__ import annotations

from bereikbaar.output.catchments import catchment_areas
from bereikbaar.output.maps import (
    BACKGROUNDS,
    FLAG_COLOUR,
    NO_DATA_COLOUR,
    add_backgrounds,
    branch_icon_svg,
    make_map,
    write_map,
)
from bereikbaar.output.offline import (
    TextElement,
    inline_resources,
    make_offline,
    make_safe,
    render_page,
    self_contained_html,
)
from bereikbaar.output.raster import (
    CellDetails,
    RasterImage,
    cell_details,
    encode_png,
    merc_to_rd,
    rasterize_cells,
)
from bereikbaar.output.style import (
    DEFAULT_BINS_KM,
    SOURCE_LINE,
    UNREACHABLE_COLOUR,
    class_colours,
    class_labels,
    classify_km,
    escape_text,
)

__all__ = [
    "BACKGROUNDS",
    "DEFAULT_BINS_KM",
    "FLAG_COLOUR",
    "NO_DATA_COLOUR",
    "SOURCE_LINE",
    "UNREACHABLE_COLOUR",
    "CellDetails",
    "RasterImage",
    "TextElement",
    "add_backgrounds",
    "branch_icon_svg",
    "catchment_areas",
    "cell_details",
    "class_colours",
    "class_labels",
    "classify_km",
    "encode_png",
    "escape_text",
    "inline_resources",
    "make_map",
    "make_offline",
    "make_safe",
    "merc_to_rd",
    "rasterize_cells",
    "render_page",
    "self_contained_html",
    "write_map",
]
