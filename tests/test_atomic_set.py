"""The output SET is atomic: a run's outputs replace the previous set all at once, or not at all.

A run writes every output into a stage folder beside ``out_dir`` and swaps it with ``out_dir``
in one step (:func:`bereikbaar.output.files.output_set`); a lock beside ``out_dir`` refuses a
second run. The kill test forks children that write a computed :class:`RunResult` through
:func:`bereikbaar.pipeline.write_outputs` and kills them at the k-th file-system call (or
after a random delay) with SIGKILL, SIGINT or SIGTERM; after every kill the folder holds the
previous set byte for byte or the complete new one. By default it kills 16 times (one call
in each tenth of a set's calls, seeded, so every phase is hit, plus just before and just after
the swap); ``BEREIKBAAR_KILL_TEST=full`` runs the long plan of 72 random kills. Chromium
prints the PDF where a kill can land while it runs (the delayed kills) and in the set that
times a write; a child killed at a file-system call or at the swap prints it with a stand-in
(:func:`_fake_chromium`: the same call into ``write_pdf``, the same file-system calls, about
1 s less a set), since such a kill never lands inside Chromium. So do the runs of the tests
marked ``stand_in_chromium``: they check the set, not the printed pages (``test_browser``
does). The other tests (disk full, a folder where a file should go, a setting found invalid
late, a second run, probe files, stale stages) each fail on the code before output sets,
which replaced the outputs one by one.
"""

from __future__ import annotations

import builtins
import dataclasses
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from bereikbaar import pipeline
from bereikbaar.cli import main
from bereikbaar.examples.demo import DemoInputs
from bereikbaar.exceptions import BereikbaarWarning, OutputError
from bereikbaar.output import dossier, files
from bereikbaar.output.files import atomic_path, output_set
from bereikbaar.pipeline import RunResult
from bereikbaar.settings import Settings

SET = (
    "bereikbaar.xlsx",
    "cells.gpkg",
    "gemeenten.csv",
    "gemeenten.gpkg",
    "gemeenten.parquet",
    "kaart.html",
    "rapport.html",
    *(("rapport.pdf",) if Path("/usr/bin/chromium").is_file() else ()),  # printed when installed
    "run.json",
)
DETERMINISTIC = ("gemeenten.csv", "gemeenten.parquet", "rapport.html")  # same result, same bytes
pytestmark = pytest.mark.pdf  # the PDF is part of the set (printed by Chromium, a child)
USER_FILES = {"notities.txt": b"mijn aantekeningen\n", "eigen/kaartje.txt": b"van mij\n"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under ``folder``, hidden ones included."""
    return {
        p.relative_to(folder).as_posix(): _sha(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def _siblings(out: Path) -> list[str]:
    """Stage folders of ``out`` beside it (the lock file does not count)."""
    return sorted(
        p.name
        for p in out.parent.iterdir()
        if p.name.startswith(f".{out.name}.bereikbaar-") and not p.name.endswith("-lock")
    )


def _probes(root: Path) -> list[Path]:
    return sorted(root.rglob(".bereikbaar-probe-*"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@dataclasses.dataclass(frozen=True)
class Region:
    """The demo region (400 cells), two computed runs (car, bike) and the car run's output set."""

    root: Path
    settings: Settings
    results: dict[str, RunResult]  # "car", "bike"
    sets: dict[str, Path]  # "car": a complete set written by pipeline.run (PDF included)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory, demo_inputs: DemoInputs) -> Region:
    root = tmp_path_factory.mktemp("set")
    demo = demo_inputs
    cells = gpd.read_file(demo.cells)
    small = root / "cells_small.gpkg"
    cells.iloc[np.r_[0:200, len(cells) - 200 : len(cells)]].to_file(small, driver="GPKG")
    base = Settings.from_toml(demo.config)
    settings = dataclasses.replace(
        base, inputs=dataclasses.replace(base.inputs, cells=small), mode="car"
    )
    results: dict[str, RunResult] = {}
    sets = {"car": root / "set-car"}
    real_dossier = pipeline.write_dossier
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore", BereikbaarWarning)
        results["car"] = pipeline.run(dataclasses.replace(settings, out_dir=sets["car"]))
        # only the bike run's result is used (the kill test writes its sets): its PDF is not
        # printed here; its settings still print one in every set written from it
        patch.setattr(
            pipeline, "write_dossier", lambda *a, **k: real_dossier(*a, **{**k, "pdf": False})
        )
        bike = dataclasses.replace(settings, mode="bike", out_dir=root / "run-bike")
        results["bike"] = pipeline.run(bike)
    return Region(root, settings, results, sets)


def _previous(region: Region, out: Path, mode: str = "car") -> dict[str, str]:
    """``out`` holds a complete earlier set (written by ``pipeline.run``) and the user's files."""
    shutil.copytree(region.sets[mode], out)
    for name, data in USER_FILES.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    return _tree(out)


def _toml(region: Region, folder: Path, out: Path, threshold_km: float = 2.0) -> Path:
    """A run config on the demo inputs into ``out``; another threshold, so every table differs."""
    inputs = region.settings.inputs
    paths = {k: getattr(inputs, k) for k in ("network", "cells", "libraries", "gemeenten")}
    lines = [f'out_dir = "{out.as_posix()}"', 'mode = "car"']
    lines += ["[flag_rule]", f"threshold_km = {threshold_km}", "[inputs]"]
    lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in paths.items()]
    path = folder / f"run-{threshold_km}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("fout: ") and "Traceback" not in lines[0]
    return lines[0]


# --------------------------------------------------------------------------- failures mid-set
def test_disk_full_mid_set_keeps_the_previous_set(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """ENOSPC while the map is written, after four tables: none of the tables is replaced."""
    out = tmp_path / "out"
    before = _previous(region, out)

    def disk_full(fmap: object, path: Path) -> Path:
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"<!DOCTYPE html><html><head>")  # half a map, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_map", disk_full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        code = main(["-q", "run", str(_toml(region, tmp_path, out))])
    line = _one_error_line(capsys)
    assert code == 2
    assert _tree(out) == before
    assert "kaart.html" in line and "No space left on device" in line
    assert "de vorige uitvoer is ongewijzigd" in line and str(out) in line
    assert _siblings(out) == []


@pytest.mark.usefixtures("stand_in_chromium")
def test_folder_where_an_output_file_goes_keeps_the_previous_set(
    region: Region, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``run.json`` is a folder of the user's: refused, and nothing else replaced either."""
    out = tmp_path / "out"
    _previous(region, out)
    (out / "run.json").unlink()
    (out / "run.json").mkdir()
    (out / "run.json" / "van mij.txt").write_text("niet weggooien\n", encoding="utf-8")
    before = _tree(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        code = main(["-q", "run", str(_toml(region, tmp_path, out))])
    line = _one_error_line(capsys)
    assert code == 2
    assert _tree(out) == before
    assert "run.json" in line and "de vorige uitvoer is ongewijzigd" in line
    assert _siblings(out) == []


@pytest.mark.usefixtures("stand_in_chromium")
def test_setting_found_invalid_late_changes_nothing(
    region: Region, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``bereikbaar scenario --sluit`` an unknown id fails after the baseline: nothing replaced."""
    out = tmp_path / "out"
    before = _previous(region, out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        code = main(
            ["-q", "scenario", str(_toml(region, tmp_path, out)), "--sluit", "bestaat-niet"]
        )
    line = _one_error_line(capsys)
    assert code == 2 and "bestaat-niet" in line
    assert _tree(out) == before
    assert not (out / "scenario").exists() and _siblings(out) == []


@pytest.mark.usefixtures("stand_in_chromium")
def test_scenario_and_baseline_are_one_set(region: Region, tmp_path: Path) -> None:
    """A good scenario run replaces the baseline and writes out/scenario in the same commit."""
    out = tmp_path / "out"
    before = _previous(region, out)
    settings = dataclasses.replace(region.settings, out_dir=out)
    closed = str(region.results["car"].libraries["library_id"].iloc[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        done = pipeline.run_scenario(settings, close=[closed])
    after = _tree(out)
    assert {f"scenario/{p.name}" for p in done.outputs.values()} <= set(after)
    assert all(p.is_file() and out in p.parents for p in done.outputs.values())
    assert all(p.parent == out for p in done.baseline.outputs.values())
    for name, data in USER_FILES.items():
        assert (out / name).read_bytes() == data
    assert after["kaart.html"] != before["kaart.html"] and _siblings(out) == []


# --------------------------------------------------------------------------- a second run
@pytest.mark.usefixtures("stand_in_chromium")
def test_second_concurrent_run_is_refused(region: Region, tmp_path: Path) -> None:
    """While a run (a forked child, paused in its map writer) holds out_dir, a second is refused."""
    out = tmp_path / "out"
    _previous(region, out)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    settings = dataclasses.replace(region.settings, out_dir=out)
    pid = os.fork()
    if pid == 0:  # the first run
        code = 1
        try:
            real = pipeline.write_map

            def paused(fmap: Any, path: Path) -> Path:
                os.write(ready_w, b"1")
                os.read(go_r, 1)
                return real(fmap, path)

            pipeline.write_map = paused  # type: ignore[assignment]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipeline.run(settings)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    try:
        assert os.read(ready_r, 1) == b"1"  # the first run is writing its outputs
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "bereikbaar.cli",
                "-q",
                "run",
                str(_toml(region, tmp_path, out)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    finally:
        os.write(go_w, b"1")
        _, status = os.waitpid(pid, 0)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2, second.stderr
    assert len(lines) == 1 and "in gebruik" in lines[0] and str(out.resolve()) in lines[0]
    assert os.waitstatus_to_exitcode(status) == 0  # the first run finished
    first = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert first["settings"]["flag_rule"]["threshold_km"] == 5.0  # its set, not the second's
    assert _siblings(out) == []


# --------------------------------------------------------------------------- probes, stages
@pytest.mark.usefixtures("stand_in_chromium")
def test_no_probe_and_nothing_changes_until_the_set_is_complete(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _previous(region, out)
    (out / ".bereikbaar-probe-k1ll3d").write_bytes(b"")  # left by a killed run of old
    before = _tree(out)
    seen: dict[str, Any] = {}
    real = pipeline.write_dossier

    def watching(*args: Any, **kwargs: Any) -> Path:
        seen["during"] = _tree(out)  # four tables and the map are written by now
        seen["probes"] = _probes(tmp_path)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_dossier", watching)
    settings = dataclasses.replace(region.settings, out_dir=out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        pipeline.run(settings)
    assert seen["during"] == before
    assert seen["probes"] == [Path(out / ".bereikbaar-probe-k1ll3d")]
    after = _tree(out)
    assert _probes(tmp_path) == []
    assert set(after) == set(SET) | set(USER_FILES)
    assert all(after[name] == before[name] for name in USER_FILES)


def test_stale_stages_of_killed_runs_are_removed(region: Region, tmp_path: Path) -> None:
    """At the start of the next run, even one that then fails on bad input."""
    out = tmp_path / "out"
    before = _previous(region, out)
    dead = _dead_pid()
    stale = tmp_path / f".out.bereikbaar-stage-{dead}-0123abcd"
    stale.mkdir()
    (stale / "kaart.html").write_text("<html>half", encoding="utf-8")
    live = tmp_path / f".out.bereikbaar-stage-{os.getppid()}-89abcdef"  # someone still at work
    other = tmp_path / f".ander.bereikbaar-stage-{dead}-0123abcd"  # another folder's
    live.mkdir()
    other.mkdir()
    bad = tmp_path / "kapot.csv"
    bad.write_text("naam;type\n", encoding="utf-8")
    inputs = dataclasses.replace(region.settings.inputs, libraries=bad)
    settings = dataclasses.replace(region.settings, inputs=inputs, out_dir=out)
    with pytest.raises(ValueError, match=r"kapot\.csv"):
        pipeline.run(settings)
    assert not stale.exists() and live.exists() and other.exists()
    assert _tree(out) == before


# --------------------------------------------------------------------------- output_set itself
def test_output_set_keeps_other_files_and_commits_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "uit"
    (out / "sub").mkdir(parents=True)
    (out / "oud.csv").write_text("oud\n")
    (out / "eigen.txt").write_text("van de gebruiker\n")
    (out / "sub" / "a.txt").write_text("a\n")
    (out / f".x.csv.{_dead_pid()}-0123abcd.tmp.csv").write_text("half")  # a dead writer's temp
    out.chmod(0o750)
    inode = (out / "eigen.txt").stat().st_ino
    with output_set(out) as staged:
        assert staged.path.parent == tmp_path and staged.path != out
        (staged.path / "oud.csv").write_text("nieuw\n")
        (staged.path / "sub").mkdir()
        (staged.path / "sub" / "b.txt").write_text("b\n")
        with output_set(out / "sub") as inner:  # inside an open set: joins it
            assert inner.path == staged.path / "sub"
            (inner.path / "c.txt").write_text("c\n")
        assert (out / "oud.csv").read_text() == "oud\n"  # nothing changed yet
        assert not (out / "sub" / "b.txt").exists()
    assert staged.final(staged.path / "sub" / "b.txt") == out.resolve() / "sub" / "b.txt"
    assert _tree(out).keys() == {"oud.csv", "eigen.txt", "sub/a.txt", "sub/b.txt", "sub/c.txt"}
    assert (out / "oud.csv").read_text() == "nieuw\n"
    assert (out / "eigen.txt").stat().st_ino == inode  # hardlinked, not copied
    assert out.stat().st_mode & 0o777 == 0o750
    assert _siblings(out) == []


@pytest.mark.parametrize("failure", ["error", "interrupt"])
def test_output_set_failure_removes_the_stage(tmp_path: Path, failure: str) -> None:
    out = tmp_path / "uit"
    out.mkdir()
    (out / "a.csv").write_text("oud\n")
    expected: type[BaseException] = OutputError if failure == "error" else KeyboardInterrupt
    with pytest.raises(expected) as info, output_set(out) as staged:
        (staged.path / "a.csv").write_text("nieuw\n")
        if failure == "error":
            raise OSError(errno.EIO, "Input/output error", str(staged.path / "a.csv"))
        raise KeyboardInterrupt
    if failure == "error":
        text = str(info.value)
        assert "de vorige uitvoer is ongewijzigd" in text and str(out / "a.csv") in text
        assert "bereikbaar-stage" not in text  # the user's folder, not the stage
    assert (out / "a.csv").read_text() == "oud\n" and _siblings(out) == []


def test_output_set_refuses_a_second_holder(tmp_path: Path) -> None:
    """Another process is refused at once (within one process a nested set joins the open one)."""
    out = tmp_path / "uit"
    code = (
        "import sys; from bereikbaar.output.files import output_set\n"
        "try:\n    with output_set(sys.argv[1]): pass\n"
        "except OSError as e:\n    print(e); sys.exit(2)\n"
    )
    with output_set(out):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "." / "uit")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert "in gebruik" in proc.stdout and str(out) in proc.stdout
    with output_set(out) as again:  # free again once the holder is done
        (again.path / "a.txt").write_text("a\n")
    assert (out / "a.txt").read_text() == "a\n" and _siblings(out) == []


def test_two_rename_fallback_and_recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RENAME_EXCHANGE: a kill between the two renames is finished by the next run."""
    out = tmp_path / "uit"
    out.mkdir()
    (out / "a.csv").write_text("oud\n")
    (out / "eigen.txt").write_text("van mij\n")
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    pid = os.fork()
    if pid == 0:
        try:
            calls = {"n": 0}
            real = os.rename

            def rename(src: Any, dst: Any) -> None:
                calls["n"] += 1
                if calls["n"] == 3:  # stage → ready, out → aside done; ready → out not yet
                    os._exit(9)
                real(src, dst)

            os.rename = rename  # type: ignore[assignment]
            with output_set(out) as staged:
                (staged.path / "a.csv").write_text("nieuw\n")
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    assert not out.exists()
    assert [n.split("-")[1] for n in _siblings(out)] == ["ready", "stage"]
    with output_set(out):  # the next run: the complete set is put in place first
        assert (out / "a.csv").read_text() == "nieuw\n"
    assert _tree(out).keys() == {"a.csv", "eigen.txt"}
    assert (out / "eigen.txt").read_text() == "van mij\n" and _siblings(out) == []
    with output_set(out) as staged:  # and the fallback commits normally
        (staged.path / "b.csv").write_text("b\n")
    assert _tree(out).keys() == {"a.csv", "b.csv", "eigen.txt"} and _siblings(out) == []


# --------------------------------------------------------------------------- the kill test
_FS_CALLS = ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "symlink")


def _hook_fs_calls(on_call: Callable[[], None], setattr_: Callable[..., None]) -> None:
    """Call ``on_call()`` before every file-system call of a writer (and ``files._exchange``)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            on_call()
            return fn(*args, **kwargs)

        return hooked

    for name in _FS_CALLS:
        setattr_(os, name, wrap(getattr(os, name)))
    opener = wrap(io.open)
    setattr_(io, "open", opener)
    setattr_(builtins, "open", opener)
    setattr_(files, "_exchange", wrap(files._exchange))


_KILL_SIGNALS = {signal.SIGINT, signal.SIGTERM}

_FAKE_CHROMIUM = r"""#!/bin/sh
# stands in for headless Chromium: "prints" the page (its HTML after a PDF header) to the file
# of --print-to-pdf=FILE; a page it cannot read is an error, as for Chromium
for arg; do
  case $arg in
    --print-to-pdf=*) pdf=${arg#--print-to-pdf=} ;;
    file://*) page=${arg#file://} ;;
  esac
done
[ -f "$page" ] || { echo "no page: $page" >&2; exit 1; }
{ printf '%%PDF-1.4 stand-in\n'; cat "$page"; } >"$pdf"
"""


def _fake_chromium(folder: Path) -> str | None:
    """A stand-in for Chromium in ``folder`` (``None`` when Chromium is not installed).

    :func:`bereikbaar.output.dossier.write_pdf` runs it as it runs Chromium (a child process
    writing the PDF into the stage through the same :func:`atomic_path`), so a set takes the
    same file-system calls in the same order and every kill point stays where it was; its PDF
    is the page's HTML, so a set's PDF differs from the previous set's as Chromium's does.
    """
    if "rapport.pdf" not in SET:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chromium"
    path.write_text(_FAKE_CHROMIUM, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def stand_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's runs print the PDF with :func:`_fake_chromium` (in the set, not checked)."""
    printer = _fake_chromium(tmp_path / "printer")
    if printer is not None:
        monkeypatch.setattr(dossier, "CHROMIUM_CANDIDATES", (printer,))


def _child(
    result: RunResult,
    out: Path,
    tag: str,
    sig: int,
    k: int,
    at: str = "",
    printer: str | None = None,
) -> NoReturn:
    """Write ``result``'s set into ``out``; with ``k``, send ``sig`` to itself at call k.

    ``at="exchange"`` sends it just before the commit's swap, ``"after-exchange"`` just after.
    ``printer``: the PDF is printed by this stand-in for Chromium (:func:`_fake_chromium`).
    """
    code = 1
    try:
        # signals sent before this point wait (blocked across the fork), so a kill that comes
        # at once lands here, not in pytest's own code of the forked child
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _KILL_SIGNALS)
        if printer is not None:
            dossier.CHROMIUM_CANDIDATES = (printer,)
        if at:
            real_exchange = files._exchange

            def exchange(a: Path, b: Path) -> bool:
                if at == "exchange":
                    os.kill(os.getpid(), sig)
                swapped = real_exchange(a, b)
                if at == "after-exchange":
                    os.kill(os.getpid(), sig)
                return swapped

            files._exchange = exchange  # type: ignore[assignment]
        elif k:
            calls = [0]

            def count() -> None:
                calls[0] += 1
                if calls[0] == k:
                    os.kill(os.getpid(), sig)

            _hook_fs_calls(count, setattr)
        result.provenance["kill_test"] = tag
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.write_outputs(result, out)
        code = 0
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _is_new_set(now: dict[str, str], prev: dict[str, str], out: Path, tag: str, ref: Any) -> bool:
    """``out`` is the complete set of the child ``tag``: every output replaced, the rest kept."""
    result, ref_tree = ref
    assert set(now) == set(prev), sorted(set(now) ^ set(prev))
    for name in USER_FILES:
        assert now[name] == prev[name], name
    for name in SET:
        assert now[name] != prev[name], f"{name} is from the previous set"
    for name in DETERMINISTIC:
        assert now[name] == ref_tree[name], name
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["kill_test"] == tag
    assert (out / "kaart.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    assert np.allclose(
        pd.to_numeric(cells["distance_m"]).to_numpy(),
        result.cells["distance_m"].to_numpy(),
        equal_nan=True,
    )
    gem = gpd.read_file(out / "gemeenten.gpkg", layer="gemeenten")
    flag = gem["Te groot"]  # the GeoPackage's fields carry the CSV's Dutch names
    assert flag.astype(bool).tolist() == result.summary["te_groot"].tolist()
    return True


FULL_KILL_TEST = os.environ.get("BEREIKBAAR_KILL_TEST") == "full"


@pytest.fixture
def kill_plan() -> list[tuple[str, signal.Signals]]:
    """The kills: by default 16, ``BEREIKBAAR_KILL_TEST=full`` for the long run (72).

    ``hook`` kills at the k-th file-system call: the short run takes one k in each of ten equal
    slices of a set's calls (seeded, so every phase is hit: tables, map, dossier, PDF, run.json,
    the commit) and kills at the exchange and just after it (the commit's boundary: old set,
    then new set); the long run takes 60 k uniformly at random. ``delay`` kills after a random
    time.
    """
    if FULL_KILL_TEST:
        hook = [("hook", signal.SIGKILL), ("hook", signal.SIGINT)] * 28
        delay = [("delay", signal.SIGKILL), ("delay", signal.SIGINT)] * 6
        return [*hook, *delay, *[("hook", signal.SIGTERM)] * 4]
    sigs = (signal.SIGKILL, signal.SIGINT) * 4 + (signal.SIGTERM,) * 2
    hook = [("hook", sig) for sig in sigs]
    boundary = [("exchange", signal.SIGKILL), ("after-exchange", signal.SIGKILL)]
    boundary += [("exchange", signal.SIGINT), ("after-exchange", signal.SIGTERM)]
    return [*hook, *boundary, ("delay", signal.SIGKILL), ("delay", signal.SIGINT)]


def test_killed_at_random_points_leaves_the_old_or_the_new_set(
    region: Region,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kill_plan: list[tuple[str, signal.Signals]],
) -> None:
    out = tmp_path / "out"
    printer = _fake_chromium(tmp_path / "printer")  # for kills that never land inside Chromium
    # each result's set, written once: car's into a fresh folder, bike's over car's below
    with warnings.catch_warnings(), monkeypatch.context() as m:
        warnings.simplefilter("ignore", BereikbaarWarning)
        if printer is not None:  # its PDF is not compared (not in DETERMINISTIC)
            m.setattr(dossier, "CHROMIUM_CANDIDATES", (printer,))
        pipeline.write_outputs(region.results["car"], tmp_path / "ref-car")
    refs: dict[str, Any] = {"car": (region.results["car"], _tree(tmp_path / "ref-car"))}
    # how many file-system calls writing a set over a previous one takes, and how long
    prev = _previous(region, out)
    calls = [0]
    with monkeypatch.context() as m:
        _hook_fs_calls(lambda: calls.__setitem__(0, calls[0] + 1), m.setattr)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BereikbaarWarning)
            pipeline.write_outputs(region.results["bike"], out)
        write_s = time.perf_counter() - t0
    n_calls = calls[0]
    assert n_calls > 20
    n_hook = sum(how == "hook" for how, _ in kill_plan)
    slices = np.linspace(1, n_calls + 1, n_hook + 1).astype(int)
    current, prev = "bike", _tree(out)
    assert set(prev) == set(SET) | set(USER_FILES)  # a complete set (and the user's files)
    refs["bike"] = (region.results["bike"], prev)
    rng = np.random.default_rng(20261202)
    kills: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    n_hooked = 0
    for i, (how, sig) in enumerate(kill_plan):
        mode = "car" if current == "bike" else "bike"
        tag = f"kind-{i}"
        k = 0
        if how == "hook":
            lo, hi = (1, n_calls + 1) if FULL_KILL_TEST else slices[n_hooked : n_hooked + 2]
            k = int(rng.integers(lo, max(hi, lo + 1)))
            n_hooked += 1
        signal.pthread_sigmask(signal.SIG_BLOCK, _KILL_SIGNALS)
        pid = os.fork()
        if pid == 0:
            at = "" if how in ("hook", "delay") else how
            # a delayed kill may land while Chromium prints: only those children run it
            _child(region.results[mode], out, tag, sig, k, at, None if how == "delay" else printer)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _KILL_SIGNALS)
        done, status = 0, 0
        if how == "delay":
            time.sleep(float(rng.uniform(0.0, 1.2 * write_s)))
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                os.kill(pid, sig)
                kills[f"{sig.name} (delay)"] += 1
        if done == 0:
            _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if how != "delay":
            kills[f"{sig.name} (call k)"] += 1
        if sig == signal.SIGKILL:
            assert code in (-signal.SIGKILL, 0), (i, code)
        else:  # interrupted (stage removed), or the signal came during the commit and waited
            assert code in (130, 0), (i, code)
            outcomes["interrupted"] += code == 130
            assert not any(f"-{pid}-" in name for name in _siblings(out)), (i, _siblings(out))
        now = _tree(out)
        if sig == signal.SIGKILL and how in ("exchange", "after-exchange"):
            outcomes[how] += 1  # killed just before the swap: the old set; just after: the new
            assert (now == prev) == (how == "exchange"), (i, how)
        if now == prev:
            outcomes["old"] += 1
            continue
        assert _is_new_set(now, prev, out, tag, refs[mode])
        outcomes["new"] += 1
        current, prev = mode, now
    # a last run: stages of killed runs are gone, no probe anywhere, a complete set
    with monkeypatch.context() as m:
        if printer is not None:
            m.setattr(dossier, "CHROMIUM_CANDIDATES", (printer,))
        pipeline.write_outputs(region.results["car"], out)
    assert _siblings(out) == [] and _probes(tmp_path) == []
    assert set(_tree(out)) == set(SET) | set(USER_FILES)
    total = sum(kills.values())
    print(
        f"\nkill test: {total} kills {dict(kills)}; outcomes {dict(outcomes)};"
        f" a set takes {n_calls} fs calls, {write_s:.2f} s"
    )
    if FULL_KILL_TEST:
        assert kills["SIGKILL (call k)"] >= 28 and kills["SIGINT (call k)"] >= 28
        assert kills["SIGTERM (call k)"] == 4
        assert outcomes["old"] >= 10 and outcomes["new"] >= 1  # kills before and after the swap
    else:
        assert kills["SIGKILL (call k)"] == 6 and kills["SIGINT (call k)"] == 5
        assert kills["SIGTERM (call k)"] == 3
        assert outcomes["exchange"] == outcomes["after-exchange"] == 1
        assert outcomes["old"] >= 4 and outcomes["new"] >= 2  # kills before and after the swap
        assert outcomes["interrupted"] >= 2  # SIGINT and SIGTERM interrupt (not ignored)


def test_sigterm_becomes_an_interrupt_inside_a_set(tmp_path: Path) -> None:
    out = tmp_path / "uit"
    out.mkdir()
    (out / "a.csv").write_text("oud\n")
    with pytest.raises(KeyboardInterrupt), output_set(out) as staged:
        (staged.path / "a.csv").write_text("nieuw\n")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert (out / "a.csv").read_text() == "oud\n" and _siblings(out) == []
