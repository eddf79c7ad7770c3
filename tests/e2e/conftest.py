from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import locxia_bin

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def locxia(cli_env: dict[str, str]) -> Run:
    """Run ``locxia ARGS`` as a user would; returns the finished process."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [locxia_bin(), *args],
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
