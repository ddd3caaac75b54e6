"""The dossier's SVG maps: where names are set."""


def test_area_name_is_moved_off_markers() -> None:
    import shapely

    from bereikbaar.output.dossier_maps import _clear_spot

    frame = (0.0, 0.0, 10_000.0, 6_000.0)
    pt = shapely.Point(5_000.0, 3_000.0)
    # nothing in the way: on the point
    assert _clear_spot(pt, "Oost-Eiland", 10, [], frame, 7.2) == (5_000.0, 3_000.0)
    # a branch on the point: moved, and the marker is outside the estimated box
    x, y = _clear_spot(pt, "Oost-Eiland", 10, [(5_000.0, 3_000.0)], frame, 7.2)
    assert (x, y) != (5_000.0, 3_000.0)
    per_pt = 10_000.0 / (7.2 * 72)
    assert abs(y - 3_000.0) > 0.75 * 10 * per_pt or abs(x - 5_000.0) > 0.32 * 10 * 11 * per_pt
    # a spot that would leave the frame is not taken
    low = shapely.Point(5_000.0, 100.0)
    x, y = _clear_spot(low, "Oost-Eiland", 10, [(5_000.0, 100.0)], frame, 7.2)
    assert y > 100.0
