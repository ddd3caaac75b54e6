"""Nothing lost: atomic outputs, interrupted runs, stale temp files, corrupt caches, determinism.

A run writes every output to a hidden temp file (:func:`bereikbaar.output.files.atomic_path`)
in a stage folder beside the output folder, which replaces the output folder as a whole at the
end (:func:`bereikbaar.output.files.output_set`; the set itself is tested in
``test_atomic_set.py``). These tests interrupt real runs: an exception in the middle of writing
a file (in process), and ``bereikbaar run`` in a subprocess that gets SIGINT or SIGKILL while
its outputs are being written. Afterwards every output is the previous file, byte for byte; no
stage survives SIGINT; and the stage SIGKILL leaves behind is removed by the next run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from bereikbaar import pipeline
from bereikbaar.exceptions import BereikbaarWarning, InputError, OutputError
from bereikbaar.output import tables
from bereikbaar.output.files import TEMP_FILE_PATTERN as TEMP_RE
from bereikbaar.output.files import atomic_path, remove_stale_temp_files
from bereikbaar.pipeline import RunResult
from bereikbaar.settings import FlagRule, Settings

TABLES = ("gemeenten.csv", "gemeenten.parquet")
OUTPUTS = (*TABLES, "gemeenten.gpkg", "cells.gpkg", "kaart.html", "rapport.html", "run.json")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(folder: Path) -> dict[str, str]:
    return {name: _sha(folder / name) for name in OUTPUTS}


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if TEMP_RE.match(p.name))


def _stages(out: Path) -> list[Path]:
    """Stage folders of ``out`` (beside it) of runs that are writing or were killed."""
    return sorted(out.parent.glob(f".{out.name}.bereikbaar-stage-*"))


def _complete(path: Path) -> bool:
    """True when ``path`` is a complete, readable file of its kind."""
    try:
        if path.suffix == ".csv":
            return len(pd.read_csv(path, sep=";", encoding="utf-8-sig")) > 0
        if path.suffix == ".parquet":
            return len(pd.read_parquet(path)) > 0
        if path.suffix == ".gpkg":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return len(gpd.read_file(path)) > 0
        if path.suffix == ".json":
            return isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
        return path.read_text(encoding="utf-8").rstrip().endswith("</html>")
    except Exception:
        return False


@dataclasses.dataclass(frozen=True)
class Done:
    """A finished run: its settings, a run config, output folder (read only), hashes and result."""

    settings: Settings
    config: Path
    out: Path
    hashes: dict[str, str]
    result: RunResult


@pytest.fixture(scope="module")
def done(demo_run: tuple[RunResult, Path], tmp_path_factory: pytest.TempPathFactory) -> Done:
    """The session's demo run (read only: a test that runs into it works on a copy)."""
    result, root = demo_run
    settings = result.settings
    assert settings is not None
    out = root / "out"
    inputs = settings.inputs
    paths = {k: getattr(inputs, k) for k in ("network", "cells", "libraries", "gemeenten")}
    lines = [f'out_dir = "{out.as_posix()}"', f'mode = "{settings.mode}"', "[inputs]"]
    lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in paths.items()]
    config = tmp_path_factory.mktemp("atomic") / "run.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Done(settings, config, out, _hashes(out), result)


# --------------------------------------------------------------------------- temp files
def test_temp_names_match_the_stale_pattern(tmp_path: Path) -> None:
    seen: list[str] = []
    for name in ("gemeenten.csv", "cells.gpkg", "kaart.html", "README"):
        with atomic_path(tmp_path / name) as tmp:
            seen.append(tmp.name)
            assert TEMP_RE.match(tmp.name) and TEMP_RE.match(tmp.name + "-journal")
            tmp.write_text("x")
    assert not any(TEMP_RE.match(name) for name in ("gemeenten.csv", ".hidden", "a.tmp.csv"))
    assert len(set(seen)) == 4 and _temps(tmp_path) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remove_stale_temp_files_only_removes_dead_writers(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    (tmp_path / "dossier").mkdir()
    stale = [
        tmp_path / f".cells.gpkg.{dead}-0123abcd.tmp.gpkg",
        tmp_path / f".cells.gpkg.{dead}-0123abcd.tmp.gpkg-journal",
        tmp_path / "dossier" / f".GM0001.html.{dead}-deadbeef.tmp.html",
    ]
    kept = [
        tmp_path / f".kaart.html.{alive}-0123abcd.tmp.html",  # a writer still running
        tmp_path / "gemeenten.csv",
        tmp_path / ".notes.tmp",
        tmp_path / f".x.{dead}-NOTHEX00.tmp.csv",
    ]
    for p in (*stale, *kept):
        p.write_text("x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_next_write_removes_the_temp_files_dead_writers_left_of_that_file(tmp_path: Path) -> None:
    """The network cache and the example inputs use the same writer (one home: ``_atomic``)."""
    from bereikbaar._atomic import atomic_path as base_atomic_path
    from bereikbaar.engine.network import Network

    assert base_atomic_path is atomic_path
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".net.npz.{dead}-0123abcd.tmp.npz"
    kept = [
        tmp_path / f".net.npz.{alive}-0123abcd.tmp.npz",  # a writer still running
        tmp_path / f".other.npz.{dead}-0123abcd.tmp.npz",  # another file's: left to its writer
    ]
    for p in (stale, *kept):
        p.write_text("x")
    net = Network(
        x=np.array([0.0, 3.0]),
        y=np.array([0.0, 4.0]),
        u=np.array([0, 1]),
        v=np.array([1, 0]),
        length_m=np.array([5.0, 5.0]),
        mode="walk",
    )
    saved = net.save(tmp_path / "net.npz")
    assert Network.load(saved).n_arcs == net.n_arcs
    assert not stale.exists() and all(p.exists() for p in kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["net.npz", *(p.name for p in kept)]
    )


# --------------------------------------------------------------------------- failures mid-write
def test_exception_mid_write_keeps_every_previous_output(
    done: Done, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CSV writer dies after a few cells: nothing of the new run replaces anything."""
    calls = {"n": 0}
    real = tables.csv_cell

    def dying(value: object, column: str) -> str:
        calls["n"] += 1
        if calls["n"] > 20:
            raise OSError(28, "No space left on device")
        return real(value, column)

    monkeypatch.setattr(tables, "csv_cell", dying)
    out = tmp_path / "out"
    shutil.copytree(done.out, out)  # the previous outputs
    settings = dataclasses.replace(done.settings, out_dir=out, flag_rule=FlagRule(threshold_km=2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        with pytest.raises(OutputError, match=r"gemeenten\.csv"):
            pipeline.run(settings)
    assert calls["n"] > 20
    assert _hashes(out) == done.hashes
    assert _temps(out) == []


def _start(config: Path, threshold_km: float, tmp: Path) -> subprocess.Popen[bytes]:
    """``bereikbaar run`` in a subprocess, with a different threshold (so tables differ)."""
    text = config.read_text(encoding="utf-8").replace(
        "[inputs]", f"[flag_rule]\nthreshold_km = {threshold_km}\n[inputs]"
    )
    cfg = tmp / f"run_{threshold_km}.toml"
    cfg.write_text(text, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "bereikbaar.cli", "-q", "run", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def _signal_when_writing(
    procs: dict[str, tuple[Path, subprocess.Popen[bytes], int]],
    wanted: str,
    timeout_s: float = 180.0,
) -> dict[str, bool]:
    """Send each process its signal as soon as a temp file named like ``wanted`` appears."""
    hit = dict.fromkeys(procs, False)
    deadline = time.monotonic() + timeout_s
    waiting = set(procs)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            out, proc, sig = procs[name]
            if proc.poll() is not None:
                waiting.discard(name)
                continue
            staged = [p for stage in _stages(out) for p in stage.glob("*")]
            if any(TEMP_RE.match(p.name) and wanted in p.name for p in staged):
                proc.send_signal(sig)
                hit[name] = True
                waiting.discard(name)
        time.sleep(0.0005)
    return hit


def _copy_outputs(src: Path, dst: Path) -> None:
    dst.mkdir()
    for name in OUTPUTS:
        (dst / name).write_bytes((src / name).read_bytes())


@pytest.fixture(scope="module")
def killed(
    done: Done, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Path, int, bool]]]:
    """Two runs in parallel, each over a copy of the previous outputs: SIGINT and SIGKILL.

    The signal goes when the stage holds a temp file of ``cells.gpkg``; on a busy machine the
    poll can miss that window (the run then finishes unsignalled), so such a run is started
    again, in a fresh folder, up to three times.
    """
    tmp_path = tmp_path_factory.mktemp("killed")
    signals = {"sigint": signal.SIGINT, "sigkill": signal.SIGKILL}
    results: dict[str, tuple[Path, int, bool]] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for attempt in range(3):
            runs: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
            for name, threshold in (("sigint", 2.0), ("sigkill", 3.0)):
                if name in results and results[name][2]:
                    continue
                out = tmp_path / f"{name}-{attempt}"
                _copy_outputs(done.out, out)
                config = tmp_path / f"{name}-{attempt}.toml"
                text = done.config.read_text(encoding="utf-8")
                config.write_text(text.replace(done.out.as_posix(), out.as_posix()), "utf-8")
                runs[name] = (out, _start(config, threshold, tmp_path))
                procs.append(runs[name][1])
            if not runs:
                break
            hit = _signal_when_writing(
                {name: (out, proc, signals[name]) for name, (out, proc) in runs.items()},
                "cells.gpkg",
            )
            for name, (out, proc) in runs.items():
                _, err = proc.communicate(timeout=120)
                code = proc.returncode
                if code not in (0, 130, -signal.SIGKILL):
                    pytest.fail(f"{name}: exit {code}: {err.decode(errors='replace')}")
                results[name] = (out, code, hit[name])
        yield results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_killed_mid_write_previous_outputs_intact(
    done: Done, killed: dict[str, tuple[Path, int, bool]]
) -> None:
    for name, (out, code, hit) in killed.items():
        assert hit, f"{name}: the run finished before a temp file was seen"
        assert code == (130 if name == "sigint" else -signal.SIGKILL), name
        # the set is committed as a whole: killed mid-set, every output is the previous one
        assert _hashes(out) == done.hashes, name
        assert all(_complete(out / file) for file in OUTPUTS), name
        assert _temps(out) == [], name
    sigint_out = killed["sigint"][0]
    assert _stages(sigint_out) == []  # SIGINT: the stage is removed on the way out


def test_next_run_removes_temp_files_of_a_killed_run(
    done: Done, killed: dict[str, tuple[Path, int, bool]], tmp_path: Path
) -> None:
    out = killed["sigkill"][0]
    before = _hashes(out)
    stale = _stages(out)
    assert stale and any(_temps(p) for p in stale), "SIGKILL mid-write leaves its stage"
    # the next run cleans up at its start, even when it then fails on bad input
    bad = tmp_path / "kapot.csv"
    bad.write_text("naam;type\n", encoding="utf-8")
    inputs = dataclasses.replace(done.settings.inputs, libraries=bad)
    settings = dataclasses.replace(done.settings, inputs=inputs, out_dir=out)
    with pytest.raises(InputError, match=r"kapot\.csv"):
        pipeline.run(settings)
    assert _stages(out) == [] and _temps(out) == []
    assert _hashes(out) == before


# --------------------------------------------------------------------------- determinism
def test_same_inputs_give_byte_identical_tables(done: Done, tmp_path: Path) -> None:
    settings = dataclasses.replace(done.settings, out_dir=tmp_path / "again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        again = pipeline.run(settings, demo=True)  # as the session's demo run was made
    for name in TABLES:
        assert _sha(tmp_path / "again" / name) == done.hashes[name], name
    for name, layer in (("gemeenten.gpkg", "gemeenten"), ("cells.gpkg", "cells")):
        assert_geodataframe_equal(
            gpd.read_file(tmp_path / "again" / name, layer=layer),
            gpd.read_file(done.out / name, layer=layer),
        )
    first = json.loads((done.out / "run.json").read_text(encoding="utf-8"))
    second = json.loads((tmp_path / "again" / "run.json").read_text(encoding="utf-8"))
    assert first["inputs"] == second["inputs"] and first["counts"] == second["counts"]
    assert again.summary.equals(done.result.summary)


# --------------------------------------------------------------------------- caches
def test_corrupt_geocode_cache_entry_is_not_trusted(tmp_path: Path) -> None:
    """A cache row whose value is not the JSON the client wrote is a miss, and is replaced."""
    from bereikbaar.sources.geocode import _Cache

    path = tmp_path / "geocode.sqlite"
    cache = _Cache(path)
    cache.put("good", {"id": "a", "centroide_rd": "POINT(1 2)"})
    cache.put("bad", {"id": "b"})
    cache.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE answers SET value = ? WHERE key = 'bad'", ('{"id": "b", "centr',))
        db.execute("INSERT INTO answers (key, value, created) VALUES ('list', '[1, 2]', 0)")
    cache = _Cache(path)
    assert cache.get("good") == (True, {"id": "a", "centroide_rd": "POINT(1 2)"})
    assert cache.get("bad") == (False, None)  # truncated JSON: a miss, asked again
    assert cache.get("list") == (False, None)  # valid JSON, but not an answer
    cache.put("bad", {"id": "b2"})
    cache.close()
    assert _Cache(path).get("bad") == (True, {"id": "b2"})


def test_no_pickle_anywhere_in_the_package() -> None:
    """Caches and outputs are never pickles (loading a pickle runs code)."""
    src = Path(pipeline.__file__).parent
    banned = {"pickle", "dill", "shelve", "joblib", "cloudpickle", "marshal"}
    offenders = []
    for p in src.rglob("*.py"):
        for line in p.read_text(encoding="utf-8").splitlines():
            words = set(line.replace(",", " ").replace(".", " ").split())
            if line.lstrip().startswith(("import ", "from ")) and words & banned:
                offenders.append(f"{p.relative_to(src)}: {line.strip()}")
    assert offenders == []
    sources = "\n".join(p.read_text(encoding="utf-8") for p in src.rglob("*.py"))
    for call in ("pickle.load", "read_pickle", "to_pickle", "allow_pickle=True"):
        assert call not in sources, call
