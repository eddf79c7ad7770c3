from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pyarrow as pa
import pytest

from infra.db import connect
from infra.settings import Settings
from tests.support import geodata

CANONICAL_ROWS = 240


@pytest.fixture(scope="session")
def canonical() -> pa.Table:
    """The canonical layer: building footprints over France, ~5 % invalid, EPSG:4326."""
    return geodata.layer_table(CANONICAL_ROWS, seed=11, invalid_share=0.05)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url) as c:
        yield c


def declare(conn: psycopg.Connection[Any], name: str, rules: str = "{}", **cols: Any) -> None:
    conn.execute(
        "INSERT INTO params.datasets (name, rules, source, layer, cron) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (name) DO UPDATE SET rules = EXCLUDED.rules",
        (name, rules, cols.get("source"), cols.get("layer"), cols.get("cron")),
    )
    conn.commit()


def make_buckets(settings: Settings, *names: str) -> None:
    s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url, region_name="eu-west-3")
    for bucket in names:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )


@pytest.fixture(params=["file", "s3"], ids=["file-zones", "s3-zones"])
def zone_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The same settings with zones on local disk, or in S3 buckets of the moto server."""
    if request.param == "file":
        return settings
    aws: Settings = request.getfixturevalue("aws_settings")
    make_buckets(aws, "locxia-landing", "locxia-working")
    return aws.model_copy(
        update={
            "landing_uri": "s3://locxia-landing/zones/landing",
            "working_uri": "s3://locxia-working/working",
        }
    )
