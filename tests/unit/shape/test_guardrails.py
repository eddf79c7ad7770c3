"""Each guardrail on its own, on plans shaped like Terraform's JSON output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from infra.prices import Price, PriceCatalog
from pipelines.shape import guardrails as g
from pipelines.shape.cost import preview
from pipelines.shape.model import Desired, InstanceSpec
from pipelines.shape.plan import parse


def _rds(cls: str = "db.t4g.large", gb: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "identifier": "work-db",
        "instance_class": cls,
        "allocated_storage": gb,
        "storage_type": "gp3",
        "engine": "postgres",
        "multi_az": False,
        "deletion_protection": False,
        "skip_final_snapshot": False,
        "final_snapshot_identifier": "work-db-final",
        **extra,
    }


def _plan(
    actions: list[str],
    before: Any,
    after: Any,
    *,
    kind: str = "rds",
    name: str = "work-db",
    rtype: str = "aws_db_instance",
    **change: Any,
) -> Any:
    return parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": f'module.{kind}["{name}"].{rtype}.this',
                    "module_address": f'module.{kind}["{name}"]',
                    "type": rtype,
                    "name": "this",
                    "change": {"actions": actions, "before": before, "after": after, **change},
                }
            ],
        }
    )


def _desired(
    state: str = "present", protected: bool = False, name: str = "work-db"
) -> dict[str, Desired]:
    spec = InstanceSpec.parse(
        {
            "name": name,
            "kind": "rds",
            "instance_class": "db.t4g.large",
            "storage_gb": 100,
            "engine": "postgres",
            "engine_version": "16",
            "state": "present" if state == "absent" and protected else state,
            "protected": protected,
        }
    )
    return {name: Desired(spec, state, spec.instance_class)}  # type: ignore[arg-type]


def _rules(plan: Any, desired: Any) -> list[tuple[str, str]]:
    return [(f.rule, f.level) for f in g.check_changes(plan, desired)]


def test_delete_of_an_instance_not_wanted_absent_is_refused() -> None:
    plan = _plan(["delete"], _rds(), None)
    assert _rules(plan, _desired("present")) == [("delete-not-wanted", "refuse")]
    assert _rules(plan, {}) == [("delete-not-wanted", "refuse")]  # row deleted


def test_delete_of_an_instance_wanted_absent_passes() -> None:
    assert _rules(_plan(["delete"], _rds(), None), _desired("absent")) == []


def test_protected_instance_is_never_deleted_or_replaced() -> None:
    by_state = _plan(["delete"], _rds(deletion_protection=True), None)
    assert ("protected", "refuse") in _rules(by_state, _desired("absent"))
    by_row = _plan(["delete", "create"], _rds(), _rds(engine="postgres"))
    assert ("protected", "refuse") in _rules(by_row, _desired("present", protected=True))


@pytest.mark.parametrize(
    "before",
    [_rds(skip_final_snapshot=True), _rds(final_snapshot_identifier=None)],
    ids=["skip-final-snapshot", "no-identifier"],
)
def test_rds_delete_without_final_snapshot_is_refused(before: dict[str, Any]) -> None:
    assert ("final-snapshot", "refuse") in _rules(
        _plan(["delete"], before, None), _desired("absent")
    )


@pytest.mark.parametrize(
    ("kind", "rtype", "before", "after"),
    [
        ("rds", "aws_db_instance", _rds(gb=100), _rds(gb=80)),
        (
            "ec2",
            "aws_instance",
            {"instance_type": "m6i.large", "root_block_device": [{"volume_size": 50}]},
            {"instance_type": "m6i.large", "root_block_device": [{"volume_size": 40}]},
        ),
        ("rds", "terraform_data", {"input": _rds(gb=100)}, {"input": _rds(gb=90)}),
    ],
    ids=["rds", "ec2-root-volume", "standin"],
)
def test_storage_shrink_is_refused(kind: str, rtype: str, before: Any, after: Any) -> None:
    plan = _plan(["update"], before, after, kind=kind, rtype=rtype)
    assert _rules(plan, _desired()) == [("storage-shrink", "refuse")]


def test_storage_growth_passes() -> None:
    assert _rules(_plan(["update"], _rds(gb=100), _rds(gb=200)), _desired()) == []


def _ec2(**root: Any) -> dict[str, Any]:
    return {
        "instance_type": "m6i.large",
        "ami": "ami-0123456789abcdef0",
        "subnet_id": "subnet-0a",
        "root_block_device": [{"volume_size": 50, "volume_type": "gp3", **root}],
    }


# Attributes the AWS provider marks ForceNew, as a real plan's replace_paths name them
# (hashicorp/terraform-provider-aws internal/service/rds/instance.go and
# internal/service/ec2/ec2_instance.go: ForceNew: true).
RDS_FORCE_NEW = [
    ["engine"],
    ["storage_encrypted"],
    ["kms_key_id"],
    ["username"],
    ["db_subnet_group_name"],
    ["availability_zone"],
    ["identifier"],
    ["snapshot_identifier"],
    ["character_set_name"],
    ["timezone"],
]
EC2_FORCE_NEW = [
    ["ami"],
    ["subnet_id"],
    ["availability_zone"],
    ["key_name"],
    ["private_ip"],
    ["root_block_device", 0, "encrypted"],
    ["root_block_device", 0, "kms_key_id"],
    ["tenancy"],
]


@pytest.mark.parametrize(
    "order", [["delete", "create"], ["create", "delete"]], ids=["delete-first", "create-first"]
)
@pytest.mark.parametrize("path", RDS_FORCE_NEW, ids=lambda p: ".".join(map(str, p)))
def test_rds_replacement_is_refused_naming_the_attribute(order: list[str], path: list[Any]) -> None:
    plan = _plan(order, _rds(), _rds(), replace_paths=[path])
    findings = g.check_changes(plan, _desired())
    assert [(f.rule, f.level) for f in findings] == [("data-replacement", "refuse")]
    message = findings[0].message
    assert f"because {'.'.join(map(str, path))} changed" in message
    assert "\n" not in message and "locxia infra rebuild" in message
    assert g.decide(findings, True) == "rejected"


@pytest.mark.parametrize("path", EC2_FORCE_NEW, ids=lambda p: ".".join(map(str, p)))
def test_ec2_replacement_deleting_its_root_volume_is_refused(path: list[Any]) -> None:
    for root in ({}, {"delete_on_termination": True}):  # the provider's default is true
        plan = _plan(
            ["delete", "create"], _ec2(**root), _ec2(), kind="ec2", rtype="aws_instance",
            replace_paths=[path],
        )  # fmt: skip
        findings = g.check_changes(plan, _desired())
        assert [(f.rule, f.level) for f in findings] == [("data-replacement", "refuse")]
        assert f"because {'.'.join(map(str, path))} changed" in findings[0].message


def test_ec2_replacement_keeping_its_volumes_needs_approval() -> None:
    plan = _plan(
        ["delete", "create"], _ec2(delete_on_termination=False), _ec2(), kind="ec2",
        rtype="aws_instance", replace_paths=[["ami"]],
    )  # fmt: skip
    findings = g.check_changes(plan, _desired())
    assert [(f.rule, f.level) for f in findings] == [("replacement", "approve")]
    assert "because of: ami" in findings[0].message


def test_standin_replacement_names_the_trigger_that_changed() -> None:
    before = {"input": _rds(), "triggers_replace": {"identifier": "work-db", "engine": "postgres"}}
    after = {"input": _rds(), "triggers_replace": {"identifier": "work-db", "engine": "mysql"}}
    for paths in ([["triggers_replace"]], [["triggers_replace", "engine"]]):
        plan = _plan(
            ["delete", "create"], before, after, rtype="terraform_data", replace_paths=paths
        )
        findings = g.check_changes(plan, _desired())
        assert [(f.rule, f.level) for f in findings] == [("data-replacement", "refuse")]
        assert "because engine changed" in findings[0].message


def _outside(rtype: str, actions: list[str], **change: Any) -> Any:
    return parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": f"{rtype}.zone",
                    "type": rtype,
                    "name": "zone",
                    "change": {"actions": actions, "before": {}, "after": {}, **change},
                }
            ],
        }
    )


@pytest.mark.parametrize(
    "rtype",
    ["aws_s3_bucket", "aws_ebs_volume", "aws_efs_file_system", "aws_dynamodb_table",
     "aws_rds_cluster", "aws_db_instance"],
)  # fmt: skip
def test_data_bearing_replacement_anywhere_in_the_plan_is_refused(rtype: str) -> None:
    plan = _outside(rtype, ["delete", "create"], replace_paths=[["name"]])
    findings = g.check_changes(plan, {})
    assert [(f.rule, f.level, f.address) for f in findings] == [
        ("data-replacement", "refuse", f"{rtype}.zone")
    ]
    assert "because name changed" in findings[0].message


def test_other_resources_outside_instances_are_not_judged() -> None:
    assert g.check_changes(_outside("aws_security_group", ["delete", "create"]), {}) == []
    assert g.check_changes(_outside("aws_s3_bucket", ["update"]), {}) == []


def test_an_approved_rebuild_lets_exactly_that_instance_be_replaced() -> None:
    plan = _plan(["delete", "create"], _rds(), _rds(), replace_paths=[["snapshot_identifier"]])
    assert g.check_changes(plan, _desired(), rebuilds={"work-db"}) == []
    assert _rules(plan, _desired()) == [("data-replacement", "refuse")]
    other = _plan(["delete", "create"], _rds(), _rds(), name="other-db", replace_paths=[["engine"]])
    assert _rules(other, _desired(name="other-db")) == [("data-replacement", "refuse")]
    assert [
        (f.rule, f.level) for f in g.check_changes(other, _desired(name="other-db"), {"work-db"})
    ] == [("data-replacement", "refuse")]
    protected = g.check_changes(plan, _desired(protected=True), rebuilds={"work-db"})
    assert [(f.rule, f.level) for f in protected] == [("protected", "refuse")]


def test_companion_resources_are_not_instances() -> None:
    plan = parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": 'module.rds["work-db"].terraform_data.modify',
                    "module_address": 'module.rds["work-db"]',
                    "type": "terraform_data",
                    "name": "modify",
                    "change": {"actions": ["delete", "create"], "before": {}, "after": {}},
                }
            ],
        }
    )
    assert g.check_changes(plan, _desired()) == []
    assert plan.instances_changed() == {"work-db"}


def test_too_many_changes_needs_approval() -> None:
    changes = [
        {
            "address": f'module.ec2["vm-{i}"].aws_instance.this',
            "module_address": f'module.ec2["vm-{i}"]',
            "type": "aws_instance",
            "name": "this",
            "change": {"actions": ["create"], "before": None, "after": {}},
        }
        for i in range(4)
    ]
    plan = parse({"format_version": "1.2", "resource_changes": changes})
    policy = g.Policy(max_changes=3, auto_apply_usd=Decimal(100))
    finding = g.too_many_changes(plan, policy)
    assert finding is not None and finding.level == "approve" and "4 instances" in finding.message
    assert g.too_many_changes(plan, g.Policy(4, Decimal(100))) is None


def _worker_delete(i: int, purpose: str = "dask-worker") -> list[dict[str, Any]]:
    """A Dask worker's instance and its power state, both deleted (its window is over)."""
    before = {"instance_type": "m6i.large", "tags": {"locxia:purpose": purpose}}
    return [
        {
            "address": f'module.ec2["cap1-w{i}"].aws_instance.this',
            "module_address": f'module.ec2["cap1-w{i}"]',
            "type": "aws_instance",
            "name": "this",
            "change": {"actions": ["delete"], "before": before, "after": None},
        },
        {
            "address": f'module.ec2["cap1-w{i}"].aws_ec2_instance_state.power',
            "module_address": f'module.ec2["cap1-w{i}"]',
            "type": "aws_ec2_instance_state",
            "name": "power",
            "change": {"actions": ["delete"], "before": {"state": "running"}, "after": None},
        },
    ]


def test_workers_given_back_do_not_count_towards_the_change_limit() -> None:
    """Eight workers removed at the end of a window apply at once; eight general VMs wait."""
    policy = g.Policy(max_changes=5, auto_apply_usd=Decimal(100))
    workers = parse(
        {
            "format_version": "1.2",
            "resource_changes": [c for i in range(8) for c in _worker_delete(i)],
        }
    )
    assert len(g.retiring_workers(workers)) == 8
    assert g.too_many_changes(workers, policy) is None
    general = parse(
        {
            "format_version": "1.2",
            "resource_changes": [c for i in range(8) for c in _worker_delete(i, "general")],
        }
    )
    assert g.retiring_workers(general) == set()
    finding = g.too_many_changes(general, policy)
    assert finding is not None and "8 instances" in finding.message


def _catalog() -> PriceCatalog:
    d = date(2026, 1, 1)
    return PriceCatalog(
        "eu-west-3",
        [
            Price("eu-west-3", "rds", "db.t4g.large", "postgres", "hour", Decimal("0.150"), "t", d),
            Price(
                "eu-west-3", "rds", "db.r6g.2xlarge", "postgres", "hour", Decimal("1.052"), "t", d
            ),
            Price(
                "eu-west-3", "rds-storage", "gp3", "postgres", "gb-month", Decimal("0.133"), "t", d
            ),
        ],
    )


def test_cost_preview_and_cost_guardrail() -> None:
    plan = _plan(["update"], _rds("db.t4g.large"), _rds("db.r6g.2xlarge"))
    cost = preview(plan, _catalog(), {}, {})
    assert cost.monthly_before == Decimal("109.50") + Decimal("13.30")
    assert cost.monthly_after == Decimal("767.96") + Decimal("13.30")
    assert cost.delta == Decimal("658.46")
    assert g.cost_increase(cost, g.Policy(5, Decimal(1000))) is None
    finding = g.cost_increase(cost, g.Policy(5, Decimal(500)))
    assert finding is not None and finding.level == "approve" and "658.46" in finding.message


def test_stopped_instances_pay_storage_only() -> None:
    plan = _plan(["no-op"], _rds(), _rds())
    cost = preview(plan, _catalog(), {"work-db": "present"}, {"work-db": "stopped"})
    assert cost.changes[0].action == "power"
    assert cost.monthly_after == Decimal("13.30")


@pytest.mark.parametrize(
    ("levels", "changes", "decision"),
    [
        ((), False, "no_changes"),
        ((), True, "auto_apply"),
        (("approve",), True, "needs_approval"),
        (("approve", "refuse"), True, "rejected"),
    ],
    ids=["nothing", "auto", "approval", "refusal-wins"],
)
def test_decision(levels: tuple[str, ...], changes: bool, decision: str) -> None:
    findings = [g.Finding("r", level, "m") for level in levels]  # type: ignore[arg-type]
    assert g.decide(findings, changes) == decision


def test_unsupported_plan_format_is_an_error() -> None:
    from infra.errors import TerraformError

    with pytest.raises(TerraformError, match="format_version"):
        parse({"format_version": "2.0"})


def test_refusal_names_the_refused_addresses_and_why() -> None:
    findings = [
        g.Finding("storage-shrink", "refuse", "work-db storage would shrink", "work-db", "a.this"),
        g.Finding("cost", "approve", "monthly cost would rise"),
        g.Finding("protected", "refuse", "vm-1 is protected", "vm-1"),
    ]
    error = g.refusal(findings, run_id=7)
    assert error is not None
    assert error.addresses == ["a.this", "vm-1"]
    assert error.reason == "work-db storage would shrink; vm-1 is protected"
    assert error.run_id == 7
    assert str(error).startswith("plan of terraform run 7 rejected: work-db storage")


def test_no_refusal_without_a_refusing_finding() -> None:
    assert g.refusal([g.Finding("cost", "approve", "m")]) is None


def test_findings_read_back_from_their_json() -> None:
    finding = g.Finding("final-snapshot", "refuse", "m", "work-db", "a.this")
    assert g.Finding.from_json(finding.as_json()) == finding


def _perf_catalog() -> PriceCatalog:
    d = date(2026, 1, 1)
    rows = [
        ("rds", "db.t4g.large", "postgres", "hour", "0.150"),
        ("rds-storage", "io1", "postgres", "gb-month", "0.145"),
        ("rds-iops", "io1", "postgres", "iops-month", "0.116"),
        ("rds-storage", "gp3", "postgres", "gb-month", "0.133"),
        ("rds-iops", "gp3", "postgres", "iops-month", "0.023"),
        ("rds-throughput", "gp3", "postgres", "mibps-month", "0.093"),
        ("ec2", "m6i.large", "linux", "hour", "0.112"),
        ("ebs", "gp3", "", "gb-month", "0.0928"),
        ("ebs-iops", "gp3", "", "iops-month", "0.0058"),
        ("ebs-throughput", "gp3", "", "mibps-month", "0.0464"),
    ]
    return PriceCatalog(
        "eu-west-3", [Price("eu-west-3", *r[:4], Decimal(r[4]), "t", d) for r in rows]
    )


def test_provisioned_iops_and_throughput_are_priced() -> None:
    io1 = _plan(
        ["update"],
        _rds(storage_type="io1", iops=1000),
        _rds(storage_type="io1", iops=3000),
    )
    cost = preview(io1, _perf_catalog(), {}, {})
    # 100 GB × 0.145 + IOPS × 0.116 (every provisioned IOPS of io1 is billed)
    assert cost.monthly_before == Decimal("109.50") + Decimal("14.50") + Decimal("116.00")
    assert cost.delta == Decimal("232.00")
    gp3 = _plan(
        ["update"],
        _rds(gb=400),
        _rds(gb=400, iops=20000, storage_throughput=1000),
    )
    # gp3 from 400 GiB: 8,000 IOPS above the 12,000 baseline, 500 MiBps above 500
    assert preview(gp3, _perf_catalog(), {}, {}).delta == Decimal("184.00") + Decimal("46.50")
    vm = _plan(
        ["update"],
        {"instance_type": "m6i.large", "root_block_device": [{"volume_size": 50}]},
        {
            "instance_type": "m6i.large",
            "root_block_device": [{"volume_size": 50, "iops": 6000, "throughput": 250}],
        },
        kind="ec2",
        rtype="aws_instance",
    )
    # EBS gp3: 3,000 IOPS above the 3,000 baseline, 125 MiBps above 125
    assert preview(vm, _perf_catalog(), {}, {}).delta == Decimal("17.40") + Decimal("5.80")
