"""Sources and zones: HTTP from a local server, S3 (moto server) as source and as zones."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pyarrow as pa
import pytest

from infra.errors import SourceError
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.ingest import ingest, land_url
from pipelines.feed.publish import publish
from pipelines.feed.refine import refine
from pipelines.feed.zones import zone
from tests.support import formats


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_source_lands_with_provenance_and_refetch_is_noop(
    http_root: tuple[Path, str],
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    root, base = http_root
    path, _ = formats.flatgeobuf(canonical, root)
    first = ingest(conn, settings, "from_http", f"{base}/{path.name}")
    assert not first.noop
    assert first.version.provenance["kind"] == "http"
    assert first.version.provenance["source"].startswith("http://127.0.0.1:")
    assert first.version.rows == len(canonical)
    stored = zone(settings, "landing").fetch(first.version.key, tmp_path)
    assert stored.read_bytes() == path.read_bytes()
    assert ingest(conn, settings, "from_http", f"{base}/{path.name}").noop


def test_http_errors_are_one_line(
    http_root: tuple[Path, str], conn: psycopg.Connection[Any], settings: Settings
) -> None:
    _, base = http_root
    with pytest.raises(SourceError, match=r"HTTP 404"):
        ingest(conn, settings, "missing", f"{base}/nothing.gpkg")
    assert catalog.versions(conn, "missing") == []


def test_url_without_file_name_is_sniffed(
    http_root: tuple[Path, str],
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
) -> None:
    root, base = http_root
    path, _ = formats.gpkg_multi(canonical, root)
    path.rename(root / "download")
    done = ingest(conn, settings, "sniffed", f"{base}/download", "buildings")
    assert done.version.uri.endswith("download.gpkg")


@pytest.fixture
def s3_settings(aws_settings: Settings) -> Settings:
    s3 = boto3.client("s3", endpoint_url=aws_settings.aws_endpoint_url, region_name="eu-west-3")
    for bucket in ("locxia-landing", "locxia-working", "raw-source"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
    return aws_settings.model_copy(
        update={
            "landing_uri": "s3://locxia-landing/zones/landing",
            "working_uri": "s3://locxia-working/working",
        }
    )


def test_s3_source_and_s3_zones_end_to_end(
    s3_settings: Settings, canonical: pa.Table, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path, layer = formats.shapefile(canonical, tmp_path)
    s3 = boto3.client("s3", endpoint_url=s3_settings.aws_endpoint_url, region_name="eu-west-3")
    s3.upload_file(str(path), "raw-source", "deliveries/batiments.zip")
    landed = ingest(conn, s3_settings, "bati", "s3://raw-source/deliveries/batiments.zip", layer)
    assert landed.version.uri.startswith("s3://locxia-landing/zones/landing/bati/")
    assert landed.version.provenance["kind"] == "s3"
    refined = refine(conn, s3_settings, "bati")
    assert refined.version.uri.startswith("s3://locxia-working/working/bati/")
    keys = zone(s3_settings, "working").keys("bati")
    assert keys == [refined.version.key]
    out = publish(conn, s3_settings, "bati")
    assert out.version.rows == len(canonical)
    count = conn.execute("SELECT count(*) FROM exposure.bati").fetchone()
    assert count is not None and count[0] == len(canonical)
    body = s3.get_object(Bucket="locxia-landing", Key=f"zones/landing/{landed.version.key}")["Body"]
    assert body.read() == path.read_bytes()


def test_transfer_url_lands_any_bytes_once(
    s3_settings: Settings, conn: psycopg.Connection[Any], http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    (root / "notes.pdf").write_bytes(b"%PDF-1.4 not a layer")
    first = land_url(conn, s3_settings, "docs", f"{base}/notes.pdf")
    again = land_url(conn, s3_settings, "docs", f"{base}/notes.pdf")
    assert not first.noop and again.noop and again.version.id == first.version.id
    assert (
        first.version.uri
        == "s3://locxia-landing/zones/landing/docs/" + first.version.key.split("/", 1)[1]
    )
    assert [e["step"] for e in catalog.lineage(conn, "docs")] == ["transfer"]
