from __future__ import annotations

import pytest

from infra.errors import InputError
from pipelines.feed.model import Dataset, Rules, dataset_name


@pytest.mark.parametrize(
    "name",
    ["../../etc", "", "Bati", "1bati", "bati-2", "a" * 41, "bati;drop", "bati/x", " bati"],
    ids=[
        "dotdot",
        "empty",
        "upper",
        "digit-first",
        "dash",
        "too-long",
        "semicolon",
        "slash",
        "space",
    ],
)
def test_unsafe_dataset_names_are_refused(name: str) -> None:
    expected = "the dataset name is empty" if name == "" else "not a safe dataset name"
    with pytest.raises(InputError, match=expected):
        dataset_name(name)


def test_safe_name() -> None:
    assert dataset_name("batiments_2024") == "batiments_2024"


def test_rules_defaults_and_digest_is_stable() -> None:
    rules = Rules.parse({})
    assert rules == Rules()
    assert rules.min_rows == 1 and rules.repair and rules.null_geometries == "drop"
    same = Rules.parse({"geometry_types": ["Polygon", "MultiPolygon", "Polygon"]})
    assert same.geometry_types == ("MultiPolygon", "Polygon")
    assert same.digest == Rules.parse({"geometry_types": ["MultiPolygon", "Polygon"]}).digest
    assert same.digest != rules.digest


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"min_rowz": 1}, "unknown rule(s) min_rowz"),
        ({"min_rows": -1}, "rules.min_rows: expected an integer >= 0"),
        ({"min_rows": True}, "rules.min_rows"),
        ({"geometry_types": ["Polygone"]}, "unknown geometry type(s) ['Polygone']"),
        ({"bounds": [1, 2, 0, 3]}, "rules.bounds"),
        ({"null_geometries": "ignore"}, "expected drop, keep or fail"),
        ({"repair": "yes"}, "rules.repair: expected true or false"),
        ({"crs": ""}, "rules.crs: expected a non-empty string"),
        ({"required_columns": "id"}, "rules.required_columns: expected a list"),
    ],
    ids=[
        "unknown",
        "negative",
        "bool-int",
        "bad-type",
        "bounds",
        "nulls",
        "repair",
        "crs",
        "columns",
    ],
)
def test_bad_rules_name_the_rule(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(InputError) as err:
        Rules.parse(raw, "params.datasets[x].rules")
    assert fragment in str(err.value)
    assert str(err.value).startswith("params.datasets[x].rules")


def test_dataset_from_row() -> None:
    ds = Dataset.from_row(
        {
            "name": "pools",
            "source": "https://x/p.zip",
            "layer": None,
            "rules": {"min_rows": 5},
            "cron": "0 4 * * *",
            "timezone": "Europe/Paris",
            "enabled": True,
        }
    )
    assert ds.rules.min_rows == 5 and ds.cron == "0 4 * * *"
    with pytest.raises(InputError, match=r"params.datasets\[pools\].rules"):
        Dataset.from_row({"name": "pools", "rules": {"nope": 1}})
