"""Discovery and shape's power actions write the state history estimates price from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.db import connect
from infra.settings import Settings
from pipelines.shape.power import PowerKeeper, Wanted
from tests.integration.observe.conftest import run_discovery

T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


def _history(settings: Settings) -> list[tuple[Any, ...]]:
    with connect(settings.require_database_url()) as conn:
        return conn.execute(
            "SELECT s.since, s.state, s.attributes ->> 'storage_gb', s.source"
            " FROM metrics.resource_states s JOIN metrics.resources r ON r.id = s.resource_id"
            " WHERE r.name = 'hist-db' ORDER BY since"
        ).fetchall()


@pytest.mark.slow
def test_discovery_and_power_record_each_change_once(
    aws_settings: Settings, moto_endpoint: str
) -> None:
    rds = boto3.client("rds", endpoint_url=moto_endpoint, region_name="eu-west-3")
    rds.create_db_instance(
        DBInstanceIdentifier="hist-db",
        DBInstanceClass="db.t4g.large",
        Engine="postgres",
        AllocatedStorage=100,
        MasterUsername="locxia",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": aws_settings.tag_key, "Value": aws_settings.tag_value}],
    )
    run_discovery(aws_settings, T0)
    run_discovery(aws_settings, T0 + timedelta(hours=1))  # nothing changed: nothing written
    assert _history(aws_settings) == [(T0, "available", "100", "discovery")]

    stop_at = T0 + timedelta(hours=2)
    with connect(aws_settings.require_database_url(), autocommit=True) as conn:
        report = PowerKeeper(aws_settings, now=lambda: stop_at).enforce(
            conn, {"hist-db": Wanted("hist-db", "rds", "stopped", "row")}
        )
    assert report["acted"] == {"hist-db": "stopped"}
    caused = _history(aws_settings)[-1]
    # the state StopDBInstance answered with (AWS: stopping; moto stops at once), at the call
    assert caused[0] == stop_at and caused[3] == "shape:stop"
    assert caused[1] in ("stopping", "stopped")

    rds.modify_db_instance(DBInstanceIdentifier="hist-db", AllocatedStorage=200)
    run_discovery(aws_settings, T0 + timedelta(hours=3))
    assert _history(aws_settings)[-1] == (T0 + timedelta(hours=3), "stopped", "200", "discovery")

    rds.delete_db_instance(DBInstanceIdentifier="hist-db", SkipFinalSnapshot=True)
    gone_at = T0 + timedelta(hours=4)
    run_discovery(aws_settings, gone_at)
    assert _history(aws_settings)[-1] == (gone_at, "deleted", "200", "discovery")
    run_discovery(aws_settings, gone_at + timedelta(hours=1))
    assert len(_history(aws_settings)) == 4
