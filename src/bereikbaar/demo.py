"""Deprecated import path, kept for one release: use bereikbaar.examples.demo."""

from __future__ import annotations

from .examples.demo import *  # noqa: F403  (its public names: those in its __all__)
from .examples.demo import __all__ as __all__
