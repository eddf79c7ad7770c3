"""The layers of the house, enforced on every import (function-level ones included).

Rooms, bottom to top:

* **core** — ``infra`` except its composition roots: settings, errors, db, aws, prices, jobs,
  scheduler, service. Imports no feature, no presentation, no composition root.
* **features** — ``pipelines.observe``, ``pipelines.shape``, ``pipelines.feed``. Each imports
  the core and itself; another feature only through a module declared in :data:`INTERFACES`.
* **presentation** — ``dashboards`` (Grafana and the report). Imports the core and itself;
  what it knows of the features is the ``reporting`` views (see ``dashboards.contract``).
* **composition roots** — ``infra.cli`` and ``infra.demo``: may import anything.

The import graph comes from grimp (the engine behind import-linter), so a new module is
covered the day it is written; the rules themselves are a pure function tested below on
made-up edges, so a rule that cannot fail would show.
"""

from __future__ import annotations

from collections.abc import Iterable

import grimp
import pytest

PACKAGES = ("infra", "pipelines", "dashboards")
FEATURES = ("pipelines.observe", "pipelines.shape", "pipelines.feed")
ROOTS = ("infra.cli", "infra.demo")
#: Modules of a feature that other features may import (features mostly share the database,
#: not code). Adding one here is the declaration the layer rules ask for.
#: ``pipelines.observe.metrics.history``: shape records the states its calls cause.
INTERFACES: frozenset[str] = frozenset({"pipelines.observe.metrics.history"})


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def room(module: str) -> str:
    """The room a module of the product lives in."""
    for root in ROOTS:
        if _within(module, root):
            return "root"
    for feature in FEATURES:
        if _within(module, feature):
            return feature
    if _within(module, "dashboards"):
        return "presentation"
    if _within(module, "infra"):
        return "core"
    return "pipelines"  # the namespace's own __init__: holds no code


def allowed(importer: str, imported: str) -> bool:
    """Whether the import ``importer`` → ``imported`` respects the layers."""
    src, dst = room(importer), room(imported)
    if src == "root" or src == dst or dst == "core":
        return True
    if src in FEATURES and dst in FEATURES:
        return any(_within(imported, i) for i in INTERFACES)
    return False


def violations(edges: Iterable[tuple[str, str]]) -> list[str]:
    """Every edge breaking the layers, as ``importer → imported (rooms)``."""
    return sorted(f"{a} → {b} ({room(a)} → {room(b)})" for a, b in edges if not allowed(a, b))


def _edges() -> list[tuple[str, str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return [
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
    ]


def test_the_product_respects_its_layers() -> None:
    edges = _edges()
    assert len(edges) > 200  # the graph really was read
    assert violations(edges) == []


def test_every_module_sits_in_a_known_room() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert {m for m in graph.modules if room(m) == "pipelines"} == {"pipelines"}
    for feature in FEATURES:
        assert feature in graph.modules, f"{feature} is missing"


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("infra.jobs.runner", "infra.db", True),
        ("infra.service", "pipelines.observe.jobs", False),
        ("infra.jobs.model", "dashboards.report", False),
        ("infra.settings", "infra.cli.output", False),
        ("infra.aws", "infra.demo.scenario.aws", False),
        ("pipelines.feed.refine", "infra.errors", True),
        ("pipelines.feed.refine", "pipelines.feed.wkb", True),
        ("pipelines.feed.catalog", "pipelines.observe.costs.estimates", False),
        ("pipelines.shape.cost", "pipelines.observe.metrics", False),
        ("pipelines.observe.jobs", "dashboards.grafana.build", False),
        ("pipelines.shape.jobs", "infra.demo.standin", False),
        ("dashboards.report.build", "infra.db", True),
        ("dashboards.report.costs", "pipelines.observe.costs.budgets", False),
        ("dashboards.grafana.push", "infra.cli", False),
        ("infra.cli.feed", "pipelines.feed.catalog", True),
        ("infra.demo.run", "dashboards.report", True),
        ("infra.cli.demo", "infra.demo.run", True),
    ],
    ids=lambda v: str(v),
)
def test_the_rules(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok


def test_a_declared_interface_opens_one_door(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "tests.unit.test_architecture.INTERFACES", frozenset({"pipelines.observe.api"})
    )
    assert allowed("pipelines.shape.cost", "pipelines.observe.api")
    assert not allowed("pipelines.shape.cost", "pipelines.observe.metrics.store")
