"""The one scenario at its three sizes: the demo's platform, the tests' week, the fleet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from infra.demo.scenario import DemoResource, Estate, demo, fleet, week
from infra.demo.scenario.datapoints import week_of_series
from infra.demo.scenario.explorer import billing_days
from infra.demo.scenario.params import instance_rows
from infra.errors import InputError
from infra.prices import PriceCatalog, shipped_prices

CATALOG = PriceCatalog("eu-west-3", shipped_prices("eu-west-3"))


def _ids(estate: Estate) -> dict[str, str]:
    return {
        r.name: f"id-{r.name}" if r.kind in ("ec2", "ebs") else r.name for r in estate.resources
    }


@pytest.mark.parametrize("estate", [demo(), week(), fleet(4)], ids=["demo", "week", "fleet"])
def test_every_size_is_in_the_shipped_price_catalog(estate: Estate) -> None:
    for r in estate.resources:
        if r.kind == "rds":
            CATALOG.require("rds", r.size, "postgres")
        elif r.kind == "ec2":
            CATALOG.require("ec2", r.size, "linux")
        elif r.kind == "ebs":
            CATALOG.require("ebs", r.size)
        else:
            CATALOG.require("s3", r.size)


def test_the_fleet_has_n_of_each_kind_and_five_lookalikes_saying_why() -> None:
    estate = fleet(20)
    assert [len([r for r in estate.tagged if r.kind == k]) for k in ("rds", "ec2", "s3")] == [
        20
    ] * 3
    ingestion = [r for r in estate.of("ec2") if ("task", "ingestion") in r.tags]
    assert len(ingestion) == 5 and all(r.tagged for r in ingestion)
    assert {r.kind for r in estate.untagged} == {"rds", "ec2", "ebs", "s3"}
    assert len(estate.untagged) == 5 and all(r.role for r in estate.untagged)
    other = next(r for r in estate.untagged if r.name == "other-vm")
    assert estate.tags(other)["project"] == "other"


def test_the_week_describes_three_instances_and_reads_rds_network() -> None:
    estate = week()
    assert set(instance_rows(estate)) == {"work-db", "batch-db", "ingest-vm"}
    series = week_of_series(estate, _ids(estate), datetime(2026, 11, 25, 9, tzinfo=UTC))
    rds = {s.metric for s in series if s.resource == "work-db"}
    assert {"NetworkReceiveThroughput", "NetworkTransmitThroughput"} <= rds
    assert not {s.metric for s in series if s.namespace == "AWS/RDS"} - rds
    assert all(len(s.points) == 7 * 24 for s in series if s.namespace != "AWS/S3")


def test_the_fleet_window_is_three_points_five_minutes_apart() -> None:
    estate = fleet(4)
    end = datetime(2026, 11, 25, 9, 35, tzinfo=UTC)
    step = timedelta(minutes=5)
    series = week_of_series(estate, _ids(estate), end, days=3, step=step, span=3 * step)
    cpu = next(s for s in series if s.resource == "fleet-vm-00" and s.metric == "CPUUtilization")
    assert [t for t, _ in cpu.points] == [end - 3 * step, end - 2 * step, end - step]
    size = next(s for s in series if s.metric == "BucketSizeBytes")
    midnight = end.replace(hour=0, minute=0)
    assert [t for t, _ in size.points] == [midnight - timedelta(days=k) for k in (3, 2, 1)]
    assert not [s for s in series if s.resource == "loose-volume"]  # no volume metrics
    with pytest.raises(ValueError, match="whole"):
        week_of_series(estate, _ids(estate), end + timedelta(minutes=1), step=step)


def test_a_lag_moves_cost_explorer_s_last_day_back() -> None:
    today = date(2026, 11, 20)
    assert billing_days(today, 2)[-1] == date(2026, 11, 18)
    assert billing_days(today, 2) == billing_days(today)[:-1]


def test_a_volume_is_attached_to_an_instance_of_the_estate() -> None:
    with pytest.raises(InputError, match="only a volume"):
        DemoResource("ebs", "v", "gp3", 10, "idle")
    with pytest.raises(InputError, match="attached to no instance"):
        Estate((DemoResource("ebs", "v", "gp3", 10, "idle", attached_to="nowhere"),))
