"""Logins of distinct people on the tests' server: editors, approvers, anyone.

Roles are cluster-wide, so a login made once serves every test database of the session. Each
has the same throwaway password (the tests' own cluster trusts local logins anyway; a server
given by ``LOCXIA_TEST_DATABASE_URL`` may check it). Separation of duties is only testable
with real, distinct logins: ``session_user`` is what the database records.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from infra.db import connect

PASSWORD = "t3st-login-never-shown"


def login(url: str, name: str, *roles: str) -> dict[str, str]:
    """Make login ``name`` (member of ``roles``) exist; the ``connect`` kwargs to log in as it.

    Args:
        url: any database of the server, as a login that may create roles.
        name: the login.
        roles: roles granted to it (``locxia_approver``, ``locxia_editor``...).
    """
    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(PASSWORD)
                    )
                )
            except psycopg.errors.DuplicateObject:  # another test made it meanwhile
                pass
        for role in roles:
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(name))
            )
    return {"user": name, "password": PASSWORD}


def as_login(url: str, name: str, *roles: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to ``url`` as login ``name`` (made first, member of ``roles``)."""
    return connect(url, **kwargs, **login(url, name, *roles))


def approve(url: str, run_id: int, name: str = "carol", label: str | None = None) -> None:
    """Record the approval of held run ``run_id`` as approver login ``name`` (``--as label``)."""
    from pipelines.shape import approval

    with as_login(url, name, "locxia_approver", autocommit=True) as conn:
        approval.record(conn, run_id, label or name)
