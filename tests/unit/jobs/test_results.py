"""Task results are TypedDicts: plain dicts at run time whose keys match what consumers read."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

from infra.scheduler import PlanDetails, SyncReport
from pipelines.feed.jobs import LayerResult
from pipelines.observe.costs.tasks import ExplorerResult
from pipelines.observe.metrics.collect import CollectResult
from pipelines.observe.metrics.streams import StreamReport

MIGRATIONS = Path(__file__).parents[3] / "infra" / "db" / "migrations"
# details ->> 'key', details -> 'key', details ? 'key' in the reporting views
_READ = re.compile(r"details\s*(?:->>|->|\?)\s*'(\w+)'")


def _keys(*results: type) -> set[str]:
    return {k for r in results for k in (r.__required_keys__ | r.__optional_keys__)}


def test_every_key_the_reporting_views_read_is_declared() -> None:
    read = {k for sql in MIGRATIONS.glob("*.sql") for k in _READ.findall(sql.read_text())}
    assert read, "no ops.runs.details key found in the migrations"
    assert read <= _keys(PlanDetails, CollectResult, ExplorerResult, LayerResult)


def test_a_replan_records_lists_and_a_count() -> None:
    report = SyncReport(added=("a",), replaced=(), removed=("b", "c"), kept=4)
    assert report.details() == {"added": ["a"], "replaced": [], "removed": ["b", "c"], "kept": 4}


def test_stream_details_hold_every_field_of_the_report() -> None:
    report = StreamReport(files_seen=3, records=9, errors=["x"])
    assert report.details() == asdict(report)
