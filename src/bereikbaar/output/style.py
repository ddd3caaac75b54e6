"""How outputs look: Dutch numbers, the km-class schemes and their colours, text escaping.

The bottom of :mod:`bereikbaar.output`, next to :mod:`~bereikbaar.output.files`: it imports
nothing from the package but the exceptions. The interactive map and the dossier format their
numbers and classes differently (for instance "onbekend" against "–" for a missing value, a
blended against a sampled colour ramp); each difference is a value here, the code is shared.
"""

from __future__ import annotations

import datetime
import html
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from bereikbaar.exceptions import InputError

__all__ = [
    "DEFAULT_BINS_KM",
    "DOSSIER_CLASSES",
    "DOSSIER_NUMBERS",
    "FERRY_COLOUR",
    "KM_CLASSES",
    "MAP_CLASSES",
    "MAP_NUMBERS",
    "MODE_NL",
    "ROAD_COLOUR",
    "SOURCE_LINE",
    "UNREACHABLE_COLOUR",
    "VERDICTS",
    "KmClasses",
    "NumberStyle",
    "Verdict",
    "class_bounds",
    "class_colours",
    "class_labels",
    "classify_km",
    "escape_html",
    "escape_text",
    "is_missing",
    "map_class_bounds",
    "nl_date",
    "nl_decimal",
    "nl_general",
    "nl_number",
    "nl_trimmed",
    "peiljaar_of",
    "ramp_colours",
    "run_title",
    "verdict_of",
]

UNREACHABLE_COLOUR = "#6e6e6e"
"""Cells from which no full-service library can be reached over the network (map and dossier)."""

ROAD_COLOUR = "#7a7a7a"
"""Main roads drawn over the cells (map and dossier)."""

FERRY_COLOUR = "#3a6ea5"
"""Ferry routes (drawn dashed; map and dossier)."""

SOURCE_LINE = "Bron: CBS, © OpenStreetMap-bijdragers, KB"
"""The sources credited in the map legend and the dossier."""


# --------------------------------------------------------------------------- missing values


def is_missing(value: object) -> bool:
    """Whether a single value is missing: ``None``, ``pd.NA``, ``pd.NaT`` or a float NaN.

    Parameters
    ----------
    value
        Any value; containers (lists, arrays) are never missing.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(pd.NA), is_missing(0), is_missing("")
    (True, True, True, False, False)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(float(value))


# --------------------------------------------------------------------------- numbers


def nl_number(value: float, decimals: int, *, grouping: bool = True) -> str:
    """A number the Dutch way: decimal comma and, with ``grouping``, a thousands point.

    Parameters
    ----------
    value
        The number.
    decimals
        Digits after the comma.
    grouping
        Separate thousands with ``.``.

    Returns
    -------
    str

    Examples
    --------
    >>> nl_number(12345.67, 1), nl_number(2.0, 0), nl_number(12345.67, 2, grouping=False)
    ('12.345,7', '2', '12345,67')
    """
    if not grouping:
        return f"{value:.{decimals}f}".replace(".", ",")
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def nl_trimmed(value: float, decimals: int = 2) -> str:
    """A number with at most ``decimals`` decimals, trailing zeros dropped (grouped).

    Examples
    --------
    >>> nl_trimmed(5.0), nl_trimmed(2.5), nl_trimmed(2.25), nl_trimmed(1500.0)
    ('5', '2,5', '2,25', '1.500')
    """
    return nl_number(value, decimals).rstrip("0").rstrip(",")


def nl_general(value: float, significant: int = 6) -> str:
    """A number in Python's general format (``%g``) with a decimal comma.

    Examples
    --------
    >>> nl_general(5.0), nl_general(2.5), nl_general(0.123456789, 10)
    ('5', '2,5', '0,123456789')
    """
    return f"{value:.{significant}g}".replace(".", ",")


def nl_decimal(value: float, decimals: int | None) -> str:
    """Number with a decimal comma, no grouping; ``decimals=None``: whole or up to 10 digits.

    Examples
    --------
    >>> nl_decimal(6.25, 3), nl_decimal(1200.0, None), nl_decimal(0.5, None)
    ('6,250', '1200', '0,5')
    """
    if decimals is not None:
        return nl_number(value, decimals, grouping=False)
    if float(value).is_integer():
        return nl_number(value, 0, grouping=False)
    return nl_general(value, 10)


@dataclass(frozen=True)
class NumberStyle:
    """How an output writes counts, kilometres and shares (missing values included).

    Attributes
    ----------
    missing
        Text of a missing value.
    grouping
        Thousands point in kilometres and shares (counts always have one).
    share_decimals
        Decimals of a percentage.
    """

    missing: str
    grouping: bool
    share_decimals: int

    def count(self, value: object) -> str:
        """A whole number (rounded half to even) with a thousands point.

        Examples
        --------
        >>> MAP_NUMBERS.count(39930.4), DOSSIER_NUMBERS.count(None)
        ('39.930', '–')
        """
        if is_missing(value):
            return self.missing
        number = float(value)  # type: ignore[arg-type]
        return nl_number(round(number) if math.isfinite(number) else number, 0)

    def km(self, value: object, decimals: int = 1) -> str:
        """Kilometres with a decimal comma and the unit.

        Examples
        --------
        >>> MAP_NUMBERS.km(10.654), DOSSIER_NUMBERS.km(10.654), MAP_NUMBERS.km(float("nan"))
        ('10,7 km', '10,7 km', 'onbekend')
        """
        if is_missing(value):
            return self.missing
        return f"{nl_number(float(value), decimals, grouping=self.grouping)} km"  # type: ignore[arg-type]

    def share(self, value: object) -> str:
        """A share (0-1) as a percentage.

        Examples
        --------
        >>> MAP_NUMBERS.share(0.428772), DOSSIER_NUMBERS.share(0.428772)
        ('42,9%', '43%')
        """
        if is_missing(value):
            return self.missing
        percent = 100.0 * float(value)  # type: ignore[arg-type]
        return f"{nl_number(percent, self.share_decimals, grouping=self.grouping)}%"


MAP_NUMBERS = NumberStyle(missing="onbekend", grouping=True, share_decimals=1)
"""Numbers in the interactive map's tooltips and popups."""

DOSSIER_NUMBERS = NumberStyle(missing="–", grouping=False, share_decimals=0)
"""Numbers in the consultation dossier."""


# --------------------------------------------------------------------------- km classes


def class_bounds(bins_km: Sequence[float], threshold_km: float) -> tuple[float, ...]:
    """Increasing class bounds: ``bins_km`` with the threshold added (so a class ends there).

    Examples
    --------
    >>> class_bounds((1, 2, 3, 5), 2.5)
    (1.0, 2.0, 2.5, 3.0, 5.0)
    """
    return tuple(sorted({float(b) for b in bins_km} | {float(threshold_km)}))


def classify_km(values_km: ArrayLike, bins_km: Sequence[float]) -> NDArray[np.int64]:
    """Class index of each distance (:func:`numpy.digitize` over the fixed upper bounds).

    Upper bounds are inclusive: with bounds ``(1, 2)`` a value of exactly 1 km is class 0,
    1.5 km class 1 and anything above 2 km class 2. Missing values (NaN) get class ``-1``.

    Parameters
    ----------
    values_km
        Distances in kilometres.
    bins_km
        Increasing upper class bounds in kilometres.

    Returns
    -------
    numpy.ndarray
        Integer class per value, ``0 .. len(bins_km)``, or ``-1`` for NaN.

    Examples
    --------
    >>> classify_km([0.5, 1.0, 1.5, 7.0, float("nan")], (1, 2, 3, 5)).tolist()
    [0, 0, 1, 4, -1]
    """
    values = np.asarray(values_km, dtype=float)
    bins = np.asarray(bins_km, dtype=float)
    out = np.full(values.shape, -1, dtype=np.int64)
    ok = ~np.isnan(values)
    # right=True: a value equal to a bound belongs to the class that ends there.
    out[ok] = np.digitize(values[ok], bins, right=True)
    return out


def ramp_colours(ramp: Sequence[str], n_classes: int, *, blend: bool = True) -> list[str]:
    """``n_classes`` hex colours spread evenly over a colour ramp (first to last).

    Parameters
    ----------
    ramp
        ``#rrggbb`` colours, near to far.
    n_classes
        How many colours.
    blend
        Interpolate between neighbouring ramp colours; ``False`` takes the nearest one.

    Returns
    -------
    list of str

    Examples
    --------
    >>> ramp_colours(("#000000", "#ffffff"), 3)
    ['#000000', '#808080', '#ffffff']
    >>> ramp_colours(("#000000", "#ffffff"), 3, blend=False)
    ['#000000', '#000000', '#ffffff']
    """
    if not blend:
        idx = np.rint(np.linspace(0, len(ramp) - 1, n_classes)).astype(int)
        return [ramp[i] for i in idx]
    rgb_ramp = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in ramp], dtype=float)
    if n_classes == 1:
        return [ramp[0]]
    pos = np.linspace(0.0, len(ramp) - 1.0, n_classes)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(ramp) - 1)
    frac = (pos - lo)[:, None]
    rgb = np.rint(rgb_ramp[lo] * (1 - frac) + rgb_ramp[hi] * frac).astype(int)
    return ["#{:02x}{:02x}{:02x}".format(*row) for row in rgb]


def class_labels(bins_km: Sequence[float], bound: Callable[[float], str] = nl_trimmed) -> list[str]:
    """Dutch legend labels for classes with these upper bounds.

    Parameters
    ----------
    bins_km
        Increasing upper class bounds in kilometres.
    bound
        How a bound is written (default :func:`nl_trimmed`, the map's).

    Returns
    -------
    list of str
        ``len(bins_km) + 1`` labels.

    Examples
    --------
    >>> class_labels((1, 2.5, 5))
    ['0–1 km', '1–2,5 km', '2,5–5 km', '> 5 km']
    """
    bounds = [0.0, *[float(b) for b in bins_km]]
    labels = [f"{bound(a)}–{bound(b)} km" for a, b in itertools.pairwise(bounds)]
    labels.append(f"> {bound(bounds[-1])} km")
    return labels


@dataclass(frozen=True)
class KmClasses:
    """A distance-class scheme: default bounds, colour ramp and how bounds are written.

    Attributes
    ----------
    bins_km
        Default upper class bounds in km (inclusive); the last class is everything above.
    ramp
        ``#rrggbb`` colours from near to far, sampled to as many classes as there are.
    blend
        Interpolate the ramp (``True``) or take the nearest ramp colour.
    bound
        Formats a class bound (in labels and threshold texts).
    """

    bins_km: tuple[float, ...]
    ramp: tuple[str, ...]
    blend: bool
    bound: Callable[[float], str]

    def bounds(self, threshold_km: float) -> tuple[float, ...]:
        """The default bounds with the threshold added (see :func:`class_bounds`)."""
        return class_bounds(self.bins_km, threshold_km)

    def colours(self, n_classes: int) -> list[str]:
        """``n_classes`` colours of the ramp (see :func:`ramp_colours`)."""
        return ramp_colours(self.ramp, n_classes, blend=self.blend)

    def labels(self, bins_km: Sequence[float]) -> list[str]:
        """Legend labels of classes with these bounds (see :func:`class_labels`)."""
        return class_labels(bins_km, self.bound)


DEFAULT_BINS_KM: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
"""Upper class bounds in km (inclusive) of the map and the dossier (``Settings.km_classes``)."""

KM_CLASSES = KmClasses(
    bins_km=DEFAULT_BINS_KM,
    # Greens up to the usual threshold (5 km), then a clear step to orange, red and dark red:
    # the classes on either side of the threshold never look alike.
    ramp=(
        "#1a9850",
        "#66bd63",
        "#a6d96a",
        "#fee08b",
        "#f46d43",
        "#d73027",
        "#a50026",
    ),
    blend=False,
    bound=nl_trimmed,
)
"""The one distance-class scheme of the interactive map, its cell raster and the dossier."""

MAP_CLASSES = KM_CLASSES
"""Alias of :data:`KM_CLASSES` (the map and the dossier share one scheme)."""

DOSSIER_CLASSES = KM_CLASSES
"""Alias of :data:`KM_CLASSES` (the map and the dossier share one scheme)."""


def class_colours(n_classes: int) -> list[str]:
    """``n_classes`` hex colours of the map, from green (near) to red (far).

    Examples
    --------
    >>> class_colours(2)
    ['#1a9850', '#a50026']
    >>> len(class_colours(5))
    5
    """
    return MAP_CLASSES.colours(n_classes)


def map_class_bounds(bins_km: Sequence[float], threshold_km: float) -> tuple[float, ...]:
    """The map's class bounds with the threshold, checked to be positive finite km values.

    Raises
    ------
    InputError
        When a bound is not a positive finite number.
    """
    bins = class_bounds(bins_km, threshold_km)
    if not bins or bins[0] <= 0 or any(not math.isfinite(b) for b in bins):
        msg = f"class bounds must be positive finite km values, got {bins_km!r} / {threshold_km!r}"
        raise InputError(msg)
    return bins


# --------------------------------------------------------------------------- escaping


def escape_html(value: object) -> str:
    """HTML-escape any value (quotes too); missing values (:func:`is_missing`) give ``""``.

    Examples
    --------
    >>> escape_html("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape("" if is_missing(value) else str(value), quote=True)


def escape_text(value: object) -> str:
    """Escape text from input data for HTML inside a JavaScript template literal.

    ``html.escape`` handles ``< > & " '``; backticks, ``$`` and backslashes are escaped as
    HTML character references too, because folium embeds popup and tooltip HTML in backtick
    strings where ``${...}`` would otherwise be evaluated. ``None`` and a float NaN give
    ``""`` (other missing values, such as ``pd.NA``, are written as text, as before).

    Parameters
    ----------
    value
        Any value; ``None`` and NaN give an empty string.

    Returns
    -------
    str
        Text safe to place in folium popup/tooltip HTML.

    Examples
    --------
    >>> escape_text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape_text("`${x}`")
    '&#96;&#36;{x}&#96;'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """How one verdict on a gemeente is shown (map outline, labels, dossier).

    Attributes
    ----------
    label
        Dutch text.
    colour
        Outline / text colour.
    weight
        Outline width in CSS pixels on the map (0: no outline).
    dash
        SVG dash pattern of the outline (``""``: solid).
    """

    label: str
    colour: str
    weight: float
    dash: str = ""


VERDICTS: dict[str, Verdict] = {
    "te_groot": Verdict("Afstand te groot", "#d7191c", 4.0),
    "onvolledig": Verdict("Onvolledige gegevens: geen oordeel", "#7b3294", 3.0, "6 4"),
    "ok": Verdict("Afstand niet te groot", "#555555", 0.0),
}
"""The one table of verdicts, keyed by value; a new verdict is a new row here."""

_VERDICT_COLUMNS = ("verdict", "oordeel")


def verdict_of(row: Mapping[str, object] | pd.Series) -> str:
    """The verdict key of a gemeente row: an explicit ``verdict``/``oordeel`` column, else
    ``te_groot`` (true → ``"te_groot"``, false → ``"ok"``).

    Examples
    --------
    >>> verdict_of({"te_groot": True}), verdict_of({"te_groot": False, "oordeel": "onvolledig"})
    ('te_groot', 'onvolledig')
    """
    for column in _VERDICT_COLUMNS:
        value = row.get(column)
        if isinstance(value, str) and value in VERDICTS:
            return value
    flag = row.get("te_groot")
    return "te_groot" if (not is_missing(flag) and bool(flag)) else "ok"


# --------------------------------------------------------------------------- titles and dates

MODE_NL: dict[str, str] = {"car": "per auto", "bike": "per fiets", "walk": "te voet"}
"""How a travel mode is written after "afstand" in Dutch."""

_MONTHS_NL = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def nl_date(value: object) -> str:
    """A date the Dutch way ("2 december 2026") from a date, datetime or ISO text.

    Text that is not an ISO date is returned unchanged; missing values give ``""``.

    Examples
    --------
    >>> nl_date("2026-12-02T15:54:40+0000"), nl_date(datetime.date(2024, 3, 1))
    ('2 december 2026', '1 maart 2024')
    """
    if is_missing(value):
        return ""
    if isinstance(value, datetime.date):
        day = value
    else:
        text = str(value)
        try:
            day = datetime.datetime.fromisoformat(text[:10]).date()
        except ValueError:
            return text
    return f"{day.day} {_MONTHS_NL[day.month - 1]} {day.year}"


_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")


def peiljaar_of(explicit: int | None, cells_path: object = None) -> int | None:
    """The reference year: ``explicit``, else a year in the grid file's name, else ``None``.

    Examples
    --------
    >>> peiljaar_of(None, "data/raw/cbs_vk100_2023.gpkg"), peiljaar_of(2024, "x"), peiljaar_of(None)
    (2023, 2024, None)
    """
    if explicit is not None:
        return int(explicit)
    if cells_path is None:
        return None
    found = _YEAR.findall(Path(str(cells_path)).name)
    return int(found[-1]) if found else None


def run_title(mode: str, peiljaar: int | None, threshold_km: float) -> str:
    """Title of a run's map: mode, peiljaar and threshold.

    Examples
    --------
    >>> run_title("bike", 2024, 5.0)
    'Afstand per fiets tot een volwaardige bibliotheek · peiljaar 2024 · drempel 5 km'
    """
    parts = [f"Afstand {MODE_NL.get(mode, mode)} tot een volwaardige bibliotheek"]
    if peiljaar is not None:
        parts.append(f"peiljaar {peiljaar}")
    parts.append(f"drempel {nl_trimmed(threshold_km)} km")
    return " · ".join(parts)
