"""CBS's own figure for the distance to a library, per gemeente (Kerncijfers wijken en buurten).

CBS publishes, per gemeente, wijk and buurt, the mean road distance (km, one
decimal) from every inhabited address to the nearest library location (KB
vestigingen and servicepunten) in the *Kerncijfers wijken en buurten* (KWB).
:func:`load_cbs_reference` reads the gemeente rows from the KWB files as CBS and
PDOK hand them out: the wijk- en buurtkaart attributes (``gemeentecode``,
``water``, ``bibliotheek_gemiddelde_afstand_in_km``) as GeoPackage, GeoJSON or
Parquet, and StatLine downloads (CSV) with ``WijkenEnBuurten`` /
``AfstandTotBibliotheek_<n>`` columns.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from ..exceptions import InputError, Problems, where
from ..schema import BUURTCODE, BUURTNAAM, GEMEENTECODE, GEMEENTENAAM, WIJKCODE, WIJKNAAM
from ._errors import read_errors
from .tabular import (
    NumberError,
    find_column,
    locate,
    parse_number,
    position,
    read_delimited,
    require_column,
)

__all__ = ["CBS_MEAN_DISTANCE_KM", "load_cbs_reference"]

log = logging.getLogger(__name__)

CBS_MEAN_DISTANCE_KM: Final = "cbs_mean_distance_km"
"""Column: CBS's mean road distance (km) to the nearest library; NaN where suppressed."""

DISTANCE_ALIASES: Final = (
    "bibliotheek_gemiddelde_afstand_in_km",
    "afstand_tot_bibliotheek",
    "afstandtotbibliotheek",
)
"""Accepted names of the distance column (case-insensitive); StatLine's
``AfstandTotBibliotheek_<n>`` (any number) is accepted too."""

CODE_ALIASES: Final = ("gemeentecode", "statcode", "wijkenenbuurten", "regiocode", "gm_code")
"""Accepted names (case-insensitive) of the region code column, in order of preference."""

NAME_ALIASES: Final = ("gemeentenaam", "statnaam", "gemeentenaam_1", "regionaam", "gm_naam")
"""Accepted names (case-insensitive) of the gemeente name column, in order of preference."""

_STATLINE_RE: Final = re.compile(r"^afstandtotbibliotheek(?:_\d+)?$", re.IGNORECASE)
_GM_RE: Final = re.compile(r"^GM\d{4}$")

_LEVELS: Final = {
    # level: (code column, name column, code aliases, name aliases, code pattern, layer word)
    "gemeente": (GEMEENTECODE, GEMEENTENAAM, CODE_ALIASES, NAME_ALIASES, r"^GM\d{4}$", "gemeente"),
    "wijk": (
        WIJKCODE,
        WIJKNAAM,
        ("wijkcode", "statcode", "wijkenenbuurten", "regiocode", "wk_code"),
        ("wijknaam", "statnaam", "regionaam", "wk_naam"),
        r"^WK\d{4}[0-9A-Z]{2}$",  # Amsterdam: WK0363AA
        "wijk",
    ),
    "buurt": (
        BUURTCODE,
        BUURTNAAM,
        ("buurtcode", "statcode", "wijkenenbuurten", "regiocode", "bu_code"),
        ("buurtnaam", "statnaam", "regionaam", "bu_naam"),
        r"^BU\d{4}[0-9A-Z]{4}$",
        "buurt",
    ),
}


def _read(path: Path, layer_word: str = "gemeente") -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.is_file():
        msg = f"{where(path)}: file not found (expected the CBS Kerncijfers wijken en buurten)"
        raise InputError(msg)
    with read_errors(path):  # pyarrow/pyogrio raise many types for broken files
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return read_delimited(path)
        if suffix in (".gpkg", ".geojson", ".json", ".shp", ".gml"):
            import pyogrio

            layer = None
            if suffix == ".gpkg":
                names = [str(r[0]) for r in pyogrio.list_layers(path)]
                layer = next((n for n in names if layer_word in n.lower()), None)
            frame: pd.DataFrame = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
            return frame
    msg = f"{where(path)}: unknown file type; expected .parquet, .csv, .gpkg or .geojson"
    raise InputError(msg)


_MISSING: Final = frozenset(("", ".", "-", "x", "None"))  # StatLine's "no value" marks


def _numbers(frame: pd.DataFrame, column: str, rows: np.ndarray, problems: Problems) -> np.ndarray:
    """Km per row: numbers or text (decimal comma or point; StatLine's ``.`` = missing)."""
    values = frame[column].iloc[rows]
    if pd.api.types.is_numeric_dtype(values):
        out = np.array(values.to_numpy(dtype=float), dtype=float)  # a writable copy
        for bad in np.flatnonzero(np.isinf(out)):
            problems.add(position(frame, int(rows[bad]), column), "not a finite number of km")
        out[np.isinf(out)] = np.nan
        return out
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values.astype(str).str.strip()):
        if value in _MISSING:
            continue
        try:  # km are never 1000 or more: "2.100" is a decimal point
            out[i] = parse_number(value, ambiguous="decimal")
        except NumberError as err:
            problems.add(
                position(frame, int(rows[i]), column),
                f"{err} (expected km, e.g. 2,1; '.' or empty where CBS has no figure)",
            )
    return out


def load_cbs_reference(path: str | Path, *, level: str = "gemeente") -> pd.DataFrame:
    """Read CBS's mean distance to the nearest library per gemeente (or wijk, buurt).

    With ``level="wijk"`` or ``"buurt"`` the same is read for wijken (codes
    ``WKxxxxxx``, GeoPackage layer ``wijken``) or buurten (``BUxxxxxxxx``, layer
    ``buurten``); the result's code and name columns are then ``wijkcode``/``wijknaam``
    or ``buurtcode``/``buurtnaam``. A GeoJSON without the distance column is read
    with its sibling ``<stem>_stats.parquet`` (as the KWB files in the shared data).

    Only gemeente rows are kept (codes ``GMxxxx``; wijk and buurt rows of a
    combined file are dropped) and only land rows (``water == "NEE"`` where a
    ``water`` column exists). Suppressed values (negative codes such as
    -99997, ``.`` in StatLine CSV) become NaN.

    Parameters
    ----------
    path
        Parquet, CSV (``;`` or ``,``, UTF-8 or cp1252, decimal point or comma),
        GeoPackage (the layer whose name contains "gemeente") or GeoJSON. Needs a
        code column (``gemeentecode``/``statcode``/``WijkenEnBuurten``) and the
        distance as ``bibliotheek_gemiddelde_afstand_in_km`` or
        ``AfstandTotBibliotheek_<n>``.

    Returns
    -------
    pandas.DataFrame
        One row per gemeente, in file order: ``gemeentecode`` (``GMxxxx``),
        ``gemeentenaam`` (None when the file has none) and
        ``cbs_mean_distance_km`` (km; NaN where suppressed). No geometry.

    Raises
    ------
    InputError
        Missing or unreadable file, no code or distance column, no gemeente
        rows, or a gemeente that occurs twice among the land rows (the message
        names the file, row and column).
    """
    if level not in _LEVELS:
        msg = f"level must be one of {', '.join(_LEVELS)}, got {level!r}"
        raise InputError(msg)
    code_out, name_out, code_aliases, name_aliases, pattern, word = _LEVELS[level]
    path = Path(path)
    frame = _read(path, word).reset_index(drop=True)
    sibling = path.with_name(f"{path.stem}_stats.parquet")
    if (
        level != "gemeente"  # the gemeente reader keeps asking for the statistics file itself
        and find_column(frame.columns, DISTANCE_ALIASES) is None
        and path.suffix.lower() in (".geojson", ".json")
        and sibling.is_file()
    ):
        path = sibling
        frame = _read(path, word).reset_index(drop=True)
    found = ", ".join(map(str, frame.columns[:12])) + (", …" if len(frame.columns) > 12 else "")
    code_col = require_column(
        frame.columns,
        code_aliases,
        f"{where(path, column=code_out)}: no region code column; accepted names:"
        f" {', '.join(code_aliases)} (found: {found})",
    )
    dist_col = find_column(frame.columns, DISTANCE_ALIASES) or next(
        (str(c) for c in frame.columns if _STATLINE_RE.match(str(c).strip())), None
    )
    if dist_col is None:
        msg = (
            f"{where(path, column=DISTANCE_ALIASES[0])}: no library distance column; accepted"
            f" names: {', '.join(DISTANCE_ALIASES)} or AfstandTotBibliotheek_<n> (found: {found})"
        )
        raise InputError(msg)
    codes = frame[code_col].astype(str).str.strip().str.upper()
    keep = np.array(codes.str.match(pattern).to_numpy(), dtype=bool)
    water_col = find_column(frame.columns, ("water",))
    if water_col is not None:
        keep &= frame[water_col].astype(str).str.strip().str.upper().to_numpy() != "JA"
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        example = {"gemeente": "GM0363", "wijk": "WK036301", "buurt": "BU03630001"}[level]
        msg = f"{where(path, column=code_col)}: no {level} rows (codes of the form {example})"
        raise InputError(msg)
    sub_codes = codes.iloc[rows]
    duplicated = sub_codes.duplicated().to_numpy()
    if duplicated.any():
        row = int(rows[np.argmax(duplicated)])
        twice = sub_codes.iloc[int(np.argmax(duplicated))]
        msg = (
            f"{locate(path, frame, row, code_col)}: {level} {twice}"
            " occurs more than once among the land rows"
            + (
                " (is this a wijk or buurt file? give the gemeente file)"
                if level == "gemeente"
                else f" (give the {level} file)"
            )
        )
        raise InputError(msg)
    problems = Problems(path, "the CBS reference")
    distance = _numbers(frame, dist_col, rows, problems)
    problems.raise_if_any()
    distance[distance < 0] = np.nan  # -99997 etc.: suppressed
    name_col = find_column(frame.columns, name_aliases)
    names = (
        frame[name_col].iloc[rows].astype(str).str.strip().to_numpy(dtype=object)
        if name_col is not None
        else np.full(len(rows), None, dtype=object)
    )
    out = pd.DataFrame(
        {
            code_out: sub_codes.to_numpy(dtype=object),
            name_out: names,
            CBS_MEAN_DISTANCE_KM: distance,
        }
    )
    log.info(
        "%s: %d %s rows, %d with a CBS library distance",
        path.name,
        len(out),
        level,
        int(np.isfinite(distance).sum()),
    )
    return out
