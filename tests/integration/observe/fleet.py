"""The scenario's estates in moto for the observe tests, with the datapoints they should yield.

:func:`build` creates an estate of :mod:`infra.demo.scenario` (by default its fleet: 20 RDS +
20 EC2, 5 of them ``task=ingestion``, root volumes tagged too, + 20 S3 buckets carrying
``project=locxia``, and 5 untagged look-alikes — named like Locxia, the wrong tag value, an
untagged volume attached to a tagged instance — that must be reported and never collected)
and puts the scenario's datapoints: 3 per metric, one every 5 minutes before now for the
instances, one a day on the 3 previous days for the buckets, inside the first collect window.
``expected`` is derived from those series (what was put), independently of the collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.aws import AwsClients
from infra.demo.scenario import DemoResource, Estate, create_estate, fleet
from infra.demo.scenario.cloudwatch import put_series
from infra.demo.scenario.datapoints import Series, week_of_series
from infra.settings import Settings, load_settings
from pipelines.observe.metrics.periods import COUNT_METRICS

REGION = "eu-west-3"
TAG = {"Key": "project", "Value": "locxia"}
POINTS = 3
STEP = timedelta(minutes=5)

#: (resource id, metric, stat, period, ts) -> value
Expected = dict[tuple[str, str, str, int, datetime], float]


def stand_in(endpoint: str) -> Settings:
    """Settings reaching the moto server at ``endpoint`` in the fleet's region."""
    return load_settings(aws_endpoint_url=endpoint, aws_region=REGION)


def client(endpoint: str, service: str) -> Any:
    """A boto3 client of the moto server, for what a test does by hand (delete, stop...).

    Plain boto3, not :class:`AwsClients`: the product's clients make only the calls of the
    registry (infra/aws/registry.py), and a test's own hand is not the product.
    """
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def align(ts: datetime, period: int) -> datetime:
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, UTC)


@dataclass(frozen=True)
class Fleet:
    """What :func:`build` made: the estate, every resource's AWS id, the series put."""

    endpoint: str
    now: datetime
    estate: Estate
    ids: dict[str, str]
    series: tuple[Series, ...]

    def _of(self, kind: str) -> list[str]:
        return [self.ids[r.name] for r in self.estate.tagged if r.kind == kind]

    @property
    def rds(self) -> list[str]:
        return self._of("rds")

    @property
    def ec2(self) -> list[str]:
        return self._of("ec2")

    @property
    def buckets(self) -> list[str]:
        return self._of("s3")

    @property
    def ingestion(self) -> list[str]:
        """The servers tagged ``task=ingestion`` (read every minute by their own policy)."""
        return [self.ids[r.name] for r in self.estate.of("ec2") if ("task", "ingestion") in r.tags]

    @property
    def untagged(self) -> dict[str, str]:
        """Resource id → why discovery reports it (the look-alike's ``role``)."""
        return {self.ids[r.name]: r.role for r in self.estate.untagged}

    def points(self, resource: str, metric: str) -> tuple[tuple[datetime, float], ...]:
        """The datapoints put for one metric of one resource."""
        (found,) = [s for s in self.series if (s.resource, s.metric) == (resource, metric)]
        return found.points

    def expected(self, rds_stats: list[str], ec2_stats: list[str]) -> Expected:
        """Datapoints one collect of the seeded metrics must store, by natural key."""
        out: Expected = {}
        untagged = self.untagged
        for series in self.series:
            rid = series.dimensions[0][1]
            if rid in untagged:
                continue
            if series.namespace == "AWS/RDS":
                stats, period = rds_stats, 300
            elif series.namespace == "AWS/EC2":
                # counts are read as Sum; the fleet's instances are in basic monitoring (moto's
                # default, 5-minute samples), so even ec2-ingestion (60 s) reads them at 300 s
                count = (series.namespace, series.metric) in COUNT_METRICS
                stats, period = (["Sum"] if count else ec2_stats), 300
            else:
                stats, period = ["Average"], 86400
            for stat in stats:
                for ts, value in series.points:
                    key = (rid, series.metric, stat, period, align(ts, period))
                    out[key] = 1.0 if stat == "SampleCount" else value
        return out


def create(endpoint: str, *resources: DemoResource) -> dict[str, str]:
    """Only create ``resources`` (no datapoints); name → AWS id."""
    return create_estate(AwsClients(stand_in(endpoint)), Estate(resources), REGION).ids


def build(
    endpoint: str,
    now: datetime,
    estate: Estate | None = None,
    days: int = POINTS,
    step: timedelta = STEP,
) -> Fleet:
    """Create ``estate`` (default: the scenario's fleet) and put its datapoints before ``now``.

    By default :data:`POINTS` instance datapoints every :data:`STEP` and a bucket datapoint on
    each of the :data:`POINTS` previous days; with ``step``, a point every ``step`` over the
    ``days``.
    """
    estate = estate or fleet()
    clients = AwsClients(stand_in(endpoint))
    ids = create_estate(clients, estate, REGION).ids
    end = align(now, int(step.total_seconds()))
    span = step * POINTS if step == STEP else None
    series = week_of_series(estate, ids, end, days=days, step=step, span=span)
    put_series(clients, series)
    return Fleet(endpoint, now, estate, ids, tuple(series))
