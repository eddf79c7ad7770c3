"""The demo's approver login: someone other than the login that wrote the rows.

The database records an approval only for a login with ``locxia_approver`` that did not change
the instances the plan changes (migration 0053). The demo's rows are written by the demo's own
login, so the demo approves as a second login it creates on the server it runs on: member of
``locxia_approver`` and nothing else. Its password is new at every approval and never stored:
it only lives in the connection that records the approval.
"""

from __future__ import annotations

import secrets
from typing import TypedDict

import psycopg
from psycopg import sql

from infra.db import connect
from infra.errors import DemoError

#: The demo's approver login (cluster-wide, like every role).
APPROVER = "locxia_demo_approver"


class Credentials(TypedDict):
    """Keyword arguments of :func:`infra.db.connect` that log in as another login."""

    user: str
    password: str


def approver(url: str) -> Credentials:
    """Create (or refresh) the approver login on the server of ``url``; how to log in as it.

    Args:
        url: the demo's database, whose login may create roles (the demo's own cluster runs as
            a superuser).

    Raises:
        DemoError: the login of ``url`` may not create roles or grant ``locxia_approver``.
    """
    password = secrets.token_urlsafe(24)
    with connect(url, autocommit=True, application_name="locxia:demo") as conn:
        try:
            exists = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (APPROVER,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APPROVER)))
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APPROVER), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("GRANT locxia_approver TO {}").format(sql.Identifier(APPROVER)))
        except psycopg.Error as exc:
            reason = exc.diag.message_primary if exc.diag is not None else None
            raise DemoError(
                f"the demo approves as a login of its own ({APPROVER}, role locxia_approver)"
                f" and cannot create it: {reason or exc}"
            ) from exc
    return Credentials(user=APPROVER, password=password)
