from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from infra.demo.motoserver import INSTALL_HINT, find_moto_server
from infra.demo.standin import FAKE_CREDENTIALS, fake_credentials, require_stand_in
from infra.errors import DemoError
from infra.settings import load_settings


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:5000"],
    ids=["ipv4", "localhost", "ipv6"],
)
def test_a_loopback_endpoint_is_a_stand_in(endpoint: str) -> None:
    settings = load_settings(aws_endpoint_url=endpoint)
    assert require_stand_in(settings) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [None, "https://rds.eu-west-3.amazonaws.com", "http://10.0.0.5:5000"],
    ids=["real-aws", "aws-endpoint", "another-host"],
)
def test_anything_else_is_refused(endpoint: str | None) -> None:
    settings = load_settings(aws_endpoint_url=endpoint)
    with pytest.raises(DemoError, match="refusing to build the demo estate"):
        require_stand_in(settings)


def test_fake_credentials_hide_real_ones_and_restore_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with fake_credentials():
        assert "AWS_PROFILE" not in os.environ
        for key, value in FAKE_CREDENTIALS.items():
            assert os.environ[key] == value
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALKEY"
    assert "AWS_SESSION_TOKEN" not in os.environ


def test_missing_moto_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(DemoError) as caught:
        find_moto_server([tmp_path])
    assert str(caught.value) == INSTALL_HINT
    assert "\n" not in INSTALL_HINT and "locxia-orchestrator[demo]" in INSTALL_HINT


def test_moto_is_found_where_it_is_installed(tmp_path: Path) -> None:
    fake = tmp_path / "moto_server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert find_moto_server([tmp_path]) == fake


def test_the_stand_in_module_ships_in_the_package() -> None:
    """A non-editable install gets every file of the stand-in root module (package data)."""
    import tomllib

    from infra.demo.standin import SHIM, STANDIN_MODULE
    from tests.conftest import ROOT

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["infra"]
    shipped = {p for g in globs for p in (ROOT / "infra").glob(g) if p.is_file()}
    files = {p for p in STANDIN_MODULE.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert {STANDIN_MODULE / "main.tf", STANDIN_MODULE / "rds" / "main.tf"} <= files
    assert files - shipped == set()
    assert SHIM.is_file() and SHIM.parent == STANDIN_MODULE.parent  # a module of the package
