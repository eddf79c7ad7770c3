"""Notifications: events people must act on, recorded once and delivered per rule.

Two steps that never share a transaction:

* :func:`emit` (called by the event's source, in its own transaction) records one row in
  ``ops.notifications`` unless the same ``(kind, key)`` is already open — recorded within
  :data:`REOPEN_AFTER` and not resolved — so a condition seen on every tick notifies once.
  A source that sees the condition end calls :func:`resolve`; a recurrence then notifies again.
* :func:`deliver` (the ``notify.deliver`` job) routes new events to the enabled rules of
  ``params.notification_rules`` whose ``kinds`` glob matches, one row per rule in
  ``ops.notification_deliveries``, then sends what is due — outside any transaction, after
  claiming the rows — and records each attempt: sent, held for quiet hours (sent when they
  end, never dropped), or retried with back-off until :attr:`Settings.notify_max_attempts`.

Time is always passed in (``at``, ``now``): tests run ticks over simulated hours.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra.errors import ConfigError, InputError
from infra.notify_channels import Message, SendError, send

if TYPE_CHECKING:
    from infra.jobs.model import TaskContext
    from infra.settings import Settings

log = logging.getLogger(__name__)

#: The kinds of event (the contract between the sources and the rules); ``test`` is what
#: ``locxia notify test`` sends.
KINDS = (
    "plan_held",
    "budget_forecast",
    "cost_anomaly",
    "drift",
    "job_backoff",
    "job_failing",
    "dataset_stale",
    "monitoring_cap",
)
#: An open event older than this no longer dedupes: a condition still true a day later is
#: worth a reminder.
REOPEN_AFTER = timedelta(hours=24)
#: How long a claimed delivery is left to its sender before another tick may try it again.
CLAIM_LEASE = timedelta(minutes=5)
#: Most deliveries one tick sends (the rest wait for the next tick).
BATCH = 100
_BACKOFF_MINUTES = (1, 2, 4, 8, 16, 32, 60)


def emit(
    conn: psycopg.Connection[Any],
    kind: str,
    key: str,
    subject: str,
    body: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Record one event of ``kind`` about ``key`` unless the same one is still open.

    Runs in ``conn``'s current transaction (a savepoint when one is open), so the event is
    recorded exactly when the caller's change is committed; delivery happens later, in the
    ``notify.deliver`` job. Two emitters racing on one ``(kind, key)`` serialise on an
    advisory lock held until their transaction ends.

    Returns:
        Whether a new event was recorded (False: deduplicated).

    Raises:
        InputError: ``kind`` is not one of :data:`KINDS`, or ``key`` is empty.
    """
    if kind not in KINDS:
        raise InputError(f"unknown notification kind {kind!r} (one of {', '.join(KINDS)})")
    if not key:
        raise InputError("a notification needs a key")
    when = at or datetime.now(UTC)
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('locxia.notify'), hashtext(%s))",
            (f"{kind}/{key}",),
        )
        open_ = conn.execute(
            "SELECT 1 FROM ops.notifications WHERE kind = %s AND key = %s"
            " AND resolved_at IS NULL AND created_at > %s",
            (kind, key, when - REOPEN_AFTER),
        ).fetchone()
        if open_ is not None:
            return False
        conn.execute(
            "INSERT INTO ops.notifications (kind, key, subject, body, details, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (kind, key, subject, body, Jsonb(dict(details or {}), dumps=_dumps), when),
        )
    return True


def _dumps(obj: Any) -> str:
    """Details as JSON; dates, decimals and the like as their text."""
    return json.dumps(obj, default=str, sort_keys=True)


def resolve(conn: psycopg.Connection[Any], kind: str, key: str, at: datetime | None = None) -> int:
    """Close the open events of ``(kind, key)``: the condition ended. Returns how many."""
    return conn.execute(
        "UPDATE ops.notifications SET resolved_at = %s"
        " WHERE kind = %s AND key = %s AND resolved_at IS NULL",
        (at or datetime.now(UTC), kind, key),
    ).rowcount


@dataclass(frozen=True)
class Rule:
    """A validated ``params.notification_rules`` row."""

    name: str
    kinds: str
    channel: str
    target: str
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    enabled: bool

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"params.notification_rules[{self.name}].timezone: unknown time zone"
                f" {self.timezone!r}"
            ) from exc

    def matches(self, kind: str) -> bool:
        """Whether this rule wants events of ``kind`` (``kinds`` is a glob)."""
        return fnmatch.fnmatchcase(kind, self.kinds)

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet period ``now`` falls in, or None when it is not quiet.

        Quiet hours are ``[quiet_start, quiet_end)`` on the rule's local clock and may wrap
        midnight (22:00–07:00). The end is computed on the local calendar, so a quiet night
        across a daylight-saving change still ends at 07:00 local time.
        """
        if self.quiet_start is None or self.quiet_end is None:
            return None
        local = now.astimezone(ZoneInfo(self.timezone))
        start, end, t = self.quiet_start, self.quiet_end, local.time().replace(tzinfo=None)
        wraps = start > end
        quiet = (t >= start or t < end) if wraps else start <= t < end
        if not quiet:
            return None
        day = local.date() + timedelta(days=1) if wraps and t >= start else local.date()
        ends = datetime.combine(day, end, tzinfo=ZoneInfo(self.timezone))
        return ends.astimezone(UTC)


def load_rules(conn: psycopg.Connection[Any]) -> dict[str, Rule]:
    """Every rule by name (enabled or not: a disabled rule drops its pending deliveries).

    Raises:
        ConfigError: a row's time zone is unknown (naming the row).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT name, kinds, channel, target, quiet_start, quiet_end, timezone, enabled"
            " FROM params.notification_rules ORDER BY name"
        ).fetchall()
    return {r["name"]: Rule(**r) for r in rows}


def route(conn: psycopg.Connection[Any], rules: Mapping[str, Rule], now: datetime) -> int:
    """Give each new event one delivery per enabled matching rule; returns deliveries made.

    An event no rule matches is still marked routed: it stays recorded, unsent.
    """
    made = 0
    with conn.transaction():
        events = conn.execute(
            "SELECT id, kind FROM ops.notifications WHERE routed_at IS NULL"
            " ORDER BY id FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for event_id, kind in events:
            for rule in rules.values():
                if rule.enabled and rule.matches(kind):
                    made += _add_delivery(conn, event_id, rule, now)
            conn.execute(
                "UPDATE ops.notifications SET routed_at = %s WHERE id = %s", (now, event_id)
            )
    return made


def _add_delivery(conn: psycopg.Connection[Any], event_id: int, rule: Rule, now: datetime) -> int:
    return conn.execute(
        "INSERT INTO ops.notification_deliveries (notification_id, rule, channel,"
        " next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (notification_id, rule) DO NOTHING",
        (event_id, rule.name, rule.channel, now, now),
    ).rowcount


class DeliverResult(TypedDict):
    """What ``notify.deliver`` records: deliveries routed, sent, held, retried, given up."""

    routed: int
    sent: int
    held: int
    retried: int
    failed: int
    dropped: int


@dataclass(frozen=True)
class _Claimed:
    id: int
    rule: Rule
    attempts: int
    message: Message


Sender = Callable[["Settings", str, str, Message], None]


def deliver(
    conn: psycopg.Connection[Any],
    settings: Settings,
    now: datetime,
    *,
    sender: Sender = send,
) -> DeliverResult:
    """Route new events, then send every delivery due at ``now``; one tick of the job.

    ``conn`` must be in autocommit mode: rows are claimed and committed before any network
    call, and each outcome is committed as soon as it is known.

    Raises:
        ConfigError: a rule is invalid (nothing is sent until it is fixed).
    """
    rules = load_rules(conn)
    result = _empty()
    result["routed"] = route(conn, rules, now)
    for item in _claim(conn, rules, now, result):
        _attempt(conn, settings, item, now, result, sender)
    return result


def _claim(
    conn: psycopg.Connection[Any],
    rules: Mapping[str, Rule],
    now: datetime,
    result: DeliverResult,
) -> list[_Claimed]:
    """Due deliveries to send now; holds the quiet ones and drops those of removed rules."""
    out: list[_Claimed] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT d.id, d.rule, d.attempts, n.id AS event_id, n.kind, n.key, n.subject,"
            " n.body, n.details, n.created_at FROM ops.notification_deliveries d"
            " JOIN ops.notifications n ON n.id = d.notification_id"
            " WHERE d.status IN ('pending', 'held', 'retry') AND d.next_attempt_at <= %s"
            " ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED",
            (now, BATCH),
        ).fetchall()
        for row in rows:
            rule = rules.get(row["rule"])
            if rule is None or not rule.enabled:
                _set(cur, row["id"], status="dropped", last_error="rule removed or disabled")
                result["dropped"] += 1
                continue
            until = rule.quiet_until(now)
            if until is not None:
                _set(cur, row["id"], status="held", next_attempt_at=until)
                result["held"] += 1
                continue
            _set(cur, row["id"], next_attempt_at=now + CLAIM_LEASE)
            message = Message(
                row["event_id"],
                row["kind"],
                row["key"],
                row["subject"],
                row["body"],
                row["details"],
                row["created_at"],
            )
            out.append(_Claimed(row["id"], rule, row["attempts"], message))
    return out


def _attempt(
    conn: psycopg.Connection[Any],
    settings: Settings,
    item: _Claimed,
    now: datetime,
    result: DeliverResult,
    sender: Sender,
) -> None:
    attempts = item.attempts + 1
    try:
        sender(settings, item.rule.channel, item.rule.target, item.message)
    except SendError as exc:
        gave_up = attempts >= settings.notify_max_attempts
        status = "failed" if gave_up else "retry"
        wait = timedelta(minutes=_BACKOFF_MINUTES[min(attempts, len(_BACKOFF_MINUTES)) - 1])
        with conn.cursor() as cur:
            _set(
                cur,
                item.id,
                status=status,
                attempts=attempts,
                last_error=str(exc),
                next_attempt_at=now + wait,
            )
        result["failed" if gave_up else "retried"] += 1
        log.warning("notification %s to rule %s: %s", item.message.id, item.rule.name, exc)
        return
    with conn.cursor() as cur:
        _set(cur, item.id, status="sent", attempts=attempts, last_error=None, sent_at=now)
    result["sent"] += 1


def _set(cur: psycopg.Cursor[Any], delivery_id: int, **values: Any) -> None:
    """Update one delivery's columns (names are this module's constants, never input)."""
    from psycopg import sql

    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
    )
    cur.execute(
        sql.SQL("UPDATE ops.notification_deliveries SET {} WHERE id = {}").format(
            assignments, sql.Placeholder("id")
        ),
        {**values, "id": delivery_id},
    )


def send_test(
    conn: psycopg.Connection[Any],
    settings: Settings,
    now: datetime,
    rule_name: str | None = None,
    *,
    sender: Sender = send,
) -> list[dict[str, Any]]:
    """Send one ``test`` message to each enabled rule (or ``rule_name``) now, quiet or not.

    Each is recorded like any notification (kind ``test``) with its delivery and outcome.

    Returns:
        ``[{"rule", "channel", "status", "error"}]`` in rule order.

    Raises:
        InputError: ``rule_name`` names no rule, or no rule is enabled.
    """
    rules = [r for r in load_rules(conn).values() if r.enabled and rule_name in (None, r.name)]
    if not rules:
        which = f"no rule named {rule_name!r}" if rule_name else "no enabled rule"
        raise InputError(f"{which} in params.notification_rules")
    out: list[dict[str, Any]] = []
    for rule in rules:
        subject = f"Locxia test notification for rule {rule.name}"
        body = f"This is a test of rule {rule.name} ({rule.channel})."
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO ops.notifications (kind, key, subject, body, created_at,"
                " routed_at, resolved_at) VALUES ('test', %s, %s, %s, %s, %s, %s) RETURNING id",
                (f"{rule.name}@{now.isoformat()}", subject, body, now, now, now),
            ).fetchone()
            event_id = int(row[0]) if row else 0
            did = conn.execute(
                "INSERT INTO ops.notification_deliveries (notification_id, rule, channel,"
                " next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (event_id, rule.name, rule.channel, now, now),
            ).fetchone()
            delivery_id = int(did[0]) if did else 0
        message = Message(event_id, "test", rule.name, subject, body, {}, now)
        _attempt(conn, settings, _Claimed(delivery_id, rule, 0, message), now, _empty(), sender)
        # A test is one attempt: a failure is final, never retried by the job.
        status, error = conn.execute(
            "UPDATE ops.notification_deliveries SET status = CASE WHEN status = 'sent'"
            " THEN 'sent' ELSE 'failed' END WHERE id = %s RETURNING status, last_error",
            (delivery_id,),
        ).fetchone() or ("failed", None)
        out.append({"rule": rule.name, "channel": rule.channel, "status": status, "error": error})
    return out


def _empty() -> DeliverResult:
    return {"routed": 0, "sent": 0, "held": 0, "retried": 0, "failed": 0, "dropped": 0}


def deliver_task(ctx: TaskContext) -> DeliverResult:
    """The ``notify.deliver`` job: route and send what is due at the job's clock."""
    with ctx.connect(autocommit=True) as conn:
        return deliver(conn, ctx.settings, ctx.now())
