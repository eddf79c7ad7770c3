"""Pointing the product at the demo's stand-in AWS, and refusing to point the demo at real AWS.

The stand-in root module (``infra/demo/terraform``) has the variables and outputs of
``terraform/live`` but realises instances with ``terraform_data`` whose provisioners call the
stand-in AWS through :mod:`infra.demo.shim`: the AWS provider cannot be downloaded offline.
:func:`standin_terraform` gives a private copy of it to plan and apply.

The demo talks to moto exactly as production talks to AWS: through settings
(``aws_endpoint_url``) and boto3's usual credential chain. moto accepts any credentials, so
for the demo's process (and the processes it starts) the chain is made hermetic: fixed fake
keys, no profile, no shared config files. A developer's real credentials are never sent, even
to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from infra.errors import DemoError
from infra.settings import Settings

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "locxia-demo",
    "AWS_SECRET_ACCESS_KEY": "locxia-demo-not-a-secret",
    "AWS_SESSION_TOKEN": "locxia-demo",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Anything that would make boto3 look for credentials elsewhere than the fake keys.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: The demo's Dask settings: the sample layer (3,000 features) reaches ``dask_min_rows``, so
#: its refine is partitioned work on the embedded local cluster, three partitions of 1,000 rows
#: on two worker processes (the two workers its capacity window declares), and its publish
#: loads the parts by parallel COPYs. 1,000 rows is under ``LOCXIA_DASK_PARTITION_ROWS``'s
#: floor (10,000, a user's guard against tiny partitions): ``model_copy`` does not validate,
#: and so small a layer is cut in several only this way.
DEMO_DASK = {"dask_min_rows": 1_000, "dask_partition_rows": 1_000, "dask_local_workers": 2}
STANDIN_MODULE = Path(__file__).parent / "terraform"
SHIM = Path(__file__).parent / "shim.py"


def _restore(saved: dict[str, str | None]) -> None:
    """Put environment variables back as they were (``None``: it was not set)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def fake_credentials() -> Iterator[None]:
    """Within the block, boto3 in this process (and its children) uses the fake keys only."""
    saved = {k: os.environ.get(k) for k in (*FAKE_CREDENTIALS, *_CLEARED)}
    try:
        for key in _CLEARED:
            os.environ.pop(key, None)
        os.environ.update(FAKE_CREDENTIALS)
        yield
    finally:
        _restore(saved)


def require_stand_in(settings: Settings) -> str:
    """The endpoint of the stand-in AWS, or refuse: demo seeding must never reach real AWS.

    Raises:
        DemoError: no endpoint override is set, or it is not on this machine's loopback.
    """
    endpoint = settings.aws_endpoint_url
    host = urlsplit(endpoint).hostname if endpoint else None
    if host not in _LOOPBACK:
        raise DemoError(
            "refusing to build the demo estate: LOCXIA_AWS_ENDPOINT_URL must point at a stand-in"
            f" AWS on 127.0.0.1 (got {endpoint or 'real AWS'})"
        )
    assert endpoint is not None
    return endpoint


def demo_settings(
    settings: Settings, database_url: str, endpoint: str, terraform_dir: Path | None = None
) -> Settings:
    """``settings`` aimed at the demo: its database, its stand-in AWS, no roles to assume.

    The zones are the estate's zone buckets in the stand-in S3 (``s3://locxia-demo-landing/
    layers``...), reached through the same endpoint; Terraform is the embedded core on
    ``terraform_dir`` (a copy of the stand-in module) with a local state.

    Dask is the demo's own, whatever the environment says (``LOCXIA_DASK_*`` included): no
    scheduler, since the stand-in's Dask workers never boot and a capacity window waiting for
    them to join one would wait in vain; and the thresholds of :data:`DEMO_DASK`, so the
    sample layer takes the partitioned path a large layer takes, on the embedded local cluster
    (:func:`infra.cluster.client`), instead of staying in process under a production
    ``LOCXIA_DASK_MIN_ROWS``. A user's thresholds describe their layers, not the demo's.
    """
    from infra.demo.scenario.estates import default_estate

    buckets = default_estate(settings).zone_buckets()
    return settings.model_copy(
        update={
            "database_url": database_url,
            "aws_endpoint_url": endpoint,
            "read_role_arn": None,
            "write_role_arn": None,
            "feed_role_arn": None,
            "terraform_dir": terraform_dir,
            "terraform_binary": None,
            "terraform_backend_config": None,
            "dask_scheduler": None,
            **DEMO_DASK,
            **{f"{zone}_uri": f"s3://{bucket}/layers" for zone, bucket in buckets.items()},
        }
    )


@contextmanager
def standin_terraform(parent: Path, endpoint: str) -> Iterator[Path]:
    """A fresh copy of the stand-in root module, private to this process, under ``parent``.

    The copy is ``parent/run-<pid>``: the demo's home is shared by every demo of the machine
    (as root it is ``/var/tmp/locxia-demo``), and one working directory for all of them let a
    second demo wipe and rewrite the state a first one had planned against — its saved plan
    then failed with "Saved plan is stale" (the state's serial moved between plan and apply).
    The Terraform state lock cannot prevent that: the directory holding it is replaced. The
    copy of a process that is gone is removed here; this one is kept after the block, so the
    state can be read once the demo has ended. The stand-in AWS starts empty with every demo,
    so an older state would describe instances that no longer exist: it is never reused.

    The provisioners run in Terraform's worker processes, which inherit the environment: the
    shim command and the endpoint are set there for the block, then restored.
    """
    parent.mkdir(parents=True, exist_ok=True)
    _remove_copies_of_dead_processes(parent)
    target = parent / f"run-{os.getpid()}"
    shutil.rmtree(target, ignore_errors=True)
    leftovers = shutil.ignore_patterns(".terraform*", "*.tfstate*", ".locxia")
    shutil.copytree(STANDIN_MODULE, target, ignore=leftovers)
    wanted = {
        "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
        "LOCXIA_STANDIN_ENDPOINT": endpoint,
    }
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield target
    finally:
        _restore(saved)


def _remove_copies_of_dead_processes(parent: Path) -> None:
    """Remove the ``run-<pid>`` copies whose process has ended; nothing else is touched."""
    for path in parent.glob("run-*"):
        pid = path.name.removeprefix("run-")
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only (kill(2))
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
