"""Drift: what AWS reports versus what Terraform last applied, recorded in ops.drift_findings.

Two sources, both recorded: ``describe`` (boto3 through the read role: class, storage,
multi-AZ, deletion protection, power state) and ``refresh`` (``terraform plan -refresh-only``:
``resource_drift`` of the JSON plan, i.e. what Terraform itself would notice). A finding stays
open (``resolved_at`` null) while it is seen, and is resolved the first time a check of that
instance no longer sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import psycopg

from infra import notify
from infra.aws import AwsClients
from infra.settings import Settings
from pipelines.shape import ec2, rds
from pipelines.shape.plan import Plan
from pipelines.shape.sizing import Observed


@dataclass(frozen=True)
class DriftFinding:
    """One attribute of one instance that differs."""

    instance: str
    kind: str
    attribute: str
    expected: str | None
    actual: str | None
    source: str = "describe"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def compare(name: str, want: Mapping[str, Any], seen: Observed) -> list[DriftFinding]:
    """Attributes of ``want`` (a tfvars entry) that AWS reports differently."""
    kind = str(want["kind"])
    if seen.state == "missing":
        return [DriftFinding(name, kind, "exists", "true", "false")]
    pairs: list[tuple[str, Any, Any]] = [
        ("state", want["state"], seen.state),
        ("instance_class", want["instance_class"], seen.instance_class),
    ]
    if kind == "rds":
        pairs += [
            ("storage_gb", want["storage_gb"], seen.storage_gb),
            ("multi_az", bool(want.get("multi_az")), seen.multi_az),
            ("protected", bool(want["protected"]), seen.protected),
            # params hold the major; AWS upgrades the minor by itself, which is no drift
            ("engine_version", want.get("engine_version"), rds.major(seen.engine_version)),
        ]
    return [
        DriftFinding(name, kind, attr, _text(exp), _text(act))
        for attr, exp, act in pairs
        if act is not None and _text(exp) != _text(act)
    ]


def observe(settings: Settings, expected: Mapping[str, Mapping[str, Any]]) -> dict[str, Observed]:
    """Describe every expected instance through the read role.

    Raises:
        AwsError: an API call failed.
    """
    clients = AwsClients(settings)
    names = {kind: [n for n, e in expected.items() if e["kind"] == kind] for kind in ("rds", "ec2")}
    seen: dict[str, Observed] = {}
    if names["rds"]:
        seen.update(rds.describe(clients.client("rds", role="read"), names["rds"]))
    if names["ec2"]:
        client = clients.client("ec2", role="read")
        seen.update(ec2.describe(client, names["ec2"], settings.tag_key, settings.tag_value))
    return seen


def describe_findings(
    settings: Settings,
    expected: Mapping[str, Mapping[str, Any]],
    seen: Mapping[str, Observed] | None = None,
) -> list[DriftFinding]:
    """Findings of the ``describe`` source for every expected instance.

    ``seen`` is what :func:`observe` returned, when the caller already described them.
    """
    seen = observe(settings, expected) if seen is None else seen
    return [f for name, want in sorted(expected.items()) for f in compare(name, want, seen[name])]


def refresh_findings(plan: Plan) -> list[DriftFinding]:
    """Findings of the ``refresh`` source: attributes ``resource_drift`` says changed."""
    out: list[DriftFinding] = []
    for change in plan.drift:
        if not change.primary or change.instance is None or change.kind is None:
            continue
        before = change.attributes("before") or {}
        after = change.attributes("after") or {}
        if not after and before:
            out.append(
                DriftFinding(change.instance, change.kind, "exists", "true", "false", "refresh")
            )
            continue
        for key in sorted(set(before) | set(after)):
            if key in ("tags_all", "latest_restorable_time", "status") or before.get(
                key
            ) == after.get(key):
                continue
            out.append(
                DriftFinding(
                    change.instance,
                    change.kind,
                    key,
                    _text(before.get(key)),
                    _text(after.get(key)),
                    "refresh",
                )
            )
    return out


class DriftCounts(TypedDict):
    """Findings still open after a check, opened by it, and resolved by it."""

    open: int
    new: int
    resolved: int


def record(
    conn: psycopg.Connection[Any],
    findings: Iterable[DriftFinding],
    *,
    checked: Iterable[str],
    source: str,
    terraform_run_id: int | None,
) -> DriftCounts:
    """Open new findings, refresh still-open ones, resolve those no longer seen.

    Returns:
        Counts: ``open`` (seen now), ``new``, ``resolved``.
    """
    seen = list(findings)
    new = 0
    for f in seen:
        cur = conn.execute(
            "UPDATE ops.drift_findings SET last_seen_at = clock_timestamp(), expected = %s,"
            " actual = %s WHERE instance = %s AND attribute = %s AND source = %s"
            " AND resolved_at IS NULL",
            (f.expected, f.actual, f.instance, f.attribute, f.source),
        )
        if cur.rowcount == 0:
            conn.execute(
                "INSERT INTO ops.drift_findings (instance, kind, attribute, expected, actual,"
                " source, terraform_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (f.instance, f.kind, f.attribute, f.expected, f.actual, f.source, terraform_run_id),
            )
            new += 1
        notify.emit(
            conn,
            "drift",
            f"{f.instance}/{f.attribute}/{f.source}",
            f"Drift on {f.instance}: {f.attribute}",
            f"{f.attribute} is {f.actual!r} on AWS; Terraform last applied {f.expected!r}"
            f" (seen by {f.source}).",
            {"instance": f.instance, "attribute": f.attribute, "expected": f.expected,
             "actual": f.actual, "source": f.source},
        )  # fmt: skip
    keep = [f"{f.instance}/{f.attribute}" for f in seen]  # names never contain "/"
    gone = conn.execute(
        "UPDATE ops.drift_findings SET resolved_at = clock_timestamp()"
        " WHERE resolved_at IS NULL AND source = %s AND instance = ANY(%s)"
        " AND NOT (instance || '/' || attribute = ANY(%s)) RETURNING instance, attribute",
        (source, list(checked), keep),
    ).fetchall()
    for instance, attribute in gone:
        notify.resolve(conn, "drift", f"{instance}/{attribute}/{source}")
    return {"open": len(seen), "new": new, "resolved": len(gone)}
