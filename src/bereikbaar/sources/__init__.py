"""Everything that reads the outside world into validated GeoDataFrames in EPSG:28992."""
