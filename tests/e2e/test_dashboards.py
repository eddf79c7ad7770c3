"""`locxia dashboards build | push | check` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.db.localcluster import free_port
from infra.settings import Settings
from tests.e2e.conftest import Run
from tests.support.grafana import fake_grafana
from tests.support.orchestrator import seeded_database
from tests.support.week import seed_week, standin_terraform

LOGIN = "postgresql://grafana:s3cret@127.0.0.1:5432/locxia?sslmode=disable"


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_build_check_passes_on_the_committed_files_and_catches_stale_ones(
    locxia: Run, tmp_path: Path
) -> None:
    assert locxia("dashboards", "build", "--check").returncode == 0
    out = tmp_path / "gen"
    written = locxia("dashboards", "build", "--out", str(out), "--json")
    assert written.returncode == 0, written.stderr
    assert len(json.loads(written.stdout)["changed"]) == 6  # 4 dashboards, 2 YAML files
    (out / "dashboards" / "locxia-orchestrator.json").write_text("{}")
    stale = locxia("dashboards", "build", "--out", str(out), "--check")
    assert stale.returncode == 1
    assert "1 generated file(s) are stale" in _error_line(stale.stderr)


def test_push_twice_then_with_a_bad_token(locxia: Run) -> None:
    with fake_grafana() as grafana:
        env = {
            "LOCXIA_GRAFANA_URL": grafana.url,
            "LOCXIA_GRAFANA_TOKEN": grafana.token,
            "LOCXIA_GRAFANA_DATABASE_URL": LOGIN,
        }
        first = locxia("dashboards", "push", "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert {c["action"] for c in json.loads(first.stdout)["changes"]} == {"create"}
        writes = len(grafana.writes())
        second = locxia("dashboards", "push", "--json", env=env)
        assert second.returncode == 0, second.stderr
        assert {c["action"] for c in json.loads(second.stdout)["changes"]} == {"unchanged"}
        assert len(grafana.writes()) == writes
        refused = locxia("dashboards", "push", env={**env, "LOCXIA_GRAFANA_TOKEN": "nope"})
    assert refused.returncode == 1
    assert "refused the credentials (401)" in _error_line(refused.stderr)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOCXIA_GRAFANA_DATABASE_URL": ""}, "LOCXIA_GRAFANA_DATABASE_URL is not set"),
        (
            {"LOCXIA_GRAFANA_DATABASE_URL": LOGIN.replace("disable", "prefer")},
            "invalid setting LOCXIA_GRAFANA_DATABASE_URL: sslmode 'prefer'",
        ),
        ({"LOCXIA_GRAFANA_URL": "grafana.local"}, "invalid setting LOCXIA_GRAFANA_URL"),
        ({}, "connection refused"),
    ],
    ids=["no-login", "bad-sslmode", "bad-url", "refused"],
)
def test_push_rejects_bad_settings_with_one_line(
    locxia: Run, env: dict[str, str], message: str
) -> None:
    base = {
        "LOCXIA_GRAFANA_URL": f"http://127.0.0.1:{free_port()}",
        "LOCXIA_GRAFANA_DATABASE_URL": LOGIN,
    }
    result = locxia("dashboards", "push", env={**base, **env})
    assert result.returncode == 1
    assert message in _error_line(result.stderr)


@pytest.mark.slow
def test_check_proves_every_panel_on_a_seeded_week(
    locxia: Run, aws_settings: Settings, db_url: str, tmp_path: Path
) -> None:
    empty = locxia("dashboards", "check")
    assert empty.returncode == 1
    assert "queries fail" in _error_line(empty.stderr)
    assert aws_settings.aws_endpoint_url is not None
    with standin_terraform(tmp_path, aws_settings.aws_endpoint_url) as live:
        settings = aws_settings.model_copy(update={"terraform_dir": live})
        seed_week(settings)
        with seeded_database(settings, db_url):
            result = locxia("dashboards", "check", "--json")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert {o["dashboard"] for o in outcomes} == {
        "locxia-orchestrator",
        "locxia-costs",
        "locxia-resources",
        "locxia-layers",
    }
    assert outcomes and all(o["problems"] == [] and o["rows"] >= 1 for o in outcomes)
    assert all("$__" not in o["sql"] for o in outcomes)


def test_check_rejects_unknown_dashboards_and_ranges_as_usage(locxia: Run) -> None:
    unknown = locxia("dashboards", "check", "-d", "nope")
    assert unknown.returncode == 2
    assert "unknown uid(s) nope" in unknown.stderr and "Usage: locxia" in unknown.stderr
    bad = locxia("dashboards", "check", "--last", "soon")
    assert bad.returncode == 2
    assert "--last 'soon'" in bad.stderr and "Usage: locxia" in bad.stderr
