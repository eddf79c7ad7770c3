"""`locxia observe` as a user runs it: moto as AWS, a real database, the CLI in a subprocess."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.db import connect
from infra.demo.scenario import DemoResource, Estate
from tests.e2e.conftest import Run
from tests.integration.observe.fleet import Fleet, build

pytestmark = pytest.mark.slow

#: Two tagged RDS and an untagged bucket named like Locxia.
SMALL = Estate(
    (
        DemoResource("rds", "db-a", "db.t4g.micro", 20, "office"),
        DemoResource("rds", "db-b", "db.t4g.micro", 20, "office"),
        DemoResource("s3", "locxia-loose", "standard", 1, "idle", tagged=False),
    )
)


def _small_fleet(endpoint: str) -> Fleet:
    """The small estate, with the scenario's 3 points per metric before now."""
    return build(endpoint, datetime.now(UTC), SMALL)


def test_discover_collect_and_the_recorded_run(
    locxia: Run, moto_endpoint: str, db_url: str
) -> None:
    made = _small_fleet(moto_endpoint)
    env = {"LOCXIA_AWS_ENDPOINT_URL": moto_endpoint}
    found = locxia("observe", "discover", env=env)
    assert found.returncode == 0, found.stderr
    assert "rds:db" in found.stdout
    assert "untagged look-alike s3:bucket locxia-loose: named like 'locxia'" in found.stderr

    policies = json.loads(locxia("observe", "policies", "--json", env=env).stdout)
    rds = next(p for p in policies if p["policy"] == "rds-default")
    assert rds["resources"] == 2 and rds["queries_per_run"] == 2 * 6 * 2

    ran = locxia("observe", "collect", "--policy", "rds-default", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    details = json.loads(ran.stdout)
    shown = json.loads(locxia("runs", "show", str(details["run_id"])).stdout)
    recorded = shown["details"]
    assert shown["task"] == "metrics.collect" and shown["status"] == "success"
    assert recorded["api_calls"] == 1 and isinstance(recorded["api_calls"], int)
    assert recorded["metrics_requested"] == 24
    seeded = made.expected(["Average", "Maximum"], [])
    collected = {k: v for k, v in seeded.items() if k[0] in made.rds}
    assert recorded["datapoints"] == len(collected) == 2 * 6 * 3 * 2  # Average and Maximum
    assert recorded["estimated_cost_usd"] == pytest.approx(24 * 0.01 / 1000)
    with connect(db_url) as conn:
        count = conn.execute("SELECT count(*) FROM metrics.datapoints").fetchone()
    assert count == (len(collected),)
    again = locxia("observe", "collect", "--policy", "rds-default", env=env)
    assert again.returncode == 0, again.stderr
    assert "Collection (run" in again.stdout and "metrics_requested" in again.stdout

    listed = json.loads(locxia("observe", "resources", "--all", "--json", env=env).stdout)
    assert {(r["resource_id"], r["tagged"]) for r in listed} == {
        ("db-a", True),
        ("db-b", True),
        ("locxia-loose", False),
    }


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("observe", "collect", "--policy", "nope"), 1, "--policy 'nope': no enabled policy"),
        (("observe", "streams"), 1, "LOCXIA_METRIC_STREAMS_URI is not set"),
        (("observe", "collect", "--since", "yesterday"), 2, "--since 'yesterday': expected"),
        (("observe", "collect", "--since", "2999-01-01"), 2, "is not in the past"),
        (("observe", "resources", "--type", "vm"), 2, "--type 'vm': expected one of"),
        (("observe", "costs", "--estimate-only", "--days", "3"), 2, "cannot go with"),
        (("observe", "costs", "--days", "0"), 2, "--days"),
        (("observe", "frobnicate"), 2, "No such command"),
    ],
    ids=[
        "unknown-policy",
        "no-streams",
        "bad-since",
        "future-since",
        "bad-type",
        "flag-clash",
        "out-of-range",
        "unknown-command",
    ],
)
def test_bad_input_is_reported_once_and_records_nothing(
    locxia: Run, db_url: str, args: tuple[str, ...], code: int, fragment: str
) -> None:
    """A failure (1) is one red line; a usage error (2) is Click's usage message."""
    out = locxia(*args)
    assert out.returncode == code, out.stderr
    assert fragment in out.stderr and "Traceback" not in out.stderr
    if code == 1:
        assert out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1
    else:
        assert out.stderr.startswith("Usage: locxia observe")
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)


def test_missing_credentials_and_unreachable_pricing_are_one_line(
    locxia: Run, moto_endpoint: str
) -> None:
    no_creds = {
        "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    out = locxia("observe", "discover", env=no_creds)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1
    assert "no AWS credentials for resourcegroupstaggingapi:GetResources" in out.stderr

    # Nothing listens on port 9 (the gap server in front of moto answers the Price List API).
    refresh = locxia(
        "observe", "prices", "--refresh", env={"LOCXIA_AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    )
    assert refresh.returncode == 1
    assert len(refresh.stderr.strip().splitlines()) == 1
    assert "the AWS Price List API is not reachable" in refresh.stderr


def test_the_commands_that_need_no_aws_show_their_tables(locxia: Run, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('all', 'total', 50)"
        )
        conn.execute(
            "SELECT metrics.ensure_datapoint_partitions(now() - interval '200 days',"
            " now() - interval '195 days')"
        )
        conn.commit()
    costs = locxia("observe", "costs", "--estimate-only")
    assert costs.returncode == 0, costs.stderr
    assert "Budgets this month" in costs.stdout and "all" in costs.stdout
    budgets = json.loads(locxia("observe", "budgets", "--json").stdout)
    assert [(b["budget"], b["status"]) for b in budgets] == [("all", "ok")]
    recommend = locxia("observe", "recommend")
    assert recommend.returncode == 0 and "Recommendations" in recommend.stdout
    prices = json.loads(locxia("observe", "prices", "--json").stdout)
    assert any(p["service"] == "rds" and p["item"] == "db.t4g.micro" for p in prices)
    dry = locxia("observe", "prune", "--dry-run")
    assert dry.returncode == 0 and "would drop 6 partition(s)" in dry.stdout
    with connect(db_url) as conn:
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'metrics.datapoints'::regclass"
        ).fetchone()
    assert parts == (6,)  # the dry run dropped nothing
    done = json.loads(locxia("observe", "prune", "--json").stdout)
    assert len(done["dropped"]) == 6


def test_a_thousand_untagged_volumes_make_one_warning_line_and_stay_in_the_run(
    locxia: Run, moto_endpoint: str
) -> None:
    from tests.support.observe_load import create_servers

    create_servers(moto_endpoint, 1000)  # root volumes without tags: 1,000 look-alikes
    found = locxia("observe", "discover", env={"LOCXIA_AWS_ENDPOINT_URL": moto_endpoint})
    assert found.returncode == 0, found.stderr
    warnings = [line for line in found.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, warnings[:5]
    summary, pointer = warnings
    assert summary.startswith(
        "warning: 1,000 untagged look-alike ec2:volumes: attached to a tagged instance (vol-"
    )
    assert summary.endswith(" and 997 more)")
    run_id = pointer.rsplit(" ", 1)[1]
    assert pointer == f"warning: every look-alike: locxia runs show {run_id}"
    assert "0 retried attempt(s)" in found.stdout
    shown = json.loads(locxia("runs", "show", run_id).stdout)
    listed = shown["details"]["untagged_lookalikes"]
    assert len(listed) == 1000 and {item["type"] for item in listed} == {"ec2:volume"}


def test_collect_shows_the_retried_attempts_beside_the_calls(
    locxia: Run, moto_endpoint: str
) -> None:
    from tests.support.faultproxy import Faults, Rule, fault_proxy

    _small_fleet(moto_endpoint)
    assert (
        locxia("observe", "discover", env={"LOCXIA_AWS_ENDPOINT_URL": moto_endpoint}).returncode
        == 0
    )
    faults = Faults([Rule("throttle", share=1.0, operation="GetMetricData", limit=2)])
    with fault_proxy(moto_endpoint, faults) as url:
        ran = locxia(
            "observe", "collect", "-p", "rds-default", env={"LOCXIA_AWS_ENDPOINT_URL": url}
        )
    assert ran.returncode == 0, ran.stderr
    assert faults.injected["throttle"] == 2
    header = next(line for line in ran.stdout.splitlines() if "api_calls" in line)
    values = next(line for line in ran.stdout.splitlines() if line.startswith("│"))
    shown = dict(zip(header.strip("┃ ").split("┃"), values.strip("│ ").split("│"), strict=True))
    shown = {k.strip(): v.strip() for k, v in shown.items()}
    assert shown["api_calls"] == "1" and shown["aws_retries"] == "2"
