"""Which named Dask schedulers the client may use as configured (no connection made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cluster import transport_problem
from infra.settings import Settings


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("ca", "cert", "key"):
        path = tmp_path / f"{name}.pem"
        path.write_text("PEM")
        files[f"dask_tls_{name}_file"] = path
    return files


@pytest.mark.parametrize(
    ("address", "allow", "with_files", "verdict"),
    [
        (None, False, False, None),
        ("tcp://127.0.0.1:8786", False, False, None),
        ("127.0.0.1:8786", False, False, None),
        ("tcp://127.3.4.5:8786", False, False, None),
        ("tcp://localhost:8786", False, False, None),
        ("tcp://[::1]:8786", False, False, None),
        ("tcp://10.0.1.5:8786", False, False, "refusing the plain-text"),
        ("10.0.1.5:8786", False, False, "refusing the plain-text"),
        ("tcp://dask.internal:8786", False, False, "refusing the plain-text"),
        ("ws://10.0.1.5:8786", False, False, "refusing the plain-text"),
        ("tcp://10.0.1.5:8786", True, False, None),
        ("tls://10.0.1.5:8786", False, False, "needs mutual TLS"),
        ("tls://10.0.1.5:8786", True, False, "needs mutual TLS"),
        ("tls://10.0.1.5:8786", False, True, None),
        ("wss://10.0.1.5:8786", False, True, None),
    ],
    ids=[
        "embedded",
        "loopback",
        "bare-loopback",
        "loopback-range",
        "localhost",
        "ipv6-loopback",
        "remote-tcp",
        "bare-remote",
        "remote-name",
        "websocket",
        "opted-in",
        "tls-no-files",
        "opt-in-is-not-tls",
        "tls",
        "wss",
    ],
)
def test_transport_policy(
    tmp_path: Path, address: str | None, allow: bool, with_files: bool, verdict: str | None
) -> None:
    settings = Settings(
        dask_scheduler=address,
        dask_allow_plaintext=allow,
        **(_files(tmp_path) if with_files else {}),  # type: ignore[arg-type]
    )
    problem = transport_problem(settings)
    if verdict is None:
        assert problem is None
    else:
        assert problem is not None and verdict in problem and "\n" not in problem
        assert address in problem
