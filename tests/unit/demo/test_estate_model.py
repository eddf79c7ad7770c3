from __future__ import annotations

import pytest

from infra.demo.scenario.estate import DemoResource, Estate
from infra.demo.scenario.estates import DEFAULT_RESOURCES
from infra.errors import InputError
from infra.prices import PriceCatalog, shipped_prices

ESTATE = Estate(DEFAULT_RESOURCES)


def test_the_estate_has_the_issue_s_resources_tagged_and_neighbours_untagged() -> None:
    tagged = {(r.kind, r.name) for r in ESTATE.tagged}
    assert {("rds", "work-db"), ("rds", "expo-db"), ("ec2", "ingest-worker")} <= tagged
    assert ("ec2", "tiles-server") in tagged
    assert {r.zone for r in ESTATE.of("s3") if r.tagged} == {"landing", "working", "exposure"}
    neighbours = [r for r in ESTATE.resources if not r.tagged]
    assert {r.kind for r in neighbours} == {"rds", "ec2", "s3"}
    assert [r.name for r in ESTATE.tagged if r.profile == "idle"] == ["scratch-db"]


def test_every_size_is_in_the_shipped_price_catalog() -> None:
    catalog = PriceCatalog("eu-west-3", shipped_prices("eu-west-3"))
    for r in ESTATE.resources:
        if r.kind == "rds":
            catalog.require("rds", r.size, "postgres")
        elif r.kind == "ec2":
            catalog.require("ec2", r.size, "linux")
        else:
            catalog.require("s3", r.size)


def test_tags_mark_only_locxia_resources() -> None:
    estate = Estate(DEFAULT_RESOURCES, "owner", "geo")
    work = estate.tags(next(r for r in DEFAULT_RESOURCES if r.name == "work-db"))
    crm = estate.tags(next(r for r in DEFAULT_RESOURCES if r.name == "crm-db"))
    landing = estate.tags(next(r for r in DEFAULT_RESOURCES if r.zone == "landing"))
    assert work["owner"] == "geo" and work["Name"] == "work-db"
    assert "owner" not in crm and crm["Name"] == "crm-db"
    assert landing["zone"] == "landing"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Work_DB"}, "name must be"),
        ({"name": ""}, "name must be"),
        ({"name": "x" * 64}, "name must be"),
        ({"storage_gb": 0}, "storage_gb must be positive"),
        ({"growth_gb_per_day": 1.0}, "buckets only"),
        ({"zone": "landing"}, "buckets only"),
    ],
    ids=["uppercase", "empty", "too-long", "no-storage", "growth-on-rds", "zone-on-rds"],
)
def test_bad_resources_are_refused(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "kind": "rds",
        "name": "work-db",
        "size": "db.t4g.small",
        "storage_gb": 20,
        "profile": "office",
    }
    with pytest.raises(InputError, match=message):
        DemoResource(**{**base, **kwargs})  # type: ignore[arg-type]


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(InputError, match="duplicate names work-db"):
        Estate((DEFAULT_RESOURCES[0], DEFAULT_RESOURCES[0]))
