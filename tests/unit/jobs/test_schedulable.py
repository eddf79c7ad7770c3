"""Which tasks a ``params.schedules`` row may name, and the argument schemas (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.errors import JobError
from infra.jobs import Registry
from infra.jobs.model import Arg, ArgSchema

REGISTRY = Registry.from_entry_points()
NEVER = {
    "shape.approve",  # applies what the guardrails held
    "shape.plan",
    "layers.transfer-url",  # fetches any URL with the service's credentials
    "layers.transfer-table",  # copies between databases named in its arguments
    "layers.rollback",
}


def _schema_of(name: str) -> ArgSchema | None:
    task = REGISTRY.tasks.get(name)
    return task.schedulable if task else None


def test_privileged_tasks_are_never_schedulable() -> None:
    assert NEVER <= set(REGISTRY.tasks)
    assert not NEVER & set(REGISTRY.schedulable())


def test_every_task_a_plugin_plans_can_be_retimed() -> None:
    planned = {
        "metrics.collect", "metrics.discover", "metrics.streams", "metrics.retention",
        "metrics.cap",
        "costs.explorer", "costs.estimate", "costs.recommend", "costs.exports", "costs.anomalies",
        "shape.reconcile",
        "shape.drift", "core.chain", "core.prune-runs", "layers.ingest", "layers.refine",
        "layers.publish", "layers.stale-check", "notify.deliver",
    }  # fmt: skip
    assert planned <= set(REGISTRY.schedulable())


def test_the_feed_chain_a_plugin_plans_fits_the_chain_schema() -> None:
    from pipelines.feed.jobs import chain_steps

    chain = _schema_of("core.chain")
    assert chain is not None
    chain.check({"steps": chain_steps("roads")}, new_job=True, schema_of=_schema_of)


@pytest.mark.parametrize(
    ("task", "args", "fragment"),
    [
        ("layers.ingest", {"dataset": "roads", "source": "https://x/"}, "'source' is not allowed"),
        ("layers.ingest", {}, "'dataset' is required"),
        ("layers.ingest", {"dataset": "roads\n"}, "does not match"),
        ("core.noop", {"sleep_seconds": True}, "must be a number"),
        ("core.noop", {"sleep_seconds": -1}, "below 0"),
        ("core.prune-runs", {"keep_days": 1}, "not allowed (allowed: none)"),
        ("core.chain", {"steps": []}, "1 to 20 steps"),
        ("core.chain", {"steps": [{"task": "layers.transfer-url"}]}, "not schedulable"),
        ("core.chain", {"steps": [{"task": "core.noop", "run": 1}]}, "expected {task, args}"),
    ],
)
def test_arguments_outside_the_schema_are_refused(
    task: str, args: dict[str, Any], fragment: str
) -> None:
    schema = _schema_of(task)
    assert schema is not None
    with pytest.raises(JobError) as caught:
        schema.check(args, new_job=True, schema_of=_schema_of)
    assert fragment in str(caught.value)


def test_a_retime_adds_no_required_argument() -> None:
    schema = _schema_of("layers.ingest")
    assert schema is not None
    schema.check({}, new_job=False, schema_of=_schema_of)


def test_the_catalog_form_keeps_every_rule() -> None:
    schema = ArgSchema({"n": Arg("integer", required=True, enum=(1, 2), minimum=1, maximum=2)})
    assert schema.as_json() == {
        "args": {"n": {"type": "integer", "required": True, "enum": [1, 2], "minimum": 1,
                       "maximum": 2}}
    }  # fmt: skip
