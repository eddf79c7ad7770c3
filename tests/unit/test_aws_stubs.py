"""The boto3 stubs type the clients for mypy only: running the product never imports them."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args, get_overloads

from infra.aws import AwsClients, Service

MODULES = [
    "infra.aws",
    "pipelines.observe.metrics.discovery",
    "pipelines.observe.metrics.collect",
    "pipelines.observe.metrics.streams",
    "pipelines.observe.costs.explorer",
    "pipelines.observe.costs.pricing",
    "pipelines.shape.drift",
    "pipelines.feed.sources",
]


def test_importing_the_clients_users_loads_no_stub_package() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mypy_boto3', 'botocore-stubs'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_service_called_has_a_typed_overload() -> None:
    overloads = get_overloads(AwsClients.client)
    typed = {o.__annotations__["service"] for o in overloads}
    assert typed == {f"Literal[{service!r}]" for service in get_args(Service)}
