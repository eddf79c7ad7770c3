"""Estimates recompute their window from what is known now, whatever was estimated before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.db import connect
from infra.prices import PriceCatalog
from pipelines.observe.costs.estimates import estimate

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _hours(conn, resource: int) -> list[datetime]:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        "SELECT hour FROM costs.estimates WHERE resource_id = %s ORDER BY hour", (resource,)
    ).fetchall()
    return [r[0] for r in rows]


def test_hours_after_a_resource_is_known_gone_are_dropped(db_url: str) -> None:
    with connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
            " state, attributes, first_seen, last_seen) VALUES"
            " ('arn:aws:ec2:eu-west-3:123456789012:instance/i-1', 'ec2:instance', 'i-1',"
            " 'ingest-worker', 'eu-west-3', '{\"project\": \"locxia\"}', true, 'running',"
            ' \'{"instance_type": "t3.large"}\', %s, %s) RETURNING id',
            (NOW - timedelta(hours=10), NOW - timedelta(hours=10)),
        ).fetchone()
        assert row is not None
        rid = row[0]
        conn.commit()
        catalog = PriceCatalog.load(conn, "eu-west-3")
        first = estimate(conn, catalog, NOW)
        assert first["hours_estimated"] == 10
        assert len(_hours(conn, rid)) == 10

        # a later discovery learns the instance was terminated six hours ago
        conn.execute(
            "UPDATE metrics.resources SET gone_at = %s, state = 'terminated' WHERE id = %s",
            (NOW - timedelta(hours=6), rid),
        )
        conn.commit()
        estimate(conn, catalog, NOW)
        hours = _hours(conn, rid)
        assert hours == [NOW - timedelta(hours=h) for h in range(10, 5, -1)]

        # and one whose tag was removed is no longer Locxia's to count in the window
        conn.execute("UPDATE metrics.resources SET tagged = false WHERE id = %s", (rid,))
        conn.commit()
        estimate(conn, catalog, NOW)
        assert _hours(conn, rid) == []
