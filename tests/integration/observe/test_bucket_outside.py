"""One tagged bucket discovery cannot ask about is a recorded error, not a failed run."""

from __future__ import annotations

from infra.aws import AwsClients
from infra.settings import Settings
from pipelines.observe.metrics.discovery import Discovery


def test_a_bucket_whose_location_fails_is_recorded_and_the_run_goes_on(
    aws_settings: Settings,
) -> None:
    disco = Discovery(aws_settings, AwsClients(aws_settings))
    # ListBuckets failed (by_id None): the region comes from GetBucketLocation, which
    # fails for a bucket the role may not ask about (here: one the stand-in does not have)
    described = disco.describe_all()
    described["s3:bucket"] = type(described["s3:bucket"])(None)
    seen = disco.resolve({"arn:aws:s3:::outside-the-zones": {"project": "locxia"}}, described)
    assert [s.resource_id for s in seen if s.tagged] == ["outside-the-zones"]
    assert len(disco.report.errors) == 1
    assert disco.report.errors[0].startswith("s3:bucket outside-the-zones: ")
