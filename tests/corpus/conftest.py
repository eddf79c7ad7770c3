"""Fixtures of the real-data corpus: the packages fetched once per machine, the record of each case.

When ``LOCXIA_CORPUS_RECORD`` names a file, each case appends one JSON line to it with what it
measured and how the test ended (``python -m tests.corpus.report`` runs the suite that way and
writes docs/feed-corpus.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.db import connect
from tests.corpus import sources

RECORD_ENV = "LOCXIA_CORPUS_RECORD"
# Read once at import, before any fixture of a test could change the environment.
_RECORD_PATH = os.environ.get(RECORD_ENV)


@pytest.fixture(scope="session")
def corpus() -> dict[str, Path]:
    """The unpacked packages of the corpus, by key (fetched from the registries on first use)."""
    return sources.fetch()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url) as c:
        yield c


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """Keep how the test body ended on the item, for :func:`record`."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            item.corpus_result = "xfail" if report.skipped else "XPASS"  # type: ignore[attr-defined]
        else:
            item.corpus_result = report.outcome  # type: ignore[attr-defined]


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the case fills in; written as one JSON line when the case ends, however it ends."""
    line: dict[str, Any] = {}
    yield line
    if _RECORD_PATH and line:
        line["result"] = getattr(request.node, "corpus_result", "error")
        with open(_RECORD_PATH, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")
