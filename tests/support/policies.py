"""Collection policies for unit tests: one EC2 policy, changed field by field."""

from __future__ import annotations

from pipelines.observe.metrics.policies import MetricSpec, Policy


def ec2_policy(**changes: object) -> Policy:
    """An EC2 policy (CPU and network, Average/Maximum at 5 min) with ``changes`` applied."""
    base: dict[str, object] = {
        "name": "ec2-default",
        "resource_type": "ec2:instance",
        "namespace": "AWS/EC2",
        "metrics": (MetricSpec("CPUUtilization"), MetricSpec("NetworkIn")),
        "stats": ("Average", "Maximum"),
        "period": 300,
        "lookback": 900,
        "backfill": 3600,
        "every": 300,
    }
    base.update(changes)
    return Policy(**base)  # type: ignore[arg-type]
