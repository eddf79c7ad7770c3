"""Grafana dashboards as code over the ``reporting`` views, and their push to a Grafana server.

* :mod:`.common` — house defaults (datasource, folder, panel styles);
* :mod:`.postgres` — the PostgreSQL query type the SDK lacks;
* one module per dashboard (:mod:`.orchestrator`, :mod:`.costs`, …), one function per panel;
* :mod:`.build` — the dashboard list and the generated files;
* :mod:`.provisioning` — Grafana provisioning files and the datasource spec;
* :mod:`.macros` and :mod:`.check` — Grafana's SQL macros expanded the way Grafana does, and
  every panel's query proven against a database;
* :mod:`.push` — the HTTP push to a running Grafana (grafana-client).
"""
