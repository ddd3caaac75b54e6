"""Warnings reach the console as one log line each, message only, control characters escaped.

Warnings that no stage turned into a log line (a library's RuntimeWarning passed on unchanged,
a warning raised outside a stage) used to be printed by Python's default ``showwarning``: with
the source file, line number and code line, and with the message raw.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ESCAPE = "\\x1b]0;gekaapt\\x07\\x1b[2J"  # as Python source: ESC ] 0 ; … BEL ESC [ 2 J

SCRIPT = """
import sys, warnings
from bereikbaar import cli
from bereikbaar.exceptions import BereikbaarWarning

def command(args):
    warnings.warn("gemeente Bibliostad{escape} ligt ver weg", {category}, stacklevel=1)
    return 0

cli._cmd_run = command
sys.exit(cli.main(["run", "analyse.toml"]))
"""


@pytest.mark.parametrize(
    ("category", "prefix"),
    [("BereikbaarWarning", "WARNING: "), ("RuntimeWarning", "WARNING: RuntimeWarning: ")],
)
def test_a_warning_is_one_escaped_log_line(category: str, prefix: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(escape=ESCAPE, category=category)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"{prefix}gemeente Bibliostad{ESCAPE} ligt ver weg"]


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    import bereikbaar

    out = subprocess.run(
        [sys.executable, "-m", "bereikbaar", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"bereikbaar {bereikbaar.__version__}"
