"""The layout of a partitioned working version: part files under a prefix, and their manifest.

A layer refined on the Dask cluster (:mod:`pipelines.feed.partitioned`) is not one GeoParquet
file but a GeoParquet 1.1 dataset under a key PREFIX ending in ``/``::

    <name>/<checksum16>-<digest8>/<name>.parts/
        cell=NN/part-PPPPP.parquet      rows of partition PPPPP in spatial cell NN
        _manifest.json                  written LAST: the version exists once it does

``cell`` is the coarse Hilbert cell of each row's bbox centre (the top :data:`CELL_BITS` bits
of the refine key), a hive-style partition key: a reader filtering on ``cell`` (or on the
manifest's per-part bbox) opens only the files of the cells it wants. Part names are
deterministic (partition index + cell), so a partition run again after a lost worker
overwrites its own files; the manifest lists the parts the run's task results name, never a
listing, so a stray file is never counted. Every consumer of working versions (refine's
no-op check, publish) goes through this module to tell a prefix from a file.

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
FORMAT_VERSION = 1
CELL_BITS = 4  # 16 cells: a 4x4 Hilbert grid over the layer's bounds (France: ~250 km cells)
KEY_BITS = 32  # the refine key is a 16th-order Hilbert index (uint32)
LAYOUT = "partitioned"


def cell_of(keys: Any) -> Any:
    """The cell of each refine key (numpy ``uint32`` array → small integers)."""
    return keys >> (KEY_BITS - CELL_BITS)


def part_key(partition: int, cell: int) -> str:
    """The key of one part, relative to its version's prefix."""
    return f"cell={cell:02d}/part-{partition:05d}.parquet"


@dataclass(frozen=True)
class Part:
    """One part file: its key relative to the version's prefix, and what the manifest says."""

    key: str
    rows: int
    bytes: int
    sha256: str
    cell: int
    bbox: tuple[float, ...] | None

    def as_json(self) -> dict[str, Any]:
        """The manifest's entry."""
        return {
            "key": self.key,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "cell": self.cell,
            "bbox": list(self.bbox) if self.bbox is not None else None,
        }


@dataclass(frozen=True)
class Manifest:
    """The parts of a partitioned version, in manifest order; ``rows`` is their sum.

    ``prefix`` is the version's key (empty while refine is still writing it).
    """

    rows: int
    parts: tuple[Part, ...]
    prefix: str = ""

    @property
    def size(self) -> int:
        """The parts' bytes together (the version's size in the catalog)."""
        return sum(p.bytes for p in self.parts)

    def full_key(self, part: Part) -> str:
        """The zone key of ``part``."""
        return self.prefix + part.key

    def to_bytes(self) -> bytes:
        """The manifest file: stable JSON (its SHA-256 is the version's checksum)."""
        doc = {
            "version": FORMAT_VERSION,
            "rows": self.rows,
            "parts": [p.as_json() for p in self.parts],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def is_prefix(key: str) -> bool:
    """Whether a working key names a partitioned version (a prefix) rather than a file."""
    return key.endswith("/")


def is_partitioned(version: Version) -> bool:
    """Whether ``version`` is a partitioned working version (a prefix, not one file)."""
    return is_prefix(version.key) or version.provenance.get("layout") == LAYOUT


def manifest_key(prefix: str) -> str:
    """The manifest's key under ``prefix``."""
    return f"{prefix}{MANIFEST}"


def uri_of(zone: Zone, prefix: str) -> str:
    """The URI the catalog records for a prefix (ends in ``/``, as the key does)."""
    return zone.uri_for(prefix.rstrip("/")) + "/"


def stored(zone: Zone, key: str) -> bool:
    """Whether a version's data is in ``zone``: its manifest for a prefix, else the file."""
    return zone.exists(manifest_key(key) if is_prefix(key) else key)


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
    where = manifest_key(prefix)
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
    return Manifest(rows=rows, parts=parts, prefix=prefix)


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
        local = zone.fetch(manifest_key(key), Path(scratch))
        text = local.read_text(encoding="utf-8")
    return parse_manifest(key, text)
