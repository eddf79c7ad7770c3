"""The one scenario: an estate in the stand-in AWS, its week, its bill and its parameter rows.

``locxia demo`` and the tests build the same story from here, at different sizes — the
demo's platform, the week the dashboard and report tests observe (``tests/support/week.py``
drives it through the product's own jobs), the sixty-resource observe fleet
(``tests/integration/observe/fleet.py``) — from one description, :class:`Estate`:

* :mod:`~infra.demo.scenario.estate` — the description (resources, tags, load, budgets);
* :mod:`~infra.demo.scenario.estates` — its three sizes: :func:`demo`, :func:`week`,
  :func:`fleet`;
* :mod:`~infra.demo.scenario.aws` — creating it in the stand-in AWS (idempotent);
* :mod:`~infra.demo.scenario.loads` and :mod:`~infra.demo.scenario.datapoints` — the
  CloudWatch datapoints its load shapes, :mod:`~infra.demo.scenario.cloudwatch` puts them;
* :mod:`~infra.demo.scenario.explorer` — Cost Explorer's days, priced from the catalog;
* :mod:`~infra.demo.scenario.params` — the ``params.instances``, collection policy and
  budget rows.

It talks to the stand-in over HTTP only (boto3, urllib), never through moto's Python API:
this is shipped code, and moto is a test dependency.
"""

from __future__ import annotations

from infra.demo.scenario.aws import Created, create_estate, resource_ids
from infra.demo.scenario.estate import Budget, DemoResource, Estate
from infra.demo.scenario.estates import default_estate, demo, fleet, week

__all__ = [
    "Budget",
    "Created",
    "DemoResource",
    "Estate",
    "create_estate",
    "default_estate",
    "demo",
    "fleet",
    "resource_ids",
    "week",
]
