"""Deprecated import path, kept for one release: use bereikbaar.examples.synthetic."""

from __future__ import annotations

from .examples.synthetic import *  # noqa: F403  (its public names: those in its __all__)
from .examples.synthetic import __all__ as __all__
