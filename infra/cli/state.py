"""Per-invocation CLI state: settings are loaded lazily, so ``--help`` never needs them."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

import typer

from infra.cli.errors import usage
from infra.settings import Settings, load_settings


@dataclass
class CliState:
    """Global options of one ``locxia`` invocation."""

    config: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Validated settings (raises ConfigError on the first bad one)."""
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (created by the root callback)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def actor(ctx: typer.Context, as_user: str | None) -> str:
    """Who is acting, as recorded in histories and runs: ``--as NAME``, else the OS user.

    Raises:
        typer.BadParameter: not a short printable name (a usage error, exit 2).
    """
    name = (as_user or getpass.getuser()).strip()
    if not name or len(name) > 100 or any(not c.isprintable() for c in name):
        raise usage(ctx, f"--as {as_user!r}: expected a short printable name")
    return name
