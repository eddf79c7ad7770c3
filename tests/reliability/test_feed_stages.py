"""ingest, refine and publish killed with SIGKILL at observed points, then run again.

Compared with a fault-free run of the same file into a twin database: the same versions in
every zone, the same published rows, no half-published table at any moment, nothing left
`running`, and no scratch left by the dead process once the next command has started.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    Outcome,
    count,
    kill_points,
    kill_when,
    lost_and_duplicated,
    rows,
    run_ok,
    sessions_gone,
    stuck,
)
from tests.support import geodata

pytestmark = pytest.mark.slow

FEATURES = 20_000
VERSIONS = (
    "SELECT zone, status, rows, crs, geometry_types::text,"
    " CASE WHEN zone = 'landing' THEN checksum END FROM ops.dataset_versions"
    " WHERE dataset = 'roofs'"
)
EXPOSED = "SELECT md5(t::text) FROM exposure.roofs AS t"
TASKS = {"ingest": "layers.ingest", "refine": "layers.refine", "publish": "layers.publish"}


@pytest.fixture(scope="module")
def layer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return geodata.write_gpkg(tmp_path_factory.mktemp("layers") / "roofs.gpkg", FEATURES, seed=4)


def _steps(path: Path) -> dict[str, list[str]]:
    return {
        "ingest": ["ingest", str(path), "-d", "roofs"],
        "refine": ["refine", "roofs"],
        "publish": ["publish", "roofs"],
    }


def _env(cli_env: dict[str, str], url: str, home: Path) -> dict[str, str]:
    return {
        **cli_env,
        "LOCXIA_DATABASE_URL": url,
        "XDG_DATA_HOME": str(home / "xdg"),
        "LOCXIA_LAYERS_TMP_DIR": str(home / "scratch"),
    }


def _running(url: str, task: str) -> Callable[[], bool]:
    return lambda: (
        count(url, "SELECT count(*) FROM ops.runs WHERE task = %s AND status = 'running'", task) > 0
    )


def _scratch_written(home: Path, pattern: str) -> Callable[[], bool]:
    def check() -> bool:
        scratch = home / "scratch"
        return scratch.exists() and any(
            p.stat().st_size > 0 for p in scratch.rglob(pattern) if p.is_file()
        )

    return check


def _copying(url: str) -> Callable[[], bool]:
    return lambda: (
        count(
            url,
            "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)"
            " WHERE a.application_name = 'locxia:publish' AND p.tuples_processed > 0",
        )
        > 0
    )


def _files(home: Path) -> int:
    zones = home / "xdg" / "locxia" / "zones"
    return sum(1 for p in zones.rglob("*") if p.is_file()) if zones.exists() else 0


#: (stage, kill point, what is observed before SIGKILL, published before the stage)
KILL_POINTS = [
    ("ingest", "run-recorded", "run", False),
    ("ingest", "bytes-in-scratch", "*", False),
    ("refine", "run-recorded", "run", False),
    ("refine", "spill-in-scratch", "*.arrow", False),
    ("publish", "run-recorded", "run", False),
    ("publish", "first-publish-mid-copy", "copy", False),
    ("publish", "republish-mid-copy", "copy", True),
]


RUN = kill_points(
    KILL_POINTS,
    {"ingest-bytes-in-scratch", "refine-spill-in-scratch", "publish-republish-mid-copy"},
    lambda p: f"{p[0]}-{p[1]}",
)


@pytest.mark.parametrize(
    ("stage", "point", "observed", "republish"), RUN, ids=[f"{s}-{p}" for s, p, *_ in RUN]
)
def test_kill_9_inside_the_stage(
    cli_env: dict[str, str],
    db_url: str,
    twin_url: str,
    tmp_path: Path,
    layer_file: Path,
    outcome: Outcome,
    stage: str,
    point: str,
    observed: str,
    republish: bool,
    request: pytest.FixtureRequest,
) -> None:
    if (stage, point) == ("refine", "spill-in-scratch"):
        # Open: this refine now ends before any spill file is seen in its scratch, so the kill
        # point is never reached; the point has to be re-chosen (docs/reliability.md).
        request.applymarker(pytest.mark.xfail(reason="refine ends before its spill is seen"))
    steps = _steps(layer_file)
    order = list(steps)
    before = order[: order.index(stage)]
    reference_home, home = tmp_path / "reference", tmp_path / "faulted"
    for step in [*before, stage]:
        run_ok(steps[step], _env(cli_env, twin_url, reference_home))
    env = _env(cli_env, db_url, home)
    for step in before:
        run_ok(steps[step], env)
    previous = 0
    if republish:  # a live version already, then a new file: the kill hits the swap's COPY
        run_ok(steps["publish"], env)
        run_ok(steps["publish"], _env(cli_env, twin_url, reference_home))
        previous = count(db_url, "SELECT count(*) FROM exposure.roofs")
        newer = geodata.write_gpkg(tmp_path / "roofs2.gpkg", FEATURES, seed=8)
        for step in ("ingest", "refine"):
            for url, where in ((db_url, home), (twin_url, reference_home)):
                run_ok(_steps(newer)[step], _env(cli_env, url, where))
        run_ok(steps["publish"], _env(cli_env, twin_url, reference_home))

    ready = {
        "run": _running(db_url, TASKS[stage]),
        "copy": _copying(db_url),
    }.get(observed) or _scratch_written(home, observed)
    kill_when(steps[stage], env, ready)

    # no partial table: right after the kill, exposure shows the previous version or nothing
    exposed = count(
        db_url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure' AND tablename = 'roofs'",
    )
    partial = exposed and count(db_url, "SELECT count(*) FROM exposure.roofs") != previous
    assert not partial, "a half-published table is visible in exposure"

    sessions_gone(db_url)
    run_ok(steps[stage], env)

    lost, duplicated = lost_and_duplicated(rows(twin_url, VERSIONS), rows(db_url, VERSIONS))
    if stage == "publish":
        got = lost_and_duplicated(rows(twin_url, EXPOSED), rows(db_url, EXPOSED))
        lost, duplicated = lost + got[0], duplicated + got[1]
    extra_files = _files(home) - _files(reference_home)
    left = stuck(db_url)
    scratch = home / "scratch"
    stale = sorted(p.name for p in scratch.iterdir()) if scratch.exists() else []
    outcome(
        tries=1,
        survived=int(lost == duplicated == extra_files == 0 and not left and not stale),
        lost=lost,
        duplicated=duplicated + max(extra_files, 0),
        left=len(left) + len(stale),
        group="kill -9",
        case=f"{stage}: {point}",
        note="; ".join(
            n
            for n in (
                f"stuck records: {len(left)}" if left else "",
                f"stale scratch: {len(stale)}" if stale else "",
            )
            if n
        ),
    )
    assert (lost, duplicated) == (0, 0)
    assert extra_files == 0, "files of the killed run left in the zones"
    assert (
        count(db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure_staging'") == 0
    )
    # the re-run was the next CLI start: the killed run is swept, its scratch removed
    assert left == [], f"records left as if still running: {left}"
    assert stale == [], f"scratch of the killed process left behind: {stale}"
