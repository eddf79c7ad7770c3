"""Notifications end to end: real event sources, a real SMTP server and a real webhook.

Every event kind is raised by its source several ticks in a row and delivered over several
ticks of ``notify.deliver``: each must reach the mailbox and the webhook exactly once. Time
is passed in (``now``), never mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from infra import notify
from infra.db import connect
from infra.jobs import Plugin, Registry, Task, TaskContext
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.feed import stale
from pipelines.observe.costs.budgets import compute_status
from pipelines.shape import backoff, drift
from pipelines.shape.reconcile import Outcome, _notify_held
from tests.support.notify_servers import Hook, Mailbox, smtp_server, webhook_server

NOW = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)


def fail(ctx: TaskContext) -> None:
    raise RuntimeError("source unreachable")


FAILING = Plugin("notifytest", (Task("test.fail", f"{__name__}:fail", "always fails"),))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server() as h:
        yield h


@pytest.fixture
def nsettings(settings: Settings, mailbox: Mailbox, hook: Hook) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,
            "notify_webhooks": {"ops": _secret(f"{hook.url}/services/T0/B0/s3cr3t-token")},
            "notify_timeout_seconds": 5.0,
        }
    )


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def _rules(conn: psycopg.Connection[Any], *rows: tuple[Any, ...]) -> None:
    for row in rows:
        conn.execute(
            "INSERT INTO params.notification_rules (name, kinds, channel, target, quiet_start,"
            " quiet_end, timezone) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            row,
        )
    conn.commit()


def _tick(conn: psycopg.Connection[Any], settings: Settings, now: datetime) -> notify.DeliverResult:
    return notify.deliver(conn, settings, now)


def _raise_every_kind(db_url: str, settings: Settings, now: datetime) -> None:
    """One tick of every event source, each seeing its condition (idempotent by design)."""
    with connect(db_url) as conn:
        compute_status(conn, "project", "locxia", now)
        drift.record(
            conn,
            [drift.DriftFinding("work-db", "rds", "instance_class", "db.t4g.large", "db.m6g.xl")],
            checked=["work-db"],
            source="describe",
            terraform_run_id=None,
        )
        backoff.failed(conn, "hash-1", None, "terraform apply failed: throttled", now)
        _notify_held(conn, Outcome(41, "held", "needs_approval", [], [], "10", "900"), now)
        stale.check(conn, now)
        # the anomaly detector and the monitoring cap are their own sources; they call emit
        notify.emit(conn, "cost_anomaly", "2026-11-10:AmazonRDS", "RDS cost ×2", "spike", at=now)
        notify.emit(conn, "monitoring_cap", "2026-11", "Cadences stepped down", "cap", at=now)
        conn.commit()
    runner = Runner(settings, Registry.from_entry_points([FAILING]), now=lambda: now)
    try:
        runner.run("test.fail")
    finally:
        runner.close()


def _seed_sources(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('all', 'total', 100)"
        )
        conn.execute(
            "INSERT INTO costs.daily (day, service, tag_key, tag_value, usd, estimated, basis)"
            " SELECT d::date, 'Amazon Relational Database Service', 'project', 'locxia', 10,"
            " false, 'usage' FROM generate_series('2026-11-01'::date, '2026-11-10', '1 day') d"
        )
        conn.execute(
            "INSERT INTO costs.explorer_reads (read_at, basis, first_day, end_day, newest_day,"
            " covered_until) VALUES (%s, 'usage', '2026-11-01', '2026-11-11', '2026-11-10',"
            " '2026-11-11T00:00:00Z')",
            (NOW,),
        )
        conn.execute("INSERT INTO params.datasets (name, enabled) VALUES ('roads', true)")
        conn.commit()


def test_each_kind_reaches_smtp_and_webhook_once(
    db_url: str, nsettings: Settings, mailbox: Mailbox, hook: Hook
) -> None:
    _seed_sources(db_url)
    with connect(db_url, autocommit=True) as conn:
        _rules(
            conn,
            ("ops-mail", "*", "email", "ops@example.org", None, None, "UTC"),
            ("ops-chat", "*", "webhook", "setting:ops", None, None, "UTC"),
        )
        results = []
        for minute in range(0, 5 * nsettings.notify_failures_in_a_row, 5):
            now = NOW + timedelta(minutes=minute)
            _raise_every_kind(db_url, nsettings, now)
            results.append(_tick(conn, nsettings, now + timedelta(seconds=30)))
        kinds = dict(conn.execute("SELECT kind, count(*) FROM ops.notifications GROUP BY kind"))
        statuses = conn.execute(
            "SELECT DISTINCT status FROM ops.notification_deliveries"
        ).fetchall()

    expected = set(notify.KINDS)
    assert kinds == dict.fromkeys(expected, 1)
    assert statuses == [("sent",)]
    assert sum(r["sent"] for r in results) == 2 * len(expected)
    mailed = sorted(m["X-Locxia-Notification"].split(";")[0] for _, m in mailbox.mails)
    assert mailed == sorted(expected)
    assert all(to == ["ops@example.org"] for to, _ in mailbox.mails)
    posted = sorted(p["blocks"][2]["elements"][0]["text"].split(" · ")[0] for _, p in hook.posts)
    assert posted == sorted(expected)
    assert {path for path, _ in hook.posts} == {"/services/T0/B0/s3cr3t-token"}
    budget = next(p for _, p in hook.posts if p["text"].startswith("Budget all"))
    assert "300.00" in budget["text"]  # 100 spent through the 10th + 10/day × 20 days left
    assert budget["blocks"][0]["type"] == "header"


def test_quiet_hours_hold_and_send_after(
    db_url: str, nsettings: Settings, mailbox: Mailbox, hook: Hook
) -> None:
    night = datetime(2026, 11, 11, 22, 30, tzinfo=UTC)  # 23:30 in Paris (UTC+1 in November)
    with connect(db_url, autocommit=True) as conn:
        _rules(
            conn,
            ("night-mail", "*", "email", "oncall@example.org", "22:00", "07:00", "Europe/Paris"),
            ("day-chat", "drift", "webhook", f"{hook.url}/hook", None, None, "UTC"),
        )
        notify.emit(conn, "drift", "work-db/instance_class/describe", "Drift", "b", at=night)
        first = _tick(conn, nsettings, night)
        assert first["sent"] == 1 and first["held"] == 1  # webhook at once, e-mail held
        for hours in (1, 3, 7):  # 00:30, 02:30, 06:30 Paris: still quiet, nothing due
            tick = _tick(conn, nsettings, night + timedelta(hours=hours))
            assert tick["sent"] == 0
        assert mailbox.mails == []
        held = conn.execute(
            "SELECT status, next_attempt_at FROM ops.notification_deliveries"
            " WHERE rule = 'night-mail'"
        ).fetchone()
        assert held == ("held", datetime(2026, 11, 12, 6, 0, tzinfo=UTC))  # 07:00 Paris
        after = _tick(conn, nsettings, datetime(2026, 11, 12, 6, 0, 5, tzinfo=UTC))
        again = _tick(conn, nsettings, datetime(2026, 11, 12, 6, 5, tzinfo=UTC))
        sent_at = conn.execute(
            "SELECT sent_at FROM ops.notification_deliveries WHERE rule = 'night-mail'"
        ).fetchone()
    assert after["sent"] == 1 and again["sent"] == 0
    assert len(mailbox.mails) == 1 and len(hook.posts) == 1
    assert sent_at == (datetime(2026, 11, 12, 6, 0, 5, tzinfo=UTC),)


def test_failed_deliveries_retry_with_back_off_then_give_up(
    db_url: str, nsettings: Settings, hook: Hook
) -> None:
    hook.fail_next = 2
    with connect(db_url, autocommit=True) as conn:
        _rules(conn, ("chat", "*", "webhook", "setting:ops", None, None, "UTC"))
        notify.emit(conn, "job_backoff", "reconcile:h", "Backing off", "b", at=NOW)
        ticks = [_tick(conn, nsettings, NOW + timedelta(seconds=s)) for s in (0, 30, 61, 120, 181)]
        row = conn.execute(
            "SELECT status, attempts, last_error FROM ops.notification_deliveries"
        ).fetchone()
        # A webhook that never answers 2xx: given up after notify_max_attempts.
        hook.fail_next = 100
        notify.emit(conn, "job_backoff", "reconcile:other", "Backing off", "b", at=NOW)
        few = nsettings.model_copy(update={"notify_max_attempts": 2})
        for minutes in range(0, 10):
            _tick(conn, few, NOW + timedelta(minutes=minutes))
        gave_up = conn.execute(
            "SELECT d.status, d.attempts, d.last_error FROM ops.notification_deliveries d"
            " JOIN ops.notifications n ON n.id = d.notification_id WHERE n.key = 'reconcile:other'"
        ).fetchone()
    # fails at 0 s (retry in 1 min), not due at 30 s, fails at 61 s (retry in 2 min), not due at
    # 120 s, sent at 181 s
    assert [t["retried"] for t in ticks] == [1, 0, 1, 0, 0]
    assert [t["sent"] for t in ticks] == [0, 0, 0, 0, 1]
    assert row == ("sent", 3, None)
    assert len(hook.posts) == 1
    assert gave_up is not None and gave_up[:2] == ("failed", 2)
    assert gave_up[2] == "webhook setting:ops: HTTP 500 Internal Server Error"
    assert "s3cr3t" not in gave_up[2]


def test_dedupe_while_open_resolve_and_reminder(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        emits = [
            notify.emit(conn, "dataset_stale", "roads", "s", "b", at=NOW + timedelta(hours=h))
            for h in (0, 1, 23)
        ]
        assert notify.resolve(conn, "dataset_stale", "roads", NOW + timedelta(hours=23)) == 1
        emits.append(
            notify.emit(conn, "dataset_stale", "roads", "s", "b", at=NOW + timedelta(hours=24))
        )
        # still open 24 h later: one reminder a day, not one per tick
        emits.append(
            notify.emit(conn, "dataset_stale", "roads", "s", "b", at=NOW + timedelta(hours=49))
        )
        emits.append(notify.emit(conn, "dataset_stale", "rivers", "s", "b", at=NOW))
    assert emits == [True, False, False, True, True, True]


def test_unknown_kind_is_refused(db_url: str) -> None:
    from infra.errors import InputError

    with connect(db_url) as conn, pytest.raises(InputError, match="unknown notification kind"):
        notify.emit(conn, "budget", "k", "s", "b")


def test_rules_are_audited_and_checked(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        _rules(conn, ("ops-mail", "*", "email", "ops@example.org", None, None, "UTC"))
        audited = conn.execute(
            "SELECT count(*) FROM params.history WHERE table_name = 'notification_rules'"
        ).fetchone()
        bad = [
            ("a", "*", "email", "not-an-address", None, None, "UTC"),
            ("b", "*", "webhook", "ftp://x/y", None, None, "UTC"),
            ("c", "*", "webhook", "https://user:pw@x/y", None, None, "UTC"),
            ("d", "*", "email", "a@b.c", "22:00", None, "UTC"),
        ]
        refused = 0
        for row in bad:
            with pytest.raises(psycopg.errors.CheckViolation):
                _rules(conn, row)
            refused += 1
    assert audited == (1,)
    assert refused == len(bad)


def test_a_rule_removed_before_delivery_drops_it(db_url: str, nsettings: Settings) -> None:
    with connect(db_url, autocommit=True) as conn:
        _rules(conn, ("gone", "*", "email", "ops@example.org", None, None, "UTC"))
        notify.emit(conn, "drift", "x", "s", "b", at=NOW)
        notify.route(conn, notify.load_rules(conn), NOW)
        conn.execute("DELETE FROM params.notification_rules")
        result = _tick(conn, nsettings, NOW)
    assert result["dropped"] == 1 and result["sent"] == 0
