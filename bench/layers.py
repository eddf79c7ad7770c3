"""Feed: refine (landing → working) and publish (working → PostGIS) on 500k building footprints.

Side by side in one run, each path in its own process so its peak RSS is its own
(``wait4``'s ``ru_maxrss``):

refine (GeoPackage EPSG:4326 → EPSG:2154, invalid geometries repaired)
* **Locxia** ``refine_file``: pyogrio Arrow batches → checks → make_valid → PROJ →
  external Hilbert sort → GeoParquet 1.1 (bbox covering, zstd, 100k-row groups) + report
* geopandas: read_file(arrow) → make_valid → to_crs → to_parquet
* ``ogr2ogr -makevalid -t_srs EPSG:2154`` to GeoPackage (Debian GDAL has no Parquet)
* DuckDB spatial: ST_Read → ST_MakeValid → ST_Transform → COPY TO parquet (zstd)

publish (the working GeoParquet → a PostGIS table with a GiST index)
* **Locxia**: binary COPY streamed per batch (pgpq) into staging, PK + GiST + ANALYZE, swap
* ``ogr2ogr -f PostgreSQL`` (COPY, its default GiST index) from the GeoPackage, reprojecting
* geopandas ``to_postgis`` (chunks of 10k) from the working GeoParquet
* whole-frame psycopg binary COPY (``write_row``, WKB as bytea) from the working GeoParquet
* ``psql \\copy`` of a pre-encoded binary COPY file of the same rows: the physical floor

Memory flatness: Locxia's refine and publish again on a layer twice as big.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import bench_database, measure, median

NAME = "layers"
TITLE = "Feed: refine and publish 500k building footprints (issue 5)"
ROWS = int(os.environ.get("LOCXIA_BENCH_LAYER_ROWS", "500000"))
REPEAT = int(os.environ.get("LOCXIA_BENCH_REPEAT", "3"))
PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def repeat(cmd: list[str], before: list[str] | None = None, n: int = REPEAT) -> tuple[float, float]:
    times, peaks = [], []
    for _ in range(n):
        if before:
            subprocess.run(before, check=True, cwd=ROOT, capture_output=True)
        t, m = measure(cmd)
        times.append(t)
        peaks.append(m)
    return median(times), max(peaks)


def locxia_refine(gpkg: Path, work: Path, out: Path) -> list[str]:
    return python(f"""
        from pathlib import Path; import tempfile, shutil
        from pipelines.feed.refine import refine_file
        from pipelines.feed.model import Rules
        scratch = Path(tempfile.mkdtemp(dir={str(work)!r}))
        out = refine_file("bench", Path({str(gpkg)!r}), None, Rules(), scratch, 32768)
        shutil.move(out.path, {str(out)!r}); shutil.rmtree(scratch)
    """)


def locxia_publish(url: str, parquet: Path) -> list[str]:
    return python(f"""
        from infra.db import connect
        from pipelines.feed import publish as p
        with connect({url!r}) as tx:
            p._drop_staging(tx, "bench")
            rows = p.copy_parquet(tx, {str(parquet)!r}, p.STAGING, "bench__v1", 32768)
            p._index(tx, p.STAGING, "bench__v1", 1)
            p._swap_in(tx, "bench", "bench__v1")
            tx.execute("DROP TABLE IF EXISTS exposure_previous.bench")
            tx.commit()
    """)


def refine_paths(gpkg: Path, work: Path) -> dict[str, list[str]]:
    ext = _spatial_extension()
    return {
        "locxia": locxia_refine(gpkg, work, work / "locxia.parquet"),
        "geopandas": python(f"""
            import geopandas
            df = geopandas.read_file({str(gpkg)!r}, use_arrow=True)
            df.geometry = df.geometry.make_valid()
            df.to_crs("EPSG:2154").to_parquet({str(work / "gpd.parquet")!r})
        """),
        "ogr2ogr": [
            "ogr2ogr",
            "-f",
            "GPKG",
            str(work / "ogr.gpkg"),
            str(gpkg),
            "-makevalid",
            "-t_srs",
            "EPSG:2154",
            "-overwrite",
        ],
        "duckdb": python(f"""
            import duckdb
            con = duckdb.connect(config={{"autoinstall_known_extensions": False,
                                          "autoload_known_extensions": False}})
            con.execute("SET enable_progress_bar = false")
            con.execute("LOAD '{ext}'")
            con.execute(\"\"\"COPY (SELECT * EXCLUDE (geom), ST_Transform(ST_MakeValid(geom),
                'EPSG:4326', 'EPSG:2154', always_xy := true) AS geom
                FROM ST_Read('{gpkg}')) TO '{work / "duck.parquet"}'
                (FORMAT parquet, COMPRESSION zstd)\"\"\")
        """),
    }


def _spatial_extension() -> str:
    import duckdb_extension_spatial

    base = Path(duckdb_extension_spatial.__file__).parent
    return str(next(base.rglob("spatial.duckdb_extension")))


def publish_paths(url: str, gpkg: Path, parquet: Path, work: Path) -> dict[str, list[str]]:
    parts = urlsplit(url)
    pg = f"host={parts.hostname} port={parts.port} user={parts.username} dbname={parts.path[1:]}"
    copy_file = work / "rows.pgcopy"
    _write_pgcopy(parquet, copy_file)
    return {
        "locxia": locxia_publish(url, parquet),
        "ogr2ogr": [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            f"PG:{pg}",
            str(gpkg),
            "-nln",
            "public.bench_ogr",
            "-t_srs",
            "EPSG:2154",
            "-lco",
            "GEOMETRY_NAME=geom",
            "-overwrite",
            "--config",
            "PG_USE_COPY",
            "YES",
        ],
        "to_postgis": python(f"""
            import geopandas, sqlalchemy
            from infra.db.connection import sqlalchemy_url
            df = geopandas.read_parquet({str(parquet)!r}).drop(columns=["bbox"], errors="ignore")
            engine = sqlalchemy.create_engine(sqlalchemy_url({url!r}))
            df.to_postgis("bench_gpd", engine, if_exists="replace", chunksize=10000)
            with engine.begin() as c:
                c.exec_driver_sql("CREATE INDEX ON bench_gpd USING gist (geom)")
        """),
        "psycopg_frame": python(f"""
            import geopandas, shapely, pyarrow.parquet as pq
            from infra.db import connect
            df = geopandas.read_parquet({str(parquet)!r})
            cols = ["id", "height", "levels", "usage", "name", "built"]
            wkb = shapely.to_wkb(df.geometry.values)
            # attributes through Arrow: pandas would turn the nullable integer into floats
            table = pq.read_table({str(parquet)!r}, columns=cols)
            data = [table.column(c).to_pylist() for c in cols]
            with connect({url!r}) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_frame")
                conn.execute("CREATE TABLE bench_frame (id bigint, height float8, levels int,"
                             " usage text, name text, built date, geom geometry(Geometry, 2154))")
                with conn.cursor().copy("COPY bench_frame FROM STDIN (FORMAT binary)") as cp:
                    cp.set_types(["int8", "float8", "int4", "text", "text", "date", "bytea"])
                    for row in zip(*data, wkb):
                        cp.write_row(row)
                conn.execute("CREATE INDEX ON bench_frame USING gist (geom)")
                conn.commit()
        """),
        "text_copy": python(f"""
            import io, pyarrow as pa, pyarrow.csv as csv, pyarrow.parquet as pq
            from infra.db import connect
            cols = ["id", "height", "levels", "usage", "name", "built"]
            source = pq.ParquetFile({str(parquet)!r})
            with connect({url!r}) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_text")
                conn.execute("CREATE TABLE bench_text (id bigint, height float8, levels int,"
                             " usage text, name text, built date, geom geometry(Geometry, 2154))")
                with conn.cursor().copy("COPY bench_text FROM STDIN (FORMAT csv)") as cp:
                    for batch in source.iter_batches(batch_size=32768, columns=[*cols, "geom"]):
                        hexes = pa.array([g.hex() for g in batch.column("geom").to_pylist()])
                        out = pa.RecordBatch.from_arrays(
                            [*batch.columns[:-1], hexes], names=[*cols, "geom"])
                        buf = io.BytesIO()
                        csv.write_csv(out, buf, csv.WriteOptions(include_header=False))
                        cp.write(buf.getvalue())
                conn.commit()
        """),
        "psql": [
            "psql",
            url,
            "-q",
            "-c",
            "TRUNCATE bench_raw",
            "-c",
            f"\\copy bench_raw FROM '{copy_file}' WITH (FORMAT binary)",
        ],
    }


def _write_pgcopy(parquet: Path, target: Path) -> None:
    import pyarrow.parquet as pq
    from pgpq import ArrowToPostgresBinaryEncoder

    source = pq.ParquetFile(parquet)
    columns = [n for n in source.schema_arrow.names if n != "bbox"]
    import pyarrow as pa

    encoder = ArrowToPostgresBinaryEncoder(
        pa.schema([source.schema_arrow.field(c) for c in columns])
    )
    with target.open("wb") as out:
        out.write(encoder.write_header())
        for batch in source.iter_batches(columns=columns):
            out.write(encoder.write_batch(batch))
        out.write(encoder.finish())


def _prepare_raw_table(url: str) -> None:
    from infra.db import connect

    with connect(url) as conn:
        conn.execute(
            # the working file's columns: the source's fid first, then the attributes
            "CREATE TABLE IF NOT EXISTS bench_raw (fid bigint, id bigint, height float8,"
            " levels int, usage text, name text, built date, geom geometry(Geometry, 2154))"
        )
        conn.commit()


def _row(label: str, t: float, m: float, ref: float | None = None, bold: bool = False) -> str:
    ratio = f"{t / ref:.2f}×" if ref else ""
    cell = f"**{t:.2f} s**" if bold else f"{t:.2f} s"
    return f"| {label} | {cell} | {m:.0f} MiB | {ratio} |"


def run() -> str:
    import shutil

    work = Path(tempfile.mkdtemp(prefix="locxia-bench-layers-"))
    try:
        return _run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path) -> str:
    load_before = os.getloadavg()[0]
    sys.path.insert(0, str(ROOT))
    from tests.support.geodata import write_gpkg

    gpkg = write_gpkg(work / "buildings.gpkg", ROWS)
    big = write_gpkg(work / "buildings2x.gpkg", ROWS * 2, seed=77)
    size_mb = gpkg.stat().st_size / 1e6

    refine = {k: repeat(cmd) for k, cmd in refine_paths(gpkg, work).items()}
    big_parquet = work / "locxia2x.parquet"
    big_refine = measure(locxia_refine(big, work, big_parquet))
    parquet = work / "locxia.parquet"
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(parquet).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    parquet_mb = parquet.stat().st_size / 1e6

    with bench_database(NAME) as url:
        _prepare_raw_table(url)
        paths = publish_paths(url, gpkg, parquet, work)
        publish = {k: repeat(cmd) for k, cmd in paths.items()}
        big_publish = measure(locxia_publish(url, big_parquet))
        copy_only = measure(
            python(f"""
                from infra.db import connect
                from pipelines.feed import publish as p
                with connect({url!r}) as tx:
                    p.copy_parquet(tx, {str(parquet)!r}, "public", "bench_copy_only", 32768)
                    tx.rollback()
            """)
        )

    load_after = os.getloadavg()[0]
    duck = refine["duckdb"][0]
    r_ours = refine["locxia"]
    lines = [
        f"{ROWS:,} polygons (GeoPackage {size_mb:.0f} MB, EPSG:4326, ~2 % invalid); median of"
        f" {REPEAT} runs, each in its own process; peak = max over the runs of the process's"
        " RSS high-water mark (VmHWM, polled every 20 ms). Machine load average (1 min)"
        f" {load_before:.1f} at start, {load_after:.1f} at end (other work shared the 2 cores).",
        "",
        "### refine: landing → working",
        "",
        "| path | time | peak RSS | vs DuckDB |",
        "|---|---|---|---|",
        _row(
            "**Locxia** refine (checks, repair, PROJ, Hilbert sort, GeoParquet 1.1)",
            *r_ours,
            duck,
            True,
        ),
        _row(
            "DuckDB spatial ST_Read → MakeValid → Transform → COPY parquet", *refine["duckdb"], duck
        ),
        _row("geopandas read → make_valid → to_crs → to_parquet", *refine["geopandas"], duck),
        _row("ogr2ogr -makevalid -t_srs EPSG:2154 (→ GPKG)", *refine["ogr2ogr"], duck),
        _row(f"**Locxia** refine, {2 * ROWS:,} polygons (1 run)", *big_refine, duck),
        "",
        f"Locxia's output: {parquet_mb:.0f} MB, {len(groups)} row groups of"
        f" {min(groups):,}–{max(groups):,} rows, sorted on a Hilbert curve, bbox covering column.",
        "",
        "### publish: working → exposure (PostGIS, GiST index)",
        "",
        "| path | time | peak RSS | vs psql \\copy |",
        "|---|---|---|---|",
    ]
    floor = publish["psql"][0]
    p_ours = publish["locxia"]
    lines += [
        _row("**Locxia** publish (stream COPY, PK, GiST, ANALYZE, swap)", *p_ours, floor, True),
        _row("Locxia COPY phase only (no index)", *copy_only, floor),
        _row("`psql \\copy` binary file, no index (floor)", *publish["psql"], floor),
        _row("same stream as text COPY (CSV, hex WKB), no index", *publish["text_copy"], floor),
        _row("ogr2ogr -f PostgreSQL (COPY + GiST, from GPKG)", *publish["ogr2ogr"], floor),
        _row("whole-frame psycopg binary COPY + GiST", *publish["psycopg_frame"], floor),
        _row("geopandas to_postgis (chunks of 10k) + GiST", *publish["to_postgis"], floor),
        _row(f"**Locxia** publish, {2 * ROWS:,} rows (1 run)", *big_publish, floor),
        "",
        "Targets (issue 5):",
        f"- refine within 1.25× DuckDB: **{r_ours[0] / duck:.2f}×**"
        f" ({'met' if r_ours[0] <= 1.25 * duck else 'missed'}); peak {r_ours[1]:.0f} MiB"
        f" ({'<' if r_ours[1] < 400 else '≥'} 400 MiB), {big_refine[1]:.0f} MiB at 2× rows.",
        f"- publish faster than ogr2ogr: {p_ours[0]:.2f} s vs {publish['ogr2ogr'][0]:.2f} s"
        f" (**{publish['ogr2ogr'][0] / p_ours[0]:.2f}×** faster);"
        f" vs to_postgis **{publish['to_postgis'][0] / p_ours[0]:.1f}×** faster (target ≥ 5×);"
        f" COPY phase {copy_only[0] / floor:.2f}× and end to end {p_ours[0] / floor:.2f}× the"
        f" raw `psql \\copy` floor (target ≤ 2×); peak {p_ours[1]:.0f} MiB,"
        f" {big_publish[1]:.0f} MiB at 2× rows.",
        "",
        "Reading these figures:",
        "- Both DuckDB and Locxia's refine use the 2 cores (Locxia: two batches in threads);"
        " when other work shares the cores, times move a lot from run to run. The notes"
        " measured DuckDB at 4.4 s on an idle machine; no idle machine was available here, so"
        " the ratio above is for this load. The memory figures do not depend on load.",
        "- End-to-end publish includes primary key, GiST and ANALYZE, which the `psql \\copy`"
        " floor does not; the like-for-like figure is the COPY phase, which also pays the"
        " process start and imports (~0.7 s) that `psql` does not.",
    ]
    return "\n".join(lines)
