"""A task's plain annotations decide which JSON values its arguments may take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from infra.errors import JobError
from infra.jobs.runner import _check_arguments, argument_type_errors


def task(
    ctx: Any,
    seconds: float = 0.0,
    count: int = 1,
    name: str | None = None,
    flag: bool = False,
    steps: Sequence[Mapping[str, Any]] = (),
    when: Any = None,
) -> None:
    """A task with one argument of each kind the check understands."""


@pytest.mark.parametrize(
    "args",
    [
        {"seconds": 1},
        {"seconds": 1.5},
        {"count": 3},
        {"name": None},
        {"name": "x"},
        {"flag": True},
        {"steps": [{"task": "core.noop"}]},
        {"when": "anything"},  # not a plain annotation: not checked here
    ],
)
def test_values_of_the_annotated_type_pass(args: dict[str, Any]) -> None:
    assert argument_type_errors(task, args) == []
    _check_arguments("t", task, args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"seconds": "{"}, "seconds must be float or int, got string '{'"),
        ({"seconds": True}, "seconds must be float or int, got boolean True"),
        ({"count": 1.5}, "count must be int, got number 1.5"),
        ({"count": False}, "count must be int, got boolean False"),
        ({"name": 3}, "name must be NoneType or str, got number 3"),
        ({"flag": "yes"}, "flag must be bool, got string 'yes'"),
        ({"steps": {"task": "x"}}, "steps must be list, got object"),
    ],
)
def test_values_of_another_type_are_refused_before_a_run(
    args: dict[str, Any], message: str
) -> None:
    errors = argument_type_errors(task, args)
    assert len(errors) == 1 and errors[0].startswith(message)
    with pytest.raises(JobError, match="task t: "):
        _check_arguments("t", task, args)
