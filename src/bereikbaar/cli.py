"""The ``bereikbaar`` command: the only place that configures logging and progress bars.

Bad input ends in one line on stderr and exit code 2 (no traceback unless
``--debug``).

The stages are imported inside the commands, not at the top: they load geopandas,
numba and folium, and ``bereikbaar --version`` or a bad argument should
answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._version import __version__
from .exceptions import BereikbaarError, BereikbaarWarning, ConfigError, InputError
from .schema import GEMEENTECODE, GEMEENTENAAM, MEAN_DISTANCE_KM, POPULATION_BEYOND
from .settings import Settings

if TYPE_CHECKING:
    from .scenarios import OpenSpec, ScenarioResult

log = logging.getLogger("bereikbaar")

EXIT_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
MEMORY_MESSAGE = (
    "onvoldoende geheugen voor deze berekening; verklein het studiegebied (study_area of"
    " --gebied, of een kleinere --buffer-km), gebruik 500 m-vierkanten in plaats van 100 m"
    " of een kleinere OSM-uitsnede (een provincie in plaats van heel Nederland), of draai"
    " op een machine met meer geheugen"
)


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
    run.add_argument(
        "--gebied",
        default=None,
        metavar='"PROVINCIE"|GM0599,GM0489',
        help="studiegebied: een provincie of gemeentecodes, komma-gescheiden"
        " (overschrijft study_area)",
    )
    run.add_argument(
        "--buffer-km",
        dest="buffer_km",
        type=float,
        default=None,
        help="bibliotheken en wegen tot zo ver rond het studiegebied (standaard 20 km)",
    )

    scen = sub.add_parser(
        "scenario", help="wat-als: sluit, open of wijzig vestigingen en vergelijk met nu"
    )
    scen.add_argument("config", type=Path, help="TOML-bestand zoals bij 'run'")
    scen.add_argument("--sluit", nargs="+", action="extend", default=[], metavar="ID")
    scen.add_argument(
        "--open",
        nargs="+",
        action="extend",
        default=[],
        metavar='"X,Y[,TYPE]"|ADRES',
        help="nieuwe vestiging op RD-coördinaten (m) of op een adres (PDOK, online)",
    )
    scen.add_argument("--type", nargs="+", action="extend", default=[], metavar="ID=TYPE")
    scen.add_argument("--out", type=Path, default=None, help="uitvoermap van het scenario")
    scen.add_argument("--locaties", type=int, default=0, metavar="K", help="stel K locaties voor")
    scen.add_argument(
        "--rangschik", action="store_true", help="rangschik vestigingen naar sluitingseffect"
    )
    scen.add_argument("--scheduler", default=None, help="adres van een Dask-scheduler")

    dl = sub.add_parser(
        "download",
        help="download officiële invoer (OSM van Geofabrik, CBS-vierkanten, wijk- en buurtkaart)",
    )
    dl.add_argument(
        "source",
        choices=("osm", "vierkant", "wijkbuurtkaart"),
        help="osm: Geofabrik-uitsnede; vierkant: CBS Vierkantstatistieken; "
        "wijkbuurtkaart: CBS Wijk- en buurtkaart",
    )
    dl.add_argument(
        "--regio",
        dest="region",
        metavar="PROVINCIE",
        default="nederland",
        help="provincie of 'nederland' (osm)",
    )
    dl.add_argument("--jaar", dest="year", metavar="JAAR", type=int, help="peiljaar (CBS)")
    dl.add_argument(
        "--resolutie",
        dest="resolution",
        type=int,
        choices=(100, 500),
        default=100,
        help="celgrootte in m (vierkant)",
    )
    dl.add_argument(
        "--versie", dest="version", metavar="N", type=int, default=1, help="CBS-versie (v1, v2, …)"
    )
    dl.add_argument("--out", type=Path, default=Path("data/raw"), help="doelmap")
    dl.add_argument(
        "--url-basis",
        dest="base_url",
        metavar="URL",
        default=None,
        help="andere server (basis-URL)",
    )
    dl.add_argument(
        "--controleer", dest="verify", action="store_true", help="controleer een compleet bestand"
    )
    return p


_OPEN_BARS: list[Any] = []


def _abort_progress() -> None:
    """Close progress bars left open by a failed command, so an error gets its own line."""
    while _OPEN_BARS:
        _OPEN_BARS.pop().close()


def _progress(enabled: bool) -> tuple[Callable[[str], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    from .pipeline import STAGES

    bar = tqdm(total=len(STAGES), unit="stap", file=sys.stderr, leave=True)
    _OPEN_BARS.append(bar)

    def step(name: str) -> None:
        if bar.n or bar.desc:
            bar.update(1)
        bar.set_description(name)

    def close() -> None:
        bar.update(bar.total - bar.n)
        bar.close()
        _OPEN_BARS.remove(bar)

    return step, close


def _summary_lines(result: object) -> list[str]:
    from .result import RunResult

    assert isinstance(result, RunResult)
    lines = [f"{len(result.summary)} gemeenten, {len(result.flagged)} met afstand 'te groot':"]
    for _, row in result.flagged.iterrows():
        lines.append(f"  {row['gemeentecode']} {row['gemeentenaam']}: {row['reasons']}")
    for name, path in result.outputs.items():
        lines.append(f"{name}: {path}")
    return lines


def _require_inputs(settings: Settings, config: Path) -> None:
    """ConfigError naming the TOML file when one of the four inputs is not set."""
    for name in ("network", "cells", "libraries", "gemeenten"):
        if getattr(settings.inputs, name) is None:
            msg = f"file '{config}': [inputs] {name} is not set (give the path of the {name} file)"
            raise ConfigError(msg)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .examples.demo import run_demo

    step, close = _progress(not args.quiet)
    result = run_demo(args.out, raw_dir=args.raw, progress=step)
    close()
    if not args.quiet:
        _say(_summary_lines(result))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run

    settings = Settings.from_toml(args.config)
    _require_inputs(settings, args.config)
    if args.out is not None:
        settings = dataclasses.replace(settings, out_dir=args.out)
    if args.gebied is not None:
        from .sources.study_area import resolve_study_area

        area = tuple(p.strip() for p in args.gebied.split(",") if p.strip())
        resolve_study_area(area)  # an unknown province or code fails before any work
        settings = dataclasses.replace(settings, study_area=area)
    if args.buffer_km is not None:
        settings = dataclasses.replace(settings, study_buffer_m=args.buffer_km * 1000.0)
    step, close = _progress(not args.quiet)
    result = run(settings, progress=step)
    close()
    if not args.quiet:
        _say(_summary_lines(result))
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .sources import download as dl

    if args.source != "osm" and args.year is None:
        msg = f"'bereikbaar download {args.source}' heeft --jaar nodig (bijvoorbeeld --jaar 2024)"
        raise InputError(msg)
    if args.source == "osm":
        base = args.base_url or dl.GEOFABRIK_URL
        source = dl.geofabrik_source(args.region, base_url=base)
    elif args.source == "vierkant":
        base = args.base_url or dl.CBS_DOWNLOAD_URL
        source = dl.cbs_vierkant_source(
            args.year, args.resolution, version=args.version, base_url=base
        )
    else:
        base = args.base_url or dl.CBS_GEODATA_URL
        source = dl.cbs_wijkbuurtkaart_source(args.year, version=args.version, base_url=base)
    result = dl.download_source(source, args.out, progress=not args.quiet, verify=args.verify)
    if not args.quiet:
        state = "gedownload" if result.downloaded else "al compleet, niet opnieuw gedownload"
        _say(
            [
                f"{result.path}: {state} ({result.size_bytes:,} bytes, sha256 {result.sha256})",
                f"Bron: {source.url} — licentie: {source.licence}",
            ]
        )
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    settings = Settings.from_toml(args.config)
    _require_inputs(settings, args.config)
    step, close = _progress(not args.quiet)
    _, _, lines = run_scenario_command(
        settings,
        close=args.sluit,
        open_specs=args.open,
        retype=args.type,
        out_dir=args.out,
        n_sites=args.locaties,
        rank=args.rangschik,
        scheduler=args.scheduler,
        progress=step,
    )
    close()
    if not args.quiet:
        _say(lines)
    return 0


def parse_open(text: str) -> OpenSpec:
    """Parse ``--open``: ``"x,y"`` or ``"x,y,type"`` (RD New, m), else an address.

    Examples
    --------
    >>> parse_open("206000, 560000")
    (206000.0, 560000.0)
    >>> parse_open("206000,560000,servicepunt")
    (206000.0, 560000.0, 'servicepunt')
    >>> parse_open("Kerkplein 3, Middeldorp")
    'Kerkplein 3, Middeldorp'
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) in (2, 3):
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            return text.strip()
        return (x, y) if len(parts) == 2 else (x, y, parts[2])
    return text.strip()


def parse_retype(text: str) -> tuple[str, str]:
    """Parse ``--type ID=TYPE``.

    Examples
    --------
    >>> parse_retype("lib-0004=servicepunt")
    ('lib-0004', 'servicepunt')
    """
    lid, sep, btype = text.partition("=")
    if not sep or not lid.strip() or not btype.strip():
        msg = f"--type {text!r}: expected ID=TYPE, e.g. lib-0004=servicepunt"
        raise InputError(msg)
    return lid.strip(), btype.strip()


def run_scenario_command(
    settings: Settings,
    *,
    close: Sequence[str] = (),
    open_specs: Sequence[str] = (),
    retype: Sequence[str] = (),
    out_dir: Path | None = None,
    n_sites: int = 0,
    rank: bool = False,
    scheduler: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[ScenarioResult, dict[str, Path], list[str]]:
    """What ``bereikbaar scenario`` does: baseline run, scenario, outputs, summary lines.

    The arguments are parsed here (:func:`parse_open`, :func:`parse_retype`); the work
    is :func:`bereikbaar.pipeline.run_scenario`. The baseline is written to
    ``settings.out_dir`` (as ``bereikbaar run``), the scenario to ``out_dir`` (default
    ``settings.out_dir / "scenario"``). Addresses in ``open_specs`` are geocoded online
    with the PDOK Locatieserver.

    Returns
    -------
    result, outputs, lines
        The scenario, its output files and Dutch summary lines for the terminal.
    """
    from .pipeline import run_scenario
    from .sources.geocode import PdokGeocoder

    opened = [parse_open(t) for t in open_specs]
    geocoder = PdokGeocoder(settings.pdok_url) if any(isinstance(o, str) for o in opened) else None
    types = dict(parse_retype(t) for t in retype)
    done = run_scenario(
        settings,
        close=close,
        open=opened,
        retype=types,
        geocoder=geocoder,
        out_dir=out_dir,
        n_sites=n_sites,
        rank=rank,
        scheduler=scheduler,
        progress=progress,
    )
    res = done.scenario
    lines = [
        f"scenario: {len(res.closed)} gesloten, {len(res.opened)} geopend, "
        f"{len(res.retyped)} van type veranderd"
    ]
    for _, row in res.deltas.iterrows():
        d = row[f"{MEAN_DISTANCE_KM}_delta"]
        if row["flag_change"] or (isinstance(d, float) and math.isfinite(d) and d != 0):
            lines.append(
                f"  {row[GEMEENTECODE]} {row[GEMEENTENAAM]}: gemiddelde afstand "
                f"{row[f'{MEAN_DISTANCE_KM}_before']:.2f} → {row[f'{MEAN_DISTANCE_KM}_after']:.2f}"
                f" km, verder dan de drempel {row[f'{POPULATION_BEYOND}_before']:.0f} → "
                f"{row[f'{POPULATION_BEYOND}_after']:.0f}"
                + (f" ({row['flag_change']})" if row["flag_change"] else "")
            )
    if done.sites is not None:
        sug = done.sites
        lines.append(
            f"voorgestelde locaties (greedy {sug.greedy_population:.0f} inwoners erbij"
            + (f", optimaal {sug.milp_population:.0f}" if sug.milp_population is not None else "")
            + ")"
        )
    if done.closures is not None:
        ci = done.closures
        lines.append(f"sluitingseffect van {len(ci.ranking)} vestigingen in {ci.elapsed_s:.1f} s")
    lines.extend(f"{name}: {path}" for name, path in done.outputs.items())
    return res, done.outputs, lines


def _printable(text: str) -> str:
    r"""Text for the terminal: each control or format character shown as an escape.

    A gemeente name such as ``"\x1b]0;…\x07\x1b[2J"`` would retitle or clear the terminal;
    it is printed as the visible text ``\x1b]0;…\x07\x1b[2J`` instead.

    >>> _printable("Bibliostad\x1b[2J")
    'Bibliostad\\x1b[2J'
    """
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _say(lines: Sequence[str], file: TextIO | None = None) -> None:
    """Print lines for the user (stdout unless ``file``), each made :func:`_printable`."""
    print("\n".join(_printable(line) for line in lines), file=file or sys.stdout)


class _ConsoleFormatter(logging.Formatter):
    """Log lines whose message part is :func:`_printable` (tracebacks stay multi-line)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging API)
        return _printable(super().formatMessage(record))


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Route a Python warning to the console log: its message only, made :func:`_printable`.

    The default ``warnings.showwarning`` prints the source file, line and code line, and prints
    the message raw, so a gemeente name in a warning could carry terminal escapes.
    """
    text = str(message)
    if not issubclass(category, BereikbaarWarning):
        text = f"{category.__name__}: {text}"
    log.warning("%s", text)


def _one_line(err: BaseException) -> str:
    """The error message on one line: whitespace runs become one space, controls escaped."""
    return _printable(" ".join(str(err).split()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bereikbaar`` command.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 success, 2 bad input (also: a service failed, or not enough memory,
        with what to reduce), 1 internal error, 130 interrupted.
    """
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_ConsoleFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.debug else (logging.ERROR if args.quiet else logging.WARNING),
        handlers=[handler],
    )
    commands = {
        "demo": _cmd_demo,
        "run": _cmd_run,
        "download": _cmd_download,
        "scenario": _cmd_scenario,
    }
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _dispatch(commands[args.command], args)


def _dispatch(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command and turn its outcome into an exit code and at most one error line."""
    try:
        return command(args)
    except BereikbaarError as err:
        _abort_progress()
        if args.debug:
            raise
        print(f"fout: {_one_line(err)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        _abort_progress()
        print("afgebroken; eerdere uitvoer is ongewijzigd", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        _abort_progress()
        if args.debug:
            raise
        print(f"fout: {MEMORY_MESSAGE}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as err:
        _abort_progress()
        if args.debug:
            raise
        print(
            f"interne fout ({type(err).__name__}): {_one_line(err)}"
            " — draai opnieuw met --debug en meld dit",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
