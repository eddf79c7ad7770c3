"""Dashboards → JSON: the list of dashboards, stable rendering, the generated files.

Every dashboard is a function registered in :data:`DASHBOARDS`. Rendering assigns panel ids in
order, checks the house rules (fixed uid, the Locxia datasource, SQL that names no schema but
``reporting``) and serialises with sorted keys, so the committed JSON changes only when a
dashboard does. ``locxia dashboards build`` writes :func:`generated_files` under
``dashboards/generated/``; a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.grafana.common import DATASOURCE_UID
from dashboards.grafana.costs import costs_dashboard
from dashboards.grafana.layers import layers_dashboard
from dashboards.grafana.orchestrator import orchestrator_dashboard
from dashboards.grafana.provisioning import dashboards_yaml, datasource_yaml
from dashboards.grafana.resources import resources_dashboard

#: Every dashboard Locxia ships, in menu order. Add a function here to ship a new one.
DASHBOARDS: tuple[Callable[[], dashboard.Dashboard], ...] = (
    orchestrator_dashboard,
    costs_dashboard,
    resources_dashboard,
    layers_dashboard,
)

#: Where ``locxia dashboards build`` writes by default (committed with the sources).
GENERATED_DIR = Path(__file__).resolve().parents[1] / "generated"

_UID = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")
# A schema-qualified relation after FROM/JOIN: `FROM ops.runs`, `JOIN "params"."x"`.
_QUALIFIED = re.compile(r'\b(?:from|join)\s+"?([a-z_][a-z0-9_$]*)"?\s*\.', re.IGNORECASE)


class DefinitionError(ValueError):
    """A dashboard breaks a house rule (uid, datasource, a query outside ``reporting``)."""


def iter_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard's JSON, rows included, nested (collapsed) panels too."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, rawSql)`` of every SQL in a dashboard: panels, annotations, variables."""
    for panel in iter_panels(board):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r}", str(target.get("rawSql", ""))
    for annotation in board.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        if "rawSql" in target:
            yield f"annotation {annotation.get('name')!r}", str(target["rawSql"])
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield f"variable ${variable.get('name')}", str(variable.get("query", ""))


def _check(board: dict[str, Any]) -> None:
    uid = str(board.get("uid", ""))
    if not _UID.match(uid):
        raise DefinitionError(f"dashboard {board.get('title')!r}: uid {uid!r} is not a fixed slug")
    for panel in iter_panels(board):
        if panel.get("type") == "row":
            continue
        source = (panel.get("datasource") or {}).get("uid")
        if source != DATASOURCE_UID:
            raise DefinitionError(
                f"{uid}: panel {panel.get('title')!r} uses datasource {source!r}, "
                f"not {DATASOURCE_UID!r}"
            )
    for where, sql in queries(board):
        for schema in _QUALIFIED.findall(sql):
            if schema.lower() != "reporting":
                raise DefinitionError(
                    f"{uid}: {where} reads schema {schema!r}; dashboards read reporting.* only"
                )


def to_json(board: dashboard.Dashboard) -> dict[str, Any]:
    """Build a dashboard into Grafana's JSON model with panel ids 1..n.

    Raises:
        DefinitionError: the dashboard breaks a house rule.
    """
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    for number, panel in enumerate(iter_panels(data), start=1):
        panel["id"] = number
    _check(data)
    return data


def render(data: dict[str, Any]) -> str:
    """Stable text of a JSON document: sorted keys, two-space indent, final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def all_dashboards() -> list[dict[str, Any]]:
    """The JSON of every shipped dashboard, in :data:`DASHBOARDS` order.

    Raises:
        DefinitionError: two dashboards share a uid, or one breaks a house rule.
    """
    boards = [to_json(make()) for make in DASHBOARDS]
    uids = [b["uid"] for b in boards]
    if len(set(uids)) != len(uids):
        raise DefinitionError(f"dashboard uids are not unique: {sorted(uids)}")
    return boards


def generated_files() -> dict[str, str]:
    """Relative path → content of everything ``build`` writes."""
    files = {f"dashboards/{b['uid']}.json": render(b) for b in all_dashboards()}
    files["provisioning/datasources/locxia.yaml"] = datasource_yaml()
    files["provisioning/dashboards/locxia.yaml"] = dashboards_yaml()
    return files


def _on_disk(out_dir: Path) -> set[str]:
    if not out_dir.is_dir():
        return set()
    return {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()}


def stale_files(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Files under ``out_dir`` that differ from a fresh build, are missing, or are left over."""
    wanted = generated_files()
    stale = [
        path
        for path, text in wanted.items()
        if not (out_dir / path).is_file() or (out_dir / path).read_text("utf-8") != text
    ]
    stale.extend(sorted(_on_disk(out_dir) - set(wanted)))
    return sorted(stale)


def write(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Write the generated files; remove left-over ones; return what changed (idempotent)."""
    changed = stale_files(out_dir)
    wanted = generated_files()
    for path in changed:
        target = out_dir / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path], encoding="utf-8")
        else:
            target.unlink()
    return changed
