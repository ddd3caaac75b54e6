"""Coverage-guided fuzzing of the branch-list loader with atheris (not part of pytest).

The property: whatever bytes a branch list holds, :func:`bereikbaar.sources.libraries.
load_libraries` returns a validated GeoDataFrame or raises
:class:`~bereikbaar.exceptions.InputError`; any other exception is a bug (a user would see a
traceback) and atheris stops with the input that caused it.

Usage (atheris: ``/work/venv/bin/pip install atheris``)::

    python tools/fuzz_libraries.py -atheris_runs=20000 -max_len=2048 [corpus_dir]

See docs/fuzzing.md for the recorded run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from bereikbaar.exceptions import BereikbaarWarning, InputError
    from bereikbaar.sources import libraries

_DIR = Path(tempfile.mkdtemp(prefix="fuzz-libraries-"))
_SEEDS = (
    b"naam;type;lat;lon\nBieb;Vestiging;52.0;5.1\n",
    b"id,name,branch_type,x,y\n1,A,servicepunt,155000,463000\n",
    b"vestigingsnaam\tsoort\tpostcode\nA\tHoofdvestiging\t1234AB\n",
)


def test_one(data: bytes) -> None:
    """Feed ``data`` as a CSV (or, when it starts like a zip, as an XLSX) branch list."""
    suffix = ".xlsx" if data.startswith(b"PK") else ".csv"
    path = _DIR / f"lijst{suffix}"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BereikbaarWarning)
        try:
            out = libraries.load_libraries(path)
        except InputError:
            return
    if not out["library_id"].is_unique:
        raise AssertionError("duplicate library_id accepted")
    if out.crs is None or out.crs.to_epsg() != 28992:
        raise AssertionError("result not in EPSG:28992")


def main() -> None:
    """Run atheris; seeds a corpus folder with three good lists when none is given."""
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = _DIR / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(_SEEDS):
            (corpus / f"seed{i}").write_bytes(seed)
        argv.append(str(corpus))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    atheris.Setup(argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
