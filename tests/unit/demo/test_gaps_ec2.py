"""The EC2 completion: PlatformDetails from moto's platform, nothing else touched."""

from __future__ import annotations

from infra.demo.gaps.ec2 import complete_describe_instances

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def _answer(*items: str) -> bytes:
    body = "".join(f"<item><instanceId>i-{n}</instanceId>{x}</item>" for n, x in enumerate(items))
    return (
        f'<DescribeInstancesResponse xmlns="{NS}"><reservationSet><item><instancesSet>'
        f"{body}</instancesSet></item></reservationSet></DescribeInstancesResponse>"
    ).encode()


def test_windows_and_linux_are_told_apart() -> None:
    out = complete_describe_instances(_answer("<platform>windows</platform>", "")).decode()
    assert out.count("<platformDetails>Windows</platformDetails>") == 1
    assert out.count("<usageOperation>RunInstances:0002</usageOperation>") == 1
    assert out.count("<platformDetails>Linux/UNIX</platformDetails>") == 1
    assert f'xmlns="{NS}"' in out and "ns0:" not in out


def test_an_answer_that_has_them_is_returned_unchanged() -> None:
    body = _answer("<platformDetails>Red Hat Enterprise Linux</platformDetails>")
    assert complete_describe_instances(body) == body
