"""``locxia notify``: try every notification rule now, and list what was notified.

Rules live in ``params.notification_rules`` (edited like every parameter table, audited);
delivery is the ``notify.deliver`` job. ``notify test`` sends one message per enabled rule at
once, quiet hours or not, and exits 1 when any failed (docs/notifications.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from infra.cli.errors import name_of
from infra.cli.output import console, emit_json, table
from infra.cli.state import state
from infra.db import connect
from infra.errors import LocxiaError

app = typer.Typer(
    help="Notifications: test the rules of params.notification_rules, list what was sent.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class DeliveryFailed(LocxiaError):
    """At least one test message could not be delivered (each is listed above)."""


@app.command("test")
def test_rules(
    ctx: typer.Context,
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="Only this rule.", parser=name_of("rule")),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test message to each enabled rule now (recorded as kind `test`).

    Example: locxia notify test --rule ops-mail
    """
    from infra import notify

    settings = state(ctx).settings
    with connect(settings.require_database_url(), autocommit=True) as conn:
        results = notify.send_test(conn, settings, datetime.now(UTC), rule)
    if as_json:
        emit_json(results)
    else:
        rows = [[r["rule"], r["channel"], r["status"], r["error"]] for r in results]
        console.print(table("Test notifications", ["rule", "channel", "status", "error"], rows))
    failed = [r["rule"] for r in results if r["status"] != "sent"]
    if failed:
        raise DeliveryFailed(f"test notification not delivered to: {', '.join(failed)}")


@app.command("list")
def list_notifications(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Recent notifications and the state of each delivery (sent, held, retry, failed)."""
    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        cur = conn.execute(
            "SELECT n.id, n.kind, n.key, n.subject, n.created_at, n.resolved_at,"
            " coalesce(jsonb_agg(jsonb_build_object('rule', d.rule, 'channel', d.channel,"
            " 'status', d.status, 'attempts', d.attempts, 'error', d.last_error,"
            " 'sent_at', d.sent_at, 'next_attempt_at', d.next_attempt_at) ORDER BY d.rule)"
            " FILTER (WHERE d.id IS NOT NULL), '[]') AS deliveries"
            " FROM ops.notifications n"
            " LEFT JOIN ops.notification_deliveries d ON d.notification_id = n.id"
            " GROUP BY n.id ORDER BY n.id DESC LIMIT %s",
            (limit,),
        )
        names = [c.name for c in cur.description or []]
        rows: list[dict[str, Any]] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if as_json:
        emit_json(rows)
        return
    console.print(
        table(
            "Notifications",
            ["id", "kind", "key", "subject", "created", "deliveries"],
            [
                [
                    r["id"],
                    r["kind"],
                    r["key"],
                    r["subject"],
                    f"{r['created_at']:%Y-%m-%d %H:%M}",
                    ", ".join(f"{d['rule']}: {d['status']}" for d in r["deliveries"]) or None,
                ]
                for r in rows
            ],
        )
    )
