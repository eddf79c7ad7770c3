"""Dashboards as code: Grafana dashboards built from functions, over ``reporting`` views only.

This package imports neither ``infra`` nor ``pipelines``: it knows the names of the
``reporting`` views and Grafana's JSON model, nothing else. Layout:

* :mod:`dashboards.common` — house defaults (datasource, folder, panel styles);
* :mod:`dashboards.postgres` — the PostgreSQL query type the SDK lacks;
* one module per dashboard (:mod:`dashboards.orchestrator`), one function per panel;
* :mod:`dashboards.build` — the dashboard list and the generated files;
* :mod:`dashboards.provisioning` — Grafana provisioning files and the datasource spec;
* :mod:`dashboards.macros` and :mod:`dashboards.check` — Grafana's SQL macros expanded the
  way Grafana does, and every panel's query proven against a database.
"""
