"""Parts of partitioned versions in an S3 working zone: put pending, untagged at commit only.

The feed role may not delete zone objects, so what a failed partitioned refine left in an S3
zone is reclaimed by the working bucket's lifecycle rule, which expires current objects tagged
``locxia-part=pending`` (decision 95). The moto server runs no lifecycle expiry
(docs/real-aws.md): these tests check the tags the rule acts on, through GetObjectTagging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pyarrow as pa
import pytest

from infra.errors import AwsError, QualityError
from infra.settings import Settings
from pipelines.feed import catalog, partset
from pipelines.feed.ingest import ingest
from pipelines.feed.refine import refine
from pipelines.feed.zones import PENDING_TAG, S3Zone, zone
from tests.integration.feed.conftest import declare, make_buckets
from tests.integration.feed.test_partitioned import on_dask
from tests.support import formats

BUCKET = "locxia-working"
PENDING = [{"Key": PENDING_TAG[0], "Value": PENDING_TAG[1]}]


@pytest.fixture
def s3_settings(aws_settings: Settings) -> Settings:
    """Zones in buckets of the moto server; every layer on the embedded 2-worker cluster."""
    make_buckets(aws_settings, "locxia-landing", BUCKET)
    zoned = aws_settings.model_copy(
        update={
            "landing_uri": "s3://locxia-landing/zones/landing",
            "working_uri": f"s3://{BUCKET}/working",
        }
    )
    return on_dask(zoned, 100)


def _s3(settings: Settings) -> Any:
    return boto3.client("s3", endpoint_url=settings.aws_endpoint_url, region_name="eu-west-3")


def _objects(settings: Settings, name: str) -> dict[str, list[dict[str, str]]]:
    """Every object the dataset has in the working bucket, with its tags."""
    s3 = _s3(settings)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"working/{name}/").get("Contents", [])
    return {o["Key"]: s3.get_object_tagging(Bucket=BUCKET, Key=o["Key"])["TagSet"] for o in listed}


@pytest.mark.slow
def test_a_failed_refine_leaves_its_parts_pending_and_no_manifest(
    canonical: pa.Table, conn: psycopg.Connection[Any], s3_settings: Settings, tmp_path: Path
) -> None:
    """A quality failure: the parts stay (no delete for the feed role), every one tagged for
    the lifecycle rule; running it again fails the same way over the same names."""
    path, layer = formats.flatgeobuf(canonical, tmp_path)
    declare(conn, "orphans", '{"min_rows": 1000000}')
    ingest(conn, s3_settings, "orphans", str(path), layer)
    left = []
    for _ in range(2):
        with pytest.raises(QualityError, match="rows"):
            refine(conn, s3_settings, "orphans")
        left.append(_objects(s3_settings, "orphans"))
    first, again = left
    assert len(first) >= 3  # 240 rows in partitions of 100, one part per cell at least
    assert all("/orphans.parts/cell=" in key for key in first)
    assert not any(key.endswith(partset.MANIFEST) for key in first)
    assert {key: tags for key, tags in first.items() if tags != PENDING} == {}
    assert again == first  # deterministic names: a rerun adds versions, not orphans
    assert catalog.find(conn, "orphans", "working") is None


@pytest.mark.slow
def test_a_committed_refine_leaves_every_part_untagged_and_its_manifest(
    canonical: pa.Table, conn: psycopg.Connection[Any], s3_settings: Settings, tmp_path: Path
) -> None:
    path, layer = formats.flatgeobuf(canonical, tmp_path)
    declare(conn, "kept")
    ingest(conn, s3_settings, "kept", str(path), layer)
    version = refine(conn, s3_settings, "kept").version
    stored = _objects(s3_settings, "kept")
    manifest = partset.read_manifest(zone(s3_settings, "working"), version.key)
    prefix = f"working/{version.key}"
    assert sorted(stored) == sorted(
        [prefix + p.key for p in manifest.parts] + [prefix + partset.MANIFEST]
    )
    assert len(manifest.parts) >= 3
    assert {key: tags for key, tags in stored.items() if tags} == {}


@pytest.mark.slow
def test_a_multipart_part_is_tagged_pending_in_the_upload_itself(
    s3_settings: Settings, tmp_path: Path
) -> None:
    """Above boto3's 8 MiB threshold the tag goes with CreateMultipartUpload; the commit clears
    it; a part that is gone (expired before its commit) fails the commit."""
    big = tmp_path / "big.parquet"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    working = zone(s3_settings, "working")
    assert isinstance(working, S3Zone)
    key = "roads/abc-def/roads.parts/cell=01/part-00000.parquet"
    working.put_file(big, key, pending=True)
    s3 = _s3(s3_settings)
    head = s3.head_object(Bucket=BUCKET, Key=f"working/{key}")
    assert "-" in head["ETag"]  # a multipart upload's ETag ends with -<parts>
    assert s3.get_object_tagging(Bucket=BUCKET, Key=f"working/{key}")["TagSet"] == PENDING
    working.commit_parts([key])
    assert s3.get_object_tagging(Bucket=BUCKET, Key=f"working/{key}")["TagSet"] == []
    working.put_file(big, "roads/abc-def/roads.parquet")  # not a part: never pending
    assert (
        s3.get_object_tagging(Bucket=BUCKET, Key="working/roads/abc-def/roads.parquet")["TagSet"]
        == []
    )
    with pytest.raises(AwsError) as caught:
        working.commit_parts(["roads/abc-def/roads.parts/cell=02/part-00000.parquet"])
    assert caught.value.operation == "DeleteObjectTagging"


@pytest.mark.slow
def test_a_run_dying_between_untagging_and_manifest_is_overwritten_by_the_next(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    s3_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one window that leaves untagged parts without a version: the next run of the same
    landing version and rules writes the same names over them and commits them."""
    path, layer = formats.flatgeobuf(canonical, tmp_path)
    declare(conn, "window")
    ingest(conn, s3_settings, "window", str(path), layer)
    put = S3Zone.put_file

    def manifest_lost(self: S3Zone, local: Path, key: str, *, pending: bool = False) -> None:
        if key.endswith(partset.MANIFEST):  # on the driver: the parts are already untagged
            raise AwsError("connection lost", "s3", "PutObject", "EndpointConnectionError")
        put(self, local, key, pending=pending)

    monkeypatch.setattr(S3Zone, "put_file", manifest_lost)
    with pytest.raises(AwsError, match="connection lost"):
        refine(conn, s3_settings, "window")
    monkeypatch.undo()
    orphans = _objects(s3_settings, "window")
    assert len(orphans) >= 3 and all(tags == [] for tags in orphans.values())
    assert not any(key.endswith(partset.MANIFEST) for key in orphans)
    assert catalog.find(conn, "window", "working") is None
    version = refine(conn, s3_settings, "window").version
    stored = _objects(s3_settings, "window")
    prefix = f"working/{version.key}"
    assert sorted(stored) == sorted([*orphans, prefix + partset.MANIFEST])  # no new names
    manifest = partset.read_manifest(zone(s3_settings, "working"), version.key)
    assert sorted(prefix + p.key for p in manifest.parts) == sorted(orphans)
    assert all(tags == [] for tags in stored.values())
