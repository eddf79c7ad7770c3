"""The one file Terraform reads from Locxia: ``instances.auto.tfvars.json``.

Terraform never reads PostgreSQL. The desired state now (schedule windows applied) is written
here, keyed by instance name; absent instances are left out, so Terraform plans their
deletion and the guardrails decide whether that is allowed. The SHA-256 of the rendered
document is the run's ``inputs_hash``: the reconcile job skips Terraform entirely when it is
unchanged since the last conclusive run, which keeps a short tick cheap.

Adopted instances (:mod:`pipelines.shape.adopt`, ``ops.adoptions``) add two things: the
instance's ``adopted`` object (its AWS id, and what discovery found as a JSON document the
root module decodes: the force-replacing inputs keep those values), and, until the apply
that imports it, an entry of ``imports`` (``rds``/``ec2``: name → AWS id), which the root
module turns into ``import`` blocks.

Dask workers (``purpose = dask-worker``) carry their purpose, and the document then carries the
scheduler they join (``dask_scheduler``, from ``LOCXIA_DASK_SCHEDULER``) and the pinned packages
of their environment (``dask_worker_packages``: this orchestrator's own dask, distributed and
product versions, since a worker of another version than the client and scheduler misbehaves),
and ``dask_allow_plaintext`` when ``LOCXIA_DASK_ALLOW_PLAINTEXT`` is true (the user data module
refuses a tcp:// scheduler off loopback otherwise, as the client does; decision 96).
A document without workers has neither key, nor ``purpose`` on any instance: rows that were
there before migration 0073 render (and hash) as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from infra.settings import Settings
from pipelines.shape.adopt import Adoption
from pipelines.shape.model import Desired

FILENAME = "instances.auto.tfvars.json"
#: The distributions a Dask worker needs at the orchestrator's versions.
WORKER_DISTRIBUTIONS = ("locxia-orchestrator", "dask", "distributed")


def instance_vars(want: Desired, adopted: Adoption | None = None) -> dict[str, Any]:
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
    # Left out when unset, so rows without them render (and hash) as before migration 0057.
    entry.update({k: v for k, v in (("iops", spec.iops), ("throughput", spec.throughput)) if v})
    if spec.dask_worker:
        entry["purpose"] = spec.purpose
    if spec.kind == "rds":
        entry.update(engine=spec.engine, engine_version=spec.engine_version, multi_az=spec.multi_az)
        # RDS's preferred windows; null leaves AWS's (an EC2 row's window is Locxia's alone).
        entry.update(
            maintenance_window=spec.maintenance_window and spec.maintenance_window.text,
            backup_window=spec.backup_window and spec.backup_window.text,
        )
    if adopted is not None:
        entry["adopted"] = {"id": adopted.aws_id, "found": canonical_found(adopted.found)}
    return entry


def canonical_found(found: Mapping[str, Any]) -> str:
    """What discovery found, as the JSON text the root module ``jsondecode``s (stable)."""
    return json.dumps(dict(found), sort_keys=True, separators=(",", ":"), default=str)


def render(
    desired: Iterable[Desired],
    settings: Settings,
    adoptions: Mapping[str, Adoption] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole document: instances that should exist, imports, region, project tag and the role.

    ``assume_role_arn`` is the write role from settings (``LOCXIA_WRITE_ROLE_ARN``), so the AWS
    provider assumes the tag-scoped role without an operator copying its ARN; it is left out
    when no role is set (the caller's credentials, the demo's stand-in). ``extra`` holds, per
    instance, entries kept by the orchestrator rather than the rows
    (``final_snapshot_identifier``, ``snapshot_identifier``; see :mod:`pipelines.shape.snapshots`
    and :mod:`pipelines.shape.rebuild`).
    """
    more = extra or {}
    adopted = adoptions or {}
    present = [w for w in sorted(desired, key=lambda w: w.name) if w.state != "absent"]
    imports: dict[str, dict[str, str]] = {"rds": {}, "ec2": {}}
    for want in present:
        found = adopted.get(want.name)
        if found is not None and not found.imported and found.kind == want.spec.kind:
            imports[found.kind][want.name] = found.aws_id
    document: dict[str, Any] = {
        "instances": {
            want.name: {
                **instance_vars(want, _same_kind(adopted.get(want.name), want)),
                **more.get(want.name, {}),
            }
            for want in present
        },
        "imports": imports,
        "region": settings.aws_region,
        "tag_key": settings.tag_key,
        "tag_value": settings.tag_value,
    }
    if any(want.spec.dask_worker for want in present):
        if settings.dask_scheduler:
            document["dask_scheduler"] = settings.dask_scheduler
        document["dask_worker_packages"] = worker_packages()
        if settings.dask_allow_plaintext:  # only when true: documents hash as before otherwise
            document["dask_allow_plaintext"] = True
    if settings.write_role_arn:
        document["assume_role_arn"] = settings.write_role_arn
    return document


def worker_packages() -> list[str]:
    """``name==version`` of each of :data:`WORKER_DISTRIBUTIONS` as installed here."""
    return [f"{name}=={metadata.version(name)}" for name in WORKER_DISTRIBUTIONS]


def backend_role(settings: Settings) -> str | None:
    """The S3 backend's ``assume_role`` (Terraform >= 1.6 attribute syntax) for the write role.

    Passed as a second ``-backend-config`` file so the state is read and written with the
    write role too (https://developer.hashicorp.com/terraform/language/backend/s3, "Assume
    Role Configuration"); None when no write role is set.
    """
    if not settings.write_role_arn:
        return None
    return (
        "assume_role = {\n"
        f"  role_arn     = {json.dumps(settings.write_role_arn)}\n"
        '  session_name = "locxia-terraform"\n'
        "}\n"
    )


def _same_kind(adoption: Adoption | None, want: Desired) -> Adoption | None:
    return adoption if adoption is not None and adoption.kind == want.spec.kind else None


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
