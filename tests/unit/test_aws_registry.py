"""Every AWS call goes through the registry: an unregistered call is refused before it is sent."""

from __future__ import annotations

import pytest

from infra.aws import CALLS, ROLES, AwsClients, registered
from infra.errors import UnregisteredCall
from infra.settings import load_settings


def test_a_call_outside_the_registry_is_refused_unsent() -> None:
    clients = AwsClients(load_settings(aws_endpoint_url=None))
    with pytest.raises(UnregisteredCall, match=r"s3:DeleteBucket with the feed role"):
        clients.client("s3", role="feed").delete_bucket(Bucket="locxia-landing")


def test_demo_calls_need_the_stand_in() -> None:
    clients = AwsClients(load_settings(aws_endpoint_url=None))
    with pytest.raises(UnregisteredCall, match="ec2:RunInstances with the write role"):
        clients.client("ec2", role="write").run_instances(
            ImageId="ami-1", InstanceType="t3.micro", MinCount=1, MaxCount=1
        )
    assert registered("ec2", "RunInstances", "write", stand_in=True)


def test_every_registered_call_names_a_known_role_and_its_authorizations() -> None:
    for call in CALLS:
        assert call.role in ROLES
        if call.caller != "demo":
            assert call.access, f"{call.service}:{call.operation} lists no IAM action"
            assert all(":" in a.action for a in call.access)
