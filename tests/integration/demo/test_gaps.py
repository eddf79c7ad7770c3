"""The gap server: answers registered operations, forwards everything else to moto unchanged."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from infra.demo.gaps import (
    Completion,
    GapError,
    GapServer,
    JsonObject,
    Operation,
    post_seed,
    serving,
)


class Echo:
    """A handler answering ``Echo.Get`` with its seeded state (and refusing ``Echo.Fail``)."""

    name = "echo"

    def __init__(self) -> None:
        self.state: JsonObject = {}

    def operations(self) -> dict[str, Operation]:
        return {"Echo.Get": self._get, "Echo.Fail": self._fail}

    def _get(self, request: JsonObject) -> JsonObject:
        return {"state": self.state, "request": request}

    def completions(self) -> dict[str, Completion]:
        return {}

    def _fail(self, request: JsonObject) -> JsonObject:
        raise GapError("ValidationException", "refused as AWS would")

    def seed(self, body: JsonObject) -> None:
        if "value" not in body:
            raise GapError("ValidationException", "value is required")
        self.state = body

    def reset(self) -> None:
        self.state = {}


def _call(endpoint: str, target: str, body: JsonObject) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        endpoint, data=json.dumps(body).encode(), method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def front(moto_endpoint: str) -> Any:
    # moto_endpoint is itself a gap server in front of moto: chain one more with Echo.
    with serving(moto_endpoint, [Echo()]) as server:
        yield server


def test_registered_operation_answered_with_seeded_state(front: GapServer) -> None:
    post_seed(front.endpoint, "echo", {"value": 7})
    status, body = _call(front.endpoint, "Echo.Get", {"q": 1})
    assert status == 200
    assert body == {"state": {"value": 7}, "request": {"q": 1}}


def test_errors_are_aws_shaped(front: GapServer) -> None:
    status, body = _call(front.endpoint, "Echo.Fail", {})
    assert (status, body["__type"]) == (400, "ValidationException")
    with pytest.raises(urllib.error.HTTPError) as bad:
        post_seed(front.endpoint, "echo", {"no": "value"})
    assert bad.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as unknown:
        post_seed(front.endpoint, "nobody", {})
    assert unknown.value.code == 404


def test_everything_else_reaches_moto_unchanged(front: GapServer) -> None:
    s3 = boto3.client("s3", endpoint_url=front.endpoint, region_name="eu-west-3")
    s3.create_bucket(Bucket="gaps", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    s3.put_object(Bucket="gaps", Key="a/b.bin", Body=payload)
    assert s3.get_object(Bucket="gaps", Key="a/b.bin")["Body"].read() == payload
    head = s3.head_object(Bucket="gaps", Key="a/b.bin")
    assert head["ContentLength"] == len(payload)
    ec2 = boto3.client("ec2", endpoint_url=front.endpoint, region_name="eu-west-3")
    assert ec2.describe_instances()["Reservations"] == []


def test_reset_clears_handlers_and_moto(front: GapServer) -> None:
    post_seed(front.endpoint, "echo", {"value": 1})
    s3 = boto3.client("s3", endpoint_url=front.endpoint, region_name="eu-west-3")
    s3.create_bucket(Bucket="gone", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    urllib.request.urlopen(
        urllib.request.Request(f"{front.endpoint}/moto-api/reset", method="POST", data=b""),
        timeout=30,
    ).read()
    assert _call(front.endpoint, "Echo.Get", {})[1]["state"] == {}
    assert s3.list_buckets()["Buckets"] == []


def test_upstream_must_be_a_plain_http_endpoint() -> None:
    with pytest.raises(ValueError, match="upstream must be"):
        GapServer("https://example.com")


def test_ec2_instances_carry_their_billing_platform(moto_endpoint: str) -> None:
    """AWS describes every instance with PlatformDetails; the gap server completes moto's."""
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-west-3")
    image = ec2.register_image(Name="linux-ami", RootDeviceName="/dev/xvda")["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t3.micro")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(instances) == 2
    assert {(i["PlatformDetails"], i["UsageOperation"]) for i in instances} == {
        ("Linux/UNIX", "RunInstances")
    }
    assert all(i["InstanceType"] == "t3.micro" for i in instances)  # the rest is moto's
