"""Adoption pieces on their own: the force-new list, the stand-in's reading, create-existing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.demo.standin import STANDIN_MODULE
from infra.settings import Settings
from pipelines.shape import forcenew, tfvars
from pipelines.shape import guardrails as g
from pipelines.shape.adopt import Adoption, instances_in_state
from pipelines.shape.model import Desired, InstanceSpec
from pipelines.shape.plan import parse
from pipelines.shape.standin import STANDIN

_BLOCK = re.compile(r"^\s*forcenew = \{\n(.*?)^\s*\}", re.M | re.S)
_KEY = re.compile(r'^\s*"?([a-z0-9_.]+)"?\s*=', re.M)


def _hcl_keys(path: Path) -> list[str]:
    match = _BLOCK.search(path.read_text())
    assert match, f"no forcenew map in {path}"
    return _KEY.findall(match.group(1))


@pytest.mark.parametrize(("kind", "keys"), [("rds", forcenew.RDS), ("ec2", forcenew.EC2)])
def test_standin_triggers_are_exactly_the_providers_forcenew_attributes(
    kind: str, keys: tuple[str, ...]
) -> None:
    assert _hcl_keys(STANDIN_MODULE / kind / "main.tf") == list(keys)
    assert len(set(keys)) == len(keys) and list(keys) == sorted(keys)


def test_the_comparison_catches_a_missing_attribute(tmp_path: Path) -> None:
    text = (STANDIN_MODULE / "rds" / "main.tf").read_text().replace("    username  ", "    # ")
    (tmp_path / "main.tf").write_text(text.replace("username                    = local", "#"))
    assert "username" not in _hcl_keys(tmp_path / "main.tf")


def _change(before: Any, after: Any, **change: Any) -> Any:
    return parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": 'module.rds["work-db"].terraform_data.this',
                    "module_address": 'module.rds["work-db"]',
                    "type": "terraform_data",
                    "name": "this",
                    "change": {
                        "actions": ["delete", "create"],
                        "before": before,
                        "after": after,
                        **change,
                    },  # fmt: skip
                }
            ],
        }
    ).changes[0]


def test_standin_replace_paths_read_as_the_providers_attributes() -> None:
    before = {"input": {}, "triggers_replace": {"engine": "postgres", "username": "a"}}
    after = {"input": {}, "triggers_replace": {"engine": "mysql", "username": "a"}}
    assert _change(before, after, replace_paths=[["triggers_replace"]]).replace_paths == (
        ("engine",),
    )
    adopted = _change({"input": {}, "triggers_replace": None},
                      {"input": {}, "triggers_replace": {"root_block_device.encrypted": True}},
                      replace_paths=[["triggers_replace"]])  # fmt: skip
    assert adopted.replace_paths == (("root_block_device", 0, "encrypted"),)
    named = _change(before, after, replace_paths=[["triggers_replace", "engine"]])
    assert named.replace_paths == (("engine",),)


def test_an_imported_standin_reads_the_attributes_its_import_id_carries() -> None:
    found = {"identifier": "work-db", "instance_class": "db.t4g.large", "allocated_storage": 100}
    change = _change(
        {"id": json.dumps(found), "input": None, "triggers_replace": None},
        {"input": {**found, "instance_class": "db.r6g.large"}},
        importing={"id": json.dumps(found)},
    )
    assert change.importing is not None
    assert change.attributes("before") == found
    assert STANDIN.attributes({"id": "f82a6872-9ee9", "input": None}) == {}


def test_create_existing_refuses_a_create_of_a_name_aws_has() -> None:
    plan = parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": 'module.ec2["vm"].aws_instance.this',
                    "module_address": 'module.ec2["vm"]',
                    "type": "aws_instance",
                    "name": "this",
                    "change": {"actions": ["create"], "before": None, "after": {}},
                }
            ],
        }
    )
    found = g.create_existing(plan, {"vm": "2 live EC2 instances are named vm (i-1, i-2)"})
    assert [(f.rule, f.level, f.instance) for f in found] == [("create-existing", "refuse", "vm")]
    assert g.decide(found, True) == "rejected"
    assert g.create_existing(plan, {}) == []
    assert g.create_existing(plan, {"other": "x"}) == []


def test_instances_in_state() -> None:
    listed = [
        'module.rds["work-db"].aws_db_instance.this',
        'module.ec2["vm"].terraform_data.modify',
        'module.ec2["web"].terraform_data.this',
    ]
    assert instances_in_state(listed) == {"work-db", "web"}


def test_tfvars_import_until_imported_and_keep_what_was_found() -> None:
    spec = InstanceSpec.parse(
        {
            "name": "work-db",
            "kind": "rds",
            "instance_class": "db.t4g.large",
            "storage_gb": 100,
            "engine": "postgres",
            "engine_version": "16",
        }  # fmt: skip
    )
    want = [Desired(spec, "present", spec.instance_class)]
    pending = Adoption("work-db", "rds", "work-db", {"username": "handmade"})
    doc = tfvars.render(want, Settings(), {"work-db": pending})
    assert doc["imports"] == {"rds": {"work-db": "work-db"}, "ec2": {}}
    assert json.loads(doc["instances"]["work-db"]["adopted"]["found"]) == {"username": "handmade"}
    done = Adoption("work-db", "rds", "work-db", {"username": "handmade"}, imported=True)
    after = tfvars.render(want, Settings(), {"work-db": done})
    assert after["imports"] == {"rds": {}, "ec2": {}}
    assert after["instances"] == doc["instances"]
    assert tfvars.render(want, Settings())["imports"] == {"rds": {}, "ec2": {}}
