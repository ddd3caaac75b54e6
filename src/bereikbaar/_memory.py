"""Give freed heap memory back to the operating system between the big steps of a load.

glibc's ``malloc`` keeps the memory of freed arrays below its mmap threshold (which grows
to 32 MB after the first large free) in the process's heap. A national PBF load frees
hundreds of MB of such arrays between reading, building and preparing the network; without
handing them back, the next step's peak comes on top of them. ``malloc_trim(0)`` returns
every free page (also from the middle of the heap). Elsewhere (musl, macOS, Windows) this
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_memory() -> bool:
    """Return the heap's free pages to the operating system (glibc ``malloc_trim``).

    Returns
    -------
    bool
        Whether anything could be asked of the allocator (``False`` where it is not glibc).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
