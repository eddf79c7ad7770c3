from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from infra.errors import ConfigError
from infra.notify import Rule
from infra.notify_channels import (
    Message,
    SendError,
    email_message,
    webhook_payload,
    webhook_url,
)
from infra.settings import load_settings


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _rule(start: str | None, end: str | None, tz: str = "Europe/Paris", kinds: str = "*") -> Rule:
    return Rule(
        "r",
        kinds,
        "email",
        "a@b.c",
        time.fromisoformat(start) if start else None,
        time.fromisoformat(end) if end else None,
        tz,
        True,
    )


@pytest.mark.parametrize(
    ("start", "end", "now", "until"),
    [
        # wraps midnight, Paris UTC+1 in November: 23:30 local → 07:00 local next day
        ("22:00", "07:00", _utc(2026, 11, 11, 22, 30), _utc(2026, 11, 12, 6, 0)),
        # after midnight, same night: 03:00 local → 07:00 local same day
        ("22:00", "07:00", _utc(2026, 11, 12, 2, 0), _utc(2026, 11, 12, 6, 0)),
        # 07:00 local is no longer quiet (the end is excluded)
        ("22:00", "07:00", _utc(2026, 11, 12, 6, 0), None),
        ("22:00", "07:00", _utc(2026, 11, 12, 12, 0), None),
        # a daytime window (12:00–14:00 local)
        ("12:00", "14:00", _utc(2026, 11, 12, 11, 30), _utc(2026, 11, 12, 13, 0)),
        ("12:00", "14:00", _utc(2026, 11, 12, 13, 0), None),
        # the night clocks go back (25 Oct 2026, 03:00 CEST → 02:00 CET): still ends 07:00 CET
        ("22:00", "07:00", _utc(2026, 10, 24, 21, 0), _utc(2026, 10, 25, 6, 0)),
        # the night clocks go forward (29 Mar 2026): ends 07:00 CEST = 05:00 UTC
        ("22:00", "07:00", _utc(2026, 3, 28, 22, 0), _utc(2026, 3, 29, 5, 0)),
        (None, None, _utc(2026, 11, 12, 2, 0), None),
    ],
    ids=["evening", "small-hours", "end-excluded", "day", "lunch", "lunch-end", "dst-back",
         "dst-forward", "no-quiet-hours"],
)  # fmt: skip
def test_quiet_until(start: str, end: str, now: datetime, until: datetime | None) -> None:
    assert _rule(start, end).quiet_until(now) == until


@pytest.mark.parametrize(
    ("kinds", "kind", "wanted"),
    [("*", "drift", True), ("budget_*", "budget_forecast", True), ("budget_*", "drift", False),
     ("job_*", "job_failing", True), ("drift", "drift", True)],
    ids=["all", "prefix", "other", "jobs", "exact"],
)  # fmt: skip
def test_kinds_glob(kinds: str, kind: str, wanted: bool) -> None:
    assert _rule(None, None, kinds=kinds).matches(kind) is wanted


def test_unknown_time_zone_names_the_row() -> None:
    with pytest.raises(ConfigError, match=r"params.notification_rules\[r\].timezone"):
        _rule(None, None, tz="Mars/Olympus")


MESSAGE = Message(
    7,
    "budget_forecast",
    "all:2026-11",
    "B" * 200,
    "body *text*",
    {"forecast_usd": "300.00"},
    datetime(2026, 11, 11, 10, 0, tzinfo=UTC),
)


def test_webhook_payload_is_slack_compatible_and_within_block_limits() -> None:
    payload = webhook_payload(MESSAGE)
    assert payload["text"].startswith("B" * 10) and "body *text*" in payload["text"]
    header, section, context = payload["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) == 150  # Block Kit: header text ≤ 150 characters
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "body *text*"}}
    assert context["elements"][0]["text"].startswith("budget_forecast · all:2026-11 · ")


def test_email_carries_subject_kind_and_details() -> None:
    mail = email_message("locxia@example.org", "ops@example.org", MESSAGE)
    assert mail["Subject"] == f"[locxia] {'B' * 200}"
    assert mail["X-Locxia-Notification"] == "budget_forecast; key=all:2026-11"
    content = mail.get_content()
    assert "body *text*" in content and '"forecast_usd": "300.00"' in content


def test_named_webhook_comes_from_settings_and_a_missing_one_is_a_send_error() -> None:
    settings = load_settings(notify_webhooks={"ops": "https://hooks.example.org/T/B/tok"})
    assert webhook_url(settings, "setting:ops") == "https://hooks.example.org/T/B/tok"
    assert webhook_url(settings, "https://plain.example.org/x") == "https://plain.example.org/x"
    with pytest.raises(SendError, match="'other' is not configured"):
        webhook_url(settings, "setting:other")
    assert "tok" not in repr(settings.notify_webhooks)
