"""Feed at scale: refine + publish of 5M polygons in process, and on Dask with 1 and 2 workers.

Side by side in one run, each path in its OWN process, through the public functions
``refine(conn, settings, name)`` and ``publish(conn, settings, name)``; the path is chosen
only through settings (environment of the child process):

* **in-process**: ``LOCXIA_DASK_MIN_ROWS=10**12`` (the layer is always "small");
* **Dask, 1 worker**: ``LOCXIA_DASK_MIN_ROWS=0``, ``LOCXIA_DASK_LOCAL_WORKERS=1``;
* **Dask, 2 workers**: the same with 2 (and again on a layer twice as big: memory flatness).

``LOCXIA_DASK_SCHEDULER`` is removed from the children's environment: the embedded local
cluster on 127.0.0.1 is what is measured. Peak memory is per process: the main process and
every descendant (Dask worker processes, multiprocessing's resource tracker), polled as a tree.

The source is generated once and cached in the bench work dir (``$LOCXIA_BENCH_WORK_DIR``,
default ``<tmp>/locxia-bench``): building-like footprints over metropolitan France in
EPSG:4326, ~2 % invalid (bowties), int/float/nullable int/text/date attributes
(:mod:`tests.support.geodata`), written as **GeoParquet** in row groups of 100k rows: writing
5M rows takes seconds (a GeoPackage takes minutes: SQLite inserts and its R-tree), refine reads
it with pyarrow without GDAL, and its row groups are the row ranges a partitioned refine splits.
``LOCXIA_BENCH_SCALE_ROWS`` overrides the 5,000,000 rows.

A Dask case whose path is not there (refine still writes one file) is probed first on a tiny
layer and reported "not available" instead of failing the run. ``python -m bench.scale
figures`` prints the throughput figures docs/scale.md's capacity plan is computed from, from
the last run's results file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench import _readback as rb
from bench.common import ROOT, TreeRun, bench_database, measure_tree

NAME = "scale"
ROWS = int(os.environ.get("LOCXIA_BENCH_SCALE_ROWS", "5000000"))
TITLE = (
    f"Feed at scale: {ROWS:,} polygons, in process vs Dask with 1 and 2 local workers (issue 17)"
)
WORK = Path(
    os.environ.get("LOCXIA_BENCH_WORK_DIR")
    or Path(os.environ.get("TMPDIR", "/tmp")) / "locxia-bench"
)
RESULTS = WORK / "scale-results.json"
SEED, SEED_2X = 17, 77
CHUNK = 250_000  # rows generated at once (bounds the generator's memory)
ROW_GROUP = 100_000
PROBE_ROWS = 2_000
IN_PROCESS_MIN_ROWS = str(10**12)


@dataclass(frozen=True)
class Case:
    """One path: a dataset name and the settings that select the path."""

    key: str
    label: str
    dask_workers: int  # 0: in process

    def env(self) -> dict[str, str]:
        if not self.dask_workers:
            return {"LOCXIA_DASK_MIN_ROWS": IN_PROCESS_MIN_ROWS}
        return {"LOCXIA_DASK_MIN_ROWS": "0", "LOCXIA_DASK_LOCAL_WORKERS": str(self.dask_workers)}

    @property
    def dataset(self) -> str:
        return f"scale_{self.key}"


IN_PROCESS = Case("inproc", "in process (2 threads)", 0)
DASK_1 = Case("dask1", "Dask, 1 local worker", 1)
DASK_2 = Case("dask2", "Dask, 2 local workers", 2)
DASK_2_BIG = Case("dask2_2x", "Dask, 2 local workers, 2× rows", 2)
PROBE = Case("probe", "probe", 1)


# -- the source layer ------------------------------------------------------------------------


def source_layer(rows: int, seed: int) -> Path:
    """The cached GeoParquet source of ``rows`` footprints (generated on first use)."""
    path = WORK / f"buildings-{rows}-seed{seed}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        started = time.perf_counter()
        _write_source(tmp, rows, seed)
        tmp.replace(path)  # a run killed mid-write never leaves a truncated cache
        print(f"generated {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def _write_source(path: Path, rows: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely
    from pyproj import CRS

    from tests.support import geodata

    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": CRS("EPSG:4326").to_json_dict(),
            }
        },
    }
    writer = None
    try:
        for i, (start, size) in enumerate(geodata.chunks(rows, CHUNK)):
            cols = geodata.attributes(size, seed=seed + i, offset=start)
            geoms = geodata.footprints(size, seed=seed + i)
            cols["geometry"] = pa.array(shapely.to_wkb(geoms), type=pa.binary())
            table = pa.table(cols)
            if writer is None:
                schema = table.schema.with_metadata({b"geo": json.dumps(geo).encode()})
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


# -- one path, in a child process ------------------------------------------------------------


def case_main(name: str, out: Path) -> int:
    """Child process: refine then publish ``name`` with the settings of this environment."""
    from infra.db import connect
    from infra.settings import Settings
    from pipelines.feed.publish import publish
    from pipelines.feed.refine import refine

    settings = Settings()
    with connect(settings.require_database_url()) as conn:
        t0, c0 = time.time(), time.perf_counter()
        refined = refine(conn, settings, name)
        t1, c1 = time.time(), time.perf_counter()
        published = publish(conn, settings, name)
        t2, c2 = time.time(), time.perf_counter()
    result = {
        "refine_s": c1 - c0,
        "publish_s": c2 - c1,
        "refine_window": [t0, t1],
        "publish_window": [t1, t2],
        "uri": refined.version.uri,
        "rows": refined.version.rows,
        "working_bytes": refined.version.bytes,
        "table_bytes": published.version.bytes,
        "table": published.version.provenance.get("table"),
    }
    out.write_text(json.dumps(result))
    return 0


def settings_env(url: str, run_dir: Path) -> dict[str, str]:
    """Where every path reads and writes: one database, zones and scratch in the run dir."""
    return {
        "LOCXIA_DATABASE_URL": url,
        "LOCXIA_LANDING_URI": (run_dir / "landing").as_uri(),
        "LOCXIA_WORKING_URI": (run_dir / "working").as_uri(),
        "LOCXIA_LAYERS_TMP_DIR": str(run_dir / "scratch"),
    }


def ingest_source(env: dict[str, str], case: Case, source: Path) -> None:
    """Land the source for ``case``'s dataset (untimed: ingest is not what is compared)."""
    from infra.db import connect
    from infra.settings import Settings
    from pipelines.feed.ingest import ingest

    settings = Settings(
        database_url=env["LOCXIA_DATABASE_URL"],
        landing_uri=env["LOCXIA_LANDING_URI"],
        working_uri=env["LOCXIA_WORKING_URI"],
        layers_tmp_dir=Path(env["LOCXIA_LAYERS_TMP_DIR"]),
    )
    with connect(env["LOCXIA_DATABASE_URL"]) as conn:
        ingest(conn, settings, case.dataset, str(source))


@dataclass
class Outcome:
    """What one path gave: its figures, or why it is not available."""

    case: Case
    run: TreeRun | None = None
    result: dict[str, Any] | None = None
    missing: str | None = None  # set when the path is not available or failed

    @property
    def ok(self) -> bool:
        return self.result is not None and self.missing is None

    @property
    def total_s(self) -> float:
        assert self.result is not None
        return float(self.result["refine_s"] + self.result["publish_s"])

    def working_path(self) -> Path:
        assert self.result is not None
        return Path(unquote(urlsplit(self.result["uri"]).path))

    def peaks(self) -> dict[str, list[float]]:
        """Peak RSS in MiB per role: ``main``, ``worker (refine)``, ``worker (publish)``...

        A worker is named after the step it was first seen in: a cluster kept from refine
        to publish reports its workers' peak over both steps under ``refine``. Peaks are listed
        largest first, so two runs compare column by column.
        """
        assert self.run is not None and self.result is not None
        out: dict[str, list[float]] = {}
        publish_start = self.result["publish_window"][0]
        for p in sorted(self.run.processes, key=lambda p: p.first_seen):
            role = p.role
            if role == "worker":
                role = f"worker ({'refine' if p.first_seen < publish_start else 'publish'})"
            out.setdefault(role, []).append(p.peak_kib / 1024)
        return {role: sorted(peaks, reverse=True) for role, peaks in out.items()}


def run_case(case: Case, env: dict[str, str], source: Path, run_dir: Path) -> Outcome:
    """Ingest, then refine + publish in a child process whose tree is measured."""
    ingest_source(env, case, source)
    out = run_dir / f"{case.key}.json"
    cmd = [sys.executable, "-m", "bench.scale", "case", case.dataset, str(out)]
    run = measure_tree(
        cmd,
        {**env, **case.env(), "PYTHONPATH": str(ROOT)},
        capture_stderr=case is PROBE,
        unset=("LOCXIA_DASK_SCHEDULER",),
    )
    if run.returncode != 0 or not out.exists():
        why = run.stderr_tail or f"exit status {run.returncode}"
        return Outcome(case, run, None, f"failed: {why[:200]}")
    result = json.loads(out.read_text())
    result["working_bytes"] = _disk_bytes(Path(unquote(urlsplit(result["uri"]).path)))
    directory = str(result["uri"]).endswith("/")
    if case.dask_workers and not directory:
        return Outcome(
            case, run, result, "not available: refine wrote one file, not a partitioned dataset"
        )
    if not case.dask_workers and directory:
        return Outcome(case, run, result, "wrong path: the in-process case wrote a directory")
    return Outcome(case, run, result)


def _disk_bytes(path: Path) -> int:
    """Bytes of a working version on disk: the file, or every part file of the directory."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*.parquet"))
    return path.stat().st_size


# -- the run -----------------------------------------------------------------------------------


def run() -> str:
    run_dir = WORK / f"run-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _run(run_dir: Path) -> str:
    load_before = os.getloadavg()[0]
    source = source_layer(ROWS, SEED)
    outcomes: dict[str, Outcome] = {}
    checks: dict[str, dict[str, rb.Stats]] = {}
    with bench_database(NAME) as url:
        env = settings_env(url, run_dir)
        probe = run_case(PROBE, env, source_layer(PROBE_ROWS, SEED), run_dir)
        dask_missing = probe.missing
        print(f"Dask path: {dask_missing or 'available'}", flush=True)
        for case in (IN_PROCESS, DASK_1, DASK_2):
            if case.dask_workers and dask_missing:
                outcomes[case.key] = Outcome(case, missing=dask_missing)
                continue
            print(f"-- {case.label}", flush=True)
            outcomes[case.key] = run_case(case, env, source, run_dir)
        if not dask_missing:
            print(f"-- {DASK_2_BIG.label}", flush=True)
            big = source_layer(2 * ROWS, SEED_2X)
            outcomes[DASK_2_BIG.key] = run_case(DASK_2_BIG, env, big, run_dir)
        else:
            outcomes[DASK_2_BIG.key] = Outcome(DASK_2_BIG, missing=dask_missing)
        for key in (IN_PROCESS.key, DASK_1.key, DASK_2.key):
            o = outcomes[key]
            if o.ok:
                print(f"-- read back {o.case.label}", flush=True)
                checks[key] = read_back(o, url)
        layout = rb.layout(outcomes[DASK_2.key].working_path()) if outcomes[DASK_2.key].ok else None
    load_after = os.getloadavg()[0]
    save_results(source, outcomes, checks)
    return report(source, outcomes, checks, layout, (load_before, load_after))


def read_back(o: Outcome, url: str) -> dict[str, rb.Stats]:
    """The working output by pyarrow and by GDAL, and the published table by PostGIS.

    The three readers run at once, each in its own process: hashing every row is CPU-bound
    Python, and the PostGIS one mostly waits for the server.
    """
    from concurrent.futures import ProcessPoolExecutor

    path = o.working_path()
    assert o.result is not None
    schema, table = str(o.result["table"]).split(".", 1)
    with ProcessPoolExecutor(3) as pool:
        futures = {
            "pyarrow": pool.submit(rb.read_pyarrow, path),
            "GDAL (ADBC → DuckDB)": pool.submit(rb.read_gdal, path),
            "PostGIS": pool.submit(rb.read_postgis, url, schema, table),
        }
        return {reader: future.result() for reader, future in futures.items()}


def save_results(
    source: Path, outcomes: dict[str, Outcome], checks: dict[str, dict[str, rb.Stats]]
) -> None:
    """Keep what ``figures`` needs (the run dir is removed; the results file is not)."""
    data: dict[str, Any] = {
        "rows": ROWS,
        "source_bytes": source.stat().st_size,
        "cores": os.cpu_count(),
        "cases": {},
    }
    for key, o in outcomes.items():
        entry: dict[str, Any] = {"label": o.case.label, "missing": o.missing}
        if o.ok:
            entry.update(o.result or {})
            entry["peaks_mib"] = o.peaks()
            entry["checks"] = {k: v.as_json() for k, v in checks.get(key, {}).items()}
        data["cases"][key] = entry
    RESULTS.write_text(json.dumps(data, indent=1))


# -- the report --------------------------------------------------------------------------------


def _mib(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) + " MiB"


def _path_row(o: Outcome, ref: Outcome) -> str:
    if not o.ok:
        return f"| {o.case.label} | {o.missing} | | | | | |"
    assert o.result is not None
    peaks = o.peaks()
    workers = [
        f"{r.split()[1].strip('()')}: {_mib(v)}" for r, v in peaks.items() if r.startswith("worker")
    ]
    vs = f"{ref.total_s / o.total_s:.2f}×" if ref.ok and o is not ref else ""
    return (
        f"| {o.case.label} | {o.result['refine_s']:.1f} s | {o.result['publish_s']:.1f} s"
        f" | **{o.total_s:.1f} s** | {_mib(peaks.get('main', [0]))}"
        f" | {'; '.join(workers) or '–'} | {vs} |"
    )


def report(
    source: Path,
    outcomes: dict[str, Outcome],
    checks: dict[str, dict[str, rb.Stats]],
    layout: rb.Layout | None,
    load: tuple[float, float],
) -> str:
    inproc, one, two, big = (
        outcomes[k] for k in (IN_PROCESS.key, DASK_1.key, DASK_2.key, DASK_2_BIG.key)
    )
    lines = [
        f"{ROWS:,} building footprints (GeoParquet {source.stat().st_size / 1e6:.0f} MB, EPSG:4326,"
        f" ~2 % invalid) → working (EPSG:2154) → PostGIS, each path in its own process on this"
        f" **{os.cpu_count()}-core** machine, one run each. Peak = the process's RSS high-water"
        " mark (VmHWM), polled every 50 ms over the whole process tree (psutil"
        " `children(recursive=True)`). Load average (1 min) "
        f"{load[0]:.1f} at start, {load[1]:.1f} at end.",
        "",
        "| path | refine | publish | total | peak, main process | peak per worker process"
        " | in-process ÷ this |",
        "|---|---|---|---|---|---|---|",
        *(_path_row(o, inproc) for o in (inproc, one, two)),
        "",
    ]
    lines += _scaling(inproc, one, two)
    lines += _flatness(two, big)
    lines += _checks(checks, layout)
    return "\n".join(lines)


def _scaling(inproc: Outcome, one: Outcome, two: Outcome) -> list[str]:
    if not (one.ok and two.ok):
        return [
            "Scaling efficiency: not measured — the Dask path is not available in this build"
            " (the cases above say why).",
            "",
        ]
    assert one.result is not None and two.result is not None
    out = ["Scaling (speedup ÷ workers; 1.00 is perfect):", ""]
    for phase in ("refine_s", "publish_s"):
        s = one.result[phase] / two.result[phase]
        out.append(f"- {phase[:-2]}: 2 workers vs 1: speedup {s:.2f}×, efficiency {s / 2:.2f}")
    s = one.total_s / two.total_s
    out.append(f"- total: 2 workers vs 1: speedup {s:.2f}×, efficiency **{s / 2:.2f}**")
    if inproc.ok:
        out.append(
            f"- total: 2 workers vs in process (which already runs 2 threads):"
            f" {inproc.total_s / two.total_s:.2f}× (above 1: Dask is faster)"
        )
    out += [
        f"- the machine has {os.cpu_count()} cores: with 2 workers, the driver, PostgreSQL and"
        " the workers share them, so the 2-worker figure is a floor for a real cluster.",
        "",
    ]
    return out


def _flatness(two: Outcome, big: Outcome) -> list[str]:
    if not (two.ok and big.ok):
        reason = big.missing or two.missing or "not run"
        return [f"Memory flatness (2 workers, 2× rows): {reason}.", ""]
    small, large = two.peaks(), big.peaks()
    rows = ["Memory flatness, Dask with 2 workers, peak per process (MiB):", ""]
    rows += ["| process | " + f"{ROWS:,} rows | {2 * ROWS:,} rows |", "|---|---|---|"]
    for role in sorted(set(small) | set(large)):
        rows.append(f"| {role} | {_mib(small.get(role, []))} | {_mib(large.get(role, []))} |")
    return [*rows, ""]


def _checks(checks: dict[str, dict[str, rb.Stats]], layout: rb.Layout | None) -> list[str]:
    if not checks:
        return ["Read-back: no output to read."]
    ref = checks.get(IN_PROCESS.key, {})
    out = [
        "Read-back of each output (areas in km²; checksums: sum of the first 60 bits of the"
        " MD5 of each row's attributes as text / of each geometry's WKB, order-independent):",
        "",
        "| output | reader | rows | distinct ids | Σ area | attribute checksum"
        " | geometry checksum | = in-process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {IN_PROCESS.key: IN_PROCESS.label, DASK_1.key: DASK_1.label, DASK_2.key: DASK_2.label}
    for key, by_reader in checks.items():
        for reader, s in by_reader.items():
            same = ""
            if key != IN_PROCESS.key and reader in ref:
                same = "**yes**" if s.same_as(ref[reader]) else "**NO**"
            out.append(
                f"| {labels[key]} | {reader} | {s.rows:,} | {s.distinct_ids:,}"
                f" | {s.area_m2 / 1e6:,.4f} | {s.attributes:x} | {s.geometries:x} | {same} |"
            )
    agree = all(a.same_as(b) for by in checks.values() for a in by.values() for b in by.values())
    out += [
        "",
        f"The three readers agree with each other on every output: {'yes' if agree else 'NO'}."
        " GDAL reads Parquet here through its ADBC driver: pyogrio's GDAL has no Parquet driver,"
        ' so `pyogrio.read_arrow("ADBC:", ADBC_DRIVER=<site-packages>/_duckdb.cpython-311-'
        "x86_64-linux-gnu.so, SQL=\"SELECT … FROM read_parquet('<dir>/**/*.parquet',"
        " hive_partitioning = true)\")` runs the query in DuckDB's engine; the geometry arrives"
        " as WKB binary.",
    ]
    if layout is not None:
        out += [
            "",
            f"Partitioned output (2 workers): {layout.files} part files in {layout.partitions}"
            f" partitions, {layout.bytes / 1e6:.0f} MB, manifest"
            f" {'present' if layout.manifest else 'MISSING'};"
            f" {layout.geoparquet_11_with_covering}/{layout.files} files are GeoParquet 1.1"
            f" with a bbox covering; a filter on one partition value opens"
            f" {layout.pruned_files} of {layout.files} files.",
        ]
    return out


# -- figures for docs/scale.md -----------------------------------------------------------------


def figures(path: Path = RESULTS) -> str:
    """The measured inputs of docs/scale.md's capacity plan, and the plan they give."""
    from bench._capacity import plan

    if not path.exists():
        return f"no results at {path}: run `python -m bench scale` first"
    return plan(json.loads(path.read_text()))


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "case":
        return case_main(argv[1], Path(argv[2]))
    if argv == ["figures"]:
        print(figures())
        return 0
    print("usage: python -m bench.scale case DATASET OUT.json | figures", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
