"""Tests for bereikbaar.sources.osm_libraries: OSM amenity=library → classified points."""

from __future__ import annotations

import pathlib

import pytest
import shapely

from bereikbaar.exceptions import InputError
from bereikbaar.sources.osm_libraries import classify_library, libraries_from_osm

# A hand-written OSM XML file around Delft (lon/lat in WGS84).
# - node 1: the public library "DOK Delft" (a node);
# - way 10: a closed way tagged as a public library "Bibliotheek Den Hoorn, servicepunt";
# - relation 20: a multipolygon (outer ring = way 11) "Bibliotheek Nootdorp";
# - node 2: a school library, node 3: a minibieb, node 4: amenity=public_bookcase;
# - node 5: a library with access=private.
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="hand">
  <node id="1" version="1" lat="52.0114" lon="4.3590">
    <tag k="amenity" v="library"/>
    <tag k="name" v="DOK Delft"/>
    <tag k="operator" v="Stichting Bibliotheek Delft"/>
    <tag k="addr:street" v="Vesteplein"/>
    <tag k="addr:housenumber" v="100"/>
    <tag k="addr:postcode" v="2611WG"/>
    <tag k="addr:city" v="Delft"/>
  </node>
  <node id="2" version="1" lat="52.0000" lon="4.3600">
    <tag k="amenity" v="library"/><tag k="name" v="Mediatheek Christelijk Lyceum Delft"/>
  </node>
  <node id="3" version="1" lat="52.0010" lon="4.3610">
    <tag k="amenity" v="library"/><tag k="name" v="Minibieb Hof van Delft"/>
  </node>
  <node id="4" version="1" lat="52.0020" lon="4.3620">
    <tag k="amenity" v="public_bookcase"/><tag k="name" v="Boekenkastje"/>
  </node>
  <node id="5" version="1" lat="52.0030" lon="4.3630">
    <tag k="amenity" v="library"/><tag k="name" v="Leeszaal"/><tag k="access" v="private"/>
  </node>
  <node id="101" version="1" lat="51.9900" lon="4.3400"/>
  <node id="102" version="1" lat="51.9900" lon="4.3410"/>
  <node id="103" version="1" lat="51.9910" lon="4.3410"/>
  <node id="104" version="1" lat="51.9910" lon="4.3400"/>
  <node id="201" version="1" lat="52.0400" lon="4.3950"/>
  <node id="202" version="1" lat="52.0400" lon="4.3970"/>
  <node id="203" version="1" lat="52.0420" lon="4.3970"/>
  <node id="204" version="1" lat="52.0420" lon="4.3950"/>
  <way id="10" version="1">
    <nd ref="101"/><nd ref="102"/><nd ref="103"/><nd ref="104"/><nd ref="101"/>
    <tag k="amenity" v="library"/>
    <tag k="building" v="yes"/>
    <tag k="name" v="Bibliotheek Den Hoorn, servicepunt"/>
  </way>
  <way id="11" version="1">
    <nd ref="201"/><nd ref="202"/><nd ref="203"/><nd ref="204"/><nd ref="201"/>
  </way>
  <relation id="20" version="1">
    <member type="way" ref="11" role="outer"/>
    <tag k="type" v="multipolygon"/>
    <tag k="amenity" v="library"/>
    <tag k="name" v="Bibliotheek Nootdorp"/>
  </relation>
</osm>
"""


@pytest.fixture
def osm_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "delft.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    return path


def test_tu_delft_library_is_not_public(shared_data: pathlib.Path) -> None:
    libs = libraries_from_osm(shared_data / "osm" / "tudelft_2025.osm.pbf")
    row = libs.set_index("name").loc["TU Delft Library"]
    assert not row["public"]
    assert not row["full_service"]
    assert row["classification"] == "university"
    assert "Universiteit" in row["classification_reason"]
    assert row["osm_id"] == "node/5823561924"
    # the ten public_bookcase nodes of the extract are not libraries
    assert len(libs) == 1
    assert libs.crs is not None and libs.crs.to_epsg() == 28992
    # Prometheusplein, Delft: RD x ≈ 85.5 km, y ≈ 446.5 km
    assert row.geometry.x == pytest.approx(85_512, abs=50)
    assert row.geometry.y == pytest.approx(446_517, abs=50)


def test_hand_written_fixture(osm_file: pathlib.Path) -> None:
    libs = libraries_from_osm(osm_file).set_index("osm_id")
    assert sorted(libs.index) == ["node/1", "node/2", "node/3", "node/5", "relation/20", "way/10"]
    dok = libs.loc["node/1"]
    assert dok["public"] and dok["full_service"]
    assert dok["classification"] == "public"
    assert dok["branch_type"] == "other"  # OSM does not tell vestiging/servicepunt
    assert dok["address"] == "Vesteplein 100" and dok["postcode"] == "2611 WG"
    assert dok["library_id"] == "osm-node-1"
    assert dok["geocode_quality"] == "osm"

    hoorn = libs.loc["way/10"]
    assert hoorn["public"] and hoorn["branch_type"] == "servicepunt"
    assert not hoorn["full_service"]  # servicepunt is not in full_service_types
    # representative point of the closed way lies inside its square
    square_rd = libraries_from_osm(osm_file).to_crs(4326).set_index("osm_id").geometry
    assert shapely.box(4.3400, 51.9900, 4.3410, 51.9910).contains(square_rd.loc["way/10"])
    assert shapely.box(4.3950, 52.0400, 4.3970, 52.0420).contains(square_rd.loc["relation/20"])
    assert libs.loc["relation/20", "public"]

    assert libs.loc["node/2", "classification"] == "school"
    assert libs.loc["node/3", "classification"] == "little_free_library"
    assert libs.loc["node/5", "classification"] == "private"
    assert not libs.loc[["node/2", "node/3", "node/5"], "public"].any()


def test_assume_full_service_off(osm_file: pathlib.Path) -> None:
    libs = libraries_from_osm(osm_file, assume_full_service=False).set_index("osm_id")
    assert not libs["full_service"].any()


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"name": "Universiteitsbibliotheek Utrecht"}, "university"),
        ({"name": "Bibliotheek Hogeschool Rotterdam"}, "university"),
        ({"name": "Library", "operator": "Erasmus University Rotterdam"}, "university"),
        ({"name": "Bibliotheek op school De Regenboog"}, "public"),
        ({"name": "De Bibliotheek Gouda", "library": "public"}, "public"),
        ({"name": "Bieb", "library:type": "academic"}, "university"),
        ({"name": "Kennisbank", "operator": "Shell Nederland B.V."}, "company"),
        ({"name": "Bibliotheek Rijksmuseum"}, "special"),
        ({"name": "Little Free Library"}, "little_free_library"),
        ({}, "public"),
    ],
)
def test_classify_library(tags: dict[str, str], expected: str) -> None:
    assert classify_library(tags).classification == expected


def test_branch_types_from_names() -> None:
    assert classify_library({"name": "Bibliobus Westland"}).branch_type == "bibliobus"
    assert classify_library({"name": "Bibliotheek op school X"}).branch_type == (
        "bibliotheek_op_school"
    )
    assert classify_library({"name": "Afhaalpunt Bibliotheek"}).branch_type == "afhaalpunt"
    assert classify_library({"name": "Bibliotheek Centrum"}).branch_type == "other"


def test_bad_paths(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError, match="unknown OSM file type"):
        libraries_from_osm(tmp_path / "x.csv")
    with pytest.raises(InputError, match="not found"):
        libraries_from_osm(tmp_path / "x.osm.pbf")
    bad = tmp_path / "kapot.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match=r"kapot\.osm\.pbf'.*cannot read"):
        libraries_from_osm(bad)
