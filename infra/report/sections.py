"""The report's sections, in the order they appear: the one place a section is registered.

A section reads exactly one ``reporting`` view. A section whose view does not exist yet is
not faked with placeholder data: it is simply not listed here until its view ships. Part of
issue 7 waits for the views of the observe, shape and feed features; see docs/report.md for
the sections planned and the views each will read.
"""

from __future__ import annotations

from infra.report import layers, orchestrator
from infra.report.model import Section, sections_by_key

SECTIONS: tuple[Section, ...] = (
    # Costs, recommendations, resource metrics and layer freshness go first once their views
    # exist (docs/report.md, "Sections to come"); the orchestrator's own health comes last.
    Section(
        "freshness",
        "Layer freshness",
        "Which datasets are published, in which zone, how old is each live layer, which are stale?",
        "datasets",
        layers.freshness_section,
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
