"""Presentation: everything people look at, built only from the ``reporting`` views.

* :mod:`dashboards.grafana` — Grafana dashboards as code, their generated JSON and the push;
* :mod:`dashboards.report` — the monthly self-contained HTML report;
* :mod:`dashboards.contract` — the one statement of which ``reporting`` view columns each
  consumer relies on (a test holds both consumers to it).

Presentation sits on top: it may import the core (:mod:`infra`: settings, errors, db) but no
feature package; what it knows of the features is the ``reporting`` views.
"""
