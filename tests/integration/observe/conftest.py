from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings
from pipelines.observe.metrics.discovery import DiscoveryReport, discover
from tests.integration.observe.fleet import Fleet, build


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def fleet(moto_endpoint: str, now: datetime) -> Fleet:
    return build(moto_endpoint, now)


def run_discovery(settings: Settings, now: datetime) -> DiscoveryReport:
    with connect(settings.require_database_url()) as conn:
        return discover(settings, AwsClients(settings), conn, now)


def short_windows(url: str, *, rds_stats: list[str] | None = None) -> None:
    """Keep moto fast: first reads go back 30 minutes (daily S3 policy untouched)."""
    with connect(url) as conn:
        conn.execute(
            "UPDATE params.collection_policies SET backfill_seconds = 1800"
            " WHERE period_seconds < 86400"
        )
        if rds_stats:
            conn.execute(
                "UPDATE params.collection_policies SET stats = %s WHERE name = 'rds-default'",
                (rds_stats,),
            )
        conn.commit()


@dataclass
class CallLog:
    """GetMetricData calls seen through botocore's event system (not our own counters)."""

    queries: list[int] = field(default_factory=list)
    sends: int = 0

    @property
    def calls(self) -> int:
        return len(self.queries)


def watch_calls(clients: AwsClients) -> CallLog:
    log = CallLog()

    def on_call(params: dict[str, Any], **_: Any) -> None:
        log.queries.append(len(params["MetricDataQueries"]))

    def on_send(**_: Any) -> None:
        log.sends += 1

    events = clients.session("read").events
    events.register("before-parameter-build.cloudwatch.GetMetricData", on_call)
    events.register("before-send.cloudwatch.GetMetricData", on_send)
    return log


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def throttle(clients: AwsClients, times: int) -> Callable[[], int]:
    """Answer the first ``times`` GetMetricData HTTP attempts with ThrottlingException.

    Registered on ``before-send``: botocore receives a real 400 response and its own retry
    handler decides what to do with it. Returns a function giving how many were injected.
    """
    injected = 0
    body = json.dumps(
        {"__type": "com.amazonaws.cloudwatch#ThrottlingException", "message": "Rate exceeded"}
    ).encode()

    def on_send(request: Any, **_: Any) -> AWSResponse | None:
        nonlocal injected
        if injected >= times:
            return None
        injected += 1
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Body(body))

    clients.session("read").events.register("before-send.cloudwatch.GetMetricData", on_send)
    return lambda: injected


@pytest.fixture
def iam_enforced(moto_endpoint: str) -> Iterator[str]:
    """moto checks credentials (unknown keys are rejected) for the test's duration."""

    def set_auth(value: bytes) -> None:
        req = urllib.request.Request(
            f"{moto_endpoint}/moto-api/reset-auth",
            data=value,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    set_auth(b"0")
    try:
        yield moto_endpoint
    finally:
        set_auth(b"inf")


def datapoints(url: str) -> dict[tuple[str, str, str, int, datetime], float]:
    """Every stored datapoint by natural key (resource id instead of our surrogate)."""
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT r.resource_id, d.metric, d.stat, d.period, d.ts, d.value"
            " FROM metrics.datapoints d JOIN metrics.resources r ON r.id = d.resource_id"
        ).fetchall()
    out = {(r[0], r[1], r[2], r[3], r[4]): r[5] for r in rows}
    assert len(out) == len(rows)
    return out
