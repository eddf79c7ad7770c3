"""Partitioned working versions made by hand, to the layout refine writes (pipelines.feed.partset).

A working GeoParquet file (refined in process, or generated here) is split by rows into parts
``cell=NN/part-PPPPP.parquet`` under a prefix of the working zone, with the ``_manifest.json``
written last, and recorded in the catalog as a working version whose provenance says
``"layout": "partitioned"``. Publish tests then load the same rows both ways.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.geoparquet import bbox_type, geo_metadata
from pipelines.feed.partset import LAYOUT, MANIFEST
from pipelines.feed.zones import zone


def part_key(cell: int, index: int) -> str:
    """A part's key relative to its prefix."""
    return f"cell={cell:02d}/part-{index:05d}.parquet"


def split(
    settings: Settings, source: Path, prefix: str, parts: int, scratch: Path, cells: int = 2
) -> dict[str, Any]:
    """Split ``source`` by rows into ``parts`` parts under ``prefix``; return the manifest."""
    table = pq.read_table(source)
    working = zone(settings, "working")
    scratch.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // parts)
    listed = []
    for i in range(parts):
        piece = table.slice(i * step, step)
        key = part_key(i % cells, i)
        local = scratch / f"part-{i:05d}.parquet"
        pq.write_table(piece, local, compression="zstd")
        data = local.read_bytes()
        box = piece.column("bbox").combine_chunks()
        listed.append(
            {
                "key": key,
                "rows": piece.num_rows,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "cell": i % cells,
                "bbox": [
                    float(np.min(box.field("xmin"))),
                    float(np.min(box.field("ymin"))),
                    float(np.max(box.field("xmax"))),
                    float(np.max(box.field("ymax"))),
                ],
            }
        )
        working.put_file(local, prefix + key)
    manifest = {"version": 1, "rows": table.num_rows, "parts": listed}
    write_manifest(settings, prefix, manifest, scratch)
    return manifest


def write_manifest(
    settings: Settings, prefix: str, manifest: dict[str, Any], scratch: Path
) -> None:
    """Store ``manifest`` at ``prefix/_manifest.json``."""
    scratch.mkdir(parents=True, exist_ok=True)
    local = scratch / MANIFEST
    local.write_text(json.dumps(manifest), encoding="utf-8")
    zone(settings, "working").put_file(local, prefix + MANIFEST)


def register(
    conn: Any,
    settings: Settings,
    name: str,
    prefix: str,
    manifest: dict[str, Any],
    like: catalog.Version | None = None,
) -> catalog.Version:
    """Record the partitioned working version at ``prefix`` (committed).

    ``like`` is the in-process working version of the same rows: its rules, quality report
    and extent are kept, so the two publish the same table.
    """
    version = catalog.insert(
        conn,
        catalog.NewVersion(
            dataset=name,
            zone="working",
            uri=zone(settings, "working").uri_for(prefix.rstrip("/")) + "/",
            fingerprint=f"partitioned:{prefix}",
            checksum=hashlib.sha256(json.dumps(manifest).encode()).hexdigest(),
            status="ready",
            parent_id=like.parent_id if like else None,
            rows=manifest["rows"],
            bytes=sum(p["bytes"] for p in manifest["parts"]),
            crs="EPSG:2154",
            bbox=like.bbox if like else None,
            geometry_types=like.geometry_types if like else ["Polygon"],
            layer=like.layer if like else None,
            quality=like.quality if like else {"feature_key": "fid"},
            provenance={"key": prefix, "layout": LAYOUT},
        ),
    )
    conn.commit()
    return version


def synthetic_working(path: Path, rows: int, seed: int = 3) -> Path:
    """A working GeoParquet file of ``rows`` small squares over France (EPSG:2154), fast.

    Columns as refine writes them: ``fid``, attributes, ``geom`` WKB, ``bbox`` covering.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(200_000, 1_000_000, rows)
    y = rng.uniform(6_250_000, 7_000_000, rows)
    side = rng.uniform(5, 40, rows)
    geoms = shapely.box(x, y, x + side, y + side)
    bbox = pa.StructArray.from_arrays(
        [pa.array(x), pa.array(y), pa.array(x + side), pa.array(y + side)],
        fields=list(bbox_type()),
    )
    table = pa.table(
        {
            "fid": pa.array(np.arange(1, rows + 1), pa.int64()),
            "id": pa.array(rng.integers(0, 1 << 40, rows), pa.int64()),
            "usage": pa.array([f"u{i % 7}" for i in range(rows)]),
            "height": pa.array(rng.uniform(2, 60, rows)),
            "geom": pa.array(shapely.to_wkb(geoms), pa.binary()),
            "bbox": bbox,
        }
    )
    extent = [float(x.min()), float(y.min()), float((x + side).max()), float((y + side).max())]
    geo = geo_metadata(CRS.from_epsg(2154).to_json_dict(), ["Polygon"], extent)
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path, compression="zstd", row_group_size=50_000)
    return path
