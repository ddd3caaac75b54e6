"""The ``bereikbaar`` command: the only place that configures logging and progress bars.

Bad input ends in one line on stderr and exit code 2 (no traceback unless
``--debug``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .exceptions import BereikbaarError

log = logging.getLogger("bereikbaar")

EXIT_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bereikbaar",
        description=(
            "Afstand over de weg van elke inwoner tot de dichtstbijzijnde volwaardige "
            "bibliotheek, per gemeente, met de vlag 'te groot'."
        ),
    )
    p.add_argument("--version", action="version", version=f"bereikbaar {__version__}")
    p.add_argument("--debug", action="store_true", help="toon de volledige traceback bij fouten")
    p.add_argument("-q", "--quiet", action="store_true", help="geen voortgangsbalk, alleen fouten")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="maak de demoregio en voer de hele analyse uit")
    demo.add_argument("--out", type=Path, default=Path("data/processed/demo"), help="uitvoermap")
    demo.add_argument(
        "--raw", type=Path, default=Path("data/raw/demo"), help="map voor de demo-invoerbestanden"
    )

    run = sub.add_parser("run", help="voer de analyse uit met een TOML-configuratie")
    run.add_argument("config", type=Path, help="TOML-bestand met [inputs], mode, drempels, out_dir")
    run.add_argument("--out", type=Path, default=None, help="uitvoermap (overschrijft out_dir)")
    return p


def _progress(enabled: bool) -> tuple[Callable[[str], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    from .pipeline import STAGES

    bar = tqdm(total=len(STAGES), unit="stap", file=sys.stderr, leave=True)

    def step(name: str) -> None:
        if bar.n or bar.desc:
            bar.update(1)
        bar.set_description(name)

    def close() -> None:
        bar.update(bar.total - bar.n)
        bar.close()

    return step, close


def _summary_lines(result: object) -> list[str]:
    from .pipeline import RunResult

    assert isinstance(result, RunResult)
    lines = [f"{len(result.summary)} gemeenten, {len(result.flagged)} met afstand 'te groot':"]
    for _, row in result.flagged.iterrows():
        lines.append(f"  {row['gemeentecode']} {row['gemeentenaam']}: {row['reasons']}")
    for name, path in result.outputs.items():
        lines.append(f"{name}: {path}")
    return lines


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    step, close = _progress(not args.quiet)
    result = run_demo(args.out, raw_dir=args.raw, progress=step)
    close()
    if not args.quiet:
        print("\n".join(_summary_lines(result)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run
    from .settings import Settings

    settings = Settings.from_toml(args.config)
    if args.out is not None:
        settings = dataclasses.replace(settings, out_dir=args.out)
    step, close = _progress(not args.quiet)
    result = run(settings, progress=step)
    close()
    if not args.quiet:
        print("\n".join(_summary_lines(result)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bereikbaar`` command.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 success, 2 bad input, 1 internal error, 130 interrupted.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else (logging.ERROR if args.quiet else logging.WARNING),
        format="%(levelname)s: %(message)s",
    )
    commands = {"demo": _cmd_demo, "run": _cmd_run}
    try:
        return commands[args.command](args)
    except BereikbaarError as err:
        if args.debug:
            raise
        print(f"fout: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("afgebroken; eerdere uitvoer is ongewijzigd", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if args.debug:
            raise
        print(
            f"interne fout ({type(err).__name__}): {err} — draai opnieuw met --debug en meld dit",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
