"""The demo's sample layer: deterministic, broken on purpose in known ways, valid rules."""

from __future__ import annotations

from pathlib import Path

import pyogrio
import shapely

from infra.demo import layer
from pipelines.feed.model import Rules

# Metropolitan France in EPSG:4326, generously.
FRANCE = (-5.5, 41.0, 10.0, 51.5)


def test_the_same_seed_gives_the_same_pools() -> None:
    first, second = layer.pools(300), layer.pools(300)
    assert first.drop(columns="geometry").equals(second.drop(columns="geometry"))
    assert list(first.geometry.to_wkb()) == list(second.geometry.to_wkb())
    assert not layer.pools(300, seed=1).geometry.to_wkb().equals(first.geometry.to_wkb())


def test_pools_are_broken_in_known_ways_and_stay_in_france() -> None:
    pools = layer.pools()
    assert len(pools) == layer.FEATURES and pools.crs.to_epsg() == 4326
    assert pools["pool_id"].is_unique
    shapes = pools.geometry.dropna()
    assert len(pools) - len(shapes) == layer.FEATURES // layer.NULL_EVERY
    assert int((~shapes.is_valid).sum()) == layer.FEATURES // layer.INVALID_EVERY
    xmin, ymin, xmax, ymax = shapes.total_bounds
    assert FRANCE[0] < xmin and FRANCE[1] < ymin and xmax < FRANCE[2] and ymax < FRANCE[3]
    areas = shapes[shapes.is_valid].to_crs(2154).area
    assert areas.between(15, 1300).all()  # private 3x6 m up to public 25x50 m
    assert set(pools["kind"]) == {"private", "public"}


def test_the_sample_is_a_readable_geopackage(tmp_path: Path) -> None:
    sample = layer.write_sample(tmp_path, features=500)
    info = pyogrio.read_info(sample.path)
    assert (info["features"], info["crs"], info["geometry_type"]) == (500, "EPSG:4326", "Polygon")
    assert set(layer.RULES["required_columns"]) <= set(info["fields"])
    assert (sample.null, sample.invalid) == (0, 500 // layer.INVALID_EVERY)
    assert not list(tmp_path.glob("*.partial.gpkg"))
    frame = pyogrio.read_dataframe(sample.path)
    assert shapely.get_num_geometries(frame.geometry.values).min() == 1


def test_the_rules_are_valid_dataset_rules() -> None:
    rules = Rules.parse(layer.RULES)
    assert rules.id_column == "pool_id" and rules.repair and rules.null_geometries == "drop"
    assert rules.min_rows is not None and rules.min_rows < layer.FEATURES
