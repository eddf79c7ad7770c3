"""Replacement, snapshots and versions through the Terraform core, the stand-in and moto.

A replacement of what holds data is refused (naming the attribute); the one way through is a
rebuild from a named snapshot, requested by one login and approved by another; final snapshot
names never repeat; the engine version AWS runs is read back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.db import connect
from infra.errors import ApprovalRefused, InputError
from infra.settings import Settings
from pipelines.shape import rebuild
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import WORK_DB
from tests.support.logins import as_login

pytestmark = pytest.mark.slow

VM = {"kind": "ec2", "instance_class": "m6i.large", "storage_gb": 50}


def _rows(settings: Settings, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with connect(settings.require_database_url()) as conn:
        return [tuple(r) for r in conn.execute(query, args).fetchall()]


def _refusals(outcome: Any) -> list[tuple[str | None, str]]:
    return [(r["instance"], r["message"]) for r in outcome.reasons if r["level"] == "refuse"]


def test_a_second_deletion_of_the_same_name_takes_a_new_snapshot(
    reconciler: Reconciler, edit: Callable[..., Any], rds_client: Any, shape_settings: Settings
) -> None:
    taken = []
    for _ in range(2):
        edit("work-db", **{**WORK_DB, "state": "present"})
        assert reconciler.run(mode="apply", requested_by="alice").status == "applied"
        edit("work-db", state="absent")
        deleted = reconciler.run(mode="apply", requested_by="alice")
        assert deleted.status == "applied", deleted
        taken += deleted.post_apply["final_snapshots"]
    snaps = rds_client.describe_db_snapshots(DBInstanceIdentifier="work-db")["DBSnapshots"]
    assert sorted(s["DBSnapshotIdentifier"] for s in snaps) == sorted(taken)
    assert len(set(taken)) == 2, taken
    recorded = _rows(
        shape_settings,
        "SELECT snapshot_identifier, deleted_by_run IS NOT NULL FROM ops.final_snapshots"
        " WHERE deleted_at IS NOT NULL ORDER BY deleted_at",
    )
    assert recorded == [(name, True) for name in taken]


def test_one_shared_ami_change_replacing_the_fleet_is_refused(
    reconciler: Reconciler, edit: Callable[..., Any], ec2_client: Any, standin_dir: Path
) -> None:
    edit("vm-a", **VM)
    edit("vm-b", **VM)
    assert reconciler.run(mode="apply", requested_by="alice").status == "applied"
    before = ec2_client.describe_instances()["Reservations"]
    network = standin_dir / "network.auto.tfvars"
    network.write_text(network.read_text().replace("ami-0123456789abcdef0", "ami-0fedcba987654321"))
    refused = reconciler.run(mode="apply", requested_by="alice", force=True)
    assert refused.status == "rejected", refused
    assert sorted(i for i, _ in _refusals(refused)) == ["vm-a", "vm-b"]
    assert all("because ami changed" in m and "\n" not in m for _, m in _refusals(refused))
    assert ec2_client.describe_instances()["Reservations"] == before  # nothing terminated


def test_an_engine_change_is_refused_naming_engine(
    reconciler: Reconciler, edit: Callable[..., Any], rds_client: Any, standin_dir: Path
) -> None:
    edit("work-db", **WORK_DB)
    assert reconciler.run(mode="apply", requested_by="alice").status == "applied"
    # params accept postgres only: the engine changes where the module reads it
    module = standin_dir / "rds" / "main.tf"
    # the force-new map (locals, first) is what the provider compares; the input keeps postgres,
    # which the price catalog knows
    original = module.read_text()
    assert len(re.findall(r"\bengine +\= var\.spec\.engine", original)) == 2
    text = re.sub(r"\bengine( +)= var\.spec\.engine", 'engine = "mysql"', original, count=1)
    module.write_text(text)
    refused = reconciler.run(mode="apply", requested_by="alice", force=True)
    assert refused.status == "rejected", refused
    assert [i for i, _ in _refusals(refused)] == ["work-db"]
    assert "because engine changed" in _refusals(refused)[0][1]
    assert rds_client.describe_db_instances()["DBInstances"][0]["Engine"] == "postgres"


def _request(settings: Settings, who: str, *roles: str, snapshot: str) -> int:
    with as_login(settings.require_database_url(), who, *roles, autocommit=True) as conn:
        return rebuild.request(conn, "work-db", snapshot, f"{who} label").id


def _approve(settings: Settings, request_id: int, who: str, *roles: str) -> str:
    with as_login(settings.require_database_url(), who, *roles, autocommit=True) as conn:
        return rebuild.approve(conn, request_id, who)


def test_a_rebuild_restores_the_named_snapshot_through_its_own_approval(
    reconciler: Reconciler, edit: Callable[..., Any], rds_client: Any, shape_settings: Settings
) -> None:
    # an existing database (made through the API) holding data: its master user shows it
    rds_client.create_db_instance(
        DBInstanceIdentifier="work-db", Engine="postgres", EngineVersion="16.4",
        DBInstanceClass="db.t4g.large", AllocatedStorage=100, MasterUsername="keeper",
        MasterUserPassword="not-a-secret-1", Tags=[{"Key": "project", "Value": "locxia"}],
    )  # fmt: skip
    edit("work-db", **WORK_DB, maintenance_window="wed:10:30-wed:11:30")  # NOON inside
    adopted = reconciler.run(mode="apply", requested_by="alice")
    assert adopted.status == "applied", adopted
    assert adopted.post_apply["engine_versions"] == {"work-db": "16.4"}  # read back
    assert "engine_version" not in {r[0] for r in _drift(shape_settings)}
    # the import leaves the tfvars: planned once more, with nothing to change
    assert reconciler.run(mode="apply", requested_by="alice").status == "no_changes"
    rds_client.create_db_snapshot(DBInstanceIdentifier="work-db", DBSnapshotIdentifier="before")

    with pytest.raises(InputError, match="no DB snapshot 'gone'"):
        rebuild.check_snapshot(rds_client, "gone", "work-db")
    rebuild.check_snapshot(rds_client, "before", "work-db")
    request_id = _request(
        shape_settings, "dave", "locxia_editor", "locxia_approver", snapshot="before"
    )
    # requested, not approved: nothing is rendered, nothing replaced
    assert reconciler.run(mode="apply", requested_by="scheduler").skipped
    with pytest.raises(ApprovalRefused, match="dave requested it and cannot approve it"):
        _approve(shape_settings, request_id, "dave", "locxia_approver")
    with pytest.raises(ApprovalRefused, match="locxia_approver"):
        _approve(shape_settings, request_id, "rebuild-editor", "locxia_editor")
    assert _approve(shape_settings, request_id, "carol", "locxia_approver") == "carol"

    rebuilt = reconciler.run(mode="apply", requested_by="scheduler")
    assert rebuilt.status == "applied", rebuilt
    assert [(c["instance"], c["action"]) for c in rebuilt.changes] == [("work-db", "replace")]
    assert rebuilt.changes[0]["replace_paths"], rebuilt.changes
    assert rebuilt.post_apply["rebuilds_done"] == [request_id]
    db = rds_client.describe_db_instances(DBInstanceIdentifier="work-db")["DBInstances"][0]
    assert db["MasterUsername"] == "keeper"  # restored from the snapshot, not created empty
    old = rebuilt.post_apply["final_snapshots"]
    assert len(old) == 1 and rds_client.describe_db_snapshots(DBSnapshotIdentifier=old[0])
    assert _rows(
        shape_settings,
        "SELECT status, requested_login, approved_login, terraform_run_id FROM"
        " ops.rebuild_requests WHERE id = %s",
        request_id,
    ) == [("done", "dave", "carol", rebuilt.run_id)]

    # only that run: the next one updates the final snapshot name in place, replaces nothing
    after = reconciler.run(mode="apply", requested_by="scheduler")
    assert after.status == "applied", after
    assert [c["action"] for c in after.changes] == ["update"]
    assert reconciler.run(mode="apply", requested_by="scheduler").skipped


def _drift(settings: Settings) -> list[tuple[Any, ...]]:
    return _rows(
        settings,
        "SELECT attribute, expected, actual FROM ops.drift_findings WHERE resolved_at IS NULL",
    )
