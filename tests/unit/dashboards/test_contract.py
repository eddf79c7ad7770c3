"""dashboards.contract lists nothing its consumers no longer read (the DB side is integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.contract import CONTRACT, columns_needed, views
from dashboards.grafana.build import all_dashboards, queries

REPORT_SOURCES = Path(__file__).resolve().parents[3] / "dashboards" / "report"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


@pytest.mark.parametrize("consumer", sorted(CONTRACT))
def test_no_listed_column_is_stale(consumer: str) -> None:
    """Every listed view and column appears in the consumer's own text (SQL or source)."""
    if consumer == "grafana":
        text = "\n".join(q for board in all_dashboards() for _, q in queries(board))
    else:
        text = "\n".join(p.read_text() for p in sorted(REPORT_SOURCES.glob("*.py")))
    words = _words(text)
    stale = {
        view: sorted(columns - words)
        for view, columns in CONTRACT[consumer].items()
        if view not in words or columns - words
    }
    assert not stale


def test_views_and_needed_columns_are_the_union_of_the_consumers() -> None:
    assert views() == sorted(set(CONTRACT["grafana"]) | set(CONTRACT["report"]))
    assert columns_needed("job_runs") >= CONTRACT["grafana"]["job_runs"]
    assert columns_needed("no_such_view") == frozenset()
