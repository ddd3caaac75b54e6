"""``use_all_cores``: libosmium's pool gets two decoding threads where its default gives fewer."""

from __future__ import annotations

import pytest

from bereikbaar.sources import _osmium


@pytest.mark.parametrize(
    ("cores", "expected"),
    [(1, "1"), (2, "2"), (3, "2"), (4, None), (16, None)],  # default: cores - 2, at least 1
)
def test_pool_size_set_only_where_the_default_is_smaller(
    monkeypatch: pytest.MonkeyPatch, cores: int, expected: str | None
) -> None:
    monkeypatch.delenv(_osmium.POOL_THREADS_VARIABLE, raising=False)
    monkeypatch.setattr(_osmium.os, "cpu_count", lambda: cores)
    _osmium.use_all_cores()
    assert _osmium.os.environ.get(_osmium.POOL_THREADS_VARIABLE) == expected


def test_a_users_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_osmium.POOL_THREADS_VARIABLE, "1")
    monkeypatch.setattr(_osmium.os, "cpu_count", lambda: 2)
    _osmium.use_all_cores()
    assert _osmium.os.environ[_osmium.POOL_THREADS_VARIABLE] == "1"
