"""The demo's shape and feed steps against a moto server, the Terraform core and PostgreSQL:
the estate adopted without a duplicate, the class bump applied to the real (moto) instance,
the sample layer fed through the S3 zone buckets into PostGIS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.standin import demo_settings, standin_terraform
from infra.demo.tasks import plugin
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.feed import partset

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(aws_settings: Settings, moto_endpoint: str, tmp_path: Path) -> Iterator[Runner]:
    with standin_terraform(tmp_path / "terraform", moto_endpoint) as workdir:
        settings = demo_settings(
            aws_settings, aws_settings.require_database_url(), moto_endpoint, workdir
        ).model_copy(update={"demo_dir": tmp_path})
        runner = Runner(settings, Registry.from_entry_points(extra=[plugin]))
        try:
            yield runner
        finally:
            runner.close()


def _run(runner: Runner, task: str, **args: Any) -> dict[str, Any]:
    result = runner.run(task, args)
    assert result.status == "success", result.error
    return dict(result.details)


def _rds(settings: Settings) -> dict[str, tuple[str, bool]]:
    rds = AwsClients(settings).client("rds")
    return {
        d["DBInstanceIdentifier"]: (d["DBInstanceClass"], d["DeletionProtection"])
        for d in rds.describe_db_instances()["DBInstances"]
    }


def test_the_estate_is_adopted_then_bumped(demo: Runner) -> None:
    settings = demo.settings
    _run(demo, "demo.estate")
    rows = _run(demo, "demo.params")
    assert rows["instances"] == {"created": 5, "updated": 0, "unchanged": 0}
    before = _rds(settings)

    adopt = _run(demo, "shape.reconcile", force=True, requested_by="locxia-demo")
    assert (adopt["status"], adopt["decision"]) == ("applied", "auto_apply"), adopt
    assert [c["importing"] for c in adopt["changes"]] == [True] * 5  # nothing to approve
    assert not [c for c in adopt["changes"] if c["action"] in ("create", "replace", "delete")]
    with connect(settings.require_database_url()) as conn:
        row = conn.execute(
            "SELECT plan_summary FROM ops.terraform_runs WHERE id = %s", (adopt["terraform_run"],)
        ).fetchone()
    assert row is not None
    assert (row[0]["import"], row[0]["create"], row[0]["replace"]) == (5, 0, 0)
    assert _run(demo, "demo.approve")["approved"] is None
    assert _rds(settings) == before, "adoption must neither duplicate nor change an instance"
    ec2 = AwsClients(settings).client("ec2")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(instances) == 3  # two adopted, one neighbour: nothing created
    tiles = next(
        i["InstanceId"]
        for i in instances
        if {"Key": "Name", "Value": "tiles-server"} in i.get("Tags", [])
    )
    protection = ec2.describe_instance_attribute(
        InstanceId=tiles, Attribute="disableApiTermination"
    )
    assert protection["DisableApiTermination"]["Value"] is True

    bump = _run(demo, "demo.bump")
    assert (bump["from"], bump["to"]) == ("db.r6g.large", "db.r6g.xlarge")
    # a class change causes downtime: outside a maintenance window it waits for an approval
    held = _run(demo, "shape.reconcile", force=True, requested_by="locxia-demo")
    assert (held["status"], held["decision"]) == ("held", "needs_approval")
    assert [r["rule"] for r in held["reasons"]] == ["downtime"]
    updates = [c for c in held["changes"] if c["action"] == "update"]
    assert [c["instance"] for c in updates] == ["work-db"]
    assert float(held["monthly_after"]) > float(held["monthly_before"])
    applied = _run(demo, "demo.approve")
    assert (applied["approved"], applied["status"]) == (held["terraform_run"], "applied")
    assert _rds(settings)["work-db"] == ("db.r6g.xlarge", True)

    again = _run(demo, "demo.params")  # the next demo puts the built class back first
    assert again["instances"] == {"created": 0, "updated": 1, "unchanged": 4}
    with connect(settings.require_database_url()) as conn:
        history = conn.execute(
            "SELECT op, changed_by, new_row ->> 'instance_class' FROM params.history"
            " WHERE table_name = 'instances' AND row_key = 'work-db' ORDER BY id"
        ).fetchall()
    assert history == [
        ("INSERT", "locxia-demo", "db.r6g.large"),
        ("UPDATE", "locxia-demo", "db.r6g.xlarge"),
        ("UPDATE", "locxia-demo", "db.r6g.large"),
    ]


def test_the_sample_layer_is_fed_through_the_zone_buckets(demo: Runner) -> None:
    settings = demo.settings
    assert settings.landing_uri == "s3://locxia-demo-landing/layers"
    _run(demo, "demo.estate")
    sample = _run(demo, "demo.layer")
    assert (sample["features"], sample["invalid"], sample["null"]) == (3000, 30, 4)
    landed = _run(demo, "layers.ingest", dataset="swimming_pools")
    refined = _run(demo, "layers.refine", dataset="swimming_pools")
    published = _run(demo, "layers.publish", dataset="swimming_pools")
    assert landed["uri"].startswith("s3://locxia-demo-landing/layers/swimming_pools/")
    assert refined["uri"].startswith("s3://locxia-demo-working/layers/swimming_pools/")
    quality = refined["quality"]
    assert quality["passed"] and (quality["rows_in"], quality["rows_out"]) == (3000, 2996)
    assert (quality["geometry"]["repaired"], quality["geometry"]["null"]) == (30, 4)
    # the demo's own Dask thresholds: the sample is partitioned work on the embedded cluster
    assert (quality["engine"], quality["partitions"], quality["workers"]) == ("dask", 3, 2)
    assert published["rows"] == refined["rows"] == 2996
    s3 = AwsClients(settings).client("s3", role="feed")
    landing_key = landed["uri"].split("s3://locxia-demo-landing/", 1)[1]
    assert s3.head_object(Bucket="locxia-demo-landing", Key=landing_key)["ContentLength"] > 0
    # the working version is a prefix of parts and its manifest; publish loaded every part
    prefix = refined["uri"].split("s3://locxia-demo-working/", 1)[1]
    assert prefix.endswith("/swimming_pools.parts/")
    listed = s3.list_objects_v2(Bucket="locxia-demo-working", Prefix=prefix)["Contents"]
    keys = {o["Key"].removeprefix(prefix) for o in listed}
    assert partset.MANIFEST in keys
    assert published["parts"] == len(keys - {partset.MANIFEST}) >= quality["partitions"]
    with connect(settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE ST_IsValid(geom)), count(DISTINCT pool_id)"
            " FROM exposure.swimming_pools"
        ).fetchone()
        declared = conn.execute(
            "SELECT source LIKE 'file://%%', rules ->> 'id_column' FROM params.datasets"
            " WHERE name = 'swimming_pools'"
        ).fetchone()
        ledger = conn.execute("SELECT count(*) FROM ops.publish_parts").fetchone()
    assert rows == (2996, 2996, 2996)
    assert declared == (True, "pool_id")
    assert ledger == (0,)  # the parts' ledger is forgotten once the version is live


def test_the_demo_stops_at_the_first_failing_step(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming the step; the steps after it never run; the stand-in AWS is stopped."""
    import psutil

    from infra.demo import run
    from infra.errors import DemoError

    never = run.Step("never", "demo.layer", lambda d: "must not run")
    broken = run.Step("publish", "layers.publish", lambda d: "", {"dataset": "not_declared"})
    monkeypatch.setattr(run, "STEPS", (run.STEPS[0], broken, never))
    said: list[str] = []
    home = settings.model_copy(update={"demo_dir": tmp_path})
    with pytest.raises(DemoError) as caught:
        run.run_demo(home, seconds=1, say=said.append)
    message = str(caught.value)
    assert message.startswith("demo.publish (layers.publish) failed (run ")
    assert "\n" not in message
    pid = next(int(line.split("pid ")[1].split(")")[0]) for line in said if "moto server" in line)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with connect(settings.require_database_url()) as conn:
        runs = conn.execute(
            "SELECT job_id, status FROM ops.runs WHERE job_id LIKE 'demo.%' ORDER BY id"
        ).fetchall()
    assert runs == [("demo.estate", "success"), ("demo.publish", "failed")]
    assert not (tmp_path / "samples").exists()


def _live_workers(settings: Settings) -> list[str]:
    """Names of the stand-in's EC2 instances of a capacity window that are not terminated."""
    ec2 = AwsClients(settings).client("ec2")
    return [
        tag["Value"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        for tag in i.get("Tags", [])
        if tag["Key"] == "Name" and tag["Value"].startswith("cap")
        if i["State"]["Name"] != "terminated"
    ]


def test_the_refine_runs_inside_a_capacity_window(demo: Runner) -> None:
    """The demo's steps as the demo runs them (job ``demo.<step>``): the declared workers are
    raised through shape before the refine and gone from the stand-in AWS after, priced."""
    import re
    from decimal import Decimal

    from infra.demo import run

    steps = {s.name: s for s in run.STEPS}
    lines: dict[str, str] = {}
    _run(demo, "demo.estate")
    _run(demo, "demo.layer")
    for name in ("capacity", "ingest", "refine"):
        step = steps[name]
        result = demo.run(step.task, step.args, job_id=f"demo.{name}")
        assert result.status == "success", result.error
        lines[name] = step.describe(result.details)
    assert lines["capacity"] == (
        "params.run_capacity[demo.refine]: 2 × m6i.large Dask workers for the sample layer's"
        " refine (declared, audited as locxia-demo)"
    )
    window = re.search(
        r" — capacity window (\d+): 2 × m6i\.large raised \(terraform run (\d+): \+167\.24"
        r" USD/month, applied within policy, \d+\.\d s\); the stand-in workers never boot"
        r" \(no LOCXIA_DASK_SCHEDULER\), so refine ran on the embedded local Dask cluster:"
        r" (\d+) partitions on 2 worker processes; workers removed after \(\d+\.\d s\);"
        r" window cost (0\.\d{4}) USD$",
        lines["refine"],
    )
    assert window, lines["refine"]
    assert int(window[3]) == 3  # 3,000 rows in partitions of 1,000
    assert lines["refine"].startswith("refine: version ")
    assert _live_workers(demo.settings) == []
    url = demo.settings.require_database_url()
    with connect(url) as conn:
        w = conn.execute(
            "SELECT id, state, cost_usd, jsonb_array_length(added), job_id"
            " FROM ops.capacity_windows"
        ).fetchall()
        raised = conn.execute(
            "SELECT status, decision, requested_by FROM ops.terraform_runs WHERE id = %s",
            (int(window[2]),),
        ).fetchone()
        rows = conn.execute(
            "SELECT count(*) FROM params.instances WHERE purpose = 'dask-worker'"
        ).fetchone()
        declared_by = conn.execute(
            "SELECT changed_by FROM params.history WHERE table_name = 'run_capacity'"
        ).fetchall()
    assert len(w) == 1 and w[0][0] == int(window[1])
    assert w[0][1] == "restored" and w[0][3] == 2 and w[0][4] == "demo.refine"
    # at least EC2's 60-second minimum for each of the two m6i.large (0.112 USD/hour)
    assert w[0][2] >= Decimal("0.00373333")
    assert abs(Decimal(window[4]) - w[0][2]) <= Decimal("0.00005")  # the line rounds it
    assert raised == ("applied", "auto_apply", f"capacity-window:{w[0][0]}")
    assert rows == (0,)
    assert declared_by == [("locxia-demo",)]
    again = demo.run("demo.capacity", job_id="demo.capacity")
    assert (
        steps["capacity"]
        .describe(again.details)
        .endswith("(already declared, audited as locxia-demo)")
    )
