"""Untagged look-alikes become one warning line per kind (type and reason), not one per resource."""

from __future__ import annotations

from pipelines.observe.metrics.discovery import Lookalike, lookalike_summary


def _volume(n: int) -> Lookalike:
    return {
        "arn": f"arn:aws:ec2:eu-west-3:1:volume/vol-{n}",
        "type": "ec2:volume",
        "name": f"vol-{n}",
        "why": "attached to a tagged instance",
    }


def test_a_thousand_volumes_and_two_other_kinds_give_three_lines() -> None:
    scratch: Lookalike = {
        "arn": "arn:aws:ec2:eu-west-3:1:instance/i-1",
        "type": "ec2:instance",
        "name": "locxia-scratch",
        "why": "named like 'locxia'",
    }
    buckets: list[Lookalike] = [
        {"arn": f"arn:aws:s3:::locxia-{n}", "type": "s3:bucket", "name": f"locxia-{n}",
         "why": "named like 'locxia'"}
        for n in range(2)
    ]  # fmt: skip
    lines = lookalike_summary([_volume(0), scratch, *map(_volume, range(1, 1000)), *buckets])
    assert lines == [
        "1,000 untagged look-alike ec2:volumes: attached to a tagged instance"
        " (vol-0, vol-1, vol-2 and 997 more)",
        "untagged look-alike ec2:instance locxia-scratch: named like 'locxia'",
        "2 untagged look-alike s3:buckets: named like 'locxia' (locxia-0, locxia-1)",
    ]


def test_nothing_to_report_is_no_line() -> None:
    assert lookalike_summary([]) == []
