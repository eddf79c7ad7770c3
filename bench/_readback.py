"""Read a refined layer back three ways and reduce it to figures that do not depend on row order.

A working version is one GeoParquet file (in-process refine) or a directory of part files
``cell=NN/part-PPPPP.parquet`` plus ``_manifest.json`` (the Dask path). Either is read

* by **pyarrow** (``pyarrow.dataset``, hive partitioning for a directory),
* by **GDAL**: pyogrio's GDAL has no Parquet driver, but its ADBC driver can load DuckDB's
  engine (the ``_duckdb`` extension module of the ``duckdb`` wheel is an ADBC driver) and run
  ``read_parquet('<dir>/**/*.parquet', hive_partitioning = true)``; rows come through GDAL's
  Arrow stream, the geometry as WKB binary;

and the published table is read by **PostGIS** (SQL). Each reader yields the same
:class:`Stats`: rows, distinct ids, sum of areas (m², EPSG:2154), and two order-independent
checksums — the sum of the first 60 bits of the MD5 of each row's attributes written as text
(``id|height|levels|usage|name|built``, NULL as empty) and of each geometry's WKB. Sums of
per-row hashes do not depend on the order rows come in, so a partitioned output can be
compared with a sorted single file, and a duplicated or missing row changes them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ATTRIBUTES = ("id", "height", "levels", "usage", "name", "built")
GEOMETRY = "geom"
BATCH = 65_536
AREA_RTOL = 1e-9  # float sums in another order differ in the last bits, never more


@dataclass(frozen=True)
class Stats:
    """What a reader saw of a layer (see the module docstring)."""

    rows: int
    distinct_ids: int
    area_m2: float
    attributes: int
    geometries: int

    def same_as(self, other: Stats) -> bool:
        """Same rows, ids, attributes and geometries; areas equal to float precision."""
        return (
            self.rows == other.rows
            and self.distinct_ids == other.distinct_ids
            and self.attributes == other.attributes
            and self.geometries == other.geometries
            and math.isclose(self.area_m2, other.area_m2, rel_tol=AREA_RTOL)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "distinct_ids": self.distinct_ids,
            "area_m2": self.area_m2,
            "attributes": str(self.attributes),  # > 2**63: JSON readers would round it
            "geometries": str(self.geometries),
        }


def _h60(data: bytes) -> int:
    return int.from_bytes(hashlib.md5(data).digest()[:8], "big") >> 4


def row_texts(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """Each row's attributes as ``id|height|levels|usage|name|built`` (NULL written empty).

    Arrow's casts write numbers the way PostgreSQL's ``::text`` does (shortest round-trip
    float, ISO date), so the PostGIS reader computes the same text in SQL.
    """
    columns = [pc.fill_null(pc.cast(batch.column(name), pa.string()), "") for name in ATTRIBUTES]
    joined = pc.binary_join_element_wise(*columns, "|")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def checksum(values: pa.Array) -> int:
    """Sum of the first 60 bits of the MD5 of each (binary or text) value."""
    data = values.cast(pa.binary()).to_numpy(zero_copy_only=False)
    return sum(_h60(v) for v in data)


class Accumulator:
    """Folds batches into :class:`Stats` (areas summed exactly with ``math.fsum``)."""

    def __init__(self) -> None:
        self.rows = 0
        self.attributes = 0
        self.geometries = 0
        self.areas: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []

    def add(self, batch: pa.RecordBatch) -> None:
        import shapely

        self.rows += batch.num_rows
        self.attributes += checksum(row_texts(batch))
        wkb = batch.column(GEOMETRY)
        if isinstance(wkb.type, pa.ExtensionType):
            wkb = wkb.storage
        self.geometries += checksum(wkb)
        geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))
        self.areas.append(shapely.area(geoms))
        self.ids.append(batch.column("id").to_numpy(zero_copy_only=False).astype(np.int64))

    def stats(self) -> Stats:
        areas = np.concatenate(self.areas) if self.areas else np.empty(0)
        ids = np.concatenate(self.ids) if self.ids else np.empty(0, np.int64)
        return Stats(
            self.rows,
            len(np.unique(ids)),
            math.fsum(areas.tolist()),
            self.attributes,
            self.geometries,
        )


def read_pyarrow(path: Path) -> Stats:
    """The layer through ``pyarrow.dataset`` (hive partitioning when ``path`` is a directory).

    Files starting with ``_`` or ``.`` (``_manifest.json``) are ignored by pyarrow.dataset.
    """
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
    acc = Accumulator()
    for batch in dataset.to_batches(columns=[*ATTRIBUTES, GEOMETRY], batch_size=BATCH):
        acc.add(batch)
    return acc.stats()


def duckdb_adbc_driver() -> str:
    """The path of DuckDB's extension module, which is also an ADBC driver GDAL can load."""
    import duckdb

    site = Path(duckdb.__file__).resolve().parents[1]
    found = sorted(site.glob("_duckdb*.so")) or sorted(Path(duckdb.__file__).parent.glob("*.so"))
    if not found:
        raise RuntimeError(f"no _duckdb*.so next to {duckdb.__file__}")
    return str(found[0])


def gdal_sql(path: Path) -> str:
    """The DuckDB SQL GDAL's ADBC driver runs to read ``path`` (a file or a partitioned dir)."""
    target = f"{path}/**/*.parquet" if path.is_dir() else str(path)
    quoted = target.replace("'", "''")
    hive = "true" if path.is_dir() else "false"
    columns = ", ".join([*ATTRIBUTES, GEOMETRY])
    return f"SELECT {columns} FROM read_parquet('{quoted}', hive_partitioning = {hive})"


def read_gdal(path: Path) -> Stats:
    """The layer through GDAL (pyogrio, ADBC driver → DuckDB ``read_parquet``), streamed."""
    from pyogrio.raw import open_arrow

    acc = Accumulator()
    with open_arrow(
        "ADBC:",
        batch_size=BATCH,
        use_pyarrow=True,
        ADBC_DRIVER=duckdb_adbc_driver(),
        SQL=gdal_sql(path),
    ) as (_meta, reader):
        for batch in reader:
            acc.add(batch)
    return acc.stats()


POSTGIS_SQL = """
SELECT count(*),
       count(DISTINCT id),
       sum(ST_Area(geom)),
       sum(('x' || substr(md5(concat_ws('|', coalesce(id::text, ''),
           coalesce(height::text, ''), coalesce(levels::text, ''), coalesce(usage, ''),
           coalesce(name, ''), coalesce(built::text, ''))), 1, 15))::bit(60)::bigint),
       sum(('x' || substr(md5(ST_AsBinary(geom)), 1, 15))::bit(60)::bigint)
FROM {}
"""


def read_postgis(url: str, schema: str, table: str) -> Stats:
    """The published table, reduced in SQL to the same figures (DateStyle ISO for dates)."""
    from psycopg import sql

    from infra.db import connect

    with connect(url) as conn:
        conn.execute("SET DateStyle = 'ISO, YMD'")
        query = sql.SQL(POSTGIS_SQL).format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        conn.rollback()
    assert row is not None
    return Stats(int(row[0]), int(row[1]), float(row[2] or 0), int(row[3] or 0), int(row[4] or 0))


@dataclass(frozen=True)
class Layout:
    """What a partitioned output looks like on disk."""

    files: int
    partitions: int
    manifest: bool
    geoparquet_11_with_covering: int  # files whose 'geo' metadata is 1.1 with a bbox covering
    pruned_files: int  # files a filter on one partition value opens
    bytes: int


def layout(path: Path) -> Layout:
    """Count part files and partitions, check each file's GeoParquet metadata, test pruning."""
    import json

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted(path.rglob("*.parquet"))
    cells = sorted({p.parent.name for p in files if "=" in p.parent.name})
    good = 0
    for f in files:
        geo = json.loads((pq.read_schema(f).metadata or {}).get(b"geo", b"{}"))
        column = geo.get("columns", {}).get(geo.get("primary_column", ""), {})
        good += int(geo.get("version") == "1.1.0" and "covering" in column)
    pruned = len(files)
    if cells:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
        key, value = cells[0].split("=", 1)
        field_type = dataset.schema.field(key).type
        wanted = pa.scalar(value).cast(field_type)
        pruned = len(list(dataset.get_fragments(filter=pc.field(key) == wanted)))
    return Layout(
        len(files),
        len(cells),
        (path / "_manifest.json").exists(),
        good,
        pruned,
        sum(f.stat().st_size for f in files),
    )
