"""The fault proxy answers in each protocol's error shape, which botocore classifies as AWS's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

from tests.support.faultproxy import Faults, Rule, cbor_encode, fault_proxy

# (boto3 service, call, the throttling code AWS answers with in that protocol)
CALLS: list[tuple[str, Callable[[Any], object], str]] = [
    ("cloudwatch", lambda c: c.list_metrics(), "ThrottlingException"),  # rpc-v2-cbor
    ("resourcegroupstaggingapi", lambda c: c.get_resources(), "ThrottlingException"),  # cbor
    (
        "ce",
        lambda c: c.get_cost_categories(TimePeriod={"Start": "2026-01-01", "End": "2026-01-02"}),
        "ThrottlingException",
    ),  # json  # noqa: E501
    ("pricing", lambda c: c.describe_services(), "ThrottlingException"),  # json
    ("ec2", lambda c: c.describe_volumes(), "RequestLimitExceeded"),  # ec2
    ("rds", lambda c: c.describe_db_instances(), "Throttling"),  # query
    ("s3", lambda c: c.list_buckets(), "SlowDown"),  # rest-xml
]


def _client(service: str, url: str, attempts: int) -> Any:
    region = "us-east-1" if service in ("ce", "pricing") else "eu-west-3"
    config = Config(
        retries={"mode": "standard", "total_max_attempts": attempts}, region_name=region
    )
    return boto3.client(service, endpoint_url=url, config=config)  # type: ignore[call-overload]


@pytest.mark.parametrize(("service", "call", "code"), CALLS, ids=[c[0] for c in CALLS])
def test_throttling_is_parsed_as_the_protocols_throttling_code(
    moto_endpoint: str, service: str, call: Callable[[Any], object], code: str
) -> None:
    faults = Faults([Rule("throttle", share=1.0)])
    with fault_proxy(moto_endpoint, faults) as url:
        with pytest.raises(ClientError) as caught:
            call(_client(service, url, attempts=1))
    assert caught.value.response["Error"]["Code"] == code
    assert code in ThrottledRetryableChecker._THROTTLED_ERROR_CODES
    assert faults.injected["throttle"] == 1 and faults.forwarded == 0


@pytest.mark.parametrize("fault", ["error500", "error503"])
def test_server_errors_are_retried_until_the_answer_comes(moto_endpoint: str, fault: str) -> None:
    faults = Faults([Rule(fault, share=1.0, limit=2)])  # type: ignore[arg-type]
    with fault_proxy(moto_endpoint, faults) as url:
        answer = _client("rds", url, attempts=3).describe_db_instances()
    assert answer["DBInstances"] == []
    assert faults.injected[fault] == 2 and faults.forwarded == 1 and faults.requests == 3


def test_the_seeded_share_and_delays_are_reproducible(moto_endpoint: str) -> None:
    def run() -> tuple[int, int]:
        faults = Faults([Rule("delay", share=0.5, seconds=0.01), Rule("error500", 0.3)], seed=3)
        with fault_proxy(moto_endpoint, faults) as url:
            client = _client("ec2", url, attempts=8)
            for _ in range(20):
                client.describe_volumes()
        return faults.injected["delay"], faults.injected["error500"]

    first = run()
    assert first == run()
    assert first[0] > 0 and first[1] > 0


def test_rules_select_by_service_and_operation(moto_endpoint: str) -> None:
    faults = Faults([Rule("throttle", share=1.0, service="ec2", operation="DescribeVolumes")])
    with fault_proxy(moto_endpoint, faults) as url:
        ec2 = _client("ec2", url, attempts=1)
        ec2.describe_instances()
        _client("rds", url, attempts=1).describe_db_instances()
        with pytest.raises(ClientError):
            ec2.describe_volumes()
    assert faults.by_service == {("ec2", "throttle"): 1}
    assert faults.operations[("ec2", "DescribeInstances")] == 1


def test_cbor_encoding_of_long_strings() -> None:
    text = "x" * 300
    encoded = cbor_encode({"m": text})
    assert encoded[:3] == bytes([0xA1, 0x61, ord("m")])
    assert encoded[3:6] == bytes([0x79, 0x01, 0x2C]) and encoded[6:] == text.encode()


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        Rule("throttle", share=1.5)
    with pytest.raises(ValueError, match="seconds"):
        Rule("delay", share=0.5)
