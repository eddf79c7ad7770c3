from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import aws, pg
from tests.support.orchestrator import Seeded, seeded_database
from tests.support.week import Week, seed_week, week_settings


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
    try:
        with week_settings(url, moto_server, Path(tmp)) as settings:
            week = seed_week(settings)
            with seeded_database(settings, url) as seeded:
                yield SeededWeek(url, week, seeded)
    finally:
        pg.drop_db(admin_url, url)
