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

Formats ("Metric streams output formats", CloudWatch User Guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-metric-streams-formats.html):
a stream delivers ``json``, ``opentelemetry0.7`` or ``opentelemetry1.0`` (protobuf messages).
Only JSON is read here — no OpenTelemetry protobuf decoder ships with Locxia — so when
``LOCXIA_METRIC_STREAM_NAME`` is set the stream's ``OutputFormat`` (``GetMetricStream``) is
checked first and any other format is refused in one line before a file is fetched. Without
the name, a file that is not JSON text is ledgered ``refused`` (never fetched again unless
``--retry``); a JSON file that cannot be read is ledgered ``failed`` and read again on the next
passes, :data:`MAX_ATTEMPTS` times in all. Either way the reason is in ``error``.

Listing resumes: ``ListObjectsV2`` returns keys in UTF-8 binary order and ``StartAfter`` skips
every key up to the one given ("ListObjectsV2", Amazon S3 API Reference,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). Firehose names objects
``<prefix>YYYY/MM/DD/HH/...`` by UTC hour ("Configure Amazon S3 object name format", Amazon Data
Firehose Developer Guide, https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html),
so keys are time-ordered by hour but not within it, and a buffer flushed late may land in the
previous hour's folder: a pass lists after the hour *before* the ledger's greatest key's hour
(:func:`resume_after`), and the ledger filters the few files seen again.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import psycopg

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError, InputError
from infra.settings import Settings
from pipelines.observe.metrics.resources import DIMENSIONS
from pipelines.observe.metrics.store import DatapointStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


STREAM_PERIOD = 60  # Metric Streams deliver one-minute aggregates
#: Reads of a failed file in all (the first included) before it is left failed.
MAX_ATTEMPTS = 3
#: The only output format read here (GetMetricStream ``OutputFormat``).
JSON_FORMAT = "json"
_HOUR_FOLDER = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/")
_STATS = {"max": "Maximum", "min": "Minimum", "sum": "Sum", "count": "SampleCount"}
_RESOURCE_DIMS = {dim for _, dim in DIMENSIONS.values()}

SeriesKey = tuple[int, str, str]


class NotJson(ValueError):
    """A file that is not JSON text (an OpenTelemetry protobuf file, or another format)."""


class StreamsResult(TypedDict):
    """What ``metrics.streams`` records (the fields of :class:`StreamReport`)."""

    files_seen: int
    files_ingested: int
    files_already: int
    files_failed: int
    files_retried: int
    keys_listed: int
    start_after: str | None
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
    files_failed: int = 0
    files_retried: int = 0
    keys_listed: int = 0
    start_after: str | None = None
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
            files_failed=self.files_failed,
            files_retried=self.files_retried,
            keys_listed=self.keys_listed,
            start_after=self.start_after,
            records=self.records,
            datapoints=self.datapoints,
            skipped_records=self.skipped_records,
            api_calls=self.api_calls,
            errors=list(self.errors),
        )


def parse_records(data: bytes) -> Iterator[dict[str, Any]]:
    """Records of one file: newline-delimited (or concatenated) JSON, gzip or not.

    Raises:
        NotJson: the content is not JSON text (e.g. OpenTelemetry protobuf).
        ValueError: the content is JSON text but not records.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    head = data.lstrip()[:1]
    if head and head not in (b"{", b"["):
        raise NotJson(
            "not JSON text (an OpenTelemetry protobuf file?): Locxia reads the json output"
            " format only"
        )
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
    """Ingests new Metric Streams files under ``settings.metric_streams_uri``.

    Args:
        retry: also read again the files the ledger holds as failed or refused, whatever
            their attempts (``locxia observe streams --retry``).
    """

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        conn: psycopg.Connection[Any],
        *,
        retry: bool = False,
    ):
        if not settings.metric_streams_uri:
            raise InputError("LOCXIA_METRIC_STREAMS_URI is not set (s3://bucket/prefix)")
        parts = urlsplit(settings.metric_streams_uri)
        self.bucket, self.prefix = parts.netloc, parts.path.lstrip("/")
        self.stream_name = settings.metric_stream_name
        self.clients = clients
        self.conn = conn
        self.retry = retry
        self.report = StreamReport()
        self._index: dict[tuple[str, str], int] = {}

    def run(self) -> StreamReport:
        """Check the stream's format, then ingest the files not yet ledgered, oldest key first.

        Listing starts after :func:`resume_after` of the ledger's greatest key; files that
        failed are read again by key, at most :data:`MAX_ATTEMPTS` times in all.

        Raises:
            InputError: the stream delivers a format Locxia does not read.
            AwsError: GetMetricStream or listing the bucket failed.
        """
        if self.stream_name:
            check_format(self._stream_format(self.stream_name), self.stream_name)
        self._index = self._resource_index()
        s3 = self.clients.client("s3")
        for key in self._retries():
            self._take(s3, key, *self._head(s3, key))
        greatest = self._greatest_key()
        after = resume_after(greatest, self.prefix) if greatest else None
        self.report.start_after = after
        done = self._ledger(after)
        for key, etag, size in self._list(s3, after):
            self.report.files_seen += 1
            if f"s3://{self.bucket}/{key}" in done:
                self.report.files_already += 1
                continue
            self._take(s3, key, etag, size)
        return self.report

    def _stream_format(self, name: str) -> str:
        cloudwatch = self.clients.client("cloudwatch")
        with aws_errors("cloudwatch", "GetMetricStream"):
            stream = cloudwatch.get_metric_stream(Name=name)
        self.report.api_calls += 1
        return str(stream.get("OutputFormat", ""))

    def _take(self, s3: S3Client, key: str, etag: str, size: int) -> None:
        """Read one file and ledger it: ingested, or failed/refused with the reason."""
        uri = f"s3://{self.bucket}/{key}"
        try:
            with aws_errors("s3", "GetObject"):
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            self.report.api_calls += 1
            self._ingest(uri, etag, size, body)
        except NotJson as exc:
            self.conn.rollback()
            self._ledger_failure(uri, etag, size, "refused", str(exc))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            self.conn.rollback()
            self._ledger_failure(uri, etag, size, "failed", f"not Metric Streams JSON ({exc})")
        except AwsError as exc:
            self.conn.rollback()
            self._ledger_failure(uri, etag, size, "failed", str(exc))

    def _ledger_failure(self, uri: str, etag: str, size: int, status: str, error: str) -> None:
        with self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO metrics.stream_files AS f (uri, etag, size_bytes, records,"
                " datapoints, skipped, status, error, attempts)"
                " VALUES (%s, %s, %s, 0, 0, 0, %s, %s, 1)"
                " ON CONFLICT (uri) DO UPDATE SET status = EXCLUDED.status,"
                " error = EXCLUDED.error, attempts = f.attempts + 1,"
                " ingested_at = clock_timestamp() WHERE f.status <> 'ingested'"
                " RETURNING attempts",
                (uri, etag, size, status, error.replace("\n", " ")),
            ).fetchone()
        attempts = row[0] if row else 0
        self.report.files_failed += 1
        self.report.errors.append(f"{uri}: {error} ({status}, attempt {attempts})")

    def _retries(self) -> list[str]:
        """Keys of ledgered failures to read again: failed below the limit, all on --retry."""
        rows = self.conn.execute(
            "SELECT uri FROM metrics.stream_files WHERE uri LIKE %s AND status <> 'ingested'"
            " AND (%s OR (status = 'failed' AND attempts < %s)) ORDER BY uri",
            (f"s3://{self.bucket}/{self.prefix}%", self.retry, MAX_ATTEMPTS),
        ).fetchall()
        self.conn.commit()
        head = f"s3://{self.bucket}/"
        self.report.files_retried = len(rows)
        return [str(r[0]).removeprefix(head) for r in rows]

    def _head(self, s3: S3Client, key: str) -> tuple[str, int]:
        """ETag and size of a file read again (0 and "" when it is gone)."""
        try:
            with aws_errors("s3", "HeadObject"):
                head = s3.head_object(Bucket=self.bucket, Key=key)
        except AwsError:
            return "", 0
        finally:
            self.report.api_calls += 1
        return str(head.get("ETag", "")).strip('"'), int(head.get("ContentLength", 0))

    def _greatest_key(self) -> str | None:
        row = self.conn.execute(
            'SELECT max(uri COLLATE "C") FROM metrics.stream_files WHERE uri LIKE %s',
            (f"s3://{self.bucket}/{self.prefix}%",),
        ).fetchone()
        self.conn.commit()
        if row is None or row[0] is None:
            return None
        return str(row[0]).removeprefix(f"s3://{self.bucket}/")

    def _resource_index(self) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(
            "SELECT type, resource_id, id FROM metrics.resources WHERE tagged AND gone_at IS NULL"
        ).fetchall()
        self.conn.commit()
        return {(DIMENSIONS[t][1], rid): int(i) for t, rid, i in rows}

    def _ledger(self, after: str | None) -> set[str]:
        """Ledgered files the listing may return again (keys after ``after``)."""
        low = f"s3://{self.bucket}/{after or self.prefix}"
        rows = self.conn.execute(
            'SELECT uri FROM metrics.stream_files WHERE uri LIKE %s AND uri COLLATE "C" > %s',
            (f"s3://{self.bucket}/{self.prefix}%", low),
        ).fetchall()
        self.conn.commit()
        return {r[0] for r in rows}

    def _list(self, s3: S3Client, after: str | None) -> Iterator[tuple[str, str, int]]:
        """Keys under the prefix after ``after`` (ListObjectsV2 ``StartAfter``), in key order."""
        paginator = s3.get_paginator("list_objects_v2")
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        if after:
            args["StartAfter"] = after
        with aws_errors("s3", "ListObjectsV2"):
            for page in paginator.paginate(**args):
                self.report.api_calls += 1
                for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
                    self.report.keys_listed += 1
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
                "INSERT INTO metrics.stream_files AS f (uri, etag, size_bytes, records,"
                " datapoints, skipped) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uri)"
                " DO UPDATE SET etag = EXCLUDED.etag, size_bytes = EXCLUDED.size_bytes,"
                " records = EXCLUDED.records, datapoints = EXCLUDED.datapoints,"
                " skipped = EXCLUDED.skipped, status = 'ingested', error = NULL,"
                " attempts = f.attempts + 1, ingested_at = clock_timestamp()"
                " WHERE f.status <> 'ingested' RETURNING uri",
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


def check_format(output_format: str, name: str) -> None:
    """Refuse a stream whose ``OutputFormat`` is not ``json``, in one line.

    Raises:
        InputError: the stream delivers OpenTelemetry (or anything but JSON).
    """
    if output_format != JSON_FORMAT:
        raise InputError(
            f"metric stream {name!r} delivers {output_format or 'an unknown format'}: Locxia"
            " reads the json output format only (no OpenTelemetry decoder is installed);"
            " set the stream's OutputFormat to json"
        )


def resume_after(greatest: str, prefix: str) -> str:
    """``StartAfter`` for the next listing, given the greatest key ledgered.

    Under Firehose's ``YYYY/MM/DD/HH/`` folders: just before the folder of the hour preceding
    the greatest key's (late buffers land there); any other layout: the key itself.
    """
    rest = greatest[len(prefix) :] if greatest.startswith(prefix) else greatest
    lead = len(greatest) - len(rest.lstrip("/"))
    match = _HOUR_FOLDER.match(greatest[lead:])
    if match is None:
        return greatest
    try:
        year, month, day, hh = (int(g) for g in match.groups())
        hour = datetime(year, month, day, hh, tzinfo=UTC)
    except ValueError:
        return greatest
    return f"{greatest[:lead]}{hour - timedelta(hours=1):%Y/%m/%d/%H}/"


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
