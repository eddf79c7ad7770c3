"""What the demo's refine line says about its capacity window and where the work ran, whatever
the window's outcome; what its publish line says of the parts; why the demo names no Dask
scheduler and uses its own Dask thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from infra.demo.layer import FEATURES as SAMPLE_FEATURES
from infra.demo.run import STEPS
from infra.demo.scenario.params import CAPACITY_WORKERS
from infra.demo.standin import demo_settings
from infra.settings import load_settings

REFINE = next(s for s in STEPS if s.name == "refine")
CAPACITY = next(s for s in STEPS if s.name == "capacity")
PUBLISH = next(s for s in STEPS if s.name == "publish")
PLAN = {
    "terraform_run": 3,
    "status": "applied",
    "approved": False,
    "monthly_delta": "167.24",
    "changes": [
        {"instance": f"cap1-w{k}", "action": "create", "after": {"instance_class": "m6i.large"}}
        for k in (1, 2)
    ],
}


DASK = {"engine": "dask", "partitions": 3, "workers": 2}


def _details(
    capacity: dict[str, Any] | None, engine: dict[str, Any] | None = None
) -> dict[str, Any]:
    quality: dict[str, Any] = {"rows_in": 3000, "rows_out": 2996, "checks": [{"passed": True}]}
    quality.update(engine or {})
    out: dict[str, Any] = {"version_id": 2, "zone": "working", "rows": 2996, "uri": "s3://w/x"}
    out["quality"] = quality
    if capacity is not None:
        out["capacity"] = capacity
    return out


def test_the_capacity_step_runs_before_the_refine_it_declares_for() -> None:
    names = [s.name for s in STEPS]
    assert names.index("capacity") < names.index("refine")
    assert CAPACITY.task == "demo.capacity" and REFINE.task == "layers.refine"


def test_a_restored_window_is_raised_run_removed_and_priced() -> None:
    window = {"window": 1, "plan": PLAN, "raised_s": 6.71, "state": "restored", "waited": 3.9}
    line = REFINE.describe(_details({**window, "cost_usd": "0.00373333"}, DASK))
    assert line.endswith(
        " — capacity window 1: 2 × m6i.large raised (terraform run 3: +167.24 USD/month,"
        " applied within policy, 6.7 s); the stand-in workers never boot (no"
        " LOCXIA_DASK_SCHEDULER), so refine ran on the embedded local Dask cluster: 3 partitions"
        " on 2 worker processes; workers removed after (3.9 s); window cost 0.0037 USD"
    )


@pytest.mark.parametrize(
    ("capacity", "engine", "says"),
    [
        (None, None, None),
        (
            {"window": 2, "plan": {**PLAN, "approved": True}, "state": "restored"},
            {"engine": "dask", "partitions": 1, "workers": 1},
            "applied after approval, 0.0 s); the stand-in workers never boot (no"
            " LOCXIA_DASK_SCHEDULER), so refine ran on the embedded local Dask cluster:"
            " 1 partition on 1 worker process;",
        ),
        (
            {"window": 3, "plan": PLAN, "state": "restored"},
            None,
            "so refine ran in this process (under LOCXIA_DASK_MIN_ROWS); workers removed",
        ),
        (
            {"window": 4, "plan": PLAN, "state": "failed", "error": "not restored in time"},
            DASK,
            "; NOT restored (failed: not restored in time): `locxia capacity restore 4`",
        ),
    ],
    ids=["no-window", "approved-one-worker", "in-process", "restore-failed"],
)
def test_the_line_says_what_happened(
    capacity: dict[str, Any] | None, engine: dict[str, Any] | None, says: str | None
) -> None:
    line = REFINE.describe(_details(capacity, engine))
    if says is None:
        assert "capacity window" not in line
    else:
        assert says in line
        assert ("window cost" in line) is (capacity is not None and capacity["state"] == "restored")


def test_the_demo_names_no_dask_scheduler(tmp_path: Any) -> None:
    """Its workers are stand-ins that never boot: waiting for them to join would never end."""
    base = load_settings(dask_scheduler="tcp://127.0.0.1:8786")
    live = demo_settings(base, "postgresql://x@127.0.0.1/d", "http://127.0.0.1:5000", tmp_path)
    assert live.dask_scheduler is None and live.shape_auto_apply_usd >= 167.24


def test_the_demo_uses_its_own_dask_thresholds_whatever_the_environment(tmp_path: Any) -> None:
    """The 3,000-row sample reaches the demo's ``dask_min_rows`` and is cut in three
    partitions of 1,000 on two local workers, even under a user's production thresholds."""
    base = load_settings(dask_min_rows=5_000_000, dask_partition_rows=250_000, dask_local_workers=8)
    live = demo_settings(base, "postgresql://x@127.0.0.1/d", "http://127.0.0.1:5000", tmp_path)
    assert (live.dask_min_rows, live.dask_partition_rows, live.dask_local_workers) == (
        1_000,
        1_000,
        2,
    )
    assert live.dask_local_workers == CAPACITY_WORKERS  # as many as its window declares
    assert -(-SAMPLE_FEATURES // live.dask_partition_rows) == 3
    assert SAMPLE_FEATURES >= live.dask_min_rows


@pytest.mark.parametrize(
    ("details", "says"),
    [
        ({"parts": 7}, " — 7 parts loaded by parallel COPYs on Dask"),
        ({"parts": 1}, " — 1 part loaded by parallel COPYs on Dask"),
        ({}, ""),
        ({"parts": 7, "noop": True}, ""),
    ],
    ids=["partitioned", "one-part", "single-file", "already-live"],
)
def test_the_publish_line_says_the_parts_were_loaded_in_parallel(
    details: dict[str, Any], says: str
) -> None:
    base = {"version_id": 7, "zone": "exposure", "rows": 2996, "uri": "postgresql:exposure.x"}
    line = PUBLISH.describe({**base, **details})
    done = "unchanged, already" if details.get("noop") else "now"
    assert (
        line == f"publish: version 7 {done} in exposure — 2,996 rows at postgresql:exposure.x{says}"
    )
