"""The one file Terraform reads from Locxia: ``instances.auto.tfvars.json``.

Terraform never reads PostgreSQL. The desired state now (schedule windows applied) is written
here, keyed by instance name; absent instances are left out, so Terraform plans their
deletion and the guardrails decide whether that is allowed. The SHA-256 of the rendered
document is the run's ``inputs_hash``: the reconcile job skips Terraform entirely when it is
unchanged since the last conclusive run, which keeps a short tick cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.settings import Settings
from pipelines.shape.model import Desired

FILENAME = "instances.auto.tfvars.json"


def instance_vars(want: Desired) -> dict[str, Any]:
    """One entry of the ``instances`` map (the object type declared in terraform/live)."""
    spec = want.spec
    entry: dict[str, Any] = {
        "kind": spec.kind,
        "state": want.state,
        "instance_class": want.instance_class,
        "storage_gb": spec.storage_gb,
        "storage_type": spec.storage_type,
        "protected": spec.protected,
        "tags": dict(spec.tags),
    }
    if spec.kind == "rds":
        entry.update(engine=spec.engine, engine_version=spec.engine_version, multi_az=spec.multi_az)
    return entry


def render(desired: Iterable[Desired], settings: Settings) -> dict[str, Any]:
    """The whole document: instances that should exist, region and project tag."""
    return {
        "instances": {
            want.name: instance_vars(want)
            for want in sorted(desired, key=lambda w: w.name)
            if want.state != "absent"
        },
        "region": settings.aws_region,
        "tag_key": settings.tag_key,
        "tag_value": settings.tag_value,
    }


def canonical(document: dict[str, Any]) -> str:
    """Stable JSON text (sorted keys): equal inputs, equal bytes, equal hash."""
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def inputs_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical text."""
    return hashlib.sha256(canonical(document).encode()).hexdigest()


def write(workdir: Path, document: dict[str, Any]) -> Path:
    """Write the file atomically (a crash never leaves Terraform half a file)."""
    target = workdir / FILENAME
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".instances-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        fh.write(canonical(document))
    os.replace(tmp, target)
    return target
