"""Settings are validated completely before anything runs or is written.

Every value a run would use is checked when the settings are built (TOML or code): an
unknown branch type, an infinite threshold or a negative speed never reaches a stage, and
the command stops with one line naming the key and the fix, before any output is touched.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bereikbaar.cli import main
from bereikbaar.exceptions import ConfigError
from bereikbaar.schema import BRANCH_TYPES
from bereikbaar.settings import CAR_SPEEDS_KMH, FlagRule, Settings


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"full_service_types": ("vestigng",)}, "did you mean 'vestiging'"),
        ({"full_service_types": ("Vestiging",)}, "unknown branch type 'Vestiging'"),
        ({"full_service_types": ()}, "at least one branch type"),
        ({"car_speeds_kmh": {"residential": -30.0}}, "car_speeds_kmh.residential"),
        ({"car_speeds_kmh": {"residential": 0.0}}, "car_speeds_kmh.residential"),
        ({"car_speeds_kmh": {"residental": 30.0}}, "did you mean 'residential'"),
        ({"car_speeds_kmh": {"primary": math.inf}}, "finite"),
        ({"max_snap_m": math.inf}, "max_snap_m"),
        ({"max_snap_m": math.nan}, "max_snap_m"),
        ({"bike_speed_kmh": -15.0}, "bike_speed_kmh"),
        ({"study_buffer_m": math.inf}, "study_buffer_m"),
        ({"mode": "auto"}, "mode must be one of"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(".", r"\.")):
        Settings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.inf, math.nan, -1.0, 0.0])
@pytest.mark.parametrize("name", ["threshold_km", "no_library_mean_km", "max_mean_km"])
def test_flag_rule_needs_positive_finite_km(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"FlagRule.{name}"):
        FlagRule(**{name: value})  # type: ignore[arg-type]


def test_every_known_value_is_accepted() -> None:
    Settings(full_service_types=BRANCH_TYPES, car_speeds_kmh=dict(CAR_SPEEDS_KMH))
    FlagRule(threshold_km=0.1, no_library_mean_km=100.0, max_mean_km=1e3)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('full_service_types = ["vestiging", "servicepunten"]\n', "servicepunten"),
        ("[flag_rule]\nthreshold_km = inf\n", "threshold_km"),
        ("[car_speeds_kmh]\nresidential = -30\n", "car_speeds_kmh.residential"),
    ],
)
def test_command_refuses_before_writing(
    tmp_path: Path, toml: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command stops with exit 2 and one line; the output folder is not touched."""
    out = tmp_path / "uit"
    out.mkdir()
    (out / "run.json").write_text("previous run", encoding="utf-8")
    config = tmp_path / "analyse.toml"
    config.write_text(f'out_dir = "uit"\n{toml}', encoding="utf-8")
    code = main(["-q", "run", str(config)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert named in err and str(config) in err
    assert len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["run.json"]
    assert (out / "run.json").read_text(encoding="utf-8") == "previous run"


def test_output_settings_are_checked() -> None:
    """km classes, peiljaar and the site minimum: defaults documented, bad values refused."""
    from bereikbaar.exceptions import ConfigError
    from bereikbaar.settings import Settings

    default = Settings()
    assert default.km_classes == (1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
    assert default.site_min_residents == 250 and default.peiljaar is None
    got = Settings.from_dict({"km_classes": [1, 2.5, 4], "peiljaar": 2023, "site_min_residents": 0})
    assert got.km_classes == (1.0, 2.5, 4.0) and got.peiljaar == 2023
    for bad, match in (
        ({"km_classes": [5, 2]}, "increasing"),
        ({"km_classes": [0, 2]}, "increasing positive"),
        ({"km_classes": ["1"]}, "list of numbers"),
        ({"peiljaar": 24}, "year"),
        ({"site_min_residents": -1}, "whole number"),
    ):
        with pytest.raises(ConfigError, match=match):
            Settings.from_dict(bad)


def test_rapport_pdf_is_a_boolean() -> None:
    assert Settings().rapport_pdf is True
    assert Settings.from_dict({"rapport_pdf": False}).rapport_pdf is False
    for bad in ("nee", 0, 1):
        with pytest.raises(ConfigError, match="rapport_pdf' must be true or false"):
            Settings.from_dict({"rapport_pdf": bad})
    with pytest.raises(ConfigError, match="rapport_pdf must be true or false"):
        Settings(rapport_pdf="ja")  # type: ignore[arg-type]
