"""``locxia notify test`` and ``notify list`` against a real SMTP server and webhook."""

from __future__ import annotations

import json
import socket

from infra.db import connect
from tests.e2e.conftest import Run
from tests.support.notify_servers import smtp_server, webhook_server

TOKEN = "T0/B0/e2e-s3cr3t"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_notify_test_sends_one_message_per_rule_and_list_shows_them(
    locxia: Run, db_url: str
) -> None:
    with smtp_server() as box, webhook_server() as hook, connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.notification_rules (name, channel, target, quiet_start,"
            " quiet_end) VALUES ('mail', 'email', 'ops@example.org', '00:00', '23:59'),"
            " ('chat', 'webhook', 'setting:ops', NULL, NULL),"
            " ('off', 'email', 'x@example.org', NULL, NULL)"
        )
        conn.execute("UPDATE params.notification_rules SET enabled = false WHERE name = 'off'")
        conn.commit()
        env = {
            "LOCXIA_SMTP_HOST": "127.0.0.1",
            "LOCXIA_SMTP_PORT": str(box.port),
            "LOCXIA_NOTIFY_WEBHOOKS": json.dumps({"ops": f"{hook.url}/services/{TOKEN}"}),
        }
        sent = locxia("notify", "test", "--json", env=env)
        assert sent.returncode == 0, sent.stderr
        assert sorted((r["rule"], r["status"]) for r in json.loads(sent.stdout)) == [
            ("chat", "sent"),
            ("mail", "sent"),  # a test ignores quiet hours: the person asked for it now
        ]
        assert len(box.mails) == 1 and box.mails[0][0] == ["ops@example.org"]
        assert [path for path, _ in hook.posts] == [f"/services/{TOKEN}"]

        listed = locxia("notify", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert {r["kind"] for r in rows} == {"test"}
        assert sorted(d["rule"] for r in rows for d in r["deliveries"]) == ["chat", "mail"]

        # An unreachable webhook: exit 1, one line, the token never shown.
        bad = {**env, "LOCXIA_NOTIFY_WEBHOOKS": json.dumps(
            {"ops": f"http://127.0.0.1:{_closed_port()}/services/{TOKEN}"}
        )}  # fmt: skip
        failed = locxia("notify", "test", "--rule", "chat", env=bad)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("error: test notification not")
    assert "s3cr3t" not in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr


def test_notify_test_without_rules_is_one_line(locxia: Run) -> None:
    out = locxia("notify", "test")
    assert out.returncode == 1
    assert out.stderr.strip() == "error: no enabled rule in params.notification_rules"
