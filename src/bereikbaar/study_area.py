"""Deprecated import path, kept for one release: use bereikbaar.sources.study_area."""

from __future__ import annotations

from .sources.study_area import (
    PROVINCES,
    StudyArea,
    clip_network,
    resolve_study_area,
    study_area_geometry,
    within,
)

__all__ = [
    "PROVINCES",
    "StudyArea",
    "clip_network",
    "resolve_study_area",
    "study_area_geometry",
    "within",
]
