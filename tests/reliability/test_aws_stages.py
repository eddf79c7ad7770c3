"""discover, collect and costs under kill -9 and under a misbehaving AWS.

The estate lives in moto; every faulted run is compared with a fault-free run of the same
commands into a twin database (same moto state: these stages only read AWS). Kill points are
observed, never timed: the fault proxy delays the stage's AWS calls and counts them, so "the
second GetMetricData is in flight" is a fact the test waits for before SIGKILL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from infra.db import connect
from infra.demo.scenario import DemoResource, Estate, explorer
from infra.demo.scenario.datapoints import growth_origin
from infra.prices import PriceCatalog
from tests.integration.observe.fleet import REGION, build
from tests.reliability.conftest import (
    Outcome,
    count,
    kill_points,
    kill_when,
    lost_and_duplicated,
    rows,
    run_ok,
    stuck,
    wait_until,
)
from tests.support.faultproxy import Faults, Rule, fault_proxy

pytestmark = pytest.mark.slow

ESTATE = Estate(
    (
        *(DemoResource("rds", f"db-{i}", "db.t4g.micro", 20, "office") for i in range(3)),
        *(DemoResource("ec2", f"vm-{i}", "t3.micro", 8, "office") for i in range(2)),
        DemoResource("s3", "locxia-bucket-0", "standard", 5, "office"),
    )
)

#: What each stage leaves behind, compared row for row with the fault-free run.
RESULTS = {
    "discover": "SELECT arn, type, resource_id, name, region, tags::text, tagged, state,"
    " attributes::text, gone_at IS NULL FROM metrics.resources",
    "collect": "SELECT r.arn, d.metric, d.stat, d.period, d.ts, d.value FROM metrics.datapoints d"
    " JOIN metrics.resources r ON r.id = d.resource_id",
    "costs": "SELECT day, service, tag_key, tag_value, usd, estimated FROM costs.daily",
}
COMMANDS = {
    "discover": ["observe", "discover"],
    "collect": ["observe", "collect"],
    "costs": ["observe", "costs"],
}
TASKS = {"discover": "metrics.discover", "collect": "metrics.collect", "costs": "costs.explorer"}
#: The signing name (SigV4 scope) and operation each stage spends its time in.
CALLS = {
    "discover": ("tagging", "GetResources"),
    "collect": ("monitoring", "GetMetricData"),
    "costs": ("ce", "GetCostAndUsage"),
}


@dataclass
class Aws:
    endpoint: str
    env: Callable[[str, str], dict[str, str]]


@pytest.fixture
def aws(moto_endpoint: str, cli_env: dict[str, str], db_url: str) -> Iterator[Aws]:
    """The estate with its datapoints and its Cost Explorer days queued in moto."""
    now = datetime.now(UTC)
    build(moto_endpoint, now, ESTATE)
    with connect(db_url) as conn:
        catalog = PriceCatalog.load(conn, REGION)
    days = explorer.billing_days(now.date())
    lines = explorer.cost_lines(ESTATE, catalog, days, growth_origin(now))
    explorer.queue(moto_endpoint, explorer.seed_body(lines, now.date()))

    def env(url: str, endpoint: str) -> dict[str, str]:
        return {
            **cli_env,
            "LOCXIA_DATABASE_URL": url,
            "LOCXIA_AWS_ENDPOINT_URL": endpoint,
            "LOCXIA_AWS_REGION": REGION,
        }

    yield Aws(moto_endpoint, env)


def _stages_before(stage: str) -> list[str]:
    return {"discover": [], "collect": ["discover"], "costs": ["discover"]}[stage]


def _reference(aws: Aws, twin_url: str, stage: str) -> None:
    for step in [*_stages_before(stage), stage]:
        run_ok(COMMANDS[step], aws.env(twin_url, aws.endpoint))


def _sessions_gone(url: str) -> Callable[[], bool]:
    """No other session in the database: the killed process's backends have ended."""

    def check() -> bool:
        name = url.rsplit("/", 1)[-1]
        return (
            count(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                name,
            )
            == 0
        )

    return check


#: (stage, kill point, calls of the stage's operation seen when killed; 0: its run row)
KILL_POINTS = [
    ("discover", "run-recorded", 0),
    ("discover", "first-call-in-flight", 1),
    ("collect", "run-recorded", 0),
    ("collect", "first-call-in-flight", 1),
    ("collect", "second-call-in-flight", 2),
    ("costs", "run-recorded", 0),
    ("costs", "call-in-flight", 1),
]


RUN = kill_points(
    KILL_POINTS,
    {
        "discover-first-call-in-flight",
        "collect-run-recorded",
        "collect-second-call-in-flight",
        "costs-call-in-flight",
    },
    lambda p: f"{p[0]}-{p[1]}",
)


@pytest.mark.parametrize(("stage", "point", "calls"), RUN, ids=[f"{s}-{p}" for s, p, _ in RUN])
def test_kill_9_inside_the_stage(
    aws: Aws,
    db_url: str,
    twin_url: str,
    outcome: Outcome,
    stage: str,
    point: str,
    calls: int,
) -> None:
    _reference(aws, twin_url, stage)
    reference = rows(twin_url, RESULTS[stage])
    assert reference, f"the fault-free {stage} wrote nothing: nothing to compare"

    for step in _stages_before(stage):
        run_ok(COMMANDS[step], aws.env(db_url, aws.endpoint))
    service, operation = CALLS[stage]
    faults = Faults([Rule("delay", share=1.0, seconds=1.0, service=service)])
    with fault_proxy(aws.endpoint, faults) as url:

        def ready() -> bool:
            if calls:
                return faults.operations[(service, operation)] >= calls
            return (
                count(
                    db_url,
                    "SELECT count(*) FROM ops.runs WHERE task = %s AND status = 'running'",
                    TASKS[stage],
                )
                > 0
            )

        kill_when(COMMANDS[stage], aws.env(db_url, url), ready)
    wait_until(_sessions_gone(db_url), 30, "the killed process's sessions to end")
    run_ok(COMMANDS[stage], aws.env(db_url, aws.endpoint))

    lost, duplicated = lost_and_duplicated(reference, rows(db_url, RESULTS[stage]))
    left = stuck(db_url)
    outcome(
        tries=1,
        survived=int(lost == duplicated == 0 and not left),
        lost=lost,
        duplicated=duplicated,
        left=len(left),
        group="kill -9",
        case=f"{stage}: {point}",
        note=f"stuck records: {len(left)}" if left else "",
    )
    assert (lost, duplicated) == (0, 0)
    # the re-run is the next CLI start: the killed run is swept, never left `running`
    assert left == [], f"records left as if still running: {left}"
    assert (
        count(
            db_url,
            "SELECT count(*) FROM ops.runs WHERE task = %s AND status = 'interrupted'",
            TASKS[stage],
        )
        == 1
    )


#: (name, rules): AWS on a bad day, each seeded.
BAD_DAYS = [
    ("throttling-30%-and-delays", [Rule("delay", 0.3, seconds=0.2), Rule("throttle", 0.3)]),
    ("throttling-70%-of-first-tries", [Rule("throttle", share=0.7, limit=4)]),
    ("http-500-and-503", [Rule("error500", share=0.15), Rule("error503", share=0.15)]),
]


@pytest.mark.parametrize(("name", "rules"), BAD_DAYS, ids=[n for n, _ in BAD_DAYS])
def test_faults_from_aws_leave_the_same_results(
    aws: Aws,
    db_url: str,
    twin_url: str,
    outcome: Outcome,
    name: str,
    rules: list[Rule],
) -> None:
    stages = ["discover", "collect", "costs"]
    for stage in stages:
        run_ok(COMMANDS[stage], aws.env(twin_url, aws.endpoint))
    faults = Faults(rules, seed=12)
    with fault_proxy(aws.endpoint, faults) as url:
        for stage in stages:
            run_ok(COMMANDS[stage], aws.env(db_url, url))
    injected = faults.total_injected - faults.injected["delay"]
    lost = duplicated = 0
    for stage in stages:
        lost_s, dup_s = lost_and_duplicated(
            rows(twin_url, RESULTS[stage]), rows(db_url, RESULTS[stage])
        )
        lost, duplicated = lost + lost_s, duplicated + dup_s
    outcome(
        tries=faults.requests,
        survived=faults.requests if lost == duplicated == 0 else 0,
        lost=lost,
        duplicated=duplicated,
        group="AWS faults",
        case=name,
        note=", ".join(f"{k} {v}" for k, v in sorted(faults.injected.items())),
    )
    assert faults.total_injected > 0 and (injected > 0 or faults.injected["delay"] > 0)
    assert (lost, duplicated) == (0, 0)
    with connect(db_url) as conn:
        statuses = conn.execute("SELECT DISTINCT status FROM ops.runs").fetchall()
    assert statuses == [("success",)]
