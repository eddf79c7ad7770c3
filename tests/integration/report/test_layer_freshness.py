"""The report's "Layer freshness" section equals the database after a real feed.

Layers go through the recorded ingest → refine → publish tasks (tests/support/week.py:
``feed_layers``): buildings published twice, parcels published then rejected by its row rule
(stale), parks only landed (stale: nothing published).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row

from dashboards.report import make_report
from infra.db import connect
from infra.settings import Settings
from tests.support.report_html import Parsed, parse
from tests.support.week_layers import feed_layers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fed(
    tmp_path_factory: pytest.TempPathFactory, admin_url: str, template_url: str
) -> Iterator[tuple[Parsed, list[dict[str, Any]]]]:
    from tests.support import pg

    url = pg.create_db(admin_url, "locxia_f", template=template_url.rsplit("/", 1)[1])
    tmp = tmp_path_factory.mktemp("freshness")
    zones = tmp / "zones"
    settings = Settings(
        database_url=url,
        landing_uri=(zones / "landing").as_uri(),
        working_uri=(zones / "working").as_uri(),
        exposure_uri=(zones / "exposure").as_uri(),
    )
    try:
        feed_layers(settings, tmp / "sources", capacity=False)  # no AWS here
        written = make_report(url, tmp / "report.html", today=datetime.now(UTC).date())
        with connect(url, row_factory=dict_row) as conn:
            raw = conn.execute("SELECT * FROM reporting.datasets ORDER BY dataset").fetchall()
        yield parse(written.html.read_text()), raw
    finally:
        pg.drop_db(admin_url, url)


def test_freshness_figures_equal_the_database(fed: Any) -> None:
    parsed, raw = fed
    assert parsed.sections.index("freshness") < parsed.sections.index("runs")
    assert parsed.views["freshness"] == "reporting.datasets"
    assert int(parsed.figures["freshness.datasets"]) == len(raw) == 3
    stale = {r["dataset"]: r["stale_reason"] for r in raw if r["stale"]}
    assert stale == {
        "parcels": "newer version in landing (rejected)",
        "parks": "nothing published",
    }
    assert int(parsed.figures["freshness.stale"]) == len(stale)
    zones = {r["dataset"]: r["zone"] for r in raw}
    assert zones == {"buildings": "exposure", "parcels": "exposure", "parks": "landing"}
    for zone in ("exposure", "working", "landing", "declared"):
        expected = sum(z == zone for z in zones.values())
        assert int(parsed.figures[f"freshness.zone.{zone}"]) == expected, zone


def test_rejections_of_the_month_are_listed_with_their_reason(fed: Any) -> None:
    parsed, _ = fed
    assert int(parsed.figures["freshness.rejected"]) == 1
    table = parsed.tables["freshness.rejected"]
    assert len(table) == 1
    when, dataset, zone, version, step, reason, source = table[0]
    assert (dataset, zone, step) == ("parcels", "landing", "refine") and int(version) > 0
    assert reason.startswith("parcels: quality check failed: rows:")
    assert source.startswith("file://") and "/landing/parcels/" in source


def test_freshness_table_equals_the_database(fed: Any) -> None:
    parsed, raw = fed
    table = parsed.tables["freshness.datasets"]
    assert [row[0] for row in table] == ["parcels", "parks", "buildings"]  # stale first
    by_name = {r["dataset"]: r for r in raw}
    for row in table:
        mine = by_name[row[0]]
        assert row[1] == mine["zone"]
        assert row[2] == ("" if mine["live_version_id"] is None else str(mine["live_version_id"]))
        if mine["published_at"] is None:
            assert row[3] == "" and row[4] == ""
        else:
            assert datetime.fromisoformat(row[3]) == mine["published_at"]
            # the report read the view a moment before this test did
            assert float(row[4]) == pytest.approx(mine["age_seconds"] / 3600, abs=0.1)
        assert row[5] == ("" if mine["live_rows"] is None else str(mine["live_rows"]))
        assert int(row[7]) == mine["rejected_versions"]
        reason = mine["stale_reason"]
        assert row[8] == (f"stale: {reason}" if reason else "fresh")
    assert by_name["buildings"]["live_rows"] == 75  # the second file is the live one
    assert by_name["parcels"]["live_rows"] == 40  # the rejected second file never went live


def test_the_section_is_empty_without_datasets(db_url: str, tmp_path: Path) -> None:
    parsed = parse(make_report(db_url, tmp_path / "r.html").html.read_text())
    assert "freshness" in parsed.empty
    assert not any(key.startswith("freshness.") for key in parsed.figures)
