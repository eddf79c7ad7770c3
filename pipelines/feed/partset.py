"""Partitioned working versions: a prefix of GeoParquet part files and the manifest naming them.

A working version refined as partitioned work (issue 17) is not one file but a *prefix* in the
working zone (its catalog key ends with ``/``) holding::

    <prefix>cell=NN/part-PPPPP.parquet   GeoParquet 1.1 parts, one schema (fid, attributes,
                                         geom WKB in EPSG:2154, bbox covering), spatially sorted
    <prefix>_manifest.json               written last: the parts, their rows, bytes and SHA-256

The manifest is the version's table of contents: a reader never lists the prefix (a listing
could see a part of an attempt that lost, or miss one on an eventually consistent store), and a
prefix without a manifest is not a version yet. Its format::

    {"version": 1, "rows": total,
     "parts": [{"key": "cell=03/part-00000.parquet", "rows": n, "bytes": b,
                "sha256": hex, "cell": 3, "bbox": [xmin, ymin, xmax, ymax]}, ...]}

The version's provenance says ``"layout": "partitioned"``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import FormatError, InputError
from pipelines.feed.catalog import Version
from pipelines.feed.zones import Zone, check_key

MANIFEST = "_manifest.json"
LAYOUT = "partitioned"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One part file: its key relative to the version's prefix, and what the manifest says."""

    key: str
    rows: int
    bytes: int
    sha256: str
    cell: int
    bbox: tuple[float, ...] | None


@dataclass(frozen=True)
class Manifest:
    """The parts of a partitioned working version, in manifest order; ``rows`` is their sum."""

    prefix: str
    rows: int
    parts: tuple[Part, ...]

    def full_key(self, part: Part) -> str:
        """The zone key of ``part``."""
        return self.prefix + part.key


def is_partitioned(version: Version) -> bool:
    """Whether ``version`` is a partitioned working version (a prefix, not one file)."""
    return version.provenance.get("layout") == LAYOUT or version.key.endswith("/")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"{where}: expected a count, got {value!r}")
    return value


def _part(raw: Any, where: str) -> Part:
    if not isinstance(raw, dict):
        raise FormatError(f"{where}: expected an object")
    key = raw.get("key")
    sha = raw.get("sha256")
    if not isinstance(key, str) or not key.endswith(".parquet"):
        raise FormatError(f"{where}.key: expected a relative .parquet key, got {key!r}")
    try:
        check_key(key)
    except InputError as exc:
        raise FormatError(f"{where}.key: {exc}") from exc
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise FormatError(f"{where}.sha256: expected 64 lowercase hex digits")
    bbox = raw.get("bbox")
    if bbox is not None and not (
        isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)
    ):
        raise FormatError(f"{where}.bbox: expected [xmin, ymin, xmax, ymax]")
    return Part(
        key=key,
        rows=_int(raw.get("rows"), f"{where}.rows"),
        bytes=_int(raw.get("bytes"), f"{where}.bytes"),
        sha256=sha,
        cell=_int(raw.get("cell"), f"{where}.cell"),
        bbox=tuple(float(v) for v in bbox) if bbox is not None else None,
    )


def parse_manifest(prefix: str, text: str) -> Manifest:
    """Validate a manifest's JSON into a :class:`Manifest` (every error names the field).

    Raises:
        FormatError: not JSON, an unknown format version, a malformed part, a key listed
            twice, or parts whose rows do not add up to ``rows``.
    """
    where = prefix + MANIFEST
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
        raise FormatError(f"{where}: expected a manifest of version {FORMAT_VERSION}")
    listed = raw.get("parts")
    if not isinstance(listed, list):
        raise FormatError(f"{where}.parts: expected a list")
    parts = tuple(_part(p, f"{where}.parts[{i}]") for i, p in enumerate(listed))
    keys = [p.key for p in parts]
    if len(set(keys)) != len(keys):
        raise FormatError(f"{where}.parts: a part is listed twice")
    rows = _int(raw.get("rows"), f"{where}.rows")
    if sum(p.rows for p in parts) != rows:
        raise FormatError(
            f"{where}: parts hold {sum(p.rows for p in parts)} rows, the manifest says {rows}"
        )
    return Manifest(prefix=prefix, rows=rows, parts=parts)


def read_manifest(zone: Zone, key: str) -> Manifest:
    """The manifest of the partitioned version at prefix ``key`` (ending with ``/``).

    Raises:
        InputError: ``key`` is not a prefix.
        SourceError: no manifest under the prefix (the version was never completed).
        FormatError: the manifest is malformed (see :func:`parse_manifest`).
    """
    if not key.endswith("/"):
        raise InputError(f"{key!r} is not the prefix of a partitioned version", "zone key")
    with tempfile.TemporaryDirectory(prefix="locxia-manifest-") as scratch:
        local = zone.fetch(key + MANIFEST, Path(scratch))
        text = local.read_text(encoding="utf-8")
    return parse_manifest(key, text)
