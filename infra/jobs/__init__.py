"""Scheduled work: tasks and jobs (model), plugins (registry), recorded runs (runner).

See :mod:`infra.jobs.model` for the vocabulary and :mod:`infra.jobs.registry` for how a
feature plugs its jobs in without the scheduler naming it.
"""

from infra.jobs.model import (
    JobSpec,
    PlanContext,
    Plugin,
    RunResult,
    Task,
    TaskContext,
    TriggerSpec,
)
from infra.jobs.registry import Plan, Registry

__all__ = [
    "JobSpec",
    "Plan",
    "PlanContext",
    "Plugin",
    "Registry",
    "RunResult",
    "Task",
    "TaskContext",
    "TriggerSpec",
]
