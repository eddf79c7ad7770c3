"""AWS sessions and clients, and botocore errors translated into :class:`AwsError`, once.

Production code reaches AWS only through :class:`AwsClients`: the endpoint override (moto,
LocalStack), the region, the retry policy and the role to assume all come from settings, so a
test against a moto server exercises exactly the production path.

Three roles, by design (see ``terraform/modules/access_roles``): ``read`` observes (CloudWatch,
tagging, Cost Explorer, describe), ``write`` shapes (create/modify/delete) and ``feed`` moves
layers between the zone buckets. When no role ARN is set, the caller's own credentials are used.
Every call a session makes must be in :mod:`infra.aws.registry` for the session's role: an
unregistered call is refused before it is sent (:class:`~infra.errors.UnregisteredCall`).

:meth:`AwsClients.client` returns each service's client under its ``boto3-stubs`` type
(``CloudWatchClient``, ``CostExplorerClient``...), so mypy checks every call and every
response key. The stubs are a development dependency: they are imported for type checking
only, never at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

from infra.aws.registry import Role, registered
from infra.errors import AwsError, UnregisteredCall
from infra.settings import Settings

if TYPE_CHECKING:
    import botocore.session
    from boto3.session import Session
    from botocore.config import Config
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_pricing import PricingClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

#: The services Locxia calls; :meth:`AwsClients.client` has a typed overload for each.
Service = Literal[
    "ce", "cloudwatch", "ec2", "pricing", "rds", "resourcegroupstaggingapi", "s3", "ssm", "sts"
]

# Throttling is normal under load: the "standard" retry mode backs off exponentially with
# jitter on ThrottlingException, TooManyRequests, 5xx and transient connection errors.
MAX_ATTEMPTS = 8

_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "RequestExpired",
}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}


def epoch_seconds(value: Any) -> float:
    """Botocore timestamp parser returning POSIX seconds (see ``AwsClients(epoch_timestamps)``).

    Accepts what the wire carries: epoch numbers (JSON, CBOR) or ISO 8601 / RFC 822 text
    (query, XML protocols).
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        from botocore.utils import parse_timestamp

        return float(parse_timestamp(value).timestamp())


class AwsClients:
    """Factory of boto3 clients configured from settings, one cached session per role.

    Args:
        settings: endpoint, region and roles.
        epoch_timestamps: parse response timestamps into POSIX seconds (floats) instead of
            datetimes. botocore builds each datetime with a fresh ``tzlocal()``, about 20 µs
            per value: 20 s of CPU per million CloudWatch datapoints. The metrics collector
            asks for floats; everything else keeps datetimes.
    """

    def __init__(self, settings: Settings, *, epoch_timestamps: bool = False) -> None:
        self._settings = settings
        self._sessions: dict[Role, Session] = {}
        self._epoch = epoch_timestamps
        self.retries: dict[str, int] = {}
        """HTTP attempts botocore's retry handler repeated, by ``service:Operation``, over every
        client of this factory (see :meth:`_count_retries`); the callers' own call counters
        see one call whatever the attempts."""

    @property
    def retry_count(self) -> int:
        """Every retried attempt of every client of this factory so far."""
        return sum(self.retries.values())

    def _count_retries(self, request: Any, event_name: str = "", **_: Any) -> None:
        """``request-created`` handler: an attempt after the first of one call is a retry.

        botocore builds a new request for every attempt and, before each, sets the shared
        request context's ``retries.attempt`` (1 for the first); the handler sees throttled,
        5xx and connection-error retries alike, whether the call succeeds in the end or not
        (``ResponseMetadata.RetryAttempts`` exists only on a success).
        """
        context = getattr(request, "context", None) or {}
        if int((context.get("retries") or {}).get("attempt", 1)) > 1:
            # request-created.<service id>.<Operation>
            parts = [*event_name.split(".", 2), "", ""]
            key = f"{parts[1]}:{parts[2]}"
            self.retries[key] = self.retries.get(key, 0) + 1

    def _config(self, max_attempts: int = MAX_ATTEMPTS) -> Config:
        from botocore.config import Config

        return Config(
            region_name=self._settings.aws_region,
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="locxia-orchestrator",
        )

    def session(self, role: Role = "read") -> Session:
        """The boto3 session for ``role``, assuming the configured role ARN if any.

        Every call of its clients passes the registry check (:meth:`_registry_check`) first.
        """
        if role not in self._sessions:
            session = self._build_session(role)
            session.events.register("request-created", self._count_retries)
            session.events.register("before-parameter-build", self._registry_check(role))
            self._sessions[role] = session
        return self._sessions[role]

    def _registry_check(self, role: Role) -> Callable[..., None]:
        """A ``before-parameter-build`` handler refusing calls absent from the registry."""
        stand_in = bool(self._settings.aws_endpoint_url)

        def check(model: Any, **_: Any) -> None:
            service = model.service_model.service_name
            if not registered(service, model.name, role, stand_in=stand_in):
                raise UnregisteredCall(service, model.name, role)

        return check

    def _build_session(self, role: Role) -> Session:
        import boto3

        region = self._settings.aws_region
        arn = {
            "read": self._settings.read_role_arn,
            "write": self._settings.write_role_arn,
            "feed": self._settings.feed_role_arn,
        }[role]
        if not arn:
            return boto3.Session(botocore_session=self._core(), region_name=region)
        # the STS calls keep botocore's datetimes: the credential refresher reads them
        return self._assumed_session(boto3.Session(region_name=region), arn, role)

    def _core(self) -> botocore.session.Session:
        """A botocore session, with the epoch timestamp parser when asked for."""
        import botocore.session
        from botocore.parsers import ResponseParserFactory

        core = botocore.session.Session()
        if self._epoch:
            factory = ResponseParserFactory()
            factory.set_parser_defaults(timestamp_parser=epoch_seconds)
            core.register_component("response_parser_factory", factory)
        return core

    def _assumed_session(self, base: Session, arn: str, role: Role) -> Session:
        """A session whose credentials come from ``sts:AssumeRole`` and refresh themselves."""
        import boto3
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            DeferredRefreshableCredentials,
        )

        endpoint = self._settings.aws_endpoint_url

        def create_client(service: str, **kwargs: Any) -> Any:
            if endpoint:
                kwargs.setdefault("endpoint_url", endpoint)
            return base._session.create_client(service, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_client,
            source_credentials=base.get_credentials(),
            role_arn=arn,
            extra_args={"RoleSessionName": f"locxia-{role}"},
        )
        core = self._core()
        # botocore's documented recipe for refreshable assumed-role credentials sets the
        # session's private credential slot; there is no public setter for a refresher (nor
        # a declaration of the slot in the stubs).
        core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        return boto3.Session(botocore_session=core, region_name=self._settings.aws_region)

    @overload
    def client(
        self,
        service: Literal["ce"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> CostExplorerClient: ...
    @overload
    def client(
        self,
        service: Literal["cloudwatch"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> CloudWatchClient: ...
    @overload
    def client(
        self,
        service: Literal["ec2"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> EC2Client: ...
    @overload
    def client(
        self,
        service: Literal["pricing"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> PricingClient: ...
    @overload
    def client(
        self,
        service: Literal["rds"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> RDSClient: ...
    @overload
    def client(
        self,
        service: Literal["resourcegroupstaggingapi"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> ResourceGroupsTaggingAPIClient: ...
    @overload
    def client(
        self,
        service: Literal["s3"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> S3Client: ...
    @overload
    def client(
        self,
        service: Literal["ssm"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> SSMClient: ...
    @overload
    def client(
        self,
        service: Literal["sts"],
        *,
        role: Role = ...,
        region: str | None = ...,
        max_attempts: int = ...,
    ) -> STSClient: ...
    def client(
        self,
        service: Service,
        *,
        role: Role = "read",
        region: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> Any:
        """A boto3 client for ``service`` through the endpoint and role from settings.

        Args:
            service: botocore service name; the overloads give its ``boto3-stubs`` type.
            role: ``read`` to observe, ``write`` to shape, ``feed`` for the zone buckets.
            region: another region than the settings' (the Pricing API lives in us-east-1).
            max_attempts: attempts including retries (fewer for optional, best-effort APIs).
        """
        kwargs: dict[str, Any] = {"config": self._config(max_attempts)}
        if region:
            kwargs["region_name"] = region
        if self._settings.aws_endpoint_url:
            kwargs["endpoint_url"] = self._settings.aws_endpoint_url
        # one call for every service: the per-service overloads above carry the types
        create: Callable[..., Any] = self.session(role).client
        client = create(service, **kwargs)
        # the run being executed counts this client's requests toward its cost (infra/runcost.py)
        from infra.runcost import METER

        meter = METER.get()
        if meter is not None:
            meter.attach(client)
        return client


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def _embedded_error(status: str, msg: str) -> tuple[str, str]:
    """The AWS error code and message inside a body botocore could not parse, else the status.

    Some proxies and emulators answer a JSON-protocol call with an XML error document; botocore
    then reports only the HTTP status and the raw body.
    """
    code = _XML_CODE.search(msg)
    if code is None:
        return status, msg
    text = _XML_MESSAGE.search(msg)
    return code.group(1), text.group(1) if text else ""


def translate(exc: Exception, service: str, operation: str) -> AwsError:
    """Turn a botocore exception into an :class:`AwsError` with a one-line, actionable message."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    where = f"{service}:{operation}"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(
            err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        )
        msg = " ".join(str(err.get("Message") or "").split())
        if code.isdigit():
            code, msg = _embedded_error(code, msg)
        if code in _CREDENTIAL_CODES:
            hint = "refresh or fix the AWS credentials (AWS_PROFILE, aws sso login)"
            return AwsError(
                f"AWS rejected the credentials for {where} ({code}): {hint}",
                service,
                operation,
                code,
            )
        if code in _DENIED_CODES:
            hint = "check the IAM policy of the role in LOCXIA_READ/WRITE/FEED_ROLE_ARN"
            return AwsError(f"AWS denied {where} ({code}): {msg or hint}", service, operation, code)
        return AwsError(f"AWS {where} failed ({code}): {msg}", service, operation, code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"no AWS credentials for {where}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run on an instance role",
            service,
            operation,
            "NoCredentials",
        )
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"cannot reach the AWS endpoint for {where}: {exc}",
            service,
            operation,
            "EndpointConnectionError",
        )
    if isinstance(exc, NoRegionError):
        return AwsError(
            f"no region for {where}: set LOCXIA_AWS_REGION", service, operation, "NoRegion"
        )
    return AwsError(
        f"AWS {where} failed: {type(exc).__name__}: {exc}", service, operation, type(exc).__name__
    )


@contextmanager
def aws_errors(service: str, operation: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into :class:`AwsError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, service, operation) from exc
