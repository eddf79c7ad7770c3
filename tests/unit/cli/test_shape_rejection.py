"""`locxia infra apply` ends a rejected reconcile with PlanRejected naming what refused."""

from __future__ import annotations

from infra.cli.shape import rejection
from infra.errors import PlanRejected


def test_a_rejected_run_names_its_refusals_and_addresses() -> None:
    details = {
        "status": "rejected",
        "terraform_run": 7,
        "reasons": [
            {
                "rule": "no_replace_data",
                "level": "refuse",
                "message": "work-db would be replaced",
                "instance": "work-db",
                "address": 'module.rds["work-db"].aws_db_instance.this',
            },
            {"rule": "cost", "level": "approve", "message": "+$900/month", "instance": None},
        ],
    }
    error = rejection(details)
    assert isinstance(error, PlanRejected)
    assert error.run_id == 7 and error.reason == "work-db would be replaced"
    assert error.addresses == ['module.rds["work-db"].aws_db_instance.this']
    assert str(error).startswith("plan of terraform run 7 rejected: work-db would be replaced")


def test_a_rejection_without_recorded_refusals_still_says_so() -> None:
    error = rejection({"status": "rejected", "terraform_run": 3, "reasons": []})
    assert str(error) == "plan of terraform run 3 rejected: by the guardrails (no address)"
