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
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import SourceError
from pipelines.feed.catalog import Version
from pipelines.feed.zones import Zone

MANIFEST = "_manifest.json"
MANIFEST_VERSION = 1
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
    """One part file as the manifest lists it."""

    key: str
    rows: int
    bytes: int
    sha256: str
    cell: int
    bbox: list[float] | None

    def as_json(self) -> dict[str, Any]:
        """The manifest's entry."""
        return {
            "key": self.key,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "cell": self.cell,
            "bbox": self.bbox,
        }


@dataclass(frozen=True)
class Manifest:
    """The parts of a partitioned version and their total rows."""

    rows: int
    parts: tuple[Part, ...]
    version: int = MANIFEST_VERSION

    @property
    def size(self) -> int:
        """The parts' bytes together (the version's size in the catalog)."""
        return sum(p.bytes for p in self.parts)

    def to_bytes(self) -> bytes:
        """The manifest file: stable JSON (its SHA-256 is the version's checksum)."""
        doc = {
            "version": self.version,
            "rows": self.rows,
            "parts": [p.as_json() for p in self.parts],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, data: bytes, where: str) -> Manifest:
        """The manifest in ``data``.

        Raises:
            SourceError: not a manifest of a version this code reads (``where`` names it).
        """
        try:
            doc = json.loads(data)
            if doc["version"] != MANIFEST_VERSION:
                raise ValueError(f"manifest version {doc['version']}, expected {MANIFEST_VERSION}")
            parts = tuple(
                Part(
                    key=str(p["key"]),
                    rows=int(p["rows"]),
                    bytes=int(p["bytes"]),
                    sha256=str(p["sha256"]),
                    cell=int(p["cell"]),
                    bbox=[float(v) for v in p["bbox"]] if p.get("bbox") else None,
                )
                for p in doc["parts"]
            )
            manifest = cls(rows=int(doc["rows"]), parts=parts)
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"{where}: not a readable partition manifest ({exc})") from exc
        if sum(p.rows for p in parts) != manifest.rows:
            raise SourceError(f"{where}: the manifest's parts do not add up to its rows")
        return manifest


def is_prefix(key: str) -> bool:
    """Whether a working key names a partitioned version (a prefix) rather than a file."""
    return key.endswith("/")


def is_partitioned(version: Version) -> bool:
    """Whether ``version`` is a partitioned dataset (a prefix with a manifest)."""
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


def read_manifest(zone: Zone, key: str) -> Manifest:
    """The manifest of the partitioned version at prefix ``key`` in ``zone``.

    Raises:
        SourceError: the manifest is missing or unreadable.
    """
    with tempfile.TemporaryDirectory(prefix="locxia-manifest-") as tmp:
        path = zone.fetch(manifest_key(key), Path(tmp))
        data = path.read_bytes()
    return Manifest.parse(data, zone.uri_for(manifest_key(key)))
