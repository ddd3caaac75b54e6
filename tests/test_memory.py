"""``release_memory``: glibc's malloc_trim where there is glibc, nothing elsewhere."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from bereikbaar._memory import release_memory


def _rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4  # pages of 4 KiB


def test_release_memory_hands_freed_heap_back() -> None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        assert release_memory() in (True, False)
        return
    # many 1 MB arrays (under glibc's mmap threshold once it has grown): freed, they stay
    # in the heap until malloc_trim gives the pages back
    grow = np.ones(16 << 20, dtype=np.uint8)  # its free raises the mmap threshold to 16 MB
    del grow
    blocks = [np.ones(1 << 20, dtype=np.uint8) for _ in range(200)]
    kept = blocks[-1]  # the top of the heap stays in use: only a trim of the middle helps
    del blocks
    before = _rss_kb()
    assert release_memory() is True
    after = _rss_kb()
    assert kept[0] == 1
    assert before - after > 100 * 1024  # at least 100 of the 199 freed MB went back
