"""The environment a `locxia` process needs to shape through the stand-in root module."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from infra.demo.standin import SHIM, STANDIN_MODULE


def standin_env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """A private copy of the stand-in root module, the moto endpoint, a fast leader poll.

    ``extra`` adds or overrides ``LOCXIA_*`` variables for one test.
    """
    live = tmp_path / "live"
    shutil.copytree(STANDIN_MODULE, live)
    return {
        "LOCXIA_TERRAFORM_DIR": str(live),
        "LOCXIA_AWS_ENDPOINT_URL": endpoint,
        "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
        "LOCXIA_STANDIN_ENDPOINT": endpoint,
        "LOCXIA_LEADER_POLL_SECONDS": "0.5",
        **extra,
    }
