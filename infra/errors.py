"""The one tree of errors Locxia raises on purpose.

Third-party errors (botocore, psycopg, pyogrio, Terraform) are translated into these at the
boundary where they happen, with ``raise ... from exc`` so the cause survives for debugging.
Every message is written to stand alone on one line in front of a user: it says what failed
and, where it helps, what to do. The CLI turns them into exits in one place
(:mod:`infra.cli.errors`): exit 1 for every error here, exit 2 when a command's own argument
fails validation (an :class:`InputError` raised while parsing it); nothing else decides how an
error is shown.
"""

from __future__ import annotations


class LocxiaError(Exception):
    """Base of every error Locxia raises deliberately (shown as one line; exit 1 from the CLI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(LocxiaError):
    """A setting is missing, malformed or contradicts another one.

    Attributes:
        setting: the public name of the setting at fault (e.g. ``LOCXIA_AWS_REGION``), if any.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DatabaseError(LocxiaError):
    """PostgreSQL could not be reached or refused an operation Locxia needs."""


class MigrationError(DatabaseError):
    """A schema migration failed, or the applied history no longer matches the shipped files."""


class InputError(LocxiaError):
    """Input from a user (a parameter row, a flag, a file, a URI) is invalid.

    Attributes:
        where: where the bad value came from, e.g. ``params.instances[work-db].storage_gb``.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class AwsError(LocxiaError):
    """An AWS API call failed after retries.

    Attributes:
        service: botocore service name (``cloudwatch``, ``rds``...).
        operation: API operation (``GetMetricData``...).
        code: AWS error code (``ThrottlingException``, ``ExpiredToken``...) or a transport label.
    """

    def __init__(self, message: str, service: str, operation: str, code: str) -> None:
        super().__init__(message)
        self.service = service
        self.operation = operation
        self.code = code


class UnregisteredCall(AwsError):
    """A call absent from :mod:`infra.aws.registry` for the session's role, refused unsent.

    The registry is the list the role policies are tested against: a call missing from it
    would be an AccessDenied on AWS that no test saw coming.
    """

    def __init__(self, service: str, operation: str, role: str) -> None:
        super().__init__(
            f"{service}:{operation} with the {role} role is not in the registry of AWS calls"
            " (infra/aws/registry.py): register it with the IAM actions it needs",
            service,
            operation,
            "UnregisteredCall",
        )
        self.role = role


class JobError(LocxiaError):
    """A scheduled task is unknown, misconfigured or failed in a way the scheduler must record."""


class TerraformError(LocxiaError):
    """The Terraform core (or binary) failed to init, plan, show or apply."""


class TerraformLocked(TerraformError):
    """Terraform's state lock is held by another run; reported, never force-unlocked.

    Attributes:
        lock_id: the lock's ID as Terraform reports it (for a manual ``force-unlock``), if known.
    """

    def __init__(self, message: str, lock_id: str | None = None) -> None:
        super().__init__(message)
        self.lock_id = lock_id


class ReconcileBusy(LocxiaError):
    """Another reconcile (or drift check) holds the shape lock; this one did nothing."""


class PlanRejected(LocxiaError):
    """A guardrail refused a Terraform plan, and someone asked to apply it anyway.

    Raised by :meth:`pipelines.shape.reconcile.Reconciler.approve` for a run the guardrails
    rejected: a refusal is final, no approval overrides it. A reconcile that merely *reaches*
    a rejection does not raise: it records the run as ``rejected`` and returns its outcome.

    Attributes:
        addresses: the resource addresses the refusal is about.
        reason: why, in words a user can act on.
        run_id: the ``ops.terraform_runs`` id of the refused plan, if known.
    """

    def __init__(self, addresses: list[str], reason: str, run_id: int | None = None) -> None:
        what = "plan" if run_id is None else f"plan of terraform run {run_id}"
        super().__init__(f"{what} rejected: {reason} ({', '.join(addresses) or 'no address'})")
        self.addresses = addresses
        self.reason = reason
        self.run_id = run_id


class ApprovalRefused(LocxiaError):
    """The database refused to record an approval, or an apply found none recorded.

    Approvals are recorded by ``ops.approve_plan`` (migration 0053) for the login of the
    session: it needs the ``locxia_approver`` role and must not have changed an instance the
    plan changes. The message is final and names the run and the login; the CLI shows it as
    is (exit 1), not as a generic privilege error.
    """


class ClusterError(LocxiaError):
    """The Dask cluster cannot be reached, or did not gather the workers a run needs in time."""


class CapacityError(LocxiaError):
    """The capacity a run declared could not be raised: plan held or refused, or not in time.

    The window is restored before this reaches the run.
    """


class LayerError(LocxiaError):
    """A geospatial layer cannot move to its next zone (read, check, write or publish failed)."""


class GrafanaError(LocxiaError):
    """Grafana could not be reached, refused the credentials, or rejected a change.

    Attributes:
        status: the HTTP status Grafana answered (``None`` when it could not be reached).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DashboardError(LocxiaError):
    """A dashboard is invalid, its generated JSON is stale, or a panel fails against the data."""


class DemoError(LocxiaError):
    """The embedded demo cannot go on: a stand-in it needs is missing, or a step failed.

    A missing stand-in is reported before anything is written, with the one thing to install or
    fix; a failed step names the step, and the runs before it stay recorded in ``ops.runs``.
    """


class ReportError(LocxiaError):
    """The HTML report cannot be built, written, or rendered by the browser that checks it."""


class SourceError(LayerError):
    """A layer's source (file, URL, S3 object) cannot be fetched, or a zone cannot be written."""


class FormatError(LayerError):
    """A file cannot be read as a layer: broken archive, truncated file, unknown format, no layer.

    Attributes:
        layers: the layers found in the file, when the problem is which one to read.
    """

    def __init__(self, message: str, layers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.layers = layers


class QualityError(LayerError):
    """A layer failed its dataset's quality rules; it stays in its zone and nothing moves on.

    Attributes:
        failures: one line per failed rule (``crs: the layer has no CRS ...``).
        report: the whole quality report (JSON-able), also recorded on the version.
    """

    def __init__(self, dataset: str, failures: list[str], report: dict[str, object]) -> None:
        super().__init__(f"{dataset}: quality check failed: {'; '.join(failures)}")
        self.failures = failures
        self.report = report


class PublishError(LayerError):
    """Loading a layer into PostGIS or swapping it in failed; the live table is unchanged."""
