"""The report's sections, in the order they appear: the one place a section is registered.

A section reads one ``reporting`` view (and names any other it needs in ``also_reads``):
the views are the dashboards' contract, so the report never shows what Grafana could not.
Money and resources come first, the orchestrator's own health last; docs/report.md lists
every section with the view it reads.
"""

from __future__ import annotations

from dashboards.report import costs, layers, orchestrator, resources
from dashboards.report.model import Section, sections_by_key

SECTIONS: tuple[Section, ...] = (
    Section(
        "costs",
        "Cost per service per day",
        "What did each service cost, day by day, and in total this month?",
        "daily_costs",
        costs.daily_costs_section,
        also_reads=("resource_costs", "cost_basis", "cost_tag_activation"),
    ),
    Section(
        "budget",
        "Month to date vs budget",
        "How much of each budget is spent, and where will the month end?",
        "budgets",
        costs.budget_section,
        also_reads=("daily_costs", "resource_costs", "cost_basis"),
    ),
    Section(
        "anomalies",
        "Cost anomalies",
        "Which service or resource cost far more than usual on a day, and what drove it?",
        "cost_anomalies",
        costs.anomalies_section,
    ),
    Section(
        "top_resources",
        "Top resources",
        "Which resources cost the most this month (uptime × price), and at what rate now?",
        "resource_costs",
        resources.top_resources_section,
        also_reads=("price_catalog",),
    ),
    Section(
        "recommendations",
        "Recommendations",
        "Which resources sit idle, what to do about them, and what would it save?",
        "recommendations",
        resources.recommendations_section,
    ),
    Section(
        "observing",
        "Cost of observing",
        "What did collecting metrics and reading costs cost this month, and for which job?",
        "observation_costs",
        costs.observing_section,
    ),
    Section(
        "resource_metrics",
        "Resource metrics",
        "How busy was each database and virtual machine, day by day?",
        "instance_metrics",
        resources.resource_metrics_section,
    ),
    Section(
        "layer_costs",
        "What each layer costs a month",
        "What did feeding each layer cost this month, and how much of Cost Explorer's month do"
        " runs and resources explain?",
        "dataset_costs",
        layers.layer_costs_section,
        also_reads=("job_costs", "cost_explained"),
    ),
    Section(
        "freshness",
        "Layer freshness",
        "Which datasets are published, in which zone, how old is each live layer, which are stale?",
        "datasets",
        layers.freshness_section,
        also_reads=("dataset_versions",),
    ),
    Section(
        "runs",
        "Job runs",
        "How many runs this month, how did they end, and which jobs ran?",
        "job_runs",
        orchestrator.runs_section,
    ),
    Section(
        "failures",
        "Failures",
        "What failed this month, and with which error?",
        "job_runs",
        orchestrator.failures_section,
    ),
    Section(
        "jobs",
        "Jobs now",
        "Which jobs are failing now, and when did each last succeed?",
        "job_status",
        orchestrator.jobs_section,
    ),
    Section(
        "services",
        "Services",
        "Which `locxia serve` processes ran, and is one leading now?",
        "services",
        orchestrator.services_section,
    ),
    Section(
        "parameters",
        "Parameter changes",
        "Who changed which parameter, and when?",
        "parameter_changes",
        orchestrator.parameter_changes_section,
    ),
)

sections_by_key(SECTIONS)  # import-time guard: keys are unique
