import json

from wangge.gateway.cases.regions import bbox, check_tree, contains, parse_csv, parse_geojson

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]],
}


def test_point_in_polygon_with_a_hole_and_multipolygons() -> None:
    assert contains(SQUARE, 1, 1) and not contains(SQUARE, 5, 5) and not contains(SQUARE, 11, 5)
    multi = {
        "type": "MultiPolygon",
        "coordinates": [SQUARE["coordinates"], [[[20, 20], [21, 20], [21, 21], [20, 21], [20, 20]]]],
    }
    assert contains(multi, 20.5, 20.5) and not contains(multi, 15, 15)
    assert bbox(multi) == (0, 0, 21, 21)


def test_csv_rows_are_checked_one_by_one_with_their_line_numbers() -> None:
    text = (
        "code,name,level,parent_code,geometry\n"
        "D1,District,district,,\n"
        "S1,Street,street,D1,\n"
        "bad code!,X,street,D1,\n"
        "G1,Grid,grid,S1,\n"
        'C1,,community,S1,{"type": "Point"}\n'
    )
    rows, problems = parse_csv(text)
    assert [r.code for r in rows] == ["D1", "S1", "G1"]
    assert problems == [
        "line 4: code must be 1-32 letters, digits, '-' or '_' (got 'bad code!')",
        "line 6: name is required",
        "line 6: geometry must be a GeoJSON Polygon or MultiPolygon",
    ]
    assert check_tree(rows, {}) == ["line 5: a grid must sit under a community, not a street"]


def test_geojson_features_and_tree_checks() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": SQUARE,
                "properties": {"code": "S9", "name": "S", "level": "street", "parent_code": "D0"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]},
                "properties": {"code": "C9", "name": "C", "level": "community", "parent_code": "S9"},
            },
            {
                "type": "Feature",
                "geometry": None,
                "properties": {"code": "S9", "name": "again", "level": "street", "parent_code": "D0"},
            },
        ],
    }
    rows, problems = parse_geojson(json.dumps(doc))
    assert problems == ["feature 2: a ring must end where it starts"]
    assert check_tree(rows, {"D0": "district"}) == ["feature 3: code S9 is also at feature 1"]
    assert check_tree(rows[:1], {}) == ["feature 1: parent_code D0 is neither in the file nor imported"]
    assert parse_geojson("[]")[1] == ["file: must be a GeoJSON FeatureCollection"]
