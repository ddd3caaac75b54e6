"""Safe and self-contained folium pages: text is data, and every JS/CSS file is inlined.

Security: ``branca.element.Element(text)`` compiles ``text`` as a Jinja template, and branca
and folium wrap already rendered output in new elements while a figure renders, so text from
input data (a branch name such as ``{{ cycler.__init__.__globals__.os.system('…') }}``) could
run. :class:`TextElement` and :func:`render_page` (and the figures of :func:`make_safe` and
:func:`make_offline`) make sure it never does. :func:`inline_resources` replaces the CDN links
of a page by inline copies from the ``folium-offline`` package, so that the page works without
internet (only background tiles stay online).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import branca.element
import folium
from branca.element import Element, Figure

from bereikbaar.exceptions import OutputError

__all__ = [
    "TextElement",
    "inline_resources",
    "make_offline",
    "make_safe",
    "render_page",
    "self_contained_html",
]

_SCRIPT_LINK = re.compile(
    r'<script\s+src="(?P<url>https?://[^"]+)"\s*>\s*</script>', flags=re.IGNORECASE
)
_CSS_LINK = re.compile(
    r'<link\s+rel="stylesheet"\s+href="(?P<url>https?://[^"]+)"\s*/?>', flags=re.IGNORECASE
)
_ICON_FONT_URLS = (
    "leaflet.awesome-markers",
    "fontawesome",
    "bootstrap-glyphicons",
    "leaflet.awesome.rotate",
)
_ICON_FONT_USE = re.compile(r"AwesomeMarkers|glyphicon|\bfa-[a-z]")
_RELATIVE_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?!data:|https?:|#)[^)'"]*\1\s*\)""")
"""``url(...)`` pointing next to the CDN file (``../images/loader.gif``): nothing there offline."""
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def _offline_resources() -> dict[str, str]:
    """URL → text of the JS/CSS files folium links to, from the ``folium-offline`` package.

    ``folium-offline`` (PyPI, MIT, Sandia National Laboratories) is a copy of folium whose
    ``offlinefolium.elements._res`` dictionary holds the text of every CDN resource folium
    0.20 and its plugins link to, keyed by the exact CDN URL. Only that dictionary is used;
    the maps themselves are built with folium.
    """
    try:
        from offlinefolium.elements import _res
    except ImportError as err:  # pragma: no cover - it is a dependency
        msg = "self-contained maps need the 'folium-offline' package (pip install folium-offline)"
        raise OutputError(msg) from err
    return dict(_res)


def inline_resources(html_text: str, *, keep_icon_fonts: bool | None = None) -> str:
    """Replace the CDN ``<script src>`` and stylesheet links of a folium page by inline copies.

    The page then renders with the network cut off (only background map tiles, which are
    loaded by Leaflet at run time, stay online). The JavaScript and CSS come from the
    ``folium-offline`` package, looked up by their exact CDN URL. A ``</script`` or
    ``</style`` inside a file is escaped so it cannot close the inline element early, and
    relative ``url(...)`` references in stylesheets (files next to the CDN copy, such as the
    search plugin's ``../images/loader.gif``) become a blank image, so that the page never
    asks for a missing file.

    Parameters
    ----------
    html_text
        A complete HTML page as folium renders it (``m.get_root().render()``).
    keep_icon_fonts
        Whether to keep Font Awesome, the Glyphicons and the Awesome Markers plugin
        (about 0.9 MB). ``None`` keeps them only when the page uses them
        (``L.AwesomeMarkers``, ``glyphicon`` or ``fa-…`` classes).

    Returns
    -------
    str
        The page with every linked JS/CSS file inlined.

    Raises
    ------
    OutputError
        When the page links to a resource that ``folium-offline`` does not ship (a plugin
        folium-offline does not know); the message names the URL(s).
    """
    resources = _offline_resources()
    if keep_icon_fonts is None:
        rest = _CSS_LINK.sub("", _SCRIPT_LINK.sub("", html_text))
        keep_icon_fonts = _ICON_FONT_USE.search(rest) is not None
    missing: list[str] = []

    def drop(url: str) -> bool:
        return not keep_icon_fonts and any(key in url for key in _ICON_FONT_URLS)

    def inline(match: re.Match[str], tag: str) -> str:
        url = match.group("url")
        if drop(url):
            return ""
        if url not in resources:
            missing.append(url)
            return match.group(0)
        body = re.sub(rf"</({tag})", r"<\\/\1", resources[url], flags=re.IGNORECASE)
        if tag == "style":
            body = _RELATIVE_CSS_URL.sub(f"url({_BLANK_GIF})", body)
        return f"<{tag}>/* {url} (folium-offline) */\n{body}\n</{tag}>"

    def script(match: re.Match[str]) -> str:
        return inline(match, "script")

    def style(match: re.Match[str]) -> str:
        return inline(match, "style")

    out = _CSS_LINK.sub(style, _SCRIPT_LINK.sub(script, html_text))
    if missing:
        msg = (
            f"cannot make the map self-contained: folium-offline has no copy of {missing}; "
            "remove the plugin or add the resource"
        )
        raise OutputError(msg)
    return out


class TextElement(Element):
    """A branca element whose text is emitted verbatim, never compiled as a Jinja template.

    ``branca.element.Element(text)`` compiles ``text`` as a template, so ``{{ … }}`` or
    ``{% … %}`` inside it would run. Use this class for every piece of finished HTML/JS.

    Parameters
    ----------
    text
        The finished text.
    """

    def __init__(self, text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "TextElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text, unchanged."""
        return self.text


class _VerbatimTemplate:
    """Stands in for ``jinja2.Template`` while a figure renders: its source is its output."""

    def __init__(self, source: str, *args: Any, **kwargs: Any) -> None:
        self.source = source

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.source


_RENDER_LOCK = threading.RLock()


@contextmanager
def _rendered_text_is_data() -> Iterator[None]:
    """While a figure renders, text wrapped into a new ``Element`` is never compiled.

    branca and folium render an element to text and then wrap that text in
    ``Element(text)`` (``MacroElement.render``, ``Popup.render``, ``GeoJson`` styles, …),
    whose constructor compiles the text as a new Jinja template: a branch name such as
    ``{{ cycler.__init__.__globals__.os.system('…') }}``, already rendered once as a value,
    would then run. During one render (under a lock) the ``Template`` name that
    ``branca.element.Element`` compiles with is swapped for :class:`_VerbatimTemplate`, and
    restored afterwards, also when rendering fails. Class-level templates (the elements'
    own macros) were compiled at import and are not affected.
    """
    with _RENDER_LOCK:
        original = getattr(branca.element, "Template")  # noqa: B009 (not re-exported)
        setattr(branca.element, "Template", _VerbatimTemplate)  # noqa: B010
        try:
            yield
        finally:
            setattr(branca.element, "Template", original)  # noqa: B010


def render_page(root: Figure) -> str:
    """Render a branca figure with every element's output treated as data, not template.

    Parameters
    ----------
    root
        The figure (``m.get_root()`` of a folium map).

    Returns
    -------
    str
        The HTML page as folium renders it, minus the second template pass.
    """
    with _rendered_text_is_data():
        return str(root.render())  # type: ignore[no-untyped-call]


class _SafeFigure(Figure):
    """A branca Figure that always renders element output as data (:func:`render_page`).

    ``m.save(...)``, ``m.get_root().render()`` and the notebook display all go through it.
    """

    def render(self, **kwargs: Any) -> str:
        with _rendered_text_is_data():
            return str(super().render(**kwargs))  # type: ignore[no-untyped-call]


class _OfflineFigure(_SafeFigure):
    """A safe figure whose rendered page has every JS/CSS file inlined."""

    def render(self, **kwargs: Any) -> str:
        return inline_resources(super().render(**kwargs))


def _attach_figure(m: folium.Map, kind: type[_SafeFigure]) -> folium.Map:
    root = m.get_root()
    if not isinstance(root, kind):
        figure = kind()
        if isinstance(root, Figure):
            figure.width, figure.height = root.width, root.height
        figure.add_child(m)  # type: ignore[no-untyped-call]
    return m


def make_safe(m: folium.Map) -> folium.Map:
    """Attach the map to a figure that never compiles element output as a template.

    Parameters
    ----------
    m
        A folium map.

    Returns
    -------
    folium.Map
        The same map (for chaining).
    """
    return _attach_figure(m, _SafeFigure)


def make_offline(m: folium.Map) -> folium.Map:
    """Attach the map to a figure that inlines all JS/CSS whenever it is rendered.

    After this, ``m.save(...)``, ``m.get_root().render()`` and the notebook display
    (``_repr_html_``) all give a self-contained page, rendered as data (:func:`render_page`).

    Parameters
    ----------
    m
        A folium map.

    Returns
    -------
    folium.Map
        The same map (for chaining).
    """
    return _attach_figure(m, _OfflineFigure)


def self_contained_html(m: folium.Map | Figure) -> str:
    """The complete HTML page of a folium map with every JS/CSS file inlined.

    Use it for any folium map (for instance a small map in the dossier) that must open on a
    computer without internet access; only background tiles are fetched online.

    Parameters
    ----------
    m
        A folium map (or the branca Figure holding it).

    Returns
    -------
    str
        One HTML page; embed it in an ``<iframe srcdoc="...">`` (HTML-escaped) or save it.

    Examples
    --------
    >>> import folium
    >>> page = self_contained_html(folium.Map(tiles=None))
    >>> "cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js\\"" in page
    False
    """
    root = m.get_root()
    if not isinstance(root, Figure):
        msg = "cannot render the map: it is not inside a branca Figure"
        raise OutputError(msg)
    return inline_resources(render_page(root))
