"""A private PostgreSQL cluster started from the machine's own binaries (demo and tests).

Why not Docker: the demo and the tests must run on a plain Debian machine with nothing but
Debian's ``postgresql`` and ``postgresql-NN-postgis-3`` packages. The cluster listens on
127.0.0.1 only, on a free port, with its socket inside its data directory, so it never
collides with a system server. PostgreSQL refuses to run as root; when we are root, the
cluster is owned and run by the ``postgres`` system user instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra.errors import DatabaseError

SUPERUSER = "locxia"
_PORT_FILE = "locxia.port"


def find_bindir() -> Path:
    """Directory of ``initdb``/``pg_ctl``: ``pg_config --bindir``, else Debian's newest.

    Raises:
        DatabaseError: no PostgreSQL server binaries are installed.
    """
    pg_config = shutil.which("pg_config")
    candidates: list[Path] = []
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    candidates.extend(Path(p) for p in reversed(debian))
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise DatabaseError(
        "PostgreSQL server binaries not found (install Debian's postgresql and "
        "postgresql-15-postgis-3, or set LOCXIA_DATABASE_URL)"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalCluster:
    """A cluster in ``datadir``; :meth:`ensure_running` is idempotent across processes.

    Attributes:
        datadir: the cluster's data directory (created if missing).
        fast: trade durability for speed (fsync off); for throwaway test clusters only.
    """

    datadir: Path
    fast: bool = False

    @property
    def _as_postgres(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DatabaseError(
                f"{Path(cmd[-len(args)]).name} failed for {self.datadir}: "
                f"{detail[-1] if detail else result.returncode}"
            )
        return result

    @property
    def port(self) -> int:
        """The port this cluster listens on (fixed at first start, kept across restarts)."""
        return int((self.datadir / _PORT_FILE).read_text().strip())

    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``dbname`` as the cluster's superuser."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _check_reachable_by_postgres(self) -> None:
        """As root the server runs as ``postgres``: every parent must let it through."""
        for parent in self.datadir.resolve().parents:
            if parent.exists() and not parent.stat().st_mode & 0o001:
                raise DatabaseError(
                    f"{parent} is not traversable by the postgres user (mode "
                    f"{parent.stat().st_mode & 0o777:o}); choose a data directory elsewhere"
                )

    def _init(self, bindir: Path) -> None:
        if self._as_postgres:
            self._check_reachable_by_postgres()
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
        self._run(
            bindir / "initdb",
            "-D",
            self.datadir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        port = free_port()
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            f"unix_socket_directories = '{self.datadir}'",
            "max_connections = 200",
        ]
        if self.fast:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.datadir / "postgresql.auto.conf").open("a") as fh:
            fh.write("\n".join(conf) + "\n")
        marker = self.datadir / _PORT_FILE
        marker.write_text(f"{port}\n")
        if self._as_postgres:
            os.chown(marker, pwd.getpwnam("postgres").pw_uid, -1)

    def is_running(self) -> bool:
        """True when the postmaster of this data directory answers."""
        if not (self.datadir / "PG_VERSION").exists():
            return False
        result = self._run(find_bindir() / "pg_ctl", "status", "-D", self.datadir, check=False)
        return result.returncode == 0

    def ensure_running(self, timeout_s: float = 60) -> str:
        """Initialise if needed, start if stopped; return the superuser URL to ``postgres``.

        Raises:
            DatabaseError: the binaries are missing, or the server did not start in time.
        """
        bindir = find_bindir()
        if not (self.datadir / "PG_VERSION").exists():
            self._init(bindir)
        if not self.is_running():
            self._move_port_if_taken()
            self._run(
                bindir / "pg_ctl",
                "start",
                "-D",
                self.datadir,
                "-w",
                "-t",
                str(int(timeout_s)),
                "-l",
                self.datadir / "server.log",
            )
        self._wait_ready(timeout_s)
        return self.url()

    def _move_port_if_taken(self) -> None:
        """Pick a new port when another program took ours while the cluster was stopped."""
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                return
        port = free_port()
        with (self.datadir / "postgresql.auto.conf").open("a") as fh:
            fh.write(f"port = {port}\n")  # the last occurrence of a setting wins
        (self.datadir / _PORT_FILE).write_text(f"{port}\n")

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise DatabaseError(f"local PostgreSQL in {self.datadir} did not start in {timeout_s}s")

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op when it is not running."""
        if self.is_running():
            self._run(find_bindir() / "pg_ctl", "stop", "-D", self.datadir, "-m", "fast", "-w")

    def destroy(self) -> None:
        """Stop and delete the data directory (throwaway clusters only)."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


def create_database(url: str, name: str, *, template: str | None = None) -> None:
    """``CREATE DATABASE name`` if missing, through the server at ``url``."""
    from psycopg import sql

    from infra.db.connection import connect

    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        conn.execute(stmt)
