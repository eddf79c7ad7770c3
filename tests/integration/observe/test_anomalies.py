"""Cost anomalies on seeded histories (real PostgreSQL; ``today`` passed in, no clock).

The figures (scores, counts) are printed for the closing note: ``pytest -s`` shows them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
import pytest

from dashboards.grafana.build import all_dashboards
from dashboards.grafana.check import PgRunner, check_dashboard
from dashboards.grafana.macros import TimeRange
from dashboards.report.build import build_report
from dashboards.report.model import Period, sections_by_key
from dashboards.report.sections import SECTIONS
from infra.db import connect
from pipelines.observe.costs.anomalies import NOT_ESTIMATED, acknowledge, detect
from tests.support.cost_history import CLOUDWATCH, EC2, Spike, generate, seed

#: 28 days of baseline before the 90 days judged.
FIRST = date(2026, 6, 1)
JUDGED = 90
LAST = FIRST + timedelta(days=28 + JUDGED - 1)
SCORE = 5.0
FLOOR = 1.0


def _detect(
    conn: psycopg.Connection[Any], today: date, days: int, floor: float = FLOOR
) -> dict[str, Any]:
    now = datetime.combine(today, time(7, 20), UTC)
    return dict(
        detect(
            conn,
            today,
            now,
            tag_key="project",
            tag_value="locxia",
            threshold=SCORE,
            floor_usd=floor,
            days=days,
        )
    )


def _notifications(conn: psycopg.Connection[Any]) -> list[tuple[str, str]] | None:
    """The cost_anomaly events recorded, or None when ops.notifications is not migrated."""
    if conn.execute("SELECT to_regclass('ops.notifications')").fetchone() == (None,):
        return None
    rows = conn.execute(
        "SELECT kind, key FROM ops.notifications WHERE kind = 'cost_anomaly' ORDER BY id"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize(
    "day", [LAST, LAST - timedelta(days=5)], ids=["saturday-batch-idle", "monday-batch-busy"]
)
def test_a_doubled_service_is_found_the_next_day_first_with_its_driver(
    db_url: str, day: date
) -> None:
    spike = Spike(day, EC2, 2.0, "batch-ec2")
    history = generate(FIRST, LAST, spikes=(spike,))
    with connect(db_url) as conn:
        seed(conn, history)
        found = _detect(conn, day + timedelta(days=1), days=3)
        conn.commit()
        rows = conn.execute(
            "SELECT scope, key, observed, expected, score, drivers FROM costs.anomalies"
            " WHERE day = %s ORDER BY scope = 'service' DESC, observed - expected DESC",
            (day,),
        ).fetchall()
        events = _notifications(conn)
    first = found["anomalies"][0]
    assert (first["day"], first["scope"], first["key"]) == (day.isoformat(), "service", EC2)
    assert first["top_driver"] == "batch-ec2"
    assert [a["key"] for a in found["anomalies"] if a["scope"] == "service"] == [EC2]
    scope, key, observed, expected, score, drivers = rows[0]
    assert (scope, key) == ("service", EC2)
    assert float(observed) == pytest.approx(history.services[EC2][day], abs=1e-4)
    assert drivers[0]["kind"] == "resource" and drivers[0]["key"] == "batch-ec2"
    assert drivers[0]["share"] > 0.8  # the resource carries most of the rise
    resource = [r for r in rows if r[0] == "resource"]
    assert [r[1] for r in resource] == ["batch-ec2"]
    assert resource[0][5][0]["key"] == "batch-ec2 large"
    assert resource[0][5][0]["before"] == "batch-ec2 standard"
    assert found["new"] == len(found["anomalies"])
    if events is not None:
        assert ("cost_anomaly", f"service:{EC2}:{day}") in events
        assert found["notified"] == found["new"]
    print(
        f"\nspike ×2 of {EC2} on {day:%a %Y-%m-%d}: observed {float(observed):.2f} USD, expected"
        f" {float(expected):.2f}, score {score:.1f}; ranked first; top driver"
        f" {drivers[0]['key']} {drivers[0]['delta']:+.2f} USD ({drivers[0]['share']:.0%})"
    )


def test_clean_history_has_at_most_one_false_positive_in_90_days(db_url: str) -> None:
    history = generate(FIRST, LAST)
    with connect(db_url) as conn:
        seed(conn, history)
        found = _detect(conn, LAST + timedelta(days=1), days=JUDGED)
        conn.commit()
    series = found["series"]
    false = found["anomalies"]
    print(
        f"\nclean history: {len(false)} false positive(s) over {JUDGED} days × {series} series"
        f" ({JUDGED * series} series-days judged, {found['too_short']} too short): {false}"
    )
    assert found["too_short"] == 0 and series == 10
    assert len(false) <= 1


def test_below_the_floor_never_whatever_the_score(db_url: str) -> None:
    """A ×5 day of a 0.40 USD service rises 1.6 USD: over a 2 USD floor never, under 1 USD yes."""
    spike = Spike(LAST, CLOUDWATCH, 5.0, "tiny-vol")
    with connect(db_url) as conn:
        seed(conn, generate(FIRST, LAST, spikes=(spike,)))
        today = LAST + timedelta(days=1)
        high = _detect(conn, today, days=JUDGED, floor=2.0)
        assert all(a["key"] != CLOUDWATCH for a in high["anomalies"])
        assert all(a["observed"] - a["expected"] >= 2.0 for a in high["anomalies"])
        low = _detect(conn, today, days=1, floor=1.0)
        conn.commit()
    caught = [a for a in low["anomalies"] if a["key"] == CLOUDWATCH]
    assert len(caught) == 1 and caught[0]["score"] > 20
    print(
        f"\nfloor: {CLOUDWATCH} ×5 (+{caught[0]['observed'] - caught[0]['expected']:.2f} USD,"
        f" score {caught[0]['score']}) not reported over {JUDGED} days with a 2 USD floor,"
        " reported with a 1 USD floor"
    )
    drivers = low["anomalies"]
    assert drivers  # the CloudWatch day has no resource: its rise is all 'not estimated'


def test_rerun_refreshes_keeps_the_acknowledgement_and_never_notifies_twice(db_url: str) -> None:
    spike = Spike(LAST, CLOUDWATCH, 10.0, "tiny-vol")
    with connect(db_url) as conn:
        seed(conn, generate(FIRST, LAST, spikes=(spike,)))
        today = LAST + timedelta(days=1)
        first = _detect(conn, today, days=1)
        conn.commit()
        ids = [a["id"] for a in first["anomalies"] if a["key"] == CLOUDWATCH]
        assert len(ids) == 1
        at = datetime.combine(today, time(9), UTC)
        row, done = acknowledge(conn, ids[0], "alice", at)
        assert done and row["acknowledged_by"] == "alice"
        again, done_again = acknowledge(conn, ids[0], "bob", at + timedelta(hours=1))
        assert not done_again and again["acknowledged_by"] == "alice"
        second = _detect(conn, today, days=1)
        conn.commit()
        kept = conn.execute(
            "SELECT acknowledged_by, drivers FROM costs.anomalies WHERE id = %s", (ids[0],)
        ).fetchone()
        with pytest.raises(Exception, match="no cost anomaly 999999"):
            acknowledge(conn, 999999, "alice", at)
    assert second["new"] == 0 and second["notified"] == 0
    assert [a["id"] for a in second["anomalies"]] == [a["id"] for a in first["anomalies"]]
    assert kept is not None and kept[0] == "alice"
    assert kept[1][0]["key"] == NOT_ESTIMATED  # CloudWatch has no resource estimated


def test_a_day_cost_explorer_has_not_completed_is_not_judged(db_url: str) -> None:
    """The spike day is CE's newest (still filling): no service anomaly until it is complete."""
    spike = Spike(LAST, EC2, 2.0, "batch-ec2")
    with connect(db_url) as conn:
        seed(conn, generate(FIRST, LAST, spikes=(spike,)), coverage_end=LAST)
        found = _detect(conn, LAST + timedelta(days=1), days=1)
        conn.rollback()
    assert found["service_days_complete"] == []
    assert [(a["scope"], a["key"]) for a in found["anomalies"]] == [("resource", "batch-ec2")]


def test_the_costs_panel_and_the_report_show_the_spike_first(db_url: str) -> None:
    history = generate(FIRST, LAST, spikes=(Spike(LAST, EC2, 2.0, "batch-ec2"),))
    today = LAST + timedelta(days=1)
    with connect(db_url) as conn:
        seed(conn, history)
        _detect(conn, today, days=3)
        conn.commit()
        board = next(b for b in all_dashboards() if b["uid"] == "locxia-costs")
        span = TimeRange.last("7d", datetime.combine(today, time(8), UTC))
        outcomes = {o.query.title: o for o in check_dashboard(PgRunner(conn), board, span)}
        report = build_report(
            conn,
            Period.containing(LAST),
            source="test",
            today=today,
            sections=[sections_by_key(SECTIONS)["anomalies"]],
        )
    panel = next(o for title, o in outcomes.items() if title.startswith("Cost anomalies ·"))
    assert panel.ok and panel.frame is not None
    assert panel.frame.column("key")[0] == EC2
    assert panel.frame.column("top_driver")[0] == "batch-ec2"
    counted = outcomes["Cost anomalies not acknowledged"].frame
    assert counted is not None and counted.column("open_anomalies") == [2]
    ((_, content),) = report.sections
    table = content.tables[0]
    assert table.rows[0][3] == EC2 and table.rows[0][8].startswith("batch-ec2 +")
    assert {f.key: f.value for f in content.figures}["anomalies.count"] == 2
