"""Checksums of every output of the demo and of a synthetic case, timestamps and versions aside.

Used to show that a refactoring changes no output: run it before and after and diff the two
listings. GeoPackages and Parquet files are compared by their content (tables read back),
HTML/CSV/JSON by their text with run-specific values (timestamps, timings, durations,
temporary paths, package versions) blanked.

    python tools/output_fingerprint.py OUT.txt [--nodes 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyogrio

_VOLATILE = [
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?"),  # ISO times
    re.compile(r'"(seconds|[a-z_]*_s|duration[a-z_]*|timings?[a-z_]*)":\s*[-0-9.e]+'),
    re.compile(r"/tmp/[A-Za-z0-9_./-]+"),
    re.compile(r'"(bereikbaar|python|[a-z0-9_-]+)":\s*"\d+\.\d+[^"]*"'),  # versions
    re.compile(r"\b\d+ (dagen|uur|minuten|seconden)\b"),
    re.compile(r"\b(0|[1-9]\d*),\d+ s\b"),
]


DUMP: Path | None = None


def _text_digest(path: Path, rel: Path) -> str:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            for key in ("timings_s", "created", "versions", "bereikbaar"):
                data.pop(key, None)
        text = json.dumps(data, indent=1, sort_keys=True)
    for rx in _VOLATILE:
        text = rx.sub("<v>", text)
    text = re.sub(
        r"(?<![0-9a-f])([0-9a-f]{32}|[0-9a-f]{64})(?![0-9a-f])", "<id>", text
    )  # ids, input hashes
    if DUMP is not None:
        target = DUMP / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _table_digest(path: Path) -> str:
    parts = []
    if path.suffix == ".gpkg":
        for layer, _ in pyogrio.list_layers(path):
            df = pyogrio.read_dataframe(path, layer=layer)
            df = pd.DataFrame(df.drop(columns="geometry")).assign(wkb=df.geometry.to_wkb())
            parts.append(f"{layer}:{pd.util.hash_pandas_object(df, index=False).sum()}")
    else:
        df = pd.read_parquet(path)
        if "geometry" in df.columns:
            df = df.assign(geometry=df["geometry"].astype(str))
        parts.append(str(pd.util.hash_pandas_object(df, index=False).sum()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def fingerprint(out: Path) -> list[str]:
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out)
        if path.suffix in {".gpkg", ".parquet"}:
            digest = _table_digest(path)
        elif path.suffix in {".html", ".csv", ".json", ".txt", ".svg"}:
            digest = _text_digest(path, out.name / rel)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        lines.append(f"{rel}\t{digest}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("listing", type=Path)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--dump", type=Path, help="write the normalised texts here")
    args = parser.parse_args()
    global DUMP
    DUMP = args.dump
    import bereikbaar as bb

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo_out = root / "demo_out"
        bb.run_demo(demo_out, raw_dir=root / "demo_raw")
        lines += [f"demo/{x}" for x in fingerprint(demo_out)]
        try:
            from bereikbaar.examples.synthetic import SyntheticSpec, write_synthetic_case
        except ImportError:
            from bereikbaar.synthetic import SyntheticSpec, write_synthetic_case  # type: ignore
        spec = SyntheticSpec(n_nodes=args.nodes, n_cells=20_000, n_branches=60, n_gemeenten=12)
        case = write_synthetic_case(root / "syn", spec)
        settings = bb.Settings.from_toml(case.config)
        settings = dataclasses.replace(settings, out_dir=root / "syn_out")
        bb.run(settings)
        lines += [f"synthetic/{x}" for x in fingerprint(root / "syn_out")]
    args.listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
