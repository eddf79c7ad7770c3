"""Storage types, IOPS and throughput, and major-only engine versions, as rows are parsed."""

from __future__ import annotations

from typing import Any

import pytest

from infra.errors import InputError
from pipelines.shape import storage
from pipelines.shape.model import InstanceSpec
from pipelines.shape.snapshots import final_name, valid_identifier


def _rds(**row: Any) -> dict[str, Any]:
    return {
        "name": "work-db",
        "kind": "rds",
        "instance_class": "db.t4g.large",
        "storage_gb": 100,
        "engine": "postgres",
        "engine_version": "16",
        **row,
    }


def _ec2(**row: Any) -> dict[str, Any]:
    return {"name": "vm-a", "kind": "ec2", "instance_class": "m6i.large", "storage_gb": 50, **row}


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (_rds(storage_type="io1"), "iops", "io1 RDS storage needs iops (1000–256000)"),
        (_rds(storage_type="io2"), "iops", "io2 RDS storage needs iops"),
        (_rds(storage_type="io1", iops=500), "iops", "iops is 1000–256000, not 500"),
        (_rds(storage_type="io1", iops=6000), "iops", "60.00 per GiB (allowed 0.5–50)"),
        (_rds(storage_type="io1", storage_gb=50, iops=1000), "storage_gb", "100–65536 GiB"),
        (_rds(storage_type="gp3", iops=3000), "iops", "fixed 3,000 IOPS baseline"),
        (_rds(storage_type="gp3", throughput=200), "throughput", "fixed 125 MiBps baseline"),
        (_rds(storage_type="gp3", storage_gb=400, iops=5000), "iops", "12000–64000"),
        (
            _rds(storage_type="gp3", storage_gb=400, throughput=4000),
            "throughput",
            "needs at least 16000 IOPS",
        ),
        (_rds(storage_type="gp2", iops=1000), "iops", "gp2 RDS storage takes no iops"),
        (_rds(storage_type="io1", iops=1000, throughput=500), "throughput", "takes no throughput"),
        (_ec2(storage_type="io1"), "iops", "io1 EBS storage needs iops (100–64000)"),
        (_ec2(storage_type="gp3", iops=30000), "iops", "3000–16000"),
        (_ec2(storage_type="gp3", throughput=1200), "throughput", "125–1000 MiBps"),
        (_ec2(storage_type="gp3", storage_gb=8, iops=5000), "iops", "625.00 per GiB"),
        (_ec2(storage_type="gp3", throughput=1000), "throughput", "needs at least 4000 IOPS"),
        (_rds(storage_type="sc1"), "storage_type", "expected one of gp2, gp3, io1, io2"),
        (_rds(storage_type="io1", iops="many"), "iops", "expected a whole number"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_storage_aws_refuses_is_refused_in_one_line(
    row: dict[str, Any], column: str, message: str
) -> None:
    with pytest.raises(InputError) as err:
        InstanceSpec.parse(row)
    text = str(err.value)
    assert f".{column}" in text and message in text and "\n" not in text, text


@pytest.mark.parametrize(
    "row",
    [
        _rds(storage_type="io1", iops=3000),
        _rds(storage_type="io2", iops=64000),
        _rds(storage_type="gp3"),
        _rds(storage_type="gp3", storage_gb=400, iops=20000, throughput=1000),
        _ec2(storage_type="gp3", iops=6000, throughput=500),
        _ec2(storage_type="io2", iops=10000),
        _ec2(storage_type="gp2"),
    ],
)
def test_storage_aws_accepts_parses(row: dict[str, Any]) -> None:
    spec = InstanceSpec.parse(row)
    assert (spec.iops, spec.throughput) == (row.get("iops"), row.get("throughput"))


@pytest.mark.parametrize(
    ("args", "billed"),
    [
        (("rds", "io1", 100, 3000, None), (3000, 0)),
        (("rds", "gp3", 100, None, None), (0, 0)),
        (("rds", "gp3", 400, 20000, 1000), (8000, 500)),
        (("ec2", "gp3", 50, 6000, 500), (3000, 375)),
        (("ec2", "gp2", 50, None, None), (0, 0)),
        (("ec2", "io2", 50, 10000, None), (10000, 0)),
    ],
)
def test_billable_iops_and_throughput_are_beyond_the_baseline(
    args: tuple[Any, ...], billed: tuple[int, int]
) -> None:
    assert storage.billable(*args) == billed


def test_engine_version_is_the_major_only() -> None:
    assert InstanceSpec.parse(_rds(engine_version="16")).engine_version == "16"
    with pytest.raises(InputError, match=r"engine_version: '16.4': give the major version only"):
        InstanceSpec.parse(_rds(engine_version="16.4"))
    with pytest.raises(InputError, match="engine_version: invalid engine version 'x'"):
        InstanceSpec.parse(_rds(engine_version="x"))


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("work-db-final-20261125-110000", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("1work", False),
        ("work--db", False),
        ("work-db-", False),
        ("work_db", False),
        ("", False),
    ],
)
def test_snapshot_identifier_rules(name: str, ok: bool) -> None:
    assert valid_identifier(name) is ok


def test_final_names_are_valid_and_differ_per_attempt() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    first, second = final_name("work-db", when), final_name("work-db", when, 1)
    assert first == "work-db-final-20261125-110000" and second == first + "-2"
    assert valid_identifier(first) and valid_identifier(second)
    assert valid_identifier(final_name("a" + "b" * 38 + "c", when))
