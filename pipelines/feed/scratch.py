"""Scratch directories of the feed tasks, named after their process so a sweep can reclaim them.

Ingest, transfer, refine and publish download and spill into a private directory that is
removed when the step ends — unless the process is killed, which left 111 MB behind after a
round of kills. Each directory therefore carries its owner in its name::

    locxia-<step>~<host>~<pid>~<process token>~<random>

(the token is :func:`infra.jobs.liveness.process_token`, so a reused pid is not mistaken for
the owner). :func:`sweep` — the feed plugin's sweep, run before every CLI task and when the
service starts — removes the directories of this host whose process is gone, and only those:
a live process's scratch, another host's (a shared temporary directory) and anything not named
this way are left alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.jobs.liveness import ProcessIdentity
from infra.jobs.model import SweepContext
from infra.settings import Settings

PREFIX = "locxia-"
SEP = "~"


def _host_part(host: str) -> str:
    """The host as it may appear in a file name (``[A-Za-z0-9.-]``, never the separator)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-") else "_" for ch in host)


def _token_part(token: str | None) -> str:
    return (token or "-").replace(":", "_")


def base_dir(settings: Settings) -> Path:
    """Where scratch directories are made: ``LOCXIA_LAYERS_TMP_DIR`` or the system's."""
    return settings.layers_tmp_dir or Path(tempfile.gettempdir())


@contextmanager
def scratch_dir(settings: Settings, step: str) -> Iterator[Path]:
    """A private temporary directory named after this process, always removed at the end."""
    base = base_dir(settings)
    base.mkdir(parents=True, exist_ok=True)
    me = ProcessIdentity.current()
    owner = SEP.join((step, _host_part(me.host), str(me.pid), _token_part(me.token), ""))
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{owner}", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _owner(name: str) -> tuple[str, int, str | None] | None:
    """(host, pid, token) from a scratch directory's name, or None when not one of ours."""
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX) :].split(SEP)
    if len(parts) != 5 or not parts[2].isdigit():
        return None
    token = None if parts[3] == "-" else parts[3].replace("_", ":", 1)
    return parts[1], int(parts[2]), token


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def sweep(ctx: SweepContext) -> dict[str, int]:
    """Remove the scratch directories of dead processes of this host.

    Returns:
        ``{"scratch_dirs_removed": n, "scratch_bytes_reclaimed": bytes}`` (empty when none).
    """
    base = base_dir(ctx.settings)
    host = _host_part(ctx.host or socket.gethostname())
    removed = reclaimed = 0
    try:
        entries = list(os.scandir(base))
    except OSError:
        return {}
    for entry in entries:
        owner = _owner(entry.name)
        if owner is None or owner[0] != host or not entry.is_dir(follow_symlinks=False):
            continue
        if ctx.alive(owner[1], owner[2]):
            continue
        path = Path(entry.path)
        size = _size(path)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed += 1
            reclaimed += size
    if not removed:
        return {}
    return {"scratch_dirs_removed": removed, "scratch_bytes_reclaimed": reclaimed}
