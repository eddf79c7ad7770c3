"""The seeded week's layers, fed the way production feeds them, and the recorded-run helper.

The data team declares three datasets and feeds small synthetic layers (tests/support/geodata.py)
through ``layers.ingest`` → ``layers.refine`` → ``layers.publish``: ``buildings`` (Paris)
published twice, ``parcels`` (Lyon) fed by its scheduled chain job, whose second source breaks
its ``max_rows`` rule (rejected in landing: stale, a quality failure, a failed run), and
``parks`` (Toulouse), landed but never refined. Parcels' job declares one Dask worker
(``params.run_capacity``): each of its two runs opens a capacity window that raises the
worker through shape and removes it after, the failed run's too. Every task runs through the
recording :class:`~infra.jobs.runner.Runner` (:func:`run_task`), as the rest of the week does.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import shapely

from infra.db import connect
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.feed.jobs import chain_steps
from tests.support import formats, geodata


def runner(settings: Settings, at: datetime | None = None) -> Runner:
    """A recording Runner of every entry-point task, its clock at ``at`` when given."""
    registry = Registry.from_entry_points()
    return Runner(settings, registry) if at is None else Runner(settings, registry, now=lambda: at)


def run_task(
    settings: Settings, task: str, args: dict[str, Any] | None = None, at: Any = None
) -> Any:
    """Run one task through the recording Runner (clock at ``at`` if given); it must succeed."""
    recording = runner(settings, at)
    try:
        result = recording.run(task, args or {})
    finally:
        recording.close()
    if result.status != "success":
        raise AssertionError(f"seeding: {task} {args or ''} ended {result.status}: {result.error}")
    return result


#: Where each dataset's features are: (lon, lat) of a city of geodata.CITIES.
LAYER_CITIES = {"buildings": (2.35, 48.86), "parcels": (4.83, 45.76), "parks": (1.44, 43.60)}
#: Rows of each file fed; parcels' second file breaks its max_rows rule.
LAYER_ROWS = {"buildings": 60, "buildings_v2": 75, "parcels": 40, "parcels_v2": 55, "parks": 30}
PARCELS_MAX_ROWS = 50
#: What parcels' nightly job declares (``params.run_capacity``): each of its runs raises one
#: Dask worker and removes it after (t3.medium: ~36 USD/month with its volume, under the
#: week's 50 USD auto-apply limit, so the raise applies without an approval).
PARCELS_WORKERS = 1
PARCELS_WORKER_TYPE = "t3.medium"


def city_layer(rows: int, lon: float, lat: float, seed: int) -> pa.Table:
    """``rows`` synthetic footprints around (lon, lat): a layer with a small, distinct extent."""
    table = geodata.layer_table(rows * 25, seed=seed, invalid_share=0.02)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    centres = shapely.centroid(geoms)
    near = (abs(shapely.get_x(centres) - lon) < 0.6) & (abs(shapely.get_y(centres) - lat) < 0.4)
    picked = table.filter(pa.array(near)).slice(0, rows)
    if picked.num_rows != rows:
        raise AssertionError(f"seeding: only {picked.num_rows} footprints near {lon}, {lat}")
    return picked


def _layer_file(folder: Path, name: str, seed: int) -> str:
    """Write ``LAYER_ROWS[name]`` footprints of its city to a FlatGeobuf; its file URI."""
    dataset = name.removesuffix("_v2")
    lon, lat = LAYER_CITIES[dataset]
    target = folder / name
    target.mkdir(parents=True)
    path, _ = formats.flatgeobuf(city_layer(LAYER_ROWS[name], lon, lat, seed), target)
    return path.as_uri()


def _feed(settings: Settings, dataset: str, source: str) -> None:
    """What ``locxia ingest``, ``refine`` and ``publish`` do, one recorded task each."""
    run_task(settings, "layers.ingest", {"dataset": dataset, "source": source})
    run_task(settings, "layers.refine", {"dataset": dataset})
    run_task(settings, "layers.publish", {"dataset": dataset})


def _scheduled_feed(settings: Settings, dataset: str) -> Any:
    """One run of the job the service plans for a dataset with a cron (``layers.<name>``)."""
    recording = runner(settings)
    try:
        return recording.run(
            "core.chain", {"steps": chain_steps(dataset)}, job_id=f"layers.{dataset}"
        )
    finally:
        recording.close()


def feed_layers(settings: Settings, folder: Path, *, capacity: bool = True) -> dict[str, int]:
    """dana declares three datasets; the feed takes each as far as it goes (module docstring).

    ``capacity``: parcels' job declares its Dask worker (the settings then need a root module,
    ``terraform_dir``, for its windows' reconciles); without, its runs raise nothing.
    """
    files = {name: _layer_file(folder, name, seed) for seed, name in enumerate(LAYER_ROWS, 21)}
    declare = (
        "INSERT INTO params.datasets (name, source, rules, cron, note) VALUES (%s, %s, %s, %s, %s)"
    )
    with connect(settings.require_database_url()) as conn:
        conn.execute("SELECT set_config('locxia.actor', 'dana', false)")
        conn.execute(declare, ("buildings", None, '{"min_rows": 10}', None, "footprints, Paris"))
        conn.execute(
            declare,
            (
                "parcels",
                files["parcels"],
                json.dumps({"max_rows": PARCELS_MAX_ROWS}),
                "0 5 * * *",
                "cadastral parcels, Lyon, fed nightly",
            ),
        )
        conn.execute(declare, ("parks", None, "{}", None, "parks, Toulouse"))
        if capacity:
            conn.execute(
                "INSERT INTO params.run_capacity (job, dask_workers, worker_type, note)"
                " VALUES ('layers.parcels', %s, %s, 'parcels refine on its own Dask worker')",
                (PARCELS_WORKERS, PARCELS_WORKER_TYPE),
            )
        conn.commit()
    _feed(settings, "buildings", files["buildings"])
    _feed(settings, "buildings", files["buildings_v2"])
    first = _scheduled_feed(settings, "parcels")
    if first.status != "success":
        raise AssertionError(f"seeding: the first parcels feed should succeed: {first.error}")
    with connect(settings.require_database_url()) as conn:  # a new source, audited as dana
        conn.execute("SELECT set_config('locxia.actor', 'dana', false)")
        conn.execute(
            "UPDATE params.datasets SET source = %s WHERE name = 'parcels'", (files["parcels_v2"],)
        )
        conn.commit()
    second = _scheduled_feed(settings, "parcels")
    if second.status != "failed" or "rows" not in str(second.error):
        raise AssertionError(f"seeding: parcels v2 should fail its row rule: {second.error}")
    run_task(settings, "layers.ingest", {"dataset": "parks", "source": files["parks"]})
    return dict(LAYER_ROWS)
