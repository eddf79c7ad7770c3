from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.settings import Settings
from tests.support.orchestrator import Seeded, seeded_database


@pytest.fixture
def seeded(settings: Settings, db_url: str) -> Iterator[Seeded]:
    with seeded_database(settings, db_url) as seeded:
        yield seeded
