"""What the reliability suite shares: twin databases, a fingerprint of everything the product
writes, a kill -9 at an observed point, and the record of each case for docs/reliability.md.

Each case calls ``outcome(tries=..., survived=..., lost=..., duplicated=...)``; when
``LOCXIA_RELIABILITY_RECORD`` names a file, one JSON line per case is appended to it
(``python -m tests.reliability.report`` runs the suite that way and writes the document).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
from psycopg import sql

from infra.db import connect
from tests.conftest import locxia_bin
from tests.e2e.test_every_command import cli  # noqa: F401  (the in-process CLI fixture)
from tests.support import pg

RECORD_ENV = "LOCXIA_RELIABILITY_RECORD"
# Read once at import: the in-process CLI fixture clears every LOCXIA_* variable of a test.
_RECORD_PATH = os.environ.get(RECORD_ENV)
#: ``1``: every kill point (``make reliability``); otherwise the subset that keeps `make test`
#: within its time budget (the first and the deepest point of each stage).
FULL_ENV = "LOCXIA_RELIABILITY_FULL"
#: The schemas the product writes (with the zone directories: everything "written").
SCHEMAS = ("params", "ops", "metrics", "costs", "exposure")


@dataclass(frozen=True)
class Case:
    """One line of the reliability table."""

    group: str
    case: str
    tries: int
    survived: int
    lost: int = 0
    duplicated: int = 0
    left: int = 0
    note: str = ""


class Outcome(Protocol):
    def __call__(
        self,
        *,
        tries: int,
        survived: int,
        lost: int = 0,
        duplicated: int = 0,
        left: int = 0,
        note: str = "",
        group: str | None = None,
        case: str | None = None,
    ) -> None: ...

    def name(self, *, group: str, case: str) -> None: ...


def kill_points(points: Sequence[Any], quick: set[str], key: Callable[[Any], str]) -> list[Any]:
    """All ``points`` with $LOCXIA_RELIABILITY_FULL=1, else those whose id is in ``quick``."""
    if os.environ.get(FULL_ENV) == "1":
        return list(points)
    return [p for p in points if key(p) in quick]


class _Recorder:
    """The ``outcome`` of one case: appends its line to $LOCXIA_RELIABILITY_RECORD.

    A case that ends (fails, or fails as expected) before it records is still written, as
    tried once and not survived, with the error's first line (:func:`pytest_runtest_makereport`):
    the document shows what the suite measured, a case that could not finish included.
    """

    def __init__(self, group: str, case: str) -> None:
        self.group, self.case = group, case
        self.recorded = False

    def name(self, *, group: str, case: str) -> None:
        """The group and case this test records under (before anything can fail)."""
        self.group, self.case = group, case

    def __call__(
        self,
        *,
        tries: int,
        survived: int,
        lost: int = 0,
        duplicated: int = 0,
        left: int = 0,
        note: str = "",
        group: str | None = None,
        case: str | None = None,
    ) -> None:
        self.recorded = True
        self.write(
            Case(
                group or self.group,
                case or self.case,
                tries,
                survived,
                lost,
                duplicated,
                left,
                note,
            )
        )

    @staticmethod
    def write(line: Case) -> None:
        path = _RECORD_PATH
        if not path:
            return
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(line)) + "\n")


_RECORDER = pytest.StashKey[_Recorder]()


@pytest.fixture
def outcome(request: pytest.FixtureRequest) -> Outcome:
    """Record what this case tried and what survived (appended to $LOCXIA_RELIABILITY_RECORD):
    rows lost, rows duplicated, records or files left behind as if still working."""
    module = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    recorder = _Recorder(module, request.node.name)
    request.node.stash[_RECORDER] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Write a case that failed before recording its outcome as not survived."""
    report = yield
    recorder = item.stash.get(_RECORDER, None)
    ended_badly = report.failed or hasattr(report, "wasxfail")
    if recorder is not None and report.when == "call" and ended_badly and not recorder.recorded:
        why = call.excinfo.exconly() if call.excinfo is not None else report.longreprtext
        first = " ".join((why or "failed").split())[:200]
        recorder.recorded = True
        recorder.write(Case(recorder.group, recorder.case, 1, 0, note=f"did not complete: {first}"))
    return report


@pytest.fixture
def twin_url(admin_url: str, template_url: str) -> Iterator[str]:
    """A second fresh, migrated database: where the fault-free reference run goes."""
    url = pg.create_db(admin_url, "locxia_ref", template=urlsplit(template_url).path[1:])
    yield url
    pg.drop_db(admin_url, url)


def tables(url: str, schemas: Sequence[str] = SCHEMAS) -> list[tuple[str, str]]:
    """Every ordinary table (partitions included) of ``schemas``."""
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = ANY(%s)"
            " ORDER BY 1, 2",
            (list(schemas),),
        ).fetchall()
    return [(str(s), str(t)) for s, t in rows]


def fingerprint(url: str, *folders: Path) -> dict[str, str]:
    """A digest of every row of every table of :data:`SCHEMAS` and of every file in
    ``folders``: equal before and after means nothing was written."""
    out: dict[str, str] = {}
    with connect(url) as conn:
        for schema, table in tables(url):
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(md5(t::text), ',' ORDER BY"
                " md5(t::text)), '')) FROM {} AS t"
            ).format(sql.Identifier(schema, table))
            row = conn.execute(query).fetchone()
            out[f"{schema}.{table}"] = f"{row[0]}:{row[1]}" if row else "?"
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            digest = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            out[str(path)] = digest
    return out


def rows(url: str, query: str) -> Counter[tuple[Any, ...]]:
    """The rows of ``query`` as a multiset."""
    with connect(url) as conn:
        return Counter(tuple(r) for r in conn.execute(query).fetchall())


def lost_and_duplicated(
    reference: Counter[tuple[Any, ...]], got: Counter[tuple[Any, ...]]
) -> tuple[int, int]:
    """Rows of the fault-free run missing after the faults; rows more than once or extra."""
    lost = sum((reference - got).values())
    duplicated = sum((got - reference).values())
    return lost, duplicated


def count(url: str, query: str, *args: object) -> int:
    with connect(url) as conn:
        row = conn.execute(query, args or None).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def stuck(url: str) -> list[tuple[str, str]]:
    """Records left as if still working: runs ``running``, Terraform runs ``applying``."""
    with connect(url) as conn:
        runs = conn.execute(
            "SELECT 'ops.runs', task FROM ops.runs WHERE status = 'running'"
            " UNION ALL SELECT 'ops.terraform_runs', id::text FROM ops.terraform_runs"
            " WHERE status = 'applying'"
        ).fetchall()
    return [(str(a), str(b)) for a, b in runs]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kill_when(
    args: Sequence[str],
    env: dict[str, str],
    ready: Callable[[], bool],
    *,
    timeout: float = 120,
) -> None:
    """Start ``locxia ARGS``, SIGKILL it as soon as ``ready()`` holds (polled), reap it.

    Fails when the process ends before the kill point: the point was not inside the stage.
    Children it left (provider plugins) are killed with its process group afterwards.
    """
    proc = subprocess.Popen(
        [locxia_bin(), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(
                    f"locxia {' '.join(args)} ended ({proc.returncode}) before the kill point:"
                    f" {proc.stderr.read() if proc.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"kill point of locxia {' '.join(args)} never reached")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()


def run_ok(args: Sequence[str], env: dict[str, str], timeout: float = 300) -> str:
    """``locxia ARGS`` to the end; its stdout (fails on a non-zero exit)."""
    done = subprocess.run(
        [locxia_bin(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"locxia {' '.join(args)}: {done.stderr}"
    return done.stdout


def sessions_gone(db_url: str, timeout: float = 30) -> None:
    """Wait until a killed process's connections have left the server (no other client)."""
    wait_until(
        lambda: (
            count(
                db_url,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            )
            == 0
        ),
        timeout,
        "the killed process's sessions to end",
    )
