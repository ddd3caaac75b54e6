"""The one collector of every problem in an input (bereikbaar.exceptions.Problems)."""

from __future__ import annotations

import pytest

from bereikbaar.exceptions import (
    MAX_LISTED,
    InputProblemsError,
    NetworkError,
    Problems,
    location,
)


def test_many_problems_are_capped_counted_and_end_with_the_fix() -> None:
    p = Problems("n.gpkg", "the wegvak geometries", fix="correct or remove these wegvakken")
    for row in range(1, MAX_LISTED + 6):
        p.add(location(row, "geometry"), "empty geometry (expected a LineString)")
    with pytest.raises(InputProblemsError) as info:
        p.raise_if_any()
    err = info.value
    assert len(err.problems) == MAX_LISTED + 5
    text = str(err)
    assert text.startswith(f"file 'n.gpkg': {MAX_LISTED + 5} problems in the wegvak geometries:\n")
    assert f"row {MAX_LISTED}, column 'geometry': empty" in text
    assert f"row {MAX_LISTED + 1}," not in text  # the 21st is counted, not listed
    assert text.endswith(";\n  en 5 meer;\nfix: correct or remove these wegvakken")
    # each problem ends with ";" before the line break: the CLI's one line stays readable
    assert "(expected a LineString);\n  row 2, column 'geometry'" in text


def test_one_problem_is_one_located_line() -> None:
    p = Problems("b.csv", "the branch list")
    assert len(p) == 0
    p.raise_if_any()  # nothing recorded: nothing raised
    p.add("line 3, column 'lat'", "'53,0x' is not a number (expected latitude in degrees)")
    assert str(p.error()) == (
        "file 'b.csv', line 3, column 'lat': '53,0x' is not a number (expected latitude in degrees)"
    )
    p.fix = "correct the cell"
    assert str(p.error()).endswith("(expected latitude in degrees); fix: correct the cell")
    whole = Problems("b.csv")
    whole.add("", "the file is empty")
    assert str(whole.error()) == "file 'b.csv': the file is empty"


def test_another_error_class_is_raised_as_given() -> None:
    p = Problems("net.pbf", "the road network", exc=NetworkError)
    p.add(location(4), "a way with one node")
    p.add(location(9), "a way with one node")
    with pytest.raises(NetworkError, match=r"^file 'net\.pbf': 2 problems in the road network:"):
        p.raise_if_any()
    assert not isinstance(p.error(), InputProblemsError)
