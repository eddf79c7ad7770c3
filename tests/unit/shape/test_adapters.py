"""Resource adapters: how a planned resource type reads as an instance's AWS attributes."""

from __future__ import annotations

from typing import Any

from pipelines.shape import ec2, rds
from pipelines.shape.plan import ADAPTERS, AwsResource, adapters, parse
from pipelines.shape.standin import STANDIN


def _doc(rtype: str, after: Any, kind: str = "ec2", name: str = "this") -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": f'module.{kind}["vm-1"].{rtype}.{name}',
                "module_address": f'module.{kind}["vm-1"]',
                "type": rtype,
                "name": name,
                "change": {"actions": ["create"], "before": None, "after": after},
            }
        ],
    }


def test_the_production_types_and_the_standin_are_registered_by_default() -> None:
    assert set(ADAPTERS) == {"aws_db_instance", "aws_instance", "terraform_data"}


def test_aws_attributes_are_read_as_they_are() -> None:
    attrs = {"instance_type": "m6i.large", "root_block_device": [{"volume_size": 50}]}
    change = parse(_doc("aws_instance", attrs)).changes[0]
    assert change.primary and change.attributes("after") == attrs


def test_standin_ec2_reads_like_aws_instance() -> None:
    standin = {
        "input": {
            "instance_type": "m6i.large",
            "root_volume_gb": 50,
            "root_volume_type": "gp2",
            "disable_api_termination": True,
        }
    }
    change = parse(_doc("terraform_data", standin)).changes[0]
    attrs = change.attributes("after") or {}
    assert change.primary
    assert attrs["root_block_device"] == [{"volume_size": 50, "volume_type": "gp2"}]
    assert ec2.sizing(attrs).storage_gb == 50 and ec2.sizing(attrs).storage_type == "gp2"
    assert ec2.is_protected(attrs)


def test_standin_rds_input_already_has_aws_names() -> None:
    standin = {"input": {"instance_class": "db.t4g.large", "allocated_storage": 100}}
    change = parse(_doc("terraform_data", standin, kind="rds")).changes[0]
    assert rds.storage_gb(change.attributes("after") or {}) == 100


def test_standin_without_an_input_object_has_no_attributes() -> None:
    assert STANDIN.attributes({"input": None}) == {}
    assert STANDIN.attributes({"input": {"root_volume_gb": None, "x": 1}}) == {
        "root_volume_gb": None,
        "x": 1,
    }


def test_a_type_without_adapter_is_never_an_instance() -> None:
    doc = _doc("terraform_data", {"input": {"instance_type": "m6i.large"}})
    production_only = adapters(AwsResource("aws_db_instance"), AwsResource("aws_instance"))
    change = parse(doc, production_only).changes[0]
    assert not change.primary
    assert change.attributes("after") == {"input": {"instance_type": "m6i.large"}}


def test_companion_resources_are_not_instances() -> None:
    assert not parse(_doc("aws_instance", {}, name="modify")).changes[0].primary
