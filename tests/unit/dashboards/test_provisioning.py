"""Provisioning files and push describe the same datasource."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from dashboards.grafana.common import DATASOURCE_UID, FOLDER_UID
from dashboards.grafana.provisioning import (
    ENV,
    DatasourceLogin,
    dashboards_yaml,
    datasource_spec,
    datasource_yaml,
)


def grafana_expand(value: Any, env: dict[str, str]) -> Any:
    """Grafana expands $VAR and ${VAR} in every string value of a provisioning file."""
    if isinstance(value, dict):
        return {k: grafana_expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [grafana_expand(v, env) for v in value]
    if isinstance(value, str):
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value
        )
    return value


def test_datasource_file_expands_to_what_push_sends() -> None:
    env = {
        ENV["host"]: "db.internal:5432",
        ENV["database"]: "locxia",
        ENV["user"]: "grafana",
        ENV["password"]: "pa$$word",
        ENV["sslmode"]: "verify-full",
    }
    doc = yaml.safe_load(datasource_yaml())
    assert doc["apiVersion"] == 1
    (provisioned,) = grafana_expand(doc["datasources"], env)
    assert provisioned.pop("editable") is False
    login = DatasourceLogin("db.internal:5432", "locxia", "grafana", "pa$$word", "verify-full")
    assert provisioned == datasource_spec(login)
    assert "pa$$word" not in datasource_yaml()


def test_dashboards_provider() -> None:
    doc = yaml.safe_load(dashboards_yaml())
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["folderUid"] == FOLDER_UID
    assert provider["options"]["path"] == "$" + ENV["dashboards_dir"]
    assert provider["allowUiUpdates"] is False


def test_login_from_url() -> None:
    login = DatasourceLogin.from_url("postgresql://graf%40na:p%2Fw@db:6543/loc?sslmode=disable")
    assert login == DatasourceLogin("db:6543", "loc", "graf@na", "p/w", "disable")
    assert DatasourceLogin.from_url("postgresql://g:p@db/loc").host == "db:5432"
    assert DatasourceLogin.from_url("postgresql://g:p@db/loc").sslmode == "require"
    assert datasource_spec(login)["uid"] == DATASOURCE_UID


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://g:p@db/loc", "expected postgresql://"),
        ("postgresql://g:p@db/loc?sslmode=prefer", "not supported by Grafana"),
        ("postgresql://g:p@db/", "has no database"),
        ("postgresql://db/loc", "has no user"),
        ("postgresql://g:p@db:xx/loc", "non-numeric port"),
    ],
)
def test_bad_login_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DatasourceLogin.from_url(url)
