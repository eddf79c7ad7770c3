"""Instances as the orchestrator understands them: validated rows and the desired state now.

``params.instances`` rows (from the database or typed on the command line) are parsed into a
frozen :class:`InstanceSpec` before anything touches Terraform or AWS; every error names where
it came from (``params.instances[work-db].storage_gb: ...``). :func:`effective` applies the
schedule windows at a given time and gives the :class:`Desired` state Terraform must reach.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from infra.errors import InputError
from infra.names import required_name
from pipelines.shape import storage
from pipelines.shape.schedule import Window, open_window, parse_schedule, zone
from pipelines.shape.windows import Span, check_apart, parse_backup, parse_maintenance

Kind = Literal["rds", "ec2"]
State = Literal["present", "stopped", "absent"]
Purpose = Literal["general", "dask-worker"]

PURPOSES: tuple[str, ...] = ("general", "dask-worker")
#: The tag Terraform puts on a Dask worker instance (``terraform/live``): the guardrails read it
#: on the instance as it exists, so a person cannot set it on a row's own tags.
PURPOSE_TAG = "locxia:purpose"
DASK_WORKER = "dask-worker"

NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
CLASS = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+){1,2}$")
# The MAJOR version only: RDS upgrades minors itself (auto_minor_version_upgrade) and refuses to
# "downgrade" to a pinned minor afterwards; with a major-only engine_version the AWS provider
# lets AWS pick and upgrade the minor without a diff (terraform-provider-aws docs,
# aws_db_instance engine_version: "if known, [...] only the major version [...] the provider
# will ignore minor version differences"; RDS User Guide, "Automatically upgrading the minor
# engine version").
ENGINE_VERSION = re.compile(r"^[0-9]{1,2}$")
_MINOR = re.compile(r"^([0-9]{1,2})\.[0-9.]+$")
TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
ENGINES = ("postgres",)
STORAGE_TYPES = storage.TYPES
MAX_STORAGE_GB = 65536
MIN_STORAGE_GB = {"rds": 20, "ec2": 8}

#: Columns a person edits (the others are kept by the database).
EDITABLE = (
    "kind",
    "state",
    "instance_class",
    "storage_gb",
    "storage_type",
    "iops",
    "throughput",
    "engine",
    "engine_version",
    "multi_az",
    "protected",
    "tags",
    "timezone",
    "schedule",
    "maintenance_window",
    "backup_window",
    "note",
    "purpose",
)


def instance_name(value: Any, origin: str = "params.instances") -> str:
    """Return ``value`` if it is a valid instance name (it becomes a Terraform key and a tag).

    Raises:
        InputError: empty or blank; not 2–40 of a-z 0-9 -, starting with a letter, with no
            ``--``.
    """
    required_name(value, "instance name", origin)
    if not isinstance(value, str) or not NAME.match(value) or "--" in value:
        raise InputError(
            f"invalid name {value!r}: 2–40 of a-z 0-9 -, starting with a letter, no '--'", origin
        )
    return value


def where(name: str, column: str | None = None) -> str:
    """``params.instances[name].column``: the prefix of every message about a row."""
    return f"params.instances[{name}]" + (f".{column}" if column else "")


@dataclass(frozen=True)
class InstanceSpec:
    """One validated ``params.instances`` row (shape only; catalog checks are separate)."""

    name: str
    kind: Kind
    state: State
    instance_class: str
    storage_gb: int
    storage_type: str = "gp3"
    iops: int | None = None
    throughput: int | None = None
    engine: str | None = None
    engine_version: str | None = None
    multi_az: bool = False
    protected: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    timezone: str = "Europe/Paris"
    schedule: tuple[Window, ...] = ()
    raw_schedule: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)
    storage_changed_at: datetime | None = None
    note: str | None = None
    maintenance_window: Span | None = None
    backup_window: Span | None = None
    purpose: Purpose = "general"

    @property
    def dask_worker(self) -> bool:
        """An EC2 instance whose user data starts a Dask worker (no data, never protected)."""
        return self.purpose == DASK_WORKER

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> InstanceSpec:
        """Validate a row (a mapping of column → value, JSON already decoded).

        Raises:
            InputError: the first invalid column, named.
        """
        name = instance_name(row.get("name"))
        kind = _choice(row.get("kind"), ("rds", "ec2"), name, "kind")
        state = _choice(
            row.get("state", "present"), ("present", "stopped", "absent"), name, "state"
        )
        klass = row.get("instance_class")
        if not isinstance(klass, str) or not CLASS.match(klass):
            raise InputError(f"invalid class {klass!r}", where(name, "instance_class"))
        if (kind == "rds") != klass.startswith("db."):
            hint = "RDS classes start with db." if kind == "rds" else "EC2 types have no db."
            raise InputError(f"{klass!r} does not fit kind {kind} ({hint})", where(name, "kind"))
        storage_gb = _storage(row.get("storage_gb"), kind, name)
        storage_type = _choice(row.get("storage_type", "gp3"), STORAGE_TYPES, name, "storage_type")
        iops = _optional_int(row.get("iops"), name, "iops")
        throughput = _optional_int(row.get("throughput"), name, "throughput")
        refused = storage.problem(kind, storage_type, storage_gb, iops, throughput)
        if refused is not None:
            raise InputError(refused[1], where(name, refused[0]))
        engine, version, multi_az = _engine(row, kind, name)
        protected = _bool(row.get("protected", False), name, "protected")
        purpose = _purpose(row.get("purpose") or "general", kind, protected, name)
        if protected and state == "absent":
            raise InputError(
                "a protected instance is never absent (set protected=false first, knowingly)",
                where(name, "state"),
            )
        tz = row.get("timezone") or "Europe/Paris"
        zone(str(tz), where(name, "timezone"))
        raw_schedule = row.get("schedule") or []
        windows = parse_schedule(raw_schedule, where(name, "schedule"))
        for window in windows:
            if window.instance_class is not None and (
                not CLASS.match(window.instance_class)
                or (kind == "rds") != window.instance_class.startswith("db.")
            ):
                raise InputError(
                    f"window class {window.instance_class!r} does not fit kind {kind}",
                    where(name, "schedule"),
                )
        maintenance, backup = _windows(row, kind, name)
        return cls(
            name=name,
            kind=kind,  # type: ignore[arg-type]
            state=state,  # type: ignore[arg-type]
            instance_class=klass,
            storage_gb=storage_gb,
            storage_type=storage_type,
            iops=iops,
            throughput=throughput,
            engine=engine,
            engine_version=version,
            multi_az=multi_az,
            protected=protected,
            tags=_tags(row.get("tags"), name),
            timezone=str(tz),
            schedule=windows,
            raw_schedule=tuple(raw_schedule),
            storage_changed_at=row.get("storage_changed_at"),
            note=row.get("note"),
            maintenance_window=maintenance,
            backup_window=backup,
            purpose=purpose,  # type: ignore[arg-type]
        )

    def row(self) -> dict[str, Any]:
        """The editable columns as the database stores them."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "instance_class": self.instance_class,
            "storage_gb": self.storage_gb,
            "storage_type": self.storage_type,
            "iops": self.iops,
            "throughput": self.throughput,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "multi_az": self.multi_az,
            "protected": self.protected,
            "tags": dict(self.tags),
            "timezone": self.timezone,
            "schedule": [dict(w) for w in self.raw_schedule],
            "maintenance_window": self.maintenance_window and self.maintenance_window.text,
            "backup_window": self.backup_window and self.backup_window.text,
            "note": self.note,
            "purpose": self.purpose,
        }


@dataclass(frozen=True)
class Desired:
    """What Terraform must reach for one instance now (schedule windows applied)."""

    spec: InstanceSpec
    state: State
    instance_class: str
    window: str | None = None

    @property
    def name(self) -> str:
        """The instance name (the key everywhere: tfvars, plan addresses, drift)."""
        return self.spec.name


def effective(spec: InstanceSpec, now: datetime) -> Desired:
    """Apply the window open at ``now``; ``absent`` always wins over a window."""
    if spec.state == "absent":
        return Desired(spec, "absent", spec.instance_class)
    window = open_window(spec.schedule, zone(spec.timezone, where(spec.name)), now)
    if window is None:
        return Desired(spec, spec.state, spec.instance_class)
    return Desired(
        spec,
        window.state or spec.state,
        window.instance_class or spec.instance_class,
        window.label,
    )


def _choice(value: Any, allowed: tuple[str, ...], name: str, column: str) -> str:
    if value not in allowed:
        raise InputError(f"{value!r}: expected one of {', '.join(allowed)}", where(name, column))
    return str(value)


def _purpose(value: Any, kind: str, protected: bool, name: str) -> str:
    """A valid purpose: Dask workers are EC2 (as migration 0073 checks) and never protected.

    A worker holds no data and lives for a run (capacity windows add and remove it): protecting
    it would keep paid capacity nobody can remove without editing the row first.
    """
    purpose = _choice(value, PURPOSES, name, "purpose")
    if purpose == DASK_WORKER and kind != "ec2":
        raise InputError("a Dask worker is an EC2 instance (kind ec2)", where(name, "purpose"))
    if purpose == DASK_WORKER and protected:
        raise InputError(
            "a Dask worker holds no data and is never protected", where(name, "protected")
        )
    return purpose


def _bool(value: Any, name: str, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    raise InputError(f"{value!r}: expected true or false", where(name, column))


def _storage(value: Any, kind: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{value!r}: expected a whole number of GB", where(name, "storage_gb"))
    try:
        gb = int(value)
    except ValueError as exc:
        raise InputError(
            f"{value!r}: expected a whole number of GB", where(name, "storage_gb")
        ) from exc
    low = MIN_STORAGE_GB[kind]
    if not low <= gb <= MAX_STORAGE_GB:
        raise InputError(
            f"{gb} GB is outside {low}–{MAX_STORAGE_GB} GB for {kind}", where(name, "storage_gb")
        )
    return gb


def _engine(row: Mapping[str, Any], kind: str, name: str) -> tuple[str | None, str | None, bool]:
    engine, version = row.get("engine"), row.get("engine_version")
    multi_az = _bool(row.get("multi_az", False), name, "multi_az")
    if kind == "ec2":
        if engine is not None or version is not None or multi_az:
            raise InputError("engine, engine_version and multi_az are for RDS only", where(name))
        return None, None, False
    if engine not in ENGINES:
        raise InputError(
            f"unknown engine {engine!r} (supported: {', '.join(ENGINES)})", where(name, "engine")
        )
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    minor = _MINOR.match(version) if isinstance(version, str) else None
    if minor is not None:
        raise InputError(
            f"{version!r}: give the major version only ({minor.group(1)}); RDS upgrades the"
            " minor itself and refuses a downgrade to a pinned one",
            where(name, "engine_version"),
        )
    if not isinstance(version, str) or not ENGINE_VERSION.match(version):
        raise InputError(
            f"invalid engine version {version!r} (the major version, e.g. 16)",
            where(name, "engine_version"),
        )
    return str(engine), version, multi_az


def _optional_int(value: Any, name: str, column: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{value!r}: expected a whole number or nothing", where(name, column))
    try:
        number = int(value)
    except ValueError as exc:
        raise InputError(
            f"{value!r}: expected a whole number or nothing", where(name, column)
        ) from exc
    if number <= 0:
        raise InputError(f"{number}: expected a positive number", where(name, column))
    return number


def _windows(row: Mapping[str, Any], kind: str, name: str) -> tuple[Span | None, Span | None]:
    maintenance = parse_maintenance(
        row.get("maintenance_window"), where(name, "maintenance_window")
    )
    backup = parse_backup(row.get("backup_window"), where(name, "backup_window"))
    if backup is not None and kind != "rds":
        raise InputError("a backup window is for RDS only", where(name, "backup_window"))
    check_apart(maintenance, backup, where(name, "backup_window"))
    return maintenance, backup


def _tags(value: Any, name: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise InputError(f"tags must be a JSON object, got {value!r}", where(name, "tags"))
    out = []
    for key, val in sorted(value.items()):
        if not isinstance(key, str) or not TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise InputError(f"invalid tag key {key!r}", where(name, "tags"))
        if key.lower() == PURPOSE_TAG:
            raise InputError(
                f"tag {key} is set from the purpose column, not by hand", where(name, "tags")
            )
        if not isinstance(val, str) or not TAG_VALUE.match(val):
            raise InputError(f"tag {key}: invalid value {val!r}", where(name, "tags"))
        out.append((key, val))
    return tuple(out)
