"""PostgreSQL access: connections, versioned migrations, and a local cluster for demo and tests."""

from infra.db.connection import connect, redact_url, sqlalchemy_url

__all__ = ["connect", "redact_url", "sqlalchemy_url"]
