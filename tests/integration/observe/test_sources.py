"""Discovery life cycle, Metric Streams files, retention, the Price List refresh."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.scenario import DemoResource
from infra.errors import AwsError
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.observe.costs.pricing import PriceRefresher
from pipelines.observe.metrics.retention import partitions, prune
from pipelines.observe.metrics.streams import StreamIngester
from tests.integration.observe.conftest import datapoints, run_discovery
from tests.integration.observe.fleet import REGION, client, create

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _server(name: str, tagged: bool = True) -> DemoResource:
    """A server of the scenario whose root volume carries no tags."""
    return DemoResource("ec2", name, "t3.micro", 8, "idle", tagged=tagged, volume_tags=False)


def test_vanished_resources_are_marked_gone_never_deleted(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    bucket = DemoResource("s3", "gone-bucket", "standard", 1, "idle")
    ids = create(moto_endpoint, _server("keep-vm"), _server("drop-vm"), bucket)
    keep, drop = ids["keep-vm"], ids["drop-vm"]
    s3 = client(moto_endpoint, "s3")
    first = run_discovery(aws_settings, NOW)
    assert first.tagged == {"ec2:instance": 2, "s3:bucket": 1}
    # the root volumes were created without tags: reported, kept as untagged look-alikes
    assert [s.why for s in first.untagged] == ["attached to a tagged instance"] * 2
    client(moto_endpoint, "ec2").terminate_instances(InstanceIds=[drop])
    s3.delete_bucket(Bucket="gone-bucket")
    later = NOW + timedelta(hours=1)
    second = run_discovery(aws_settings, later)
    assert second.tagged == {"ec2:instance": 1}
    gone = sorted(a.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for a in second.gone)
    assert [g for g in gone if not g.startswith("vol-")] == sorted([drop, "gone-bucket"])
    assert len(gone) == 3  # and the terminated instance's root volume (deleted with it)
    with connect(db_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT resource_id, gone_at FROM metrics.resources WHERE tagged"
            ).fetchall()
        )
    assert rows == {keep: None, drop: later, "gone-bucket": later}
    assert run_discovery(aws_settings, later + timedelta(hours=1)).gone == []


def _record(instance: str, minute: datetime, value: float, metric: str = "CPUUtilization") -> str:
    return json.dumps(
        {
            "metric_stream_name": "locxia",
            "account_id": "123456789012",
            "region": REGION,
            "namespace": "AWS/EC2",
            "metric_name": metric,
            "dimensions": {"InstanceId": instance},
            "timestamp": int(minute.timestamp() * 1000),
            "value": {"max": value + 1, "min": value - 1, "sum": value * 4, "count": 4.0},
            "unit": "Percent",
        }
    )


def test_metric_streams_files_are_ingested_exactly_once(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    ids = create(moto_endpoint, _server("tagged-vm"), _server("someone-else", tagged=False))
    tagged, stranger = ids["tagged-vm"], ids["someone-else"]
    run_discovery(aws_settings, NOW)
    s3 = client(moto_endpoint, "s3")
    s3.create_bucket(Bucket="streams", CreateBucketConfiguration={"LocationConstraint": REGION})
    t0 = NOW - timedelta(minutes=10)
    plain = "\n".join(
        [_record(tagged, t0, 10.0), _record(tagged, t0, 10.0), _record(stranger, t0, 50.0)]
    )
    zipped = gzip.compress(
        "\n".join(_record(tagged, t0 + timedelta(minutes=m), 20.0) for m in (1, 2)).encode()
    )
    s3.put_object(Bucket="streams", Key="cw/2026/11/20/a.json", Body=plain.encode())
    s3.put_object(Bucket="streams", Key="cw/2026/11/20/b.json.gz", Body=zipped)
    s3.put_object(Bucket="streams", Key="cw/2026/11/20/c.json", Body=b"not json")
    settings = aws_settings.model_copy(update={"metric_streams_uri": "s3://streams/cw"})

    with connect(db_url) as conn:
        report = StreamIngester(settings, AwsClients(settings), conn).run()
    assert (report.files_ingested, report.records, report.skipped_records) == (2, 5, 1)
    assert len(report.errors) == 1 and "c.json: not JSON text" in report.errors[0]
    stored = datapoints(db_url)
    stats = {"Maximum": 11.0, "Minimum": 9.0, "Sum": 40.0, "SampleCount": 4.0, "Average": 10.0}
    for stat, value in stats.items():
        assert stored[(tagged, "CPUUtilization", stat, 60, t0)] == value
    assert len(stored) == 3 * 5  # 3 minutes x 5 statistics; the duplicate record collapsed
    assert all(key[0] == tagged for key in stored)

    with connect(db_url) as conn:
        again = StreamIngester(settings, AwsClients(settings), conn).run()
        ledger = conn.execute(
            "SELECT status, count(*) FROM metrics.stream_files GROUP BY 1 ORDER BY 1"
        ).fetchall()
    # keys not under YYYY/MM/DD/HH/: the listing starts after the greatest key ledgered, and
    # the refused file (not JSON) is neither listed nor fetched again
    assert again.start_after == "cw/2026/11/20/c.json"
    assert (again.files_ingested, again.keys_listed, again.files_retried) == (0, 0, 0)
    assert datapoints(db_url) == stored and ledger == [("ingested", 2), ("refused", 1)]


def test_retention_drops_only_whole_expired_days(settings: Settings, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "SELECT metrics.ensure_datapoint_partitions(%s, %s)",
            (NOW - timedelta(days=40), NOW),
        )
        conn.commit()
        before = len(partitions(conn))
        dry = prune(conn, keep_days=30, now=NOW, dry_run=True)
        assert len(partitions(conn)) == before == 41
        done = prune(conn, keep_days=30, now=NOW)
        left = partitions(conn)
    assert dry["would_drop"] == done["dropped"] and len(done["dropped"]) == 10
    assert left[0].day == (NOW - timedelta(days=30)).date()


def test_price_refresh_fails_in_one_line_and_changes_nothing(
    aws_settings: Settings, db_url: str
) -> None:
    # Nothing listens on port 9 (the gap server in front of moto answers the Price List API).
    dead = aws_settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    with connect(db_url) as conn:
        before = PriceCatalog.load(conn, REGION).all()
        with pytest.raises(AwsError) as caught:
            PriceRefresher(AwsClients(dead), conn, REGION).run(NOW.date())
        after = PriceCatalog.load(conn, REGION).all()
    message = str(caught.value)
    assert message.startswith("the AWS Price List API is not reachable")
    assert "catalog was left unchanged" in message and "\n" not in message
    assert "<html" not in message.lower()
    assert after == before


def _otel_like() -> bytes:
    """Length-delimited protobuf bytes, as an OpenTelemetry-format stream writes."""
    message = b"\n\x0bresource-x\x12\x04\x08\x01\x10\x02"
    return bytes([len(message)]) + message


def test_metric_streams_ledger_failures_and_resume_after_the_last_hour(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    ids = create(moto_endpoint, _server("tagged-vm"))
    run_discovery(aws_settings, NOW)
    s3 = client(moto_endpoint, "s3")
    s3.create_bucket(Bucket="streams", CreateBucketConfiguration={"LocationConstraint": REGION})
    t0 = NOW - timedelta(hours=3)

    def key(hours: int, name: str) -> str:
        return f"cw/{t0 + timedelta(hours=hours):%Y/%m/%d/%H}/{name}"

    good = [key(h, f"locxia-1-{h}.json") for h in range(3)]
    for h, k in enumerate(good):
        s3.put_object(Bucket="streams", Key=k, Body=_record(ids["tagged-vm"], t0, h).encode())
    s3.put_object(Bucket="streams", Key=key(1, "otel-1"), Body=_otel_like())
    s3.put_object(Bucket="streams", Key=key(1, "broken-1.json"), Body=b'{"metric_name": 1')
    settings = aws_settings.model_copy(update={"metric_streams_uri": "s3://streams/cw"})

    def run() -> Any:
        with connect(db_url) as conn:
            return StreamIngester(settings, AwsClients(settings), conn).run()

    first = run()
    assert (first.files_ingested, first.files_failed, first.keys_listed) == (3, 2, 5)
    assert first.start_after is None
    with connect(db_url) as conn:
        ledger = dict(
            conn.execute(
                "SELECT regexp_replace(uri, '^.*/', ''), status || ':' || attempts"
                " FROM metrics.stream_files WHERE status <> 'ingested'"
            ).fetchall()
        )
    assert ledger == {"otel-1": "refused:1", "broken-1.json": "failed:1"}
    assert any("OpenTelemetry" in e for e in first.errors)

    # a late file of the newest hour and one of an hour the listing no longer reaches
    late = key(2, "locxia-late.json")
    s3.put_object(Bucket="streams", Key=late, Body=_record(ids["tagged-vm"], t0, 9.0).encode())
    second = run()
    # StartAfter = the folder of the hour before the newest (late buffers land there): only
    # hours 1 and 2 are listed again (3 + 2 keys), not hour 0
    assert second.start_after == f"cw/{t0 + timedelta(hours=1):%Y/%m/%d/%H}/"
    assert second.keys_listed == 5 and second.files_already == 4
    assert (second.files_ingested, second.files_retried, second.files_failed) == (1, 1, 1)
    third = run()
    fourth = run()
    assert (third.files_retried, fourth.files_retried) == (1, 0)  # 3 reads in all, then left
    with connect(db_url) as conn:
        attempts = conn.execute(
            "SELECT attempts FROM metrics.stream_files WHERE uri LIKE '%broken-1.json'"
        ).fetchone()
        retried = StreamIngester(settings, AwsClients(settings), conn, retry=True).run()
    assert attempts == (3,) and retried.files_retried == 2  # on command: failed and refused
