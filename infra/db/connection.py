"""Opening PostgreSQL connections, with psycopg's errors translated once, here.

Every connection carries ``application_name`` so operators can tell Locxia's sessions apart
in ``pg_stat_activity``, and a connect timeout so an unreachable server fails in seconds with
one line instead of hanging a service at start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from infra.errors import DatabaseError

CONNECT_TIMEOUT_S = 10


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (safe for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe_target(url: str) -> str:
    """``host:port/dbname`` of a URL, for messages that must not leak credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy's psycopg 3 dialect (APScheduler's job store needs it)."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise DatabaseError(f"not a PostgreSQL URL: {redact_url(url)}")
    return f"postgresql+psycopg://{rest}"


def connect(
    url: str,
    *,
    autocommit: bool = False,
    application_name: str = "locxia",
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """Open a connection or raise :class:`DatabaseError` with a one-line reason.

    Args:
        url: a ``postgresql://`` URL (libpq syntax, so ``?sslmode=`` etc. work).
        autocommit: open in autocommit mode (LISTEN, session locks, DDL tools).
        application_name: shown in ``pg_stat_activity``.
        **kwargs: passed to :func:`psycopg.connect` (e.g. ``row_factory``).

    Raises:
        DatabaseError: the server is unreachable, refuses the login, or the database is missing.
    """
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    try:
        return psycopg.connect(
            url, autocommit=autocommit, application_name=application_name, **kwargs
        )
    except psycopg.OperationalError as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {describe_target(url)}: {reason}"
        ) from exc
    except psycopg.ProgrammingError as exc:  # malformed conninfo
        raise DatabaseError(f"invalid database URL {redact_url(url)}: {exc}") from exc
