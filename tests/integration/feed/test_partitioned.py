"""Partitioned refine on the embedded Dask cluster gives the in-process output, exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import shapely

from infra.errors import QualityError
from infra.settings import Settings
from pipelines.feed import catalog, partset
from pipelines.feed.formats import RowRange, open_layer
from pipelines.feed.geoparquet import FID, GEOMETRY
from pipelines.feed.ingest import ingest
from pipelines.feed.partitioned import plan
from pipelines.feed.refine import refine
from pipelines.feed.zones import FileZone, zone
from tests.corpus import sources
from tests.integration.feed.conftest import declare
from tests.support import formats, geodata

ROWS = 50_000
PARTITION_ROWS = 12_000  # five partitions
ENGINE_KEYS = {"engine", "partitions", "workers", "row_groups"}


def on_dask(settings: Settings, partition_rows: int = PARTITION_ROWS) -> Settings:
    """Every layer on the embedded 2-worker cluster, in small partitions.

    ``model_copy`` does not validate: partitions below the setting's floor (10,000 rows) are
    what lets a small real layer be cut in several.
    """
    return settings.model_copy(
        update={
            "dask_min_rows": 0,
            "dask_partition_rows": partition_rows,
            "dask_local_workers": 2,
        }
    )


def in_process(settings: Settings) -> Settings:
    return settings.model_copy(update={"dask_min_rows": 10**12})


def working_table(settings: Settings, version: catalog.Version) -> pa.Table:
    """A working version as one table: the file, or the hive-partitioned parts."""
    root = zone(settings, "working")
    assert isinstance(root, FileZone)
    if partset.is_partitioned(version):
        data = pads.dataset(root.root / version.key, format="parquet", partitioning="hive")
        return data.to_table().drop_columns(["cell"])
    return pq.read_table(root.root / version.key)


def by_fid(table: pa.Table) -> pa.Table:
    return table.sort_by(FID)


def area_sum(table: pa.Table) -> float:
    geoms = shapely.from_wkb(table.column(GEOMETRY).to_numpy(zero_copy_only=False))
    return float(shapely.area(geoms).sum())


def both_ways(
    conn: psycopg.Connection[Any],
    settings: Settings,
    path: Path,
    layer: str | None,
    rules: str = "{}",
    partition_rows: int = PARTITION_ROWS,
) -> tuple[catalog.Version, catalog.Version]:
    """The same file ingested as two datasets, refined in process and on the cluster."""
    out = []
    for name, how in (
        ("inproc", in_process(settings)),
        ("ondask", on_dask(settings, partition_rows)),
    ):
        declare(conn, name, rules)
        ingest(conn, how, name, str(path), layer)
        out.append(refine(conn, how, name).version)
    return out[0], out[1]


def assert_same_output(settings: Settings, mine: catalog.Version, theirs: catalog.Version) -> None:
    """Same rows, FIDs, attributes, geometries and report; only the engine's keys differ."""
    a, b = by_fid(working_table(settings, mine)), by_fid(working_table(settings, theirs))
    assert a.num_rows == b.num_rows == mine.rows == theirs.rows
    assert a.column(FID).to_pylist() == b.column(FID).to_pylist()
    assert np.unique(b.column(FID).to_numpy()).size == b.num_rows  # each row exactly once
    for column in a.column_names:
        assert a.column(column).equals(b.column(column)), column
    assert area_sum(b) == pytest.approx(area_sum(a), rel=1e-6)
    left, right = dict(mine.quality or {}), dict(theirs.quality or {})
    assert right["engine"] == "dask" and right["partitions"] > 1 and right["workers"] == 2
    for key in ENGINE_KEYS:
        left.pop(key, None)
        right.pop(key, None)
    # the dataset's name is in the report and in the remedies its checks name
    same = json.dumps(left, sort_keys=True).replace(mine.dataset, "NAME")
    assert same == json.dumps(right, sort_keys=True).replace(theirs.dataset, "NAME")
    assert mine.bbox == pytest.approx(theirs.bbox)
    assert mine.geometry_types == theirs.geometry_types


@pytest.fixture(scope="module")
def corpus() -> dict[str, Path]:
    """The real public layers (fetched from their registries once per machine)."""
    return sources.fetch()


@pytest.fixture(scope="module")
def big() -> pa.Table:
    """Footprints over France with 5 % invalid geometries (repaired, some collapse)."""
    return geodata.layer_table(ROWS, seed=23, invalid_share=0.05)


def _geoparquet_groups(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """GeoParquet in row groups of 5,000 (partitions are whole row groups)."""
    path, layer = formats.geoparquet(table, folder)
    pq.write_table(pq.read_table(path), path, row_group_size=5_000)
    return path, layer


SOURCES = {"gpkg": formats.gpkg_multi, "geoparquet": _geoparquet_groups}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(SOURCES), ids=list(SOURCES))
def test_dask_path_equals_in_process(
    fmt: str, big: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, layer = SOURCES[fmt](big, tmp_path)
    mine, theirs = both_ways(conn, settings, path, layer)
    assert (theirs.quality or {})["geometry"]["repaired"] > 0
    assert_same_output(settings, mine, theirs)
    assert theirs.uri.endswith("/ondask.parts/") and theirs.provenance["layout"] == "partitioned"
    manifest = partset.read_manifest(zone(settings, "working"), theirs.key)
    assert manifest.rows == theirs.rows
    assert theirs.bytes == manifest.size and len(manifest.parts) > 5
    # the same landing version and rules again: a no-op, the prefix found by its manifest
    again = refine(conn, on_dask(settings), "ondask")
    assert again.noop and again.version.id == theirs.id


@pytest.mark.slow
def test_real_public_layer_same_both_ways(
    conn: psycopg.Connection[Any], settings: Settings, corpus: dict[str, Path]
) -> None:
    """Natural Earth countries (a Shapefile gathered into a zip at ingest), 177 rows."""
    shp = corpus["pyogrio"] / "pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    # the world is outside France's bounds, Antarctica cannot be projected to Lambert-93
    mine, theirs = both_ways(conn, settings, shp, None, '{"max_outside": 1000}', 40)
    assert (theirs.quality or {})["partitions"] == 5
    assert (theirs.quality or {})["geometry"]["unprojectable"] == 1
    assert_same_output(settings, mine, theirs)


@pytest.mark.slow
def test_parts_read_back_by_pyarrow_and_prune_by_cell(
    big: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, layer = formats.geoparquet(big, tmp_path)
    declare(conn, "cells")
    ingest(conn, settings, "cells", str(path), layer)
    version = refine(conn, on_dask(settings), "cells").version
    working = zone(settings, "working")
    assert isinstance(working, FileZone)
    manifest = partset.read_manifest(working, version.key)
    data = pads.dataset(working.root / version.key, format="parquet", partitioning="hive")
    assert data.count_rows() == manifest.rows == version.rows
    listed = sorted(Path(f).relative_to(working.root / version.key).as_posix() for f in data.files)
    assert listed == sorted(p.key for p in manifest.parts)
    for part in manifest.parts:
        file = pq.ParquetFile(working.root / version.key / part.key)
        assert file.metadata.num_rows == part.rows
        assert b"geo" in (file.schema_arrow.metadata or {})
    cell = manifest.parts[0].cell
    chosen = list(data.get_fragments(filter=pads.field("cell") == cell))
    assert 0 < len(chosen) < len(data.files)  # the filter opened only that cell's files
    wanted = sum(p.rows for p in manifest.parts if p.cell == cell)
    assert data.count_rows(filter=pads.field("cell") == cell) == wanted


@pytest.mark.slow
def test_failing_rule_on_dask_raises_same_error_and_writes_nothing(
    big: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, layer = formats.gpkg_multi(big, tmp_path)
    rules = '{"min_rows": 1000000}'
    errors = []
    for name, how in (("inproc", in_process(settings)), ("ondask", on_dask(settings))):
        declare(conn, name, rules)
        ingest(conn, how, name, str(path), layer)
        with pytest.raises(QualityError) as caught:
            refine(conn, how, name)
        errors.append(caught.value)
    mine, theirs = errors
    assert [f.replace("inproc", "x") for f in mine.failures] == [
        f.replace("ondask", "x") for f in theirs.failures
    ]
    assert any(f.startswith("rows:") for f in theirs.failures)
    working = zone(settings, "working")
    assert isinstance(working, FileZone)
    left = [p for p in working.root.rglob("*") if p.is_file()] if working.root.exists() else []
    assert left == []
    assert catalog.find(conn, "ondask", "working") is None
    landed = catalog.find(conn, "ondask", "landing", statuses=("rejected",))
    assert landed is not None and landed.rejected_by == "refine"


@pytest.mark.parametrize("fmt", list(SOURCES), ids=list(SOURCES))
def test_row_ranges_read_the_layer_once_with_its_own_fids(
    fmt: str, canonical: pa.Table, tmp_path: Path
) -> None:
    """Ranges of a layer read one after the other = the whole layer, FIDs included."""
    path, layer = SOURCES[fmt](canonical, tmp_path)
    with open_layer(path, layer, 64) as reader:
        whole = pa.Table.from_batches(list(reader.batches))
    ranges = plan(path, whole.num_rows, 100) if fmt != "geoparquet" else None
    ranges = ranges or [RowRange(0, 100), RowRange(100, 150), RowRange(150, None)]
    pieces = []
    for r in ranges:
        with open_layer(path, layer, 64, rows=r) as reader:
            pieces.extend(reader.batches)
    assert pa.Table.from_batches(pieces).equals(whole)


@pytest.mark.slow
def test_dask_path_in_every_zone_kind(
    canonical: pa.Table, conn: psycopg.Connection[Any], zone_settings: Settings, tmp_path: Path
) -> None:
    """Parts and manifest put in a file zone or an S3 zone; the manifest lists every row."""
    path, layer = formats.flatgeobuf(canonical, tmp_path)
    settings = on_dask(zone_settings, 100)
    declare(conn, "zoned")
    ingest(conn, settings, "zoned", str(path), layer)
    version = refine(conn, settings, "zoned").version
    working = zone(settings, "working")
    manifest = partset.read_manifest(working, version.key)
    assert (version.quality or {})["partitions"] == 3
    assert manifest.rows == version.rows == (version.quality or {})["rows_out"]
    stored = working.keys(version.key.rstrip("/"))
    assert sorted(version.key + p.key for p in manifest.parts) == [
        k for k in stored if not k.endswith(partset.MANIFEST)
    ]
    assert version.uri == partset.uri_of(working, version.key) and version.uri.endswith("/")
    assert refine(conn, settings, "zoned").noop


def _exposure(conn: psycopg.Connection[Any], name: str) -> tuple[int, int, float, str]:
    """Rows, distinct fids, area sum and an order-independent checksum of every attribute."""
    row = conn.execute(
        psycopg.sql.SQL(
            "SELECT count(*), count(DISTINCT fid), sum(ST_Area(geom)),"
            " md5(string_agg(md5((to_jsonb(t) - 'geom')::text || ST_AsEWKB(geom)::text), ''"
            "     ORDER BY fid))"
            " FROM exposure.{} t"
        ).format(psycopg.sql.Identifier(name))
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2]), str(row[3])


@pytest.mark.slow
def test_refine_and_publish_on_dask_give_the_in_process_table(
    big: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    """Both halves on the cluster, chained as the job runs them: the same PostGIS table."""
    from pipelines.feed.publish import publish

    path, layer = formats.gpkg_multi(big, tmp_path)
    mine, theirs = both_ways(conn, settings, path, layer)
    publish(conn, in_process(settings), "inproc")
    published = publish(conn, on_dask(settings), "ondask")
    assert not published.noop
    a, b = _exposure(conn, "inproc"), _exposure(conn, "ondask")
    assert a[0] == b[0] == b[1] == theirs.rows  # every row, each exactly once
    assert b[2] == pytest.approx(a[2], rel=1e-9)
    assert a[3] == b[3]  # every attribute and geometry identical
