"""The scale benchmark's harness: its readers, its process-tree memory, its report.

The benchmark runs for ten minutes at 5M rows, once; these tests make sure what it reports is
right on small layers: three readers agree on a file and on its partitioned copy, a duplicated
or lost row shows, a spawned worker's memory is its own, and a Dask case renders its scaling
and flatness figures even before the Dask path exists in the product.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely

from bench import _readback as rb
from bench import scale
from bench.common import ROOT, TreeProcess, TreeRun, measure_tree
from tests.support import geodata

ROWS = 3_000
CELLS = 4


def working_table(n: int = ROWS) -> pa.Table:
    """A working-like table: the attributes, ``geom`` WKB, a ``bbox`` struct."""
    cols = geodata.attributes(n, seed=3)
    geoms = geodata.footprints(n, seed=3, invalid_share=0.0)
    cols["geom"] = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    bounds = shapely.bounds(geoms)
    cols["bbox"] = pa.StructArray.from_arrays(
        [pa.array(bounds[:, i]) for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"]
    )
    return pa.table(cols)


GEO = {
    "version": "1.1.0",
    "primary_column": "geom",
    "columns": {
        "geom": {
            "encoding": "WKB",
            "geometry_types": ["Polygon"],
            "covering": {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}},
        }
    },
}


def write_partitioned(table: pa.Table, folder: Path) -> Path:
    """The Dask path's layout: ``cell=NN/part-PPPPP.parquet`` and ``_manifest.json``."""
    cells = pc.remainder(table.column("id"), CELLS)
    for cell in range(CELLS):
        part = table.filter(pc.equal(cells, cell))
        target = folder / f"cell={cell:02d}" / f"part-{cell:05d}.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(part.replace_schema_metadata({b"geo": json.dumps(GEO).encode()}), target)
    (folder / "_manifest.json").write_text(json.dumps({"parts": CELLS}))
    return folder


@pytest.fixture
def outputs(tmp_path: Path) -> tuple[Path, Path]:
    table = working_table()
    single = tmp_path / "layer.parquet"
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(GEO).encode()}), single)
    return single, write_partitioned(table, tmp_path / "parts")


def test_pyarrow_and_gdal_agree_on_a_file_and_its_partitioned_copy(
    outputs: tuple[Path, Path],
) -> None:
    single, parts = outputs
    seen = [reader(path) for path in (single, parts) for reader in (rb.read_pyarrow, rb.read_gdal)]
    assert seen[0].rows == ROWS and seen[0].distinct_ids == ROWS and seen[0].area_m2 > 0
    assert all(s.same_as(seen[0]) for s in seen), seen


def test_a_duplicated_and_a_lost_row_change_the_figures(tmp_path: Path) -> None:
    table = working_table()
    clean = rb.read_pyarrow(write_partitioned(table, tmp_path / "clean"))
    # row 0 lost, row 1 twice: the same row count, but not the same layer
    broken = pa.concat_tables([table.slice(1), table.slice(1, 1)])
    seen = rb.read_pyarrow(write_partitioned(broken, tmp_path / "broken"))
    assert seen.rows == clean.rows
    assert seen.distinct_ids == ROWS - 1
    assert seen.attributes != clean.attributes and seen.geometries != clean.geometries
    assert not seen.same_as(clean)


def test_layout_counts_parts_checks_metadata_and_prunes(outputs: tuple[Path, Path]) -> None:
    found = rb.layout(outputs[1])
    assert (found.files, found.partitions, found.manifest) == (CELLS, CELLS, True)
    assert found.geoparquet_11_with_covering == CELLS
    assert found.pruned_files == 1


def test_measure_tree_reports_a_spawned_worker_apart_from_its_parent(tmp_path: Path) -> None:
    script = tmp_path / "spawner.py"  # spawn re-imports the main module: a file, not -c
    script.write_text(
        textwrap.dedent("""
            import multiprocessing as mp, sys, time
            def work():
                block = b"x" * (300 * 1024 * 1024)  # touched pages, unlike a zeroed bytearray
                time.sleep(0.5)
            if __name__ == "__main__":
                p = mp.get_context("spawn").Process(target=work)
                p.start(); p.join()
                sys.exit(p.exitcode)
        """)
    )
    run = measure_tree([sys.executable, str(script)])
    assert run.returncode == 0
    roles = {p.role: p.peak_kib / 1024 for p in run.processes}
    assert roles["worker"] > 290
    assert roles["main"] < 200  # the parent never held the block


def fake(
    case: scale.Case, refine_s: float, publish_s: float, worker_mib: list[int]
) -> scale.Outcome:
    procs = [TreeProcess(1, "main", 0.0, 400 * 1024)]
    procs += [TreeProcess(10 + i, "worker", 1.0, m * 1024) for i, m in enumerate(worker_mib)]
    procs += [TreeProcess(20 + i, "worker", 20.0, m * 1024) for i, m in enumerate(worker_mib)]
    result = {
        "refine_s": refine_s,
        "publish_s": publish_s,
        "refine_window": [0.5, 10.0],
        "publish_window": [10.0, 30.0],
        "uri": "file:///w/x/" if case.dask_workers else "file:///w/x.parquet",
        "rows": 100,
        "working_bytes": 1000,
        "table_bytes": 3000,
        "table": f"exposure.{case.dataset}",
    }
    return scale.Outcome(case, TreeRun(30.0, 0, procs), result)


def test_the_report_renders_dask_cases_with_scaling_and_flatness(
    outputs: tuple[Path, Path],
) -> None:
    outcomes = {
        "inproc": fake(scale.IN_PROCESS, 10.0, 6.0, []),
        "dask1": fake(scale.DASK_1, 16.0, 8.0, [300]),
        "dask2": fake(scale.DASK_2, 9.0, 6.0, [310, 305]),
        "dask2_2x": fake(scale.DASK_2_BIG, 18.0, 12.0, [320, 315]),
    }
    stats = rb.read_pyarrow(outputs[0])
    checks = {k: {"pyarrow": stats} for k in ("inproc", "dask2")}
    text = scale.report(outputs[0], outcomes, checks, rb.layout(outputs[1]), (0.1, 0.2))
    assert "speedup 1.60×, efficiency **0.80**" in text  # 24 s / 15 s over 2 workers
    assert "2 workers vs in process (which already runs 2 threads): 1.07×" in text
    assert "| worker (refine) | 310 / 305 MiB | 320 / 315 MiB |" in text
    assert "| worker (publish) | 310 / 305 MiB | 320 / 315 MiB |" in text
    assert (
        "| Dask, 2 local workers | 9.0 s | 6.0 s | **15.0 s** | 400 MiB | refine: 310 / 305 MiB;"
        in text
    )
    assert "| Dask, 2 local workers | pyarrow |" in text and "| **yes** |" in text
    assert f"{CELLS} part files in {CELLS} partitions" in text


def test_a_missing_dask_path_is_reported_not_raised(outputs: tuple[Path, Path]) -> None:
    why = "not available: refine wrote one file, not a partitioned dataset"
    outcomes = {
        "inproc": fake(scale.IN_PROCESS, 10.0, 6.0, []),
        **{c.key: scale.Outcome(c, missing=why) for c in (scale.DASK_1, scale.DASK_2)},
        "dask2_2x": scale.Outcome(scale.DASK_2_BIG, missing=why),
    }
    text = scale.report(outputs[0], outcomes, {}, None, (0.1, 0.2))
    assert f"| Dask, 1 local worker | {why} |" in text
    assert "Scaling efficiency: not measured" in text


@pytest.mark.slow
def test_the_in_process_path_end_to_end_reads_back_the_same_everywhere(
    db_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "source.parquet"
    scale._write_source(source, ROWS, seed=9)
    run_dir = tmp_path / "run"
    outcome = scale.run_case(scale.IN_PROCESS, scale.settings_env(db_url, run_dir), source, run_dir)
    assert outcome.ok, outcome.missing
    assert outcome.working_path().is_file()
    assert outcome.peaks()["main"][0] > 50
    readers = scale.read_back(outcome, db_url)
    first = readers["pyarrow"]
    assert first.rows == ROWS and first.distinct_ids == ROWS
    assert all(s.same_as(first) for s in readers.values()), readers


@pytest.mark.slow
def test_measure_tree_sees_each_worker_of_the_embedded_dask_cluster(tmp_path: Path) -> None:
    script = tmp_path / "cluster.py"
    script.write_text(
        textwrap.dedent("""
            from infra import cluster
            from infra.settings import Settings

            def block(mib):
                data = b"x" * (mib * 1024 * 1024)
                return len(data)

            if __name__ == "__main__":
                settings = Settings(dask_local_workers=2)
                with cluster.client(settings) as c:
                    futures = [c.submit(block, 200, pure=False) for _ in range(4)]
                    assert sum(c.gather(futures)) == 4 * 200 * 1024 * 1024
        """)
    )
    run = measure_tree(
        [sys.executable, str(script)],
        {"PYTHONPATH": str(ROOT)},
        unset=("LOCXIA_DASK_SCHEDULER",),
    )
    assert run.returncode == 0
    workers = [p.peak_kib / 1024 for p in run.processes if p.role == "worker"]
    assert len(workers) == 2
    assert all(peak > 200 for peak in workers), workers
