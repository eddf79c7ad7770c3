from __future__ import annotations

import pytest

from infra.errors import JobError
from infra.jobs import JobSpec, Task, TriggerSpec


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kind": "interval"}, "every_seconds >= 1"),
        ({"kind": "interval", "every_seconds": 0}, "every_seconds >= 1"),
        ({"kind": "interval", "every_seconds": 5, "cron": "* * * * *"}, "no cron"),
        ({"kind": "cron", "cron": "* * *"}, "5 fields"),
        ({"kind": "cron", "cron": "* * * * *", "every_seconds": 3}, "5 fields"),
        ({"kind": "sometimes"}, "unknown trigger kind"),
    ],
    ids=["no-interval", "zero", "both", "short-cron", "cron-and-interval", "kind"],
)
def test_trigger_validation(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(JobError, match=fragment):
        TriggerSpec(**kwargs)  # type: ignore[arg-type]


def test_cron_trigger_checks_fields_and_zone_when_built() -> None:
    with pytest.raises(JobError, match="invalid trigger"):
        TriggerSpec.crontab("99 * * * *").build()
    with pytest.raises(JobError, match="invalid trigger"):
        TriggerSpec.crontab("0 3 * * *", "Europe/Atlantis").build()
    assert TriggerSpec.crontab("0 3 * * *", "Europe/Paris").build() is not None


@pytest.mark.parametrize(
    "job_id",
    ["", "Upper", "1starts-with-digit", "semi;colon", "quote'", "x" * 121],
    ids=["empty", "upper", "digit", "semicolon", "quote", "too-long"],
)
def test_job_ids_are_safe(job_id: str) -> None:
    with pytest.raises(JobError, match="invalid job id"):
        JobSpec(job_id, "core.noop", TriggerSpec.every(5))


def test_job_args_must_be_json() -> None:
    with pytest.raises(JobError, match="must be JSON"):
        JobSpec("a.b", "core.noop", TriggerSpec.every(5), {"x": object()})


def test_fingerprint_changes_with_what_and_when_only() -> None:
    a = JobSpec("a.b", "core.noop", TriggerSpec.every(5), {"x": 1}, description="one")
    same = JobSpec("a.b", "core.noop", TriggerSpec.every(5), {"x": 1}, description="two")
    other_when = JobSpec("a.b", "core.noop", TriggerSpec.every(6), {"x": 1})
    other_args = JobSpec("a.b", "core.noop", TriggerSpec.every(5), {"x": 2})
    assert a.fingerprint == same.fingerprint
    assert len({a.fingerprint, other_when.fingerprint, other_args.fingerprint}) == 3


def test_task_target_must_be_module_function() -> None:
    with pytest.raises(JobError, match="module:function"):
        Task("a.b", "infra.jobs.builtin.noop", "x")
