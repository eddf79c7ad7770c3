"""Discovery: which AWS resources carry the Locxia tag, upserted into ``metrics.resources``.

The Resource Groups Tagging API (``GetResources``, paginated, filtered on the tag) is the
source of truth for *tagged* resources, but it never returns a resource that was never
tagged — an EC2 volume created without ``TagSpecifications`` is invisible to it. So every
run also lists the same types with their Describe calls and reports **untagged look-alikes**
(named like Locxia, carrying the tag key with another value, or attached to a tagged instance)
as warnings, stored with ``tagged = false`` so a dashboard can list them; they are never
collected. A resource that disappears, or whose state is terminal, is marked ``gone_at``,
never deleted. A Describe call that fails is a recorded error for its type only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypedDict, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError
from infra.settings import Settings
from pipelines.observe.metrics.history import record_state
from pipelines.observe.metrics.resources import (
    GONE_STATES,
    TAGGING_FILTERS,
    ResourceType,
    parse_arn,
    tag_dict,
)

PAGE_SIZE = 100  # GetResources: ResourcesPerPage 1-100
_Page = TypeVar("_Page")


@dataclass(frozen=True)
class Seen:
    """One resource as discovery saw it."""

    arn: str
    type: ResourceType
    resource_id: str
    name: str
    region: str
    tags: dict[str, str]
    tagged: bool
    state: str | None
    attributes: dict[str, Any]
    why: str = ""

    @property
    def gone(self) -> bool:
        """True when the resource no longer exists (terminal state or not described)."""
        return self.state in GONE_STATES


class Lookalike(TypedDict):
    """An untagged resource that looks like one of ours, and why."""

    arn: str
    type: str
    name: str
    why: str


class DiscoverResult(TypedDict):
    """What ``metrics.discover`` records (``locxia observe discover`` prints every key)."""

    api_calls: int
    aws_retries: int
    tagged: dict[str, int]
    new: list[str]
    gone: list[str]
    untagged_lookalikes: list[Lookalike]
    errors: list[str]


@dataclass
class DiscoveryReport:
    """What a discovery run found and changed (recorded in ``ops.runs.details``)."""

    api_calls: int = 0
    aws_retries: int = 0
    tagged: dict[str, int] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    untagged: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def details(self) -> DiscoverResult:
        """The JSON recorded for the run."""
        return {
            "api_calls": self.api_calls,
            "aws_retries": self.aws_retries,
            "tagged": self.tagged,
            "new": self.new,
            "gone": self.gone,
            "untagged_lookalikes": [
                {"arn": s.arn, "type": s.type, "name": s.name, "why": s.why} for s in self.untagged
            ],
            "errors": self.errors,
        }


#: Names quoted in a look-alike summary line; the run's details keep the whole list.
SUMMARY_EXAMPLES = 3


def lookalike_summary(items: Iterable[Lookalike], examples: int = SUMMARY_EXAMPLES) -> list[str]:
    """One warning line per kind of look-alike (type and reason), with a count and examples.

    An estate whose instances were created without volume tags has one untagged root volume
    per instance: a line per resource would bury everything else a run prints (1,000 lines
    for 1,000 instances). Kinds keep the order of their first resource; a kind of one keeps
    the resource's own line.
    """
    kinds: dict[tuple[str, str], list[str]] = {}
    for item in items:
        kinds.setdefault((item["type"], item["why"]), []).append(item["name"])
    lines = []
    for (rtype, why), names in kinds.items():
        if len(names) == 1:
            lines.append(f"untagged look-alike {rtype} {names[0]}: {why}")
            continue
        shown = ", ".join(names[:examples])
        more = f" and {len(names) - examples:,} more" if len(names) > examples else ""
        lines.append(f"{len(names):,} untagged look-alike {rtype}s: {why} ({shown}{more})")
    return lines


@dataclass(frozen=True)
class _Described:
    """Describe output of one type: resources by id (None when the call failed)."""

    by_id: dict[str, Seen] | None


class Discovery:
    """One discovery pass for the region in settings."""

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients
        self.region = settings.aws_region
        self.report = DiscoveryReport()
        self.account = ""  # for the ARNs of untagged look-alikes, learnt from what we see

    # --- AWS --------------------------------------------------------------------------------
    def _counted(self, service: str, api_name: str, pages: Iterable[_Page]) -> Iterator[_Page]:
        """``pages`` as they arrive, each counted as one API call, errors as :class:`AwsError`."""
        with aws_errors(service, api_name):
            for page in pages:
                self.report.api_calls += 1
                yield page

    def tagged_arns(self) -> dict[str, dict[str, str]]:
        """Every ARN carrying ``tag_key=tag_value`` with its tags (GetResources, paginated).

        Raises:
            AwsError: the tagging API failed (nothing can be discovered without it).
        """
        found: dict[str, dict[str, str]] = {}
        tagging = self.clients.client("resourcegroupstaggingapi")
        pages = tagging.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": self.settings.tag_key, "Values": [self.settings.tag_value]}],
            ResourceTypeFilters=list(TAGGING_FILTERS),
            PaginationConfig={"PageSize": PAGE_SIZE},  # sent as ResourcesPerPage
        )
        for page in self._counted("resourcegroupstaggingapi", "GetResources", pages):
            for item in page.get("ResourceTagMappingList", []):
                found[item["ResourceARN"]] = tag_dict(item.get("Tags"))
                account = item["ResourceARN"].split(":")[4]
                self.account = self.account or account
        return found

    def _describe(self, kind: str, fn: Callable[[], Iterable[Seen]]) -> _Described:
        try:
            return _Described({s.resource_id: s for s in fn()})
        except AwsError as exc:
            self.report.errors.append(f"{kind}: {exc}")
            return _Described(None)

    def describe_all(self) -> dict[ResourceType, _Described]:
        """Describe every resource of the observed types; a failed call is an error value."""
        return {
            "ec2:instance": self._describe("ec2:instance", self._instances),
            "ec2:volume": self._describe("ec2:volume", self._volumes),
            "rds:db": self._describe("rds:db", self._databases),
            "s3:bucket": self._describe("s3:bucket", self._buckets),
        }

    def _instances(self) -> Iterator[Seen]:
        pages = self.clients.client("ec2").get_paginator("describe_instances").paginate()
        for page in self._counted("ec2", "DescribeInstances", pages):
            for reservation in page.get("Reservations", []):
                owner = reservation.get("OwnerId", "")
                self.account = self.account or owner
                for inst in reservation.get("Instances", []):
                    iid = inst["InstanceId"]
                    tags = tag_dict(inst.get("Tags"))
                    volumes = [
                        m["Ebs"]["VolumeId"]
                        for m in inst.get("BlockDeviceMappings", [])
                        if "Ebs" in m
                    ]
                    yield Seen(
                        arn=f"arn:aws:ec2:{self.region}:{owner}:instance/{iid}",
                        type="ec2:instance",
                        resource_id=iid,
                        name=tags.get("Name", iid),
                        region=self.region,
                        tags=tags,
                        tagged=False,
                        state=inst.get("State", {}).get("Name"),
                        attributes={
                            "instance_type": inst.get("InstanceType"),
                            "volume_ids": volumes,
                            # priced lines (infra/costlines.py): detailed monitoring, platform
                            "monitoring": inst.get("Monitoring", {}).get("State"),
                            "platform": _platform(inst),
                        },
                    )

    def _volumes(self) -> Iterator[Seen]:
        pages = self.clients.client("ec2").get_paginator("describe_volumes").paginate()
        for page in self._counted("ec2", "DescribeVolumes", pages):
            for vol in page.get("Volumes", []):
                vid = vol["VolumeId"]
                tags = tag_dict(vol.get("Tags"))
                attached = [a["InstanceId"] for a in vol.get("Attachments", [])]
                yield Seen(
                    arn=f"arn:aws:ec2:{self.region}:{self.account}:volume/{vid}",
                    type="ec2:volume",
                    resource_id=vid,
                    name=tags.get("Name", vid),
                    region=self.region,
                    tags=tags,
                    tagged=False,
                    state=vol.get("State"),
                    attributes={
                        "size_gb": vol.get("Size"),
                        "volume_type": vol.get("VolumeType"),
                        "iops": vol.get("Iops"),
                        "throughput": vol.get("Throughput"),
                        "attached_to": attached,
                    },
                )

    def _databases(self) -> Iterator[Seen]:
        pages = self.clients.client("rds").get_paginator("describe_db_instances").paginate()
        for page in self._counted("rds", "DescribeDBInstances", pages):
            for db in page.get("DBInstances", []):
                ident = db["DBInstanceIdentifier"]
                yield Seen(
                    arn=db.get("DBInstanceArn")
                    or f"arn:aws:rds:{self.region}:{self.account}:db:{ident}",
                    type="rds:db",
                    resource_id=ident,
                    name=ident,
                    region=self.region,
                    tags=tag_dict(db.get("TagList")),
                    tagged=False,
                    state=db.get("DBInstanceStatus"),
                    attributes={
                        "instance_class": db.get("DBInstanceClass"),
                        "engine": db.get("Engine"),
                        "storage_gb": db.get("AllocatedStorage"),
                        "storage_type": db.get("StorageType"),
                        "multi_az": bool(db.get("MultiAZ")),
                        "iops": db.get("Iops"),
                        "throughput": db.get("StorageThroughput"),
                        "engine_version": db.get("EngineVersion"),
                        "log_exports": sorted(db.get("EnabledCloudwatchLogsExports") or []),
                    },
                )

    def _buckets(self) -> Iterator[Seen]:
        client = self.clients.client("s3")
        with aws_errors("s3", "ListBuckets"):
            listed = client.list_buckets()
        self.report.api_calls += 1
        for bucket in listed.get("Buckets", []):
            name = bucket["Name"]
            yield Seen(
                arn=f"arn:aws:s3:::{name}",
                type="s3:bucket",
                resource_id=name,
                name=name,
                region=bucket.get("BucketRegion") or "",
                tags={},
                tagged=False,
                state="available",
                attributes={},
            )

    def bucket_region(self, name: str) -> str:
        """The region of a bucket (``GetBucketLocation``; ``None`` means us-east-1)."""
        client = self.clients.client("s3")
        with aws_errors("s3", "GetBucketLocation"):
            loc = client.get_bucket_location(Bucket=name).get("LocationConstraint")
        self.report.api_calls += 1
        return str(loc or "us-east-1")

    def _bucket_region_or_error(self, name: str) -> str:
        """The bucket's region, or ``""`` with the failure recorded.

        One bucket the role may not ask (a tagged bucket outside the zones, a bucket deleted
        meanwhile) must not fail the whole discovery run.
        """
        try:
            return self.bucket_region(name)
        except AwsError as exc:
            self.report.errors.append(f"s3:bucket {name}: {exc}")
            return ""

    # --- merging ----------------------------------------------------------------------------
    def resolve(
        self, tagged: dict[str, dict[str, str]], described: dict[ResourceType, _Described]
    ) -> list[Seen]:
        """Tagged resources enriched by Describe, plus the untagged look-alikes."""
        out: list[Seen] = []
        tagged_ids: dict[ResourceType, set[str]] = {t: set() for t in described}
        for arn, tags in sorted(tagged.items()):
            parsed = parse_arn(arn)
            if parsed is None:
                continue
            tagged_ids[parsed.type].add(parsed.resource_id)
            by_id = described[parsed.type].by_id
            info = by_id.get(parsed.resource_id) if by_id is not None else None
            state = info.state if info else ("deleted" if by_id is not None else None)
            region = parsed.region or (info.region if info and info.region else "")
            if parsed.type == "s3:bucket" and not region:
                region = self._bucket_region_or_error(parsed.resource_id)
            out.append(
                Seen(
                    arn=arn,
                    type=parsed.type,
                    resource_id=parsed.resource_id,
                    name=tags.get("Name", parsed.resource_id),
                    region=region,
                    tags=tags,
                    tagged=True,
                    state=state if parsed.type != "s3:bucket" else "available",
                    attributes=dict(info.attributes) if info else {},
                )
            )
        out.extend(self._lookalikes(described, tagged_ids))
        return out

    def _lookalikes(
        self, described: dict[ResourceType, _Described], tagged_ids: dict[ResourceType, set[str]]
    ) -> Iterator[Seen]:
        key, value = self.settings.tag_key, self.settings.tag_value.lower()
        for rtype, result in described.items():
            for rid, seen in sorted((result.by_id or {}).items()):
                if rid in tagged_ids[rtype] or seen.gone:
                    continue
                why = ""
                if value in seen.name.lower() or value in rid.lower():
                    why = f"named like {self.settings.tag_value!r}"
                elif key in seen.tags:
                    why = f"tag {key}={seen.tags[key]!r} instead of {self.settings.tag_value!r}"
                elif set(seen.attributes.get("attached_to") or ()) & tagged_ids["ec2:instance"]:
                    why = "attached to a tagged instance"
                if why:
                    yield replace(seen, why=why)


def _platform(inst: Any) -> str | None:
    """The billing platform of an instance, or None when Describe does not say.

    ``PlatformDetails`` names it (EC2 User Guide, "AMI billing information fields"). AWS
    documents no default when it is missing, and ``Platform`` ("windows for Windows instances;
    otherwise, it is empty", EC2 API Reference, Instance) tells neither Windows from Windows
    with SQL Server nor Linux/UNIX from RHEL or SUSE: the platform stays unknown and the
    instance unpriced rather than priced as Linux.
    """
    details = inst.get("PlatformDetails")
    return str(details) if details else None


def discover(
    settings: Settings, clients: AwsClients, conn: psycopg.Connection[Any], now: datetime
) -> DiscoveryReport:
    """Run discovery and upsert the result in one transaction.

    Raises:
        AwsError: the tagging API failed (the table is left as it was).
    """
    disco = Discovery(settings, clients)
    retries_before = clients.retry_count
    tagged = disco.tagged_arns()
    described = disco.describe_all()
    seen = disco.resolve(tagged, described)
    failed_types = [t for t, d in described.items() if d.by_id is None]
    report = disco.report
    report.aws_retries = clients.retry_count - retries_before
    with conn.transaction():
        report.new, newly_gone = _upsert(conn, seen, now)
        report.gone = sorted(
            newly_gone + _mark_gone(conn, seen, now, settings.aws_region, failed_types)
        )
        _record_states(conn, seen, report.gone, now)
    for s in seen:
        if s.tagged and not s.gone:
            report.tagged[s.type] = report.tagged.get(s.type, 0) + 1
    report.untagged = [s for s in seen if not s.tagged]
    return report


def _upsert(
    conn: psycopg.Connection[Any], seen: list[Seen], now: datetime
) -> tuple[list[str], list[str]]:
    """Insert or refresh each resource; return the ARNs new to us, and those just gone."""
    new: list[str] = []
    gone: list[str] = []
    for s in seen:
        row = conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
            " state, attributes, first_seen, last_seen, gone_at)"
            " VALUES (%(arn)s, %(type)s, %(rid)s, %(name)s, %(region)s, %(tags)s, %(tagged)s,"
            " %(state)s, %(attrs)s, %(now)s, %(now)s, CASE WHEN %(gone)s THEN %(now)s END)"
            " ON CONFLICT (arn) DO UPDATE SET name = EXCLUDED.name, region = EXCLUDED.region,"
            " tags = EXCLUDED.tags, tagged = EXCLUDED.tagged,"
            " state = coalesce(EXCLUDED.state, resources.state),"
            " attributes = CASE WHEN EXCLUDED.attributes = '{}' THEN resources.attributes"
            "   ELSE EXCLUDED.attributes END,"
            # first/last seen are the earliest and latest sightings, whatever order the
            # discoveries ran in (a back-filled history may be discovered after the present)
            " first_seen = least(resources.first_seen, EXCLUDED.first_seen),"
            " last_seen = greatest(resources.last_seen, EXCLUDED.last_seen),"
            " gone_at = CASE WHEN %(gone)s THEN coalesce(resources.gone_at, %(now)s) END"
            " RETURNING (xmax = 0), gone_at IS NOT DISTINCT FROM %(now)s",
            {
                "arn": s.arn,
                "type": s.type,
                "rid": s.resource_id,
                "name": s.name,
                "region": s.region,
                "tags": Jsonb(s.tags),
                "tagged": s.tagged,
                "state": s.state,
                "attrs": Jsonb(s.attributes),
                "now": now,
                "gone": s.gone,
            },
        ).fetchone()
        if row and row[0]:
            new.append(s.arn)
        if row and row[1] and s.gone:
            gone.append(s.arn)
    return new, gone


def _record_states(
    conn: psycopg.Connection[Any], seen: list[Seen], gone: list[str], now: datetime
) -> None:
    """Each observation's state and attributes into the history; ``deleted`` at ``gone_at``.

    Read back after the upsert, which keeps the last known state and attributes when Describe
    said nothing of them (a failed call): a resource not described is not observed again.
    """
    described = [s.arn for s in seen if s.state is not None and not s.gone]
    rows = conn.execute(
        "SELECT id, arn, state, attributes, gone_at FROM metrics.resources"
        " WHERE arn = ANY(%s) ORDER BY id",
        (described + gone,),
    ).fetchall()
    gone_arns = set(gone)
    for rid, arn, state, attributes, gone_at in rows:
        if arn in gone_arns and gone_at is not None:
            record_state(conn, rid, gone_at, "deleted", attributes, "discovery")
        elif arn not in gone_arns and state is not None:
            record_state(conn, rid, now, state, attributes, "discovery")


def _mark_gone(
    conn: psycopg.Connection[Any],
    seen: list[Seen],
    now: datetime,
    region: str,
    failed_types: list[ResourceType],
) -> list[str]:
    """Mark resources of this region that were not seen at all as gone; return their ARNs.

    Types whose Describe call failed are left alone for look-alikes (we could not look), but a
    tagged resource missing from the tagging API is gone whatever Describe said.
    """
    rows = conn.execute(
        "UPDATE metrics.resources SET gone_at = %(now)s"
        " WHERE gone_at IS NULL AND NOT (arn = ANY(%(seen)s))"
        " AND (region = %(region)s OR type = 's3:bucket')"
        " AND (tagged OR NOT (type = ANY(%(failed)s)))"
        " RETURNING arn",
        {"now": now, "seen": [s.arn for s in seen], "region": region, "failed": failed_types},
    ).fetchall()
    return [r[0] for r in rows]
