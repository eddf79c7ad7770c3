from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.settings import load_settings
from tests.support import aws, pg
from tests.support.orchestrator import Seeded, seeded_database
from tests.support.week import Week, seed_week, standin_terraform


@dataclass(frozen=True)
class SeededWeek:
    url: str
    week: Week
    seeded: Seeded


@pytest.fixture(scope="module")
def seeded_week(
    admin_url: str, template_url: str, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededWeek]:
    """One database per module with a week of observe and shape records, then the
    orchestrator's own runs and a leading service (alive until the module ends)."""
    url = pg.create_db(admin_url, "locxia_w", template=urlsplit(template_url).path[1:])
    aws.reset(moto_server)
    tmp = tmp_path_factory.mktemp("week")
    zones = Path(tmp) / "zones"
    try:
        with standin_terraform(tmp, moto_server) as live:
            settings = load_settings(
                database_url=url,
                aws_endpoint_url=moto_server,
                terraform_dir=live,
                landing_uri=(zones / "landing").as_uri(),
                working_uri=(zones / "working").as_uri(),
                exposure_uri=(zones / "exposure").as_uri(),
            )
            week = seed_week(settings)
            with seeded_database(settings, url) as seeded:
                yield SeededWeek(url, week, seeded)
    finally:
        pg.drop_db(admin_url, url)
