"""Retried AWS requests are counted in the run details, one for each fault AWS answered with.

A fault-injecting proxy (``tests/support/faultproxy.py``) sits between botocore and moto and
answers a seeded share of the requests with throttling (HTTP 400 in the protocol's error
shape) or HTTP 500; botocore's standard retry handler repeats each of those attempts, and
each repeat must show up as one ``aws_retries`` — never as an extra API call.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings
from pipelines.observe.metrics.collect import Collector
from pipelines.observe.metrics.discovery import discover
from tests.integration.observe.conftest import short_windows
from tests.integration.observe.fleet import Fleet
from tests.support.faultproxy import Faults, Rule, fault_proxy

pytestmark = pytest.mark.slow


def _faults(seed: int) -> Faults:
    # limits keep botocore's backoff (up to 2^attempt s) and its retry quota out of the way
    return Faults(
        [Rule("throttle", share=0.3, limit=5), Rule("error500", share=0.2, limit=3)], seed=seed
    )


def test_discovery_counts_every_retried_attempt(
    aws_settings: Settings, fleet: Fleet, now: datetime, moto_endpoint: str
) -> None:
    faults = _faults(seed=1)
    with fault_proxy(moto_endpoint, faults) as url:
        proxied = aws_settings.model_copy(update={"aws_endpoint_url": url})
        clients = AwsClients(proxied)
        with connect(proxied.require_database_url()) as conn:
            report = discover(proxied, clients, conn, now)
    assert faults.injected["throttle"] > 0 and faults.injected["error500"] > 0
    assert report.details()["aws_retries"] == faults.total_injected
    assert report.tagged == {"ec2:instance": 20, "ec2:volume": 20, "rds:db": 20, "s3:bucket": 20}
    # every API call counted once, whatever its attempts: the requests that reached moto
    assert report.api_calls == faults.forwarded
    assert sum(clients.retries.values()) == faults.total_injected


def test_collection_records_retries_beside_its_calls(
    aws_settings: Settings, fleet: Fleet, now: datetime, db_url: str, moto_endpoint: str
) -> None:
    with connect(db_url) as conn:
        discover(aws_settings, AwsClients(aws_settings), conn, now)
    short_windows(db_url)
    faults = _faults(seed=2)
    details: dict[str, object] = {}
    with fault_proxy(moto_endpoint, faults) as url:
        proxied = aws_settings.model_copy(update={"aws_endpoint_url": url})
        clients = AwsClients(proxied, epoch_timestamps=True)
        with connect(db_url) as conn:
            result = Collector(proxied, clients, conn, now=now, details=details).run()
    assert faults.total_injected > 0
    assert result["aws_retries"] == details["aws_retries"] == faults.total_injected
    assert result["api_calls"] == faults.forwarded  # GetMetricData calls, each counted once
    assert set(clients.retries) == {"cloudwatch:GetMetricData"}
    assert result["errors"] == []
