"""Capacity windows without I/O: the billing arithmetic, names, and what counts as there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from infra.capacity import Seen, raised_missing, restored_missing, worker_names
from infra.capacity.cost import billed_seconds, window_cost
from infra.capacity.declare import _score
from infra.prices import Price, PriceCatalog

TODAY = date(2026, 12, 1)


def _catalog() -> PriceCatalog:
    def p(service: str, item: str, variant: str, usd: str) -> Price:
        return Price("eu-west-3", service, item, variant, "hour", Decimal(usd), "test", TODAY)

    return PriceCatalog(
        "eu-west-3",
        [
            p("ec2", "m6i.large", "linux", "0.112"),
            p("rds", "db.t4g.large", "postgres", "0.142"),
            p("rds", "db.r6g.2xlarge", "postgres", "1.05"),
        ],
    )


@pytest.mark.parametrize(
    ("seconds", "minimum", "billed"),
    [
        (0, 60, 0),  # never running: nothing
        (1, 60, 60),  # EC2: 60 s minimum
        (59.2, 60, 60),
        (60, 60, 60),
        (60.01, 60, 61),  # then per started second
        (3600, 60, 3600),
        (30, 600, 600),  # RDS: 10 minutes after a class change
        (601.5, 600, 602),
    ],
    ids=["zero", "1s", "59.2s", "60s", "60.01s", "1h", "rds-30s", "rds-601.5s"],
)
def test_billed_seconds(seconds: float, minimum: int, billed: int) -> None:
    assert billed_seconds(seconds, minimum) == Decimal(billed)


def test_two_workers_for_ten_seconds_pay_the_minute_each() -> None:
    cost = window_cost(
        _catalog(), seconds=10, workers=["cap1-w1", "cap1-w2"], worker_type="m6i.large"
    )
    per_worker = Decimal("0.112") * 60 / 3600
    assert cost.usd == 2 * per_worker
    assert [line["billed_seconds"] for line in cost.lines] == [60, 60]
    assert "aws.amazon.com/ec2/pricing" in cost.lines[0]["rule"]
    assert cost.problems == []


def test_a_database_pays_the_class_uplift_with_rds_minimum() -> None:
    cost = window_cost(
        _catalog(),
        seconds=1800,
        workers=[],
        worker_type=None,
        database="work-db",
        class_before="db.t4g.large",
        class_during="db.r6g.2xlarge",
    )
    assert cost.usd == (Decimal("1.05") - Decimal("0.142")) * 1800 / 3600
    assert cost.lines[0]["billed_seconds"] == 1800


def test_an_unpriced_type_is_a_problem_not_a_guess() -> None:
    cost = window_cost(_catalog(), seconds=100, workers=["cap1-w1"], worker_type="x9.huge")
    assert cost.usd == 0
    assert cost.lines == []
    assert len(cost.problems) == 1 and "x9.huge" in cost.problems[0]


def test_worker_names_are_deterministic_and_valid_rows() -> None:
    import re

    names = worker_names(12, 3)
    assert names == ["cap12-w1", "cap12-w2", "cap12-w3"]
    assert all(re.fullmatch(r"[a-z][a-z0-9-]{0,38}[a-z0-9]", n) for n in names)


@pytest.mark.parametrize(
    ("pattern", "job", "score"),
    [
        ("layers.big", "layers.big", 1000),
        ("layers.*", "layers.big", 8),
        ("layers.big*", "layers.big/refine", 11),
        ("layers.big", "layers.bigger", -1),
        ("metrics.*", "layers.big", -1),
    ],
    ids=["exact", "prefix", "longer-prefix", "exact-only", "other"],
)
def test_declarations_match_like_job_compute(pattern: str, job: str, score: int) -> None:
    assert _score(pattern, job) == score


def test_raised_and_restored_say_what_is_missing() -> None:
    workers = ["cap1-w1", "cap1-w2"]
    half = Seen({"cap1-w1": "running", "cap1-w2": "pending"}, "available", "db.t4g.large")
    assert raised_missing(half, workers, None, None) == "workers not running: cap1-w2"
    up = Seen({"cap1-w1": "running", "cap1-w2": "running"}, "modifying", "db.r6g.2xlarge")
    wanted = raised_missing(up, workers, "work-db", "db.r6g.2xlarge")
    assert wanted.startswith("database work-db is modifying")
    assert raised_missing(up, workers, None, None) == ""
    assert restored_missing(Seen({}), workers, None, None) == ""
    assert restored_missing(up, workers, None, None) == "workers still there: cap1-w1, cap1-w2"
