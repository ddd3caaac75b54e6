"""Deprecated import path, kept for one release: use bereikbaar.output.tables / .dossier / .files.

The tables moved to :mod:`bereikbaar.output.tables`, the consultation dossier to
:mod:`bereikbaar.output.dossier` and the atomic writer, formula neutralising and safe file
names to :mod:`bereikbaar.output.files`.
"""

from __future__ import annotations

from bereikbaar.output.dossier import dossier_html, write_dossier
from bereikbaar.output.files import (
    atomic_path,
    neutralise_formula,
    neutralise_frame,
    remove_stale_temp_files,
    safe_filename,
)
from bereikbaar.output.tables import CSV_HEADERS_NL, write_tables

__all__ = [
    "CSV_HEADERS_NL",
    "atomic_path",
    "dossier_html",
    "neutralise_formula",
    "neutralise_frame",
    "remove_stale_temp_files",
    "safe_filename",
    "write_dossier",
    "write_tables",
]
