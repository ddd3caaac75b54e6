"""Deprecated import path, kept for one release: use bereikbaar.sources.study_area."""

from __future__ import annotations

from .sources.study_area import *  # noqa: F403  (its public names: those in its __all__)
from .sources.study_area import __all__ as __all__
