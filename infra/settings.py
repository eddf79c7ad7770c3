"""The one typed settings object: *how* Locxia runs (URLs, region, cadence of the service).

*What* Locxia does lives in the parameter tables, never here. This is the only module that
reads the environment. Sources, strongest first: explicit keyword arguments, ``LOCXIA_*``
environment variables, then a TOML file (``$LOCXIA_CONFIG`` or ``./locxia.toml``) whose keys
are the setting names without the prefix (``aws_region = "eu-west-3"``). Standard AWS
credential variables (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...) are left to boto3.

Invalid settings raise :class:`~infra.errors.ConfigError` naming the public variable, so a
service fails at start with one line instead of at 3 a.m. on its first AWS call.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from infra.errors import ConfigError

ENV_PREFIX = "LOCXIA_"
CONFIG_ENV = "LOCXIA_CONFIG"
_toml_path: ContextVar[Path | None] = ContextVar("_toml_path", default=None)

_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TAG = re.compile(r"^[\w .:/=+\-@]{1,128}$")
#: The mutual-TLS files of a tls:// Dask scheduler: all three, or none.
TLS_FILES = ("dask_tls_ca_file", "dask_tls_cert_file", "dask_tls_key_file")


def default_data_dir() -> Path:
    """Where Locxia keeps local data: ``$XDG_DATA_HOME/locxia`` or ``~/.local/share/locxia``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "locxia"


def _zone_default(zone: str) -> str:
    return (default_data_dir() / "zones" / zone).as_uri()


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region botocore knows, across the public, China and GovCloud partitions."""
    import botocore.session  # lazy: botocore's data loader is only needed for validation

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


class Settings(BaseSettings):
    """Runtime settings. Field ``x`` is read from ``LOCXIA_X`` or ``x`` in ``locxia.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", validate_default=True
    )

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL, e.g. postgresql://locxia@db:5432/locxia"
    )
    aws_region: str = Field(default="eu-west-3", description="AWS region of the platform")
    aws_endpoint_url: str | None = Field(
        default=None, description="Override for every AWS API (moto, LocalStack); unset on AWS"
    )
    read_role_arn: str | None = Field(
        default=None, description="IAM role assumed to observe (CloudWatch, tagging, CE)"
    )
    write_role_arn: str | None = Field(
        default=None,
        description="IAM role assumed to shape (create/modify/delete); Terraform's S3 backend"
        " and AWS provider assume it too",
    )
    feed_role_arn: str | None = Field(
        default=None, description="IAM role assumed to read and write the zone buckets (feed)"
    )
    tag_key: str = Field(default="project", description="Tag key marking Locxia resources")
    tag_value: str = Field(default="locxia", description="Tag value marking Locxia resources")
    landing_uri: str = Field(default_factory=lambda: _zone_default("landing"))
    working_uri: str = Field(default_factory=lambda: _zone_default("working"))
    exposure_uri: str = Field(default_factory=lambda: _zone_default("exposure"))
    layers_batch_rows: int = Field(
        default=32_768,
        ge=1_024,
        le=1_048_576,
        description="Rows per Arrow batch when refining/publishing layers (bounds memory)",
    )
    layers_tmp_dir: Path | None = Field(
        default=None, description="Scratch space for layer downloads and sort spills"
    )
    layers_http_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Timeout of one HTTP read when fetching a layer"
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of an existing Dask scheduler (tls://host:8786, or tcp:// on"
        " loopback); unset, an embedded local cluster on 127.0.0.1 runs the partitioned work",
    )
    # Mutual TLS to a tls:// scheduler (infra/cluster.py, decision 96): task payloads carry the
    # settings, database password included, so a remote scheduler is reached encrypted or, on
    # a private network the operator vouches for, in plain text by explicit opt-in only.
    dask_tls_ca_file: Path | None = Field(
        default=None,
        description="PEM CA certificate(s) the Dask scheduler's certificate must chain to",
    )
    dask_tls_cert_file: Path | None = Field(
        default=None, description="PEM client certificate presented to the Dask scheduler"
    )
    dask_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of LOCXIA_DASK_TLS_CERT_FILE"
    )
    dask_allow_plaintext: bool = Field(
        default=False,
        description="Allow a tcp:// Dask scheduler that is not on loopback (a private network"
        " you vouch for): task payloads then carry the database credentials unencrypted",
    )
    dask_local_workers: int = Field(
        default=2, ge=1, le=64, description="Worker processes of the embedded local cluster"
    )
    dask_min_rows: int = Field(
        default=2_000_000,
        ge=0,
        description="Layers with at least this many rows are refined and published as"
        " partitioned work on the Dask cluster; smaller ones stay in process",
    )
    dask_partition_rows: int = Field(
        default=500_000,
        ge=10_000,
        description="Rows per partition of the partitioned work (bounds a worker's memory)",
    )
    capacity_wait_seconds: float = Field(
        default=900.0,
        gt=0,
        description="How long a run waits for the capacity it declared (plan approval,"
        " instances running, Dask workers joined) before it fails and restores",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    misfire_grace_seconds: int = Field(
        default=300, ge=1, description="How late a scheduled run may start and still run"
    )
    replan_seconds: float = Field(
        default=60.0, gt=0, description="Re-read the parameter tables at least this often"
    )
    leader_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often a standby tries to become leader"
    )
    job_workers: int = Field(default=4, ge=1, le=64, description="Jobs run at once")
    run_heartbeat_seconds: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="How often a running run proves it is alive; 3 missed beats mark it"
        " interrupted (same value on every host)",
    )
    # 30 s is Kubernetes' default terminationGracePeriodSeconds (pod lifecycle docs, "Termination
    # of Pods"); systemd waits TimeoutStopSec (90 s by default, systemd-system.conf
    # DefaultTimeoutStopSec) before SIGKILL: keep that above this grace.
    stop_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="On SIGTERM/SIGINT, how long serve waits for running jobs before it exits",
    )
    runs_retention_days: int = Field(default=90, ge=1, description="Keep ops.runs this long")
    metrics_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Keep metrics.datapoints partitions this long"
    )
    cost_reread_days: int = Field(
        default=14, ge=1, le=90, description="Cost Explorer days re-read on every costs run"
    )
    # pipelines/observe/costs/explorer.py says which RECORD_TYPEs each basis keeps (decision 73)
    cost_basis: Literal["usage", "net-amortized"] = Field(
        default="usage",
        description="Cost Explorer basis: usage (UnblendedCost of RECORD_TYPE Usage only) or"
        " net-amortized (NetAmortizedCost, credits, refunds, tax and fees netted as AWS does)",
    )
    # pipelines/observe/costs/baseline.py says how the score is computed (decision 81)
    anomaly_score: float = Field(
        default=5.0,
        ge=2.0,
        le=50.0,
        description="Cost anomaly: a day's rise above its weekday-aware 28-day median, in"
        " robust standard deviations (1.4826 x MAD), from which the day is an anomaly",
    )
    anomaly_floor_usd: float = Field(
        default=1.0,
        ge=0.0,
        description="Cost anomaly: smallest rise (USD per day) ever reported, against noise",
    )
    metric_streams_uri: str | None = Field(
        default=None, description="s3://bucket/prefix where Firehose delivers Metric Streams"
    )
    metric_stream_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
        description="The CloudWatch metric stream writing there: its output format is checked",
    )
    # pipelines/observe/costs/dataexports.py: <prefix>/<export-name> of an AWS Data Exports
    # export of the FOCUS 1.2 table, Parquet, delivered to S3 (decision 80)
    focus_export_uri: str | None = Field(
        default=None,
        description="s3://bucket/prefix/export-name of an AWS Data Exports FOCUS 1.2 export"
        " (Parquet): actual resource costs replace estimates for the hours it covers",
    )
    demo_dir: Path | None = Field(
        default=None, description="Where `locxia demo` keeps its own PostgreSQL cluster"
    )
    grafana_url: str = Field(
        default="http://127.0.0.1:3000",
        description="Grafana for `locxia dashboards push` (http://user:password@host allowed)",
    )
    grafana_token: str | None = Field(
        default=None, description="Grafana service account token (wins over URL credentials)"
    )
    grafana_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL Grafana's datasource logs in with (a locxia_grafana member)",
    )
    grafana_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Timeout of each Grafana API call"
    )
    terraform_dir: Path | None = Field(
        default=None, description="Root module Locxia plans and applies (terraform/live)"
    )
    terraform_binary: str | None = Field(
        default=None,
        description="A terraform/tofu executable to use instead of the embedded Terraform core",
    )
    terraform_backend_config: Path | None = Field(
        default=None, description="File passed to `terraform init -backend-config=` (S3 backend)"
    )
    terraform_lock_timeout_seconds: int = Field(
        default=60, ge=0, le=3600, description="How long to wait for Terraform's state lock"
    )
    shape_max_changes: int = Field(
        default=5, ge=1, description="Instances one run may change before it needs approval"
    )
    shape_auto_apply_usd: float = Field(
        default=500.0,
        ge=0,
        description="Monthly cost increase (USD) above which a plan waits for approval",
    )
    reconcile_seconds: int = Field(
        default=30, ge=5, description="How often the reconcile job compares rows with the last run"
    )
    shape_power_wait_seconds: int = Field(
        default=1800,
        ge=0,
        le=14400,
        description="How long an apply waits for a stopped database it modifies to start",
    )
    drift_check_seconds: int = Field(
        default=3600, ge=60, description="How often the drift check describes the instances"
    )
    # Notifications (infra/notify.py): where they go is data (params.notification_rules);
    # how to reach the mail server and the secrets of webhook URLs are settings.
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail rules")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port (587: submission)")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before logging in"
    )
    smtp_user: str | None = Field(default=None, description="SMTP login (none: no AUTH)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_from: str = Field(
        default="locxia@localhost",
        pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$",
        description="From address of notification e-mails",
    )
    notify_webhooks: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Webhook URLs by name, as JSON ({"ops": "https://hooks..."}); a rule\'s'
        " target setting:ops uses one, so a URL's token stays out of tables and logs",
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of one webhook call or SMTP session"
    )
    notify_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts of one delivery before it is given up"
    )
    notify_failures_in_a_row: int = Field(
        default=3, ge=1, le=100, description="Failed runs of a job in a row that notify"
    )
    # The cost of a run (infra/runcost.py) prices its time on these unless params.job_compute
    # declares the job's own host and database; both are looked up in costs.prices.
    run_host_type: str = Field(
        default="t3.medium",
        pattern=r"^[a-z0-9][a-z0-9-]*\.[a-z0-9]+$",
        description="EC2 instance type the service runs on (prices each run's compute share)",
    )
    run_database_class: str | None = Field(
        default=None,
        pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$",
        description="RDS class of the database runs load, priced per run (unset: not counted)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: keyword arguments, then environment, then the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("database_url", "grafana_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.path):
            raise ValueError("expected postgresql://[user[:password]@]host[:port]/dbname")
        try:
            parts.port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value

    @field_validator("grafana_url")
    @classmethod
    def _check_grafana_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected http(s)://host:port of Grafana")
        try:
            parts.port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError as exc:
            raise ValueError("bad port in the Grafana URL") from exc
        return value.rstrip("/")

    @field_validator("aws_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if value not in known_regions():
            raise ValueError(f"{value!r} is not an AWS region (e.g. eu-west-3)")
        return value

    @field_validator("aws_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("metric_streams_uri", "focus_export_uri")
    @classmethod
    def _check_streams_uri(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme != "s3" or not _BUCKET.match(parts.netloc):
            raise ValueError(f"{value!r}: expected s3://bucket/prefix")
        return value.rstrip("/")

    @field_validator("read_role_arn", "write_role_arn", "feed_role_arn")
    @classmethod
    def _check_arn(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _ARN.match(value):
            raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/..)")
        return value

    @field_validator("terraform_binary")
    @classmethod
    def _check_binary(cls, value: str | None) -> str | None:
        if not value:
            return None
        import shutil

        if shutil.which(value) is None:
            raise ValueError(f"{value!r} is not an executable on PATH (terraform or tofu)")
        return value

    @field_validator("terraform_dir", "terraform_backend_config")
    @classmethod
    def _check_exists(cls, value: Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        if not value.exists():
            raise ValueError(f"{value} does not exist")
        return value.resolve()

    @field_validator("dask_tls_ca_file", "dask_tls_cert_file", "dask_tls_key_file")
    @classmethod
    def _check_readable(cls, value: Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        if not value.is_file():
            raise ValueError(f"{value} is not a file")
        if not os.access(value, os.R_OK):
            raise ValueError(f"{value} is not readable by this user")
        return value.resolve()

    @field_validator("dask_tls_key_file")
    @classmethod
    def _check_tls_together(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Declared after the CA and the certificate, so info.data holds them (None when unset;
        # absent when they failed their own check, which is then the error reported first).
        given = {
            name: info.data.get(name, True) if name != "dask_tls_key_file" else value
            for name in TLS_FILES
        }
        missing = [name for name, v in given.items() if v is None]
        if missing and len(missing) < len(TLS_FILES):
            names = ", ".join(ENV_PREFIX + name.upper() for name in missing)
            raise ValueError(
                "the Dask TLS CA, certificate and key files go together (mutual TLS):"
                f" {names} not set"
            )
        return value

    @field_validator("tag_key", "tag_value")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError(f"{value!r} is not a valid AWS tag key/value")
        return value

    @field_validator("landing_uri", "working_uri", "exposure_uri")
    @classmethod
    def _check_zone_uri(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "s3":
            if not _BUCKET.match(parts.netloc):
                raise ValueError(f"{value!r}: {parts.netloc!r} is not a valid S3 bucket name")
        elif parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError(f"{value!r}: file URIs must be absolute (file:///path)")
        else:
            raise ValueError(f"{value!r}: expected s3://bucket/prefix or file:///path")
        return value.rstrip("/")

    def require_database_url(self) -> str:
        """Return the database URL, or fail with the one line a user needs to fix it.

        Raises:
            ConfigError: when ``LOCXIA_DATABASE_URL`` is not set.
        """
        if not self.database_url:
            raise ConfigError(
                "LOCXIA_DATABASE_URL is not set (e.g. postgresql://locxia@localhost:5432/locxia)",
                setting="LOCXIA_DATABASE_URL",
            )
        return self.database_url


def _config_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist", setting=CONFIG_ENV)
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return _config_path(Path(from_env))
    local = Path("locxia.toml")
    return local if local.is_file() else None


def _check_toml_keys(path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read TOML ({exc})", setting=CONFIG_ENV) from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}", setting=CONFIG_ENV)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings; the single entry point for the whole program.

    Args:
        config_file: a TOML file; defaults to ``$LOCXIA_CONFIG`` then ``./locxia.toml``.
        **overrides: values that win over every other source (used by tests and the demo).

    Raises:
        ConfigError: on the first invalid setting, naming its ``LOCXIA_*`` variable.
    """
    path = _config_path(config_file)
    if path is not None:
        _check_toml_keys(path)
    token = _toml_path.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = str(first["msg"]).removeprefix("Value error, ")
        variable = ENV_PREFIX + field.upper()
        raise ConfigError(f"invalid setting {variable}: {message}", setting=variable) from exc
    finally:
        _toml_path.reset(token)
