"""Deadlines and size limits of every online read and every decompression, in one place.

Each client takes its own keyword argument for each limit (``deadline_s=…``,
``max_bytes=…``); the defaults are these constants. A limit that is hit ends the work with
a clear error (:class:`~bereikbaar.exceptions.ServiceError`,
:class:`~bereikbaar.exceptions.DownloadError` or
:class:`~bereikbaar.exceptions.InputError`), never a hang or a ``MemoryError``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DOWNLOAD_DEADLINE_S",
    "DOWNLOAD_MAX_BYTES",
    "DOWNLOAD_MIN_BYTES_PER_WINDOW",
    "DOWNLOAD_RATE_WINDOW_S",
    "MAX_INFLATED_XML_BYTES",
    "MAX_PBF_BLOB_BYTES",
    "MAX_SMALL_RESPONSE_BYTES",
    "MAX_UNZIPPED_BYTES",
    "OVERPASS_DEADLINE_S",
    "REQUEST_DEADLINE_S",
    "SERVICE_GIVE_UP_AFTER",
]

CONNECT_TIMEOUT_S: Final = 10.0
"""Seconds to open a connection to a server."""

REQUEST_DEADLINE_S: Final = 30.0
"""Seconds one small request may take in all (connect, headers and the whole answer): a
PDOK Locatieserver lookup, a published MD5 file. A server that trickles bytes is cut off
here (the per-read timeout alone would wait for ever)."""

SERVICE_GIVE_UP_AFTER: Final = 3
"""After this many requests in a row that ran out of time, the geocoder asks no more (the
remaining addresses are reported as not placed, with the reason)."""

MAX_SMALL_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""Largest answer a small request may return (a Locatieserver answer is about 2 kB)."""

DOWNLOAD_DEADLINE_S: Final = 6 * 3600.0
"""Seconds a whole download may take, all attempts and resumes included (the OSM file of
the Netherlands, 1.3 GB, takes about 20 minutes at 1 MB/s)."""

OVERPASS_DEADLINE_S: Final = 3600.0
"""Seconds an Overpass download of a road network may take in all."""

DOWNLOAD_RATE_WINDOW_S: Final = 60.0
"""Length of the window over which a download's speed is checked (s)."""

DOWNLOAD_MIN_BYTES_PER_WINDOW: Final = 64 * 1024
"""An attempt that moves fewer bytes than this in a window is broken off (and resumed by
the next attempt); a server sending 1 byte per second thus ends with a clear error."""

DOWNLOAD_MAX_BYTES: Final = 16 * 1024**3
"""Largest file the downloader accepts (16 GiB; the Netherlands' OSM file is 1.3 GB)."""

MAX_UNZIPPED_BYTES: Final = 64 * 1024**3
"""Largest total unpacked size of a downloaded zip archive (its members as declared); a
zip bomb is refused before a byte is unpacked."""

MAX_PBF_BLOB_BYTES: Final = 32 * 1024 * 1024
"""Largest unpacked block of an OSM PBF file (the format's own limit, 32 MiB)."""

MAX_INFLATED_XML_BYTES: Final = 32 * 1024**3
"""Largest unpacked size of a ``.osm.gz`` / ``.osm.bz2`` file (checked before reading)."""
