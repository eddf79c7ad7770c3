"""The two ways a notification leaves: a Slack-compatible webhook and SMTP e-mail.

Both are thin: they build the payload from a :class:`Message`, make one attempt, and turn
every failure into a :class:`SendError` whose text never holds a secret (a webhook URL's
token, the SMTP password): the caller records it in ``ops.notification_deliveries`` and logs
it. Retries and back-off are the caller's (``infra.notify.deliver``).
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.settings import Settings

# Slack Block Kit limits ("Block Kit" reference, https://api.slack.com/reference/block-kit/blocks):
# a header block's plain_text is at most 150 characters, a section's text at most 3000.
_HEADER_CHARS = 150
_SECTION_CHARS = 3000
_ERROR_CHARS = 300


class SendError(Exception):
    """One delivery attempt failed; the text is safe to record and log (no secrets)."""


@dataclass(frozen=True)
class Message:
    """What is sent: one recorded event."""

    id: int
    kind: str
    key: str
    subject: str
    body: str
    details: Mapping[str, Any]
    created_at: datetime


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def webhook_payload(message: Message) -> dict[str, Any]:
    """The Slack-compatible JSON: ``text`` (the fallback notifications show) and ``blocks``.

    Slack, "Sending messages using incoming webhooks"
    (https://api.slack.com/messaging/webhooks): the body is JSON with ``text`` and optional
    ``blocks``; when blocks are given, ``text`` is the fallback shown in notifications.
    Receivers that only read ``text`` (Mattermost, Rocket.Chat, plain collectors) get the
    subject and the body there too.
    """
    context = f"{message.kind} · {message.key} · {message.created_at.isoformat()}"
    return {
        "text": _cut(f"{message.subject}\n{message.body}", _SECTION_CHARS),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(message.subject, _HEADER_CHARS)},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(message.body, 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, 3000)}]},
        ],
    }


def email_message(sender: str, to: str, message: Message) -> EmailMessage:
    """The e-mail: subject prefixed ``[locxia]``, body, then the event's details as JSON."""
    mail = EmailMessage()
    mail["Subject"] = f"[locxia] {message.subject}"
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = make_msgid(f"notification-{message.id}", domain="locxia")
    mail["X-Locxia-Notification"] = f"{message.kind}; key={message.key}"
    details = json.dumps(dict(message.details), indent=2, sort_keys=True, default=str)
    mail.set_content(
        f"{message.body}\n\nkind: {message.kind}\nkey: {message.key}\n"
        f"recorded: {message.created_at.isoformat()}\n\ndetails:\n{details}\n"
    )
    return mail


def webhook_url(settings: Settings, target: str) -> str:
    """The URL a webhook rule's ``target`` means (``setting:NAME`` → LOCXIA_NOTIFY_WEBHOOKS).

    Raises:
        SendError: the named webhook is not configured.
    """
    if not target.startswith("setting:"):
        return target
    name = target.removeprefix("setting:")
    secret = settings.notify_webhooks.get(name)
    if secret is None:
        raise SendError(f"webhook {name!r} is not configured (LOCXIA_NOTIFY_WEBHOOKS)")
    return secret.get_secret_value()


def post_webhook(settings: Settings, target: str, message: Message) -> None:
    """POST the payload; any 2xx is success.

    Raises:
        SendError: not configured, unreachable, timed out or answered other than 2xx.
    """
    url = webhook_url(settings, target)
    request = urllib.request.Request(
        url,
        data=json.dumps(webhook_payload(message)).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "locxia-notify"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.notify_timeout_seconds) as reply:
            reply.read()
    except urllib.error.HTTPError as exc:
        raise SendError(f"webhook {target}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        text = _cut(f"{type(exc).__name__}: {reason}".replace(url, target), _ERROR_CHARS)
        raise SendError(f"webhook {target}: {text}") from None


def send_email(settings: Settings, to: str, message: Message) -> None:
    """One SMTP session: connect, STARTTLS if set, log in if a user is set, send.

    Raises:
        SendError: no server configured, unreachable, refused or timed out.
    """
    if not settings.smtp_host:
        raise SendError("no SMTP server configured (LOCXIA_SMTP_HOST)")
    mail = email_message(settings.smtp_from, to, message)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.notify_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                password = settings.smtp_password
                smtp.login(settings.smtp_user, password.get_secret_value() if password else "")
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        text = f"{type(exc).__name__}: {exc}"
        if settings.smtp_password is not None:
            text = text.replace(settings.smtp_password.get_secret_value(), "***")
        raise SendError(
            f"smtp {settings.smtp_host}:{settings.smtp_port}: {_cut(text, _ERROR_CHARS)}"
        ) from None


def send(settings: Settings, channel: str, target: str, message: Message) -> None:
    """Send ``message`` to ``target`` over ``channel`` (``webhook`` or ``email``).

    Raises:
        SendError: the attempt failed (safe text).
    """
    if channel == "webhook":
        post_webhook(settings, target, message)
    elif channel == "email":
        send_email(settings, target, message)
    else:
        raise SendError(f"unknown channel {channel!r}")
