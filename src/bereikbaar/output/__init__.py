"""Everything that writes or draws: files, tables, the interactive map, the dossier.

One home for each shared thing, lowest first (a module imports only the ones above it):

- :mod:`~bereikbaar.output.style`: Dutch numbers, the one km-class scheme and colour ramp,
  verdicts, Dutch dates and titles, escaping;
- :mod:`~bereikbaar.output.files`: the atomic writer, the atomic output set (``output_set``),
  stale temp files, the Dutch Excel CSV writer, spreadsheet-formula neutralising, safe file
  names;
- :mod:`~bereikbaar.output.frames`: column checks and selections on the input frames;
- :mod:`~bereikbaar.output.raster`: the cells as one PNG raster, the per-cell hover details;
- :mod:`~bereikbaar.output.offline`: pages that render text as data and work offline;
- :mod:`~bereikbaar.output.catchments`: the catchment area of every library;
- :mod:`~bereikbaar.output.map_page`: the map page's scripts, CSS, controls and search box;
- :mod:`~bereikbaar.output.maps`: the interactive folium map;
- :mod:`~bereikbaar.output.tables`: ``gemeenten.csv``/``.parquet`` (GeoParquet)/``.gpkg``,
  ``cells.gpkg``, ``bereikbaar.xlsx`` and the CBS comparison;
- :mod:`~bereikbaar.output.dossier_maps`: the dossier's per-gemeente maps (matplotlib SVG);
- :mod:`~bereikbaar.output.dossier`: the consultation dossier ``rapport.html`` (Jinja
  templates in ``templates/``) and ``rapport.pdf``.

The names below are imported lazily (PEP 562), so that ``bereikbaar.output.files`` does not
load folium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catchments import (
        catchment_areas,
    )
    from .dossier import (
        dossier_html,
        write_dossier,
        write_pdf,
    )
    from .files import (
        EXCEL_CSV_DECIMAL,
        EXCEL_CSV_ENCODING,
        EXCEL_CSV_SEPARATOR,
        TEMP_FILE_PATTERN,
        OutputSet,
        atomic_path,
        neutralise_formula,
        neutralise_frame,
        output_set,
        remove_stale_temp_files,
        safe_filename,
        write_excel_csv,
    )
    from .frames import (
        bool_mask,
        has_geometry,
        populated_cells,
        require_columns,
        to_rd,
        truthy,
    )
    from .maps import (
        BACKGROUNDS,
        FLAG_COLOUR,
        NO_DATA_COLOUR,
        add_backgrounds,
        branch_icon_svg,
        make_map,
        write_map,
    )
    from .offline import (
        TextElement,
        inline_resources,
        make_offline,
        make_safe,
        render_page,
        self_contained_html,
    )
    from .raster import (
        CellDetails,
        RasterImage,
        cell_details,
        encode_png,
        fit_merc_to_rd,
        merc_to_rd,
        rasterize_cells,
    )
    from .style import (
        DEFAULT_BINS_KM,
        DOSSIER_CLASSES,
        DOSSIER_NUMBERS,
        KM_CLASSES,
        MAP_CLASSES,
        MAP_NUMBERS,
        SOURCE_LINE,
        UNREACHABLE_COLOUR,
        KmClasses,
        NumberStyle,
        class_bounds,
        class_colours,
        class_labels,
        classify_km,
        escape_html,
        escape_text,
        is_missing,
        map_class_bounds,
        nl_decimal,
        nl_general,
        nl_number,
        nl_trimmed,
        ramp_colours,
    )
    from .tables import (
        CSV_DECIMALS,
        CSV_HEADERS_NL,
        csv_cell,
        write_comparison,
        write_tables,
        write_workbook,
    )

_LAZY: dict[str, str] = {
    "BACKGROUNDS": ".maps",
    "CSV_DECIMALS": ".tables",
    "CSV_HEADERS_NL": ".tables",
    "CellDetails": ".raster",
    "DEFAULT_BINS_KM": ".style",
    "DOSSIER_CLASSES": ".style",
    "DOSSIER_NUMBERS": ".style",
    "EXCEL_CSV_DECIMAL": ".files",
    "EXCEL_CSV_ENCODING": ".files",
    "EXCEL_CSV_SEPARATOR": ".files",
    "FLAG_COLOUR": ".maps",
    "KM_CLASSES": ".style",
    "KmClasses": ".style",
    "MAP_CLASSES": ".style",
    "MAP_NUMBERS": ".style",
    "NO_DATA_COLOUR": ".maps",
    "NumberStyle": ".style",
    "OutputSet": ".files",
    "RasterImage": ".raster",
    "SOURCE_LINE": ".style",
    "TEMP_FILE_PATTERN": ".files",
    "TextElement": ".offline",
    "UNREACHABLE_COLOUR": ".style",
    "add_backgrounds": ".maps",
    "atomic_path": ".files",
    "bool_mask": ".frames",
    "branch_icon_svg": ".maps",
    "catchment_areas": ".catchments",
    "cell_details": ".raster",
    "class_bounds": ".style",
    "class_colours": ".style",
    "class_labels": ".style",
    "classify_km": ".style",
    "csv_cell": ".tables",
    "dossier_html": ".dossier",
    "encode_png": ".raster",
    "escape_html": ".style",
    "escape_text": ".style",
    "fit_merc_to_rd": ".raster",
    "has_geometry": ".frames",
    "inline_resources": ".offline",
    "is_missing": ".style",
    "make_map": ".maps",
    "make_offline": ".offline",
    "make_safe": ".offline",
    "map_class_bounds": ".style",
    "merc_to_rd": ".raster",
    "neutralise_formula": ".files",
    "neutralise_frame": ".files",
    "output_set": ".files",
    "nl_decimal": ".style",
    "nl_general": ".style",
    "nl_number": ".style",
    "nl_trimmed": ".style",
    "populated_cells": ".frames",
    "ramp_colours": ".style",
    "rasterize_cells": ".raster",
    "remove_stale_temp_files": ".files",
    "render_page": ".offline",
    "require_columns": ".frames",
    "safe_filename": ".files",
    "self_contained_html": ".offline",
    "to_rd": ".frames",
    "truthy": ".frames",
    "write_comparison": ".tables",
    "write_dossier": ".dossier",
    "write_excel_csv": ".files",
    "write_map": ".maps",
    "write_pdf": ".dossier",
    "write_tables": ".tables",
    "write_workbook": ".tables",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'bereikbaar.output' has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BACKGROUNDS",
    "CSV_DECIMALS",
    "CSV_HEADERS_NL",
    "DEFAULT_BINS_KM",
    "DOSSIER_CLASSES",
    "DOSSIER_NUMBERS",
    "EXCEL_CSV_DECIMAL",
    "EXCEL_CSV_ENCODING",
    "EXCEL_CSV_SEPARATOR",
    "FLAG_COLOUR",
    "KM_CLASSES",
    "MAP_CLASSES",
    "MAP_NUMBERS",
    "NO_DATA_COLOUR",
    "SOURCE_LINE",
    "TEMP_FILE_PATTERN",
    "UNREACHABLE_COLOUR",
    "CellDetails",
    "KmClasses",
    "NumberStyle",
    "OutputSet",
    "RasterImage",
    "TextElement",
    "add_backgrounds",
    "atomic_path",
    "bool_mask",
    "branch_icon_svg",
    "catchment_areas",
    "cell_details",
    "class_bounds",
    "class_colours",
    "class_labels",
    "classify_km",
    "csv_cell",
    "dossier_html",
    "encode_png",
    "escape_html",
    "escape_text",
    "fit_merc_to_rd",
    "has_geometry",
    "inline_resources",
    "is_missing",
    "make_map",
    "make_offline",
    "make_safe",
    "map_class_bounds",
    "merc_to_rd",
    "neutralise_formula",
    "neutralise_frame",
    "nl_decimal",
    "nl_general",
    "nl_number",
    "nl_trimmed",
    "output_set",
    "populated_cells",
    "ramp_colours",
    "rasterize_cells",
    "remove_stale_temp_files",
    "render_page",
    "require_columns",
    "safe_filename",
    "self_contained_html",
    "to_rd",
    "truthy",
    "write_comparison",
    "write_dossier",
    "write_excel_csv",
    "write_map",
    "write_pdf",
    "write_tables",
    "write_workbook",
]
