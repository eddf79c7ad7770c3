"""Dashboards as code: committed JSON in step with the code, house rules enforced."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana import build, costs, layers, orchestrator, resources
from dashboards.grafana.check import REQUIREMENTS
from dashboards.grafana.common import DATASOURCE_UID, base_dashboard, default_table, sql


def test_committed_files_are_not_stale() -> None:
    stale = build.stale_files()
    assert stale == [], f"run `locxia dashboards build` and commit: {stale}"


def test_build_is_stable_and_idempotent(tmp_path: Path) -> None:
    first = build.write(tmp_path)
    assert sorted(first) == sorted(build.generated_files())
    assert build.write(tmp_path) == []
    assert build.generated_files() == build.generated_files()  # deterministic
    (tmp_path / "dashboards" / "old.json").write_text("{}")
    (tmp_path / "dashboards" / "locxia-orchestrator.json").write_text("{}")
    assert build.stale_files(tmp_path) == [
        "dashboards/locxia-orchestrator.json",
        "dashboards/old.json",
    ]
    build.write(tmp_path)
    assert build.stale_files(tmp_path) == [] and not (tmp_path / "dashboards" / "old.json").exists()


def test_json_has_sorted_keys_fixed_uid_and_numbered_panels() -> None:
    text = build.generated_files()["dashboards/locxia-orchestrator.json"]
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert data["uid"] == orchestrator.UID
    ids = [p["id"] for p in build.iter_panels(data)]
    assert ids == list(range(1, len(ids) + 1))


#: Each dashboard module and the function that builds its dashboard.
MODULES = {
    "orchestrator": (orchestrator, orchestrator.orchestrator_dashboard),
    "costs": (costs, costs.costs_dashboard),
    "resources": (resources, resources.resources_dashboard),
    "layers": (layers, layers.layers_dashboard),
}


def _panel_functions(module: Any) -> list[tuple[str, Any]]:
    return [
        (name, fn)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__
        and re.search(r"_(timeseries|stat|table|bargauge|barchart|geomap|annotation)$", name)
    ]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_one_function_per_panel_named_subject_paneltype(name: str) -> None:
    module, make = MODULES[name]
    board = build.to_json(make())
    titles = {p["title"]: p["type"] for p in build.iter_panels(board) if p["type"] != "row"}
    functions = [(n, fn) for n, fn in _panel_functions(module) if not n.endswith("annotation")]
    assert len(functions) == len(titles)
    for fname, fn in functions:
        panel = fn().build()
        assert fname.endswith("_" + panel.type_val), fname
        assert titles[panel.title] == panel.type_val


def test_every_shipped_dashboard_is_registered_once() -> None:
    uids = [b["uid"] for b in build.all_dashboards()]
    assert uids == [m.UID for m, _ in MODULES.values()]
    assert sorted(build.generated_files()) == sorted(
        [f"dashboards/{uid}.json" for uid in uids]
        + ["provisioning/dashboards/locxia.yaml", "provisioning/datasources/locxia.yaml"]
    )


def test_every_panel_type_has_a_requirement_and_reads_reporting_only() -> None:
    for board in build.all_dashboards():
        for panel in build.iter_panels(board):
            if panel["type"] == "row":
                continue
            assert panel["type"] in REQUIREMENTS
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            for target in panel["targets"]:
                assert re.search(r"\breporting\.\w+", target["rawSql"]), panel["title"]


def _board_reading(query: str) -> dashboard.Dashboard:
    return base_dashboard("T", "t-test", "x").with_panel(
        default_table().title("p").with_target(sql(query))
    )


@pytest.mark.parametrize(
    "query",
    ["SELECT * FROM ops.runs", 'SELECT 1 FROM reporting.x JOIN "params".schedules s ON true'],
)
def test_a_query_outside_reporting_is_refused(query: str) -> None:
    with pytest.raises(build.DefinitionError, match="dashboards read reporting.* only"):
        build.to_json(_board_reading(query))


def test_a_panel_on_another_datasource_or_a_bad_uid_is_refused() -> None:
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    other = base_dashboard("T", "t-test", "x").with_panel(
        default_table()
        .title("p")
        .datasource(DataSourceRef(uid="other"))
        .with_target(sql("SELECT 1"))
    )
    with pytest.raises(build.DefinitionError, match="uses datasource 'other'"):
        build.to_json(other)
    with pytest.raises(build.DefinitionError, match="is not a fixed slug"):
        build.to_json(base_dashboard("T", "Not A Slug", "x"))


def test_infrastructure_panels_sit_under_their_own_row() -> None:
    panels = build.iter_panels(build.to_json(orchestrator.orchestrator_dashboard()))
    titles = [(p["type"], p["title"]) for p in panels]
    row = titles.index(("row", "Infrastructure changes"))
    below = titles[row + 1 :]
    assert [t for _, t in below] == [p.build().title for p in orchestrator.infrastructure_panels()]
    assert {"Pending approvals", "Terraform runs by status", "Drift"} <= {t for _, t in below}
    assert all(kind != "row" for kind, _ in below)
