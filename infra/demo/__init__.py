"""The embedded demo: the product on one machine, with nothing to sign up for.

* :mod:`~infra.demo.database` — ``LOCXIA_DATABASE_URL``, or a private PostgreSQL of its own;
* :mod:`~infra.demo.motoserver` — moto's server as a child process on 127.0.0.1: the "AWS";
* :mod:`~infra.demo.standin` — fake credentials, and a guard against real AWS endpoints;
* :mod:`~infra.demo.scenario` — the one scenario: a believable estate, a week of metrics, a
  month of costs and the parameter rows describing it (and the class bump). The tests build
  their week (``tests/support/week.py``) and their observe fleet from the same package, at
  other sizes, so the demo and the tests cannot drift apart;
* :mod:`~infra.demo.layer` — a synthetic sample layer (swimming pools) and its dataset row;
* ``infra/demo/terraform`` and :mod:`~infra.demo.shim` — the stand-in root module Terraform
  applies (the AWS provider cannot be downloaded offline) and what its provisioners run;
* :mod:`~infra.demo.tasks` — the demo's own tasks (recorded runs);
* :mod:`~infra.demo.run` — the steps in order (the real jobs among them), the service, the
  report.
"""

from __future__ import annotations

from infra.demo.database import DEMO_DB, demo_cluster_dir, demo_database_url, stop_demo_cluster
from infra.demo.run import STEPS, DemoReport, Step, run_demo

__all__ = [
    "DEMO_DB",
    "STEPS",
    "DemoReport",
    "Step",
    "demo_cluster_dir",
    "demo_database_url",
    "run_demo",
    "stop_demo_cluster",
]
