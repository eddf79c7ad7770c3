"""AWS for the whole product: sessions and clients per role, the one registry of AWS calls.

:mod:`infra.aws.clients` builds clients from settings and translates botocore errors once;
:mod:`infra.aws.registry` lists every call the product makes and the role each uses.
"""

from infra.aws.clients import (
    MAX_ATTEMPTS,
    AwsClients,
    Service,
    aws_errors,
    epoch_seconds,
    translate,
)
from infra.aws.registry import CALLS, ROLES, Access, AwsCall, Role, registered

__all__ = [
    "CALLS",
    "MAX_ATTEMPTS",
    "ROLES",
    "Access",
    "AwsCall",
    "AwsClients",
    "Role",
    "Service",
    "aws_errors",
    "epoch_seconds",
    "registered",
    "translate",
]
