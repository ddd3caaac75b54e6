"""The package version, read from the installed distribution's metadata.

Every module that needs the version imports it from here, never from the package
``__init__`` (which would import the whole public API).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("bereikbaar")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
