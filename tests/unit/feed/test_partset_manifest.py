"""The manifest of a partitioned working version: parsed strictly, every error names its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.errors import FormatError
from pipelines.feed.catalog import Version
from pipelines.feed.partset import is_partitioned, parse_manifest

SHA = "ab" * 32


def manifest(**changes: Any) -> dict[str, Any]:
    parts = [
        {"key": "cell=01/part-00000.parquet", "rows": 3, "bytes": 10, "sha256": SHA, "cell": 1,
         "bbox": [0, 0, 1, 1]},
        {"key": "cell=02/part-00001.parquet", "rows": 2, "bytes": 9, "sha256": SHA, "cell": 2,
         "bbox": None},
    ]  # fmt: skip
    return {"version": 1, "rows": 5, "parts": parts, **changes}


def test_a_valid_manifest_is_parsed_in_order() -> None:
    parsed = parse_manifest("roofs/p/", json.dumps(manifest()))
    assert parsed.rows == 5
    assert [p.key for p in parsed.parts] == [
        "cell=01/part-00000.parquet",
        "cell=02/part-00001.parquet",
    ]
    assert parsed.parts[0].bbox == (0.0, 0.0, 1.0, 1.0) and parsed.parts[1].bbox is None
    assert parsed.full_key(parsed.parts[1]) == "roofs/p/cell=02/part-00001.parquet"


def _with_part(**fields: Any) -> dict[str, Any]:
    raw = manifest()
    raw["parts"][1].update(fields)
    return raw


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("not json", "not JSON"),
        (json.dumps(manifest(version=2)), "version 1"),
        (json.dumps(manifest(parts={})), r"parts: expected a list"),
        (json.dumps(manifest(rows=6)), "parts hold 5 rows, the manifest says 6"),
        (json.dumps(_with_part(key="../x.parquet")), r"parts\[1\]\.key"),
        (json.dumps(_with_part(key="cell=01/part-00000.parquet")), "listed twice"),
        (json.dumps(_with_part(rows=-1)), r"parts\[1\]\.rows"),
        (json.dumps(_with_part(rows=True)), r"parts\[1\]\.rows"),
        (json.dumps(_with_part(sha256="XYZ")), r"parts\[1\]\.sha256"),
        (json.dumps(_with_part(bbox=[1, 2])), r"parts\[1\]\.bbox"),
        (json.dumps(_with_part(key="cell=01/part.csv")), r"parts\[1\]\.key"),
    ],
    ids=[
        "not-json", "version", "parts-not-list", "rows-sum", "key-escapes", "duplicate",
        "negative-rows", "bool-rows", "sha", "bbox", "not-parquet",
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_refused_naming_the_field(raw: str, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        parse_manifest("roofs/p/", raw)


def _version(key: str, layout: str | None) -> Version:
    provenance: dict[str, Any] = {"key": key}
    if layout:
        provenance["layout"] = layout
    return Version(
        id=1, dataset="roofs", zone="working", uri="file:///w/" + key, parent_id=None,
        fingerprint="f", rows=1, bytes=1, checksum="c", crs="EPSG:2154", bbox=None,
        geometry_types=[], layer=None, status="ready", quality=None, provenance=provenance,
        run_id=None, created_at=datetime.now(UTC),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "layout", "expected"),
    [
        ("roofs/a/roofs.parquet", None, False),
        ("roofs/a/", "partitioned", True),
        ("roofs/a/", None, True),
    ],
    ids=["one-file", "declared", "prefix"],
)
def test_is_partitioned(key: str, layout: str | None, expected: bool) -> None:
    assert is_partitioned(_version(key, layout)) is expected
