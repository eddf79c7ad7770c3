"""Load: 1,000 tagged instances x 5 metrics through discovery and one collection.

The work runs in a process of its own (``tests.support.observe_load``), so its peak RSS is
its own and not the test runner's (which also hosts moto). The bounds are generous on
purpose — the machine is shared — but each one fails on a regression of an order of
magnitude: a call per query, a datapoint list held for the whole run, a query per row.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.conftest import ROOT
from tests.support.observe_load import (
    MAX_QUERIES_PER_CALL,
    METRICS,
    create_servers,
    expected_calls,
    put_points,
    steady_windows,
)

pytestmark = pytest.mark.slow

INSTANCES = 1000
WITH_POINTS = 20
#: Queries per instance: the EC2 policies read CPUUtilization's Average and Maximum and each
#: count metric's Sum (migration 0065: counts are Sum / period).
STATS = 2
PER_INSTANCE = STATS + (len(METRICS) - 1)
MAX_SECONDS = 60.0  # measured 7 s on 2 shared cores (discover 5 s, collect 2.5 s)
MAX_PEAK_MIB = 250.0  # measured 115 MiB


def test_a_thousand_instances_are_discovered_and_collected_in_ceil_queries_over_500_calls(
    moto_endpoint: str, db_url: str, now: datetime
) -> None:
    ids = create_servers(moto_endpoint, INSTANCES)
    put = put_points(moto_endpoint, ids[:WITH_POINTS], now - timedelta(minutes=10))
    steady_windows(db_url)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.observe_load",
            db_url,
            moto_endpoint,
            now.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in figures.items() if k.endswith(("_s", "kib", "seen"))}))

    found = figures["discover"]
    assert found["tagged"] == {"ec2:instance": INSTANCES}
    assert found["untagged_lookalikes"] == INSTANCES  # the root volumes, never collected
    collected = figures["collect"]
    per_policy = {name: p["queries"] for name, p in collected["policies"].items() if p["queries"]}
    assert per_policy == {
        "ec2-ingestion": INSTANCES // 4 * PER_INSTANCE,
        "ec2-default": (INSTANCES - INSTANCES // 4) * PER_INSTANCE,
    }
    queries = sum(per_policy.values())
    assert queries == INSTANCES * PER_INSTANCE == collected["metrics_requested"]
    # GetMetricData takes at most 500 MetricDataQuery per request (API_GetMetricData.html)
    assert figures["calls_seen"] == collected["api_calls"] == expected_calls(per_policy)
    assert collected["api_calls"] == math.ceil(queries / MAX_QUERIES_PER_CALL) == 12
    assert figures["largest_call"] == MAX_QUERIES_PER_CALL
    # every metric got put / len(METRICS) points: CPU read twice (Average, Maximum), counts once
    assert collected["datapoints"] == put // len(METRICS) * PER_INSTANCE
    assert collected["errors"] == []
    assert figures["total_s"] < MAX_SECONDS
    assert figures["peak_kib"] / 1024 < MAX_PEAK_MIB
