"""Metric Streams: CloudWatch's push source, read from the files Firehose writes to S3.

A metric stream delivered through Firehose in the **JSON output format** writes objects of
newline-delimited records, one per metric, resource and minute::

    {"metric_stream_name": "...", "account_id": "...", "region": "eu-west-3",
     "namespace": "AWS/EC2", "metric_name": "CPUUtilization",
     "dimensions": {"InstanceId": "i-0abc"}, "timestamp": 1764054000000,
     "value": {"max": 9.0, "min": 1.0, "sum": 30.0, "count": 6.0}, "unit": "Percent"}

Each record becomes datapoints with period 60: ``Maximum``, ``Minimum``, ``Sum``,
``SampleCount``, and ``Average`` = sum / count (plus any percentile keys such as ``p99``). Only
records naming exactly one observed resource dimension of a tagged resource are kept; the
rest are counted as skipped. Files may be gzip-compressed (Firehose option).

Exactly once: the ledger row (``metrics.stream_files``) is inserted in the same transaction as
the file's datapoints, first, so a concurrent ingester waits on it and then skips the file; a
re-run skips files already in the ledger; Firehose's duplicate records inside a file are
collapsed before the upsert.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import psycopg

from infra.aws import AwsClients, aws_errors
from infra.errors import InputError
from infra.settings import Settings
from pipelines.observe.metrics.resources import DIMENSIONS
from pipelines.observe.metrics.store import DatapointStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


STREAM_PERIOD = 60  # Metric Streams deliver one-minute aggregates
_STATS = {"max": "Maximum", "min": "Minimum", "sum": "Sum", "count": "SampleCount"}
_RESOURCE_DIMS = {dim for _, dim in DIMENSIONS.values()}

SeriesKey = tuple[int, str, str]


class StreamsResult(TypedDict):
    """What ``metrics.streams`` records (the fields of :class:`StreamReport`)."""

    files_seen: int
    files_ingested: int
    files_already: int
    records: int
    datapoints: int
    skipped_records: int
    api_calls: int
    errors: list[str]


@dataclass
class StreamReport:
    """What one ingestion pass did."""

    files_seen: int = 0
    files_ingested: int = 0
    files_already: int = 0
    records: int = 0
    datapoints: int = 0
    skipped_records: int = 0
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)

    def details(self) -> StreamsResult:
        """The JSON recorded for the run."""
        return StreamsResult(
            files_seen=self.files_seen,
            files_ingested=self.files_ingested,
            files_already=self.files_already,
            records=self.records,
            datapoints=self.datapoints,
            skipped_records=self.skipped_records,
            api_calls=self.api_calls,
            errors=list(self.errors),
        )


def parse_records(data: bytes) -> Iterator[dict[str, Any]]:
    """Records of one file: newline-delimited (or concatenated) JSON, gzip or not.

    Raises:
        ValueError: the content is not JSON records.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return
        record, pos = decoder.raw_decode(text, pos)
        if not isinstance(record, dict):
            raise ValueError(f"record at offset {pos} is not a JSON object")
        yield record


def record_points(record: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """``(stat, value)`` pairs of one record."""
    value = record.get("value") or {}
    for key, stat in _STATS.items():
        if key in value:
            yield stat, float(value[key])
    for key, number in value.items():
        if key.startswith("p") and key not in _STATS:
            yield key, float(number)
    if value.get("count"):
        yield "Average", float(value["sum"]) / float(value["count"])


class StreamIngester:
    """Ingests new Metric Streams files under ``settings.metric_streams_uri``."""

    def __init__(self, settings: Settings, clients: AwsClients, conn: psycopg.Connection[Any]):
        if not settings.metric_streams_uri:
            raise InputError("LOCXIA_METRIC_STREAMS_URI is not set (s3://bucket/prefix)")
        parts = urlsplit(settings.metric_streams_uri)
        self.bucket, self.prefix = parts.netloc, parts.path.lstrip("/")
        self.clients = clients
        self.conn = conn
        self.report = StreamReport()
        self._index: dict[tuple[str, str], int] = {}

    def run(self) -> StreamReport:
        """Ingest every file not yet in the ledger, oldest key first.

        Raises:
            AwsError: listing the bucket failed.
        """
        self._index = self._resource_index()
        done = self._ledger()
        s3 = self.clients.client("s3")
        for key, etag, size in self._list(s3):
            self.report.files_seen += 1
            uri = f"s3://{self.bucket}/{key}"
            if uri in done:
                self.report.files_already += 1
                continue
            with aws_errors("s3", "GetObject"):
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            self.report.api_calls += 1
            try:
                self._ingest(uri, etag, size, body)
            except (ValueError, UnicodeDecodeError) as exc:
                self.conn.rollback()
                self.report.errors.append(f"{uri}: not Metric Streams JSON ({exc})")
        return self.report

    def _resource_index(self) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(
            "SELECT type, resource_id, id FROM metrics.resources WHERE tagged AND gone_at IS NULL"
        ).fetchall()
        self.conn.commit()
        return {(DIMENSIONS[t][1], rid): int(i) for t, rid, i in rows}

    def _ledger(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT uri FROM metrics.stream_files WHERE uri LIKE %s",
            (f"s3://{self.bucket}/{self.prefix}%",),
        ).fetchall()
        self.conn.commit()
        return {r[0] for r in rows}

    def _list(self, s3: S3Client) -> Iterator[tuple[str, str, int]]:
        paginator = s3.get_paginator("list_objects_v2")
        with aws_errors("s3", "ListObjectsV2"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                self.report.api_calls += 1
                for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
                    yield obj["Key"], str(obj.get("ETag", "")).strip('"'), int(obj["Size"])

    def _group(
        self, body: bytes
    ) -> tuple[dict[SeriesKey, tuple[list[float], list[float]]], int, int]:
        """Datapoints of one file grouped by series; also the records read and skipped."""
        series: dict[SeriesKey, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        records = skipped = 0
        for record in parse_records(body):
            records += 1
            dims = record.get("dimensions") or {}
            resource = None
            if len(dims) == 1:
                ((name, value),) = dims.items()
                resource = self._index.get((name, str(value))) if name in _RESOURCE_DIMS else None
            if resource is None:
                skipped += 1
                continue
            ts = float(record["timestamp"]) / 1000.0
            for stat, number in record_points(record):
                stamps, values = series[(resource, str(record["metric_name"]), stat)]
                stamps.append(ts)
                values.append(number)
        return series, records, skipped

    def _ingest(self, uri: str, etag: str, size: int, body: bytes) -> None:
        series, records, skipped = self._group(body)
        points = sum(len(v) for _, v in series.values())
        with self.conn.transaction():
            claimed = self.conn.execute(
                "INSERT INTO metrics.stream_files (uri, etag, size_bytes, records, datapoints,"
                " skipped) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uri) DO NOTHING"
                " RETURNING uri",
                (uri, etag, size, records, points, skipped),
            ).fetchone()
            if claimed is None:  # another ingester got there first
                self.report.files_already += 1
                return
            if series:
                stamps = [t for ts, _ in series.values() for t in ts]
                store = DatapointStore(self.conn)
                store.begin(_dt(min(stamps)), _dt(max(stamps)))
                store.stage_rows(
                    (rid, metric, stat, STREAM_PERIOD, ts, vals)
                    for (rid, metric, stat), (ts, vals) in series.items()
                )
                store.merge(dedupe=True)
        self.report.files_ingested += 1
        self.report.records += records
        self.report.skipped_records += skipped
        self.report.datapoints += points


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
