"""The three sizes of the one scenario: the demo's platform, the tests' week, the fleet.

* :func:`demo` — a small geospatial data platform: a working database where layers are
  refined at night, an exposure database serving applications by day, an ingestion worker, a
  tile server, the three zone buckets — all tagged — and a forgotten scratch database nobody
  connects to (the idle resource recommendations should find). Untagged neighbours (another
  team's database, a bastion, a website bucket) share the account, so discovery has something
  to leave out. ``locxia demo`` builds it.
* :func:`week` — the week the dashboard and report tests observe (``tests/support/week.py``):
  two databases, one of them unused, a near-idle ingestion VM, three growing zone buckets; its
  instances are built by Terraform from the rows :mod:`~infra.demo.scenario.params` gives.
* :func:`fleet` — ``n`` databases, ``n`` servers (a quarter of them ingestion workers) and
  ``n`` buckets, plus five untagged look-alikes whose ``role`` says why discovery must report
  them: the observe acceptance scenario.
"""

from __future__ import annotations

from infra.demo.scenario.estate import Budget, DemoResource, Estate
from infra.settings import Settings

RDS_SERVICE = "Amazon Relational Database Service"

DEFAULT_RESOURCES: tuple[DemoResource, ...] = (
    DemoResource("rds", "work-db", "db.r6g.large", 500, "batch", role="working zone, nightly"),
    DemoResource("rds", "expo-db", "db.t4g.large", 200, "web", role="exposure zone, serves apps"),
    DemoResource("rds", "scratch-db", "db.t4g.medium", 100, "idle", role="forgotten copy"),
    DemoResource("rds", "crm-db", "db.t4g.small", 50, "office", tagged=False, role="sales CRM"),
    DemoResource("ec2", "ingest-worker", "c6i.xlarge", 100, "batch", role="nightly ingestion",
                 protected=True),
    DemoResource("ec2", "tiles-server", "t3.large", 50, "web", role="vector tiles by day",
                 protected=True),
    DemoResource("ec2", "bastion", "t3.micro", 8, "office", tagged=False, role="ops bastion"),
    DemoResource(
        "s3", "locxia-demo-landing", "standard", 120, "batch", role="raw files as received",
        growth_gb_per_day=4.0, zone="landing",
    ),
    DemoResource(
        "s3", "locxia-demo-working", "standard", 80, "batch", role="cleaned GeoParquet",
        growth_gb_per_day=1.5, zone="working",
    ),
    DemoResource(
        "s3", "locxia-demo-exposure", "standard", 30, "web", role="published extracts",
        growth_gb_per_day=0.5, zone="exposure",
    ),
    DemoResource(
        "s3", "acme-website-assets", "standard", 15, "office", tagged=False, role="website"
    ),
)  # fmt: skip

#: The estate spends about $23 a day, two thirds of it on RDS: the account ends the month near
#: 90 % of its budget, RDS just over its own.
DEMO_BUDGETS = (
    Budget("locxia-total", "total", None, "750.00", 80, "demo budget"),
    Budget("locxia-rds", "service", RDS_SERVICE, "450.00", 80, "demo budget"),
)

WEEK_RESOURCES: tuple[DemoResource, ...] = (
    DemoResource("rds", "work-db", "db.t4g.large", 100, "office",
                 role="the team's working database"),
    DemoResource("rds", "batch-db", "db.t4g.medium", 50, "idle",
                 role="nightly batch results (unused this week)"),
    DemoResource("ec2", "ingest-vm", "m6i.large", 30, "idle", role="ingestion worker"),
    DemoResource("s3", "locxia-landing", "standard", 40, "batch", growth_gb_per_day=0.8,
                 zone="landing"),
    DemoResource("s3", "locxia-working", "standard", 80, "batch", growth_gb_per_day=1.6,
                 zone="working"),
    DemoResource("s3", "locxia-exposure", "standard", 120, "web", growth_gb_per_day=2.4,
                 zone="exposure"),
)  # fmt: skip

WEEK_BUDGETS = (
    Budget("platform", "total", None, "400.00", 80, "the whole account"),
    Budget("databases", "service", RDS_SERVICE, "150.00", 80, "RDS"),
)


def demo(tag_key: str = "project", tag_value: str = "locxia") -> Estate:
    """The demo's platform (module docstring), Locxia's part marked with that tag."""
    return Estate(DEFAULT_RESOURCES, tag_key, tag_value, budgets=DEMO_BUDGETS)


def default_estate(settings: Settings) -> Estate:
    """The demo estate, tagged with the tag the settings say marks Locxia's resources."""
    return demo(settings.tag_key, settings.tag_value)


def week(tag_key: str = "project", tag_value: str = "locxia") -> Estate:
    """The tests' observed week (module docstring); its databases also report network."""
    return Estate(WEEK_RESOURCES, tag_key, tag_value, rds_network=True, budgets=WEEK_BUDGETS)


def fleet(n: int = 20, tag_key: str = "project", tag_value: str = "locxia") -> Estate:
    """``n`` tagged resources of each kind and five untagged look-alikes (module docstring).

    The first quarter of the servers carry ``task=ingestion`` (a policy of their own reads
    them every minute); every server's root volume is tagged like it.
    """
    resources: list[DemoResource] = []
    for i in range(n):
        task = (("task", "ingestion"),) if i < n // 4 else ()
        resources += [
            DemoResource("ec2", f"fleet-vm-{i:02d}", "t3.micro", 8, "web", tags=task),
            DemoResource("rds", f"db-{i:02d}", "db.t4g.micro", 20, "office"),
            DemoResource("s3", f"data-{i:02d}-bucket", "standard", 1 + i, "batch"),
        ]
    return Estate((*resources, *_lookalikes(tag_key, "fleet-vm-00")), tag_key, tag_value)


def _lookalikes(tag_key: str, tagged_server: str) -> tuple[DemoResource, ...]:
    """Untagged resources discovery must report (``role``: why), and never collect."""
    return (
        DemoResource("ec2", "locxia-scratch", "t3.micro", 8, "idle", tagged=False,
                     role="named like", volume_tags=False),
        DemoResource("ec2", "other-vm", "t3.micro", 8, "idle", tagged=False,
                     role=f"tag {tag_key}='other'", tags=((tag_key, "other"),),
                     volume_tags=False),
        DemoResource("ebs", "loose-volume", "gp3", 50, "idle", tagged=False,
                     role="attached to a tagged instance", attached_to=tagged_server),
        DemoResource("rds", "locxia-legacy", "db.t4g.micro", 20, "idle", tagged=False,
                     role="named like"),
        DemoResource("s3", "locxia-untagged-logs", "standard", 1, "idle", tagged=False,
                     role="named like"),
    )  # fmt: skip
