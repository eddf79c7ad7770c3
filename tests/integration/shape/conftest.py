from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.db import connect
from infra.demo.standin import SHIM, STANDIN_MODULE
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape import store
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler

NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Paris


@pytest.fixture
def standin_dir(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the stand-in root module whose provisioners reach the moto server."""
    target = tmp_path / "live"
    shutil.copytree(STANDIN_MODULE, target)
    monkeypatch.setenv("LOCXIA_STANDIN_SHIM", f"{sys.executable} {SHIM}")
    monkeypatch.setenv("LOCXIA_STANDIN_ENDPOINT", moto_endpoint)
    return target


@pytest.fixture
def shape_settings(aws_settings: Settings, standin_dir: Path) -> Settings:
    return aws_settings.model_copy(update={"terraform_dir": standin_dir})


@pytest.fixture
def reconciler(shape_settings: Settings) -> Iterator[Reconciler]:
    rec = Reconciler(shape_settings, now=lambda: NOON, after_apply=after_apply)
    yield rec
    rec.close()


@pytest.fixture
def edit(shape_settings: Settings) -> Callable[..., store.Change]:
    """``edit("work-db", instance_class="db.r6g.large")`` as ``locxia params set`` does."""

    def run(name: str, actor: str = "tester", **changes: Any) -> store.Change:
        with connect(shape_settings.require_database_url()) as conn:
            catalog = PriceCatalog.load(conn, shape_settings.aws_region)
            conn.rollback()
            return store.set_instance(conn, name, changes, actor=actor, catalog=catalog, now=NOON)

    return run


@pytest.fixture
def rds_client(moto_endpoint: str) -> Any:
    return boto3.client("rds", endpoint_url=moto_endpoint, region_name="eu-west-3")


@pytest.fixture
def ec2_client(moto_endpoint: str) -> Any:
    return boto3.client("ec2", endpoint_url=moto_endpoint, region_name="eu-west-3")


WORK_DB = {
    "kind": "rds",
    "instance_class": "db.t4g.large",
    "storage_gb": 100,
    "engine": "postgres",
    "engine_version": "16",
}
