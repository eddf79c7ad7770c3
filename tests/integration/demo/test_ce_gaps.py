"""The Cost Explorer stand-in through the gap server, called with botocore as the product does."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.demo.gaps.ce import seed
from tests.support import aws

NOW = "2026-11-20T12:00:00Z"
LINES = [
    {"day": "2026-11-01", "service": "Amazon Simple Storage Service", "record_type": "Usage",
     "tags": {"project": "locxia"}, "unblended": "3.5"},
    {"day": "2026-11-01", "service": "Tax", "record_type": "Tax", "tags": {}, "unblended": "0.7"},
]  # fmt: skip
TAGS = [{"TagKey": "project", "Status": "Inactive", "Type": "UserDefined"}]


def test_botocore_parses_every_answer_and_reset_forgets(moto_endpoint: str) -> None:
    seed(moto_endpoint, LINES, TAGS, estimated_from="2026-11-02", now=NOW)
    ce = boto3.client("ce", endpoint_url=moto_endpoint, region_name="us-east-1")
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-11-01", "End": "2026-11-03"},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
        Filter={"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "project"}],
    )
    first, second = answer["ResultsByTime"]
    assert [g["Keys"] for g in first["Groups"]] == [["Amazon Simple Storage Service", "project$"]]
    assert (first["Estimated"], second["Estimated"]) == (False, True)

    tags = ce.list_cost_allocation_tags(TagKeys=["project"])["CostAllocationTags"]
    assert [(t["TagKey"], t["Status"]) for t in tags] == [("project", "Inactive")]
    ce.update_cost_allocation_tags_status(
        CostAllocationTagsStatus=[{"TagKey": "project", "Status": "Active"}]
    )
    made = ce.start_cost_allocation_tag_backfill(BackfillFrom="2026-01-01T00:00:00Z")
    assert made["BackfillRequest"]["BackfillStatus"] == "SUCCEEDED"
    with pytest.raises(ClientError) as again:
        ce.start_cost_allocation_tag_backfill(BackfillFrom="2026-01-01T00:00:00Z")
    assert again.value.response["Error"]["Code"] == "BackfillLimitExceededException"
    history = ce.list_cost_allocation_tag_backfill_history()["BackfillRequests"]
    assert [h["BackfillFrom"] for h in history] == ["2026-01-01T00:00:00Z"]
    regrouped = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "TAG", "Key": "project"}],
    )
    assert {g["Keys"][0] for g in regrouped["ResultsByTime"][0]["Groups"]} == {
        "project$locxia",  # the backfill re-attributed November
        "project$",
    }

    aws.reset(moto_endpoint)
    assert ce.list_cost_allocation_tags()["CostAllocationTags"] == []
