"""``locxia ingest | refine | publish | rollback | transfer | datasets``: the feed, by hand.

Each command runs the same task the scheduler runs (``layers.*``) through the recorded
runner, so a manual ingest is a row in ``ops.runs`` like a scheduled one. Progress is drawn
with Rich while the task reports it; the result (profile, quality report, version) is read
from the run's details.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from infra.cli.errors import checked_by, name_of
from infra.cli.output import console, emit_history, emit_json, table
from infra.cli.run import run_task
from infra.cli.state import state
from infra.jobs.model import RunResult
from pipelines.feed.model import dataset_name
from pipelines.feed.progress import Unit

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _table_name(text: str) -> str:
    from pipelines.feed.transfer import parse_table

    parse_table(text, "SCHEMA.TABLE")
    return text


def _source(text: str) -> str:
    from pipelines.feed.sources import check_local, check_remote, source_kind

    if source_kind(text) in ("http", "s3"):
        check_remote(text)  # a lone .shp/.mif/.tab by URL: refused before a run is recorded
    check_local(text)  # a directory is refused here, before a run is recorded
    return text


def _remote(text: str) -> str:
    from urllib.parse import urlsplit

    from infra.errors import InputError

    if urlsplit(text).scheme not in ("http", "https", "s3"):
        raise InputError(f"{text!r}: expected an http(s):// or s3:// URL")
    return text


def _postgres_url(text: str) -> str:
    from urllib.parse import urlsplit

    from infra.errors import InputError

    if urlsplit(text).scheme not in ("postgresql", "postgres"):
        raise InputError("expected a postgresql://[user@]host[:port]/dbname URL")
    return text


# Names and URLs are checked as typed, before anything runs: a bad one is a usage error (2).
DatasetArg = Annotated[
    str,
    typer.Argument(
        help="Dataset name (lowercase, digits, _).", parser=name_of("dataset name", dataset_name)
    ),
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset", "-d", help="Dataset name.", parser=name_of("dataset name", dataset_name)
    ),
]
PostgresUrl = checked_by(_postgres_url)
datasets_app = typer.Typer(
    help="Declared datasets and what the feed did with them.", no_args_is_help=True
)
transfer_app = typer.Typer(
    help="Move data: a table between two databases, or a URL into landing.",
    no_args_is_help=True,
)


def _amount_column() -> Any:
    """A Rich column showing what a step counts: bytes as sizes, rows as ``done/total rows``."""
    from rich.progress import DownloadColumn, ProgressColumn, Task
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        """Bytes (KiB, MiB…) or rows, per the unit the step declared."""

        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn(binary_units=True)

        def render(self, task: Task) -> Text:
            """``12,000/500,000 rows`` (or ``12,000 rows`` without a total), else sizes."""
            if task.fields.get("unit") != "rows":
                return self._bytes.render(task)
            done = f"{int(task.completed):,}"
            total = f"/{int(task.total):,}" if task.total is not None else ""
            return Text(f"{done}{total} rows", style="progress.download")

    return AmountColumn()


class RichBars:
    """A progress reporter drawing one Rich bar per step (on stderr, only on a terminal)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from infra.cli.output import err_console

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _amount_column(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> RichBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, label: str, total: float | None, unit: Unit = "bytes") -> None:
        """Open a bar counting ``unit``."""
        self._task = self._progress.add_task(label, total=total, unit=unit)

    def advance(self, amount: float) -> None:
        """Move the bar."""
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        """Close the bar."""
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


@contextmanager
def _bars(enabled: bool) -> Iterator[None]:
    from infra.cli.output import err_console
    from pipelines.feed.progress import listening

    if not enabled or not err_console.is_terminal:
        yield
        return
    with RichBars() as bars, listening(bars):
        yield


def _run(ctx: typer.Context, task: str, args: Mapping[str, Any], as_json: bool) -> dict[str, Any]:
    """Run ``task`` recorded in ops.runs: its details and run id.

    A failed run still shows what it left — the quality report, or with ``--json`` the whole
    result — before its one error line.
    """

    def show_failure(result: RunResult) -> None:
        details = dict(result.details)
        if as_json:
            emit_json(
                {"run_id": result.run_id, "status": "failed", "error": result.error, **details}
            )
        elif details.get("quality"):
            _print_quality(details["quality"])

    with _bars(not as_json):
        result = run_task(
            ctx, task, {k: v for k, v in args.items() if v is not None}, on_failure=show_failure
        )
    return {**dict(result.details), "run_id": result.run_id}


def _print_quality(report: Mapping[str, Any]) -> None:
    rows = [
        ("[green]ok[/green]" if c["passed"] else "[red]FAIL[/red]", c["rule"], escape(c["detail"]))
        for c in report.get("checks", [])
    ]
    if rows:
        console.print(table("Quality", ["", "rule", "detail"], rows))


def _print_profile(profile: Mapping[str, Any] | None) -> None:
    if not profile:
        return
    layers = profile.get("layers") or []
    if len(layers) > 1:
        console.print(f"layers: {', '.join(layers)} (read: [bold]{profile.get('layer')}[/bold])")
    bbox = profile.get("bbox")
    crs = profile.get("crs")
    rows = [
        ("driver", profile.get("driver")),
        ("layer", profile.get("layer")),
        ("rows", profile.get("rows")),
        ("crs", crs if not crs or len(str(crs)) < 60 else "custom (WKT in provenance)"),
        ("bbox", ", ".join(f"{v:.4f}" for v in bbox) if bbox else None),
        ("geometry types", ", ".join(profile.get("geometry_types") or []) or None),
        ("encoding", profile.get("encoding")),
        ("fields", ", ".join(profile.get("fields") or []) or None),
    ]
    console.print(table("Profile", ["", ""], rows))


def _done(details: Mapping[str, Any], verb: str) -> None:
    if details.get("noop"):
        console.print(f"nothing to do: version {details['version_id']} is already {verb}")
    else:
        rows = details.get("rows")
        counted = f"{rows} rows, " if rows is not None else ""  # transfer url reads no layer
        console.print(
            f"{verb} version [bold]{details['version_id']}[/bold] → {escape(details['uri'])}"
            f" ({counted}run {details['run_id']})"
        )


def ingest(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="A file path, an http(s):// URL or an s3:// URI.",
            parser=name_of("source", _source),
        ),
    ],
    dataset: DatasetOpt,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            "-l",
            help="Layer to read when the file has several.",
            parser=name_of("layer name"),
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Land a layer's raw bytes in the landing zone (checksum, provenance, profile).

    Any format GDAL reads: GeoPackage, Shapefile and MapInfo (.shp/.mif/.tab with their
    parts, gathered from the folder, or zipped), GeoJSON, FlatGeobuf, KML, GML, OSM PBF,
    GeoParquet, CSV with a WKT column or lon/lat columns. The same bytes twice is a no-op; a
    file that does not read is recorded as rejected, with the reason.

    Examples:
      locxia ingest ./batiments.gpkg --dataset batiments --layer batiment
      locxia ingest ./communes.tab -d communes
      locxia ingest https://example.org/piscines.zip -d piscines
      locxia ingest s3://raw-bucket/risques/ppr.fgb -d ppr
    """
    details = _run(
        ctx, "layers.ingest", {"dataset": dataset, "source": source, "layer": layer}, as_json
    )
    if as_json:
        emit_json(details)
        return
    _print_profile(details.get("profile"))
    _done(details, "landed")


def refine(
    ctx: typer.Context,
    dataset: DatasetArg,
    version: Annotated[
        int | None, typer.Option(min=1, help="Landing version id (default: newest).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check, repair and reproject the newest landed version into working (GeoParquet 1.1).

    Rules come from params.datasets (crs, geometry_types, bounds, required_columns,
    id_column, min_rows, max_rows, encoding, repair, null_geometries). A failing layer
    stays in landing with its quality report; nothing is written to working.

    Example:
      locxia refine batiments
    """
    details = _run(ctx, "layers.refine", {"dataset": dataset, "version": version}, as_json)
    if as_json:
        emit_json(details)
        return
    if details.get("quality"):
        _print_quality(details["quality"])
        for clash in details["quality"].get("column_collisions") or []:
            renamed = ", ".join(f"{s!r} → {d!r}" for s, d in clash["renamed"].items())
            console.print(
                escape(f"{clash['line']}: renamed {renamed}"), highlight=False, soft_wrap=True
            )
    _done(details, "refined")


def publish(
    ctx: typer.Context,
    dataset: DatasetArg,
    version: Annotated[
        int | None, typer.Option(min=1, help="Working version id (default: newest).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the newest working version into PostGIS as exposure.<name> and swap it in.

    Readers see the old table or the new one, never a partial one; the previous version is
    kept for `locxia rollback`. Publishing the live version again is a no-op.

    Example:
      locxia publish batiments
    """
    details = _run(ctx, "layers.publish", {"dataset": dataset, "version": version}, as_json)
    if as_json:
        emit_json(details)
        return
    _done(details, "published")


def rollback(ctx: typer.Context, dataset: DatasetArg, as_json: JsonOpt = False) -> None:
    """Serve the previous published version of a dataset again (run twice to roll forward).

    Example:
      locxia rollback batiments
    """
    details = _run(ctx, "layers.rollback", {"dataset": dataset}, as_json)
    if as_json:
        emit_json(details)
        return
    console.print(f"exposure.{dataset} now serves version [bold]{details['version_id']}[/bold]")


@transfer_app.command("table")
def transfer_table(
    ctx: typer.Context,
    table_name: Annotated[
        str,
        typer.Argument(
            metavar="SCHEMA.TABLE", help="Table to copy.", parser=name_of("table name", _table_name)
        ),
    ],
    source_url: Annotated[
        str, typer.Option("--from", help="Source postgresql:// URL.", parser=PostgresUrl)
    ],
    target_url: Annotated[
        str, typer.Option("--to", help="Target postgresql:// URL.", parser=PostgresUrl)
    ],
    target_table: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Target SCHEMA.TABLE (default: the same).",
            parser=name_of("table name", _table_name),
        ),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Replace the target table if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy a table between two PostgreSQL databases with streamed binary COPY.

    The target is created, loaded, indexed and swapped in one transaction.

    Example:
      locxia transfer table exposure.batiments --from postgresql://prod/geo
          --to postgresql://analytics/geo --as public.batiments --replace
    """
    details = _run(
        ctx,
        "layers.transfer-table",
        {
            "source_url": source_url,
            "target_url": target_url,
            "table": table_name,
            "target_table": target_table,
            "replace": replace,
        },
        as_json,
    )
    if as_json:
        emit_json(details)
        return
    console.print(f"copied {details['rows']} rows: {details['source']} → {details['target']}")


@transfer_app.command("url")
def transfer_url(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Argument(help="An http(s):// URL or s3:// URI.", parser=checked_by(_remote))
    ],
    dataset: DatasetOpt,
    as_json: JsonOpt = False,
) -> None:
    """Copy an external file into the landing zone as-is (no format check; see ingest).

    Example:
      locxia transfer url https://example.org/export.zip --dataset cadastre
    """
    details = _run(ctx, "layers.transfer-url", {"url": url, "dataset": dataset}, as_json)
    if as_json:
        emit_json(details)
        return
    _done(details, "landed")


@datasets_app.command("list")
def list_datasets(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every dataset: latest version per zone, live rows, rejections, schedule."""
    from infra.db import connect
    from pipelines.feed import catalog

    with connect(state(ctx).settings.require_database_url()) as conn:
        rows = catalog.summary(conn)
    if as_json:
        emit_json(rows)
        return
    keys = ["name", "cron", "landing", "working", "exposure", "rows", "rejected", "updated"]
    shown = [*keys, "last rejection"]
    console.print(
        table("Datasets", shown, [[*(r[k] for k in keys), r["last_rejection"]] for r in rows])
    )


@datasets_app.command("show")
def show_dataset(ctx: typer.Context, dataset: DatasetArg, as_json: JsonOpt = False) -> None:
    """Versions (zone, status, rows, checksum, quality) and lineage of one dataset."""
    from dataclasses import asdict

    from infra.db import connect
    from infra.errors import InputError
    from pipelines.feed import catalog

    with connect(state(ctx).settings.require_database_url()) as conn:
        declared = catalog.all_datasets(conn)
        versions = catalog.versions(conn, dataset)
        edges = catalog.lineage(conn, dataset)
        costs = _dataset_costs(conn, dataset)
    row = next((d for d in declared if d["name"] == dataset), None)
    if row is None and not versions:
        raise InputError(f"no dataset {dataset!r} (see `locxia datasets list`)")
    if as_json:
        emit_json(
            {
                "dataset": row,
                "versions": [asdict(v) for v in versions],
                "lineage": edges,
                "costs": costs,
            }
        )
        return
    if row:
        declared_as = {k: row[k] for k in ("source", "layer", "cron") if row[k] is not None}
        console.print(
            f"[bold]{dataset}[/bold] "
            + escape(
                " ".join(f"{k}={v}" for k, v in declared_as.items())
                + f" rules={json.dumps(row['rules'])}"
            )
        )
    console.print(_versions_table(versions))
    console.print(_lineage_table(edges))
    if costs:
        console.print(_costs_table(costs))
    failed = next((v for v in versions if v.status == "rejected"), None)
    if failed:
        console.print(
            escape(f"last rejection (version {failed.id}, {failed.rejected_by}): {failed.reason}"),
            highlight=False,
            soft_wrap=True,
        )
        if failed.quality and failed.quality.get("checks"):
            _print_quality(failed.quality)


def _dataset_costs(conn: Any, dataset: str) -> list[dict[str, Any]]:
    """What feeding ``dataset`` cost per month (every feed run of it: reporting.dataset_costs)."""
    rows = conn.execute(
        "SELECT month, runs, usd, api_usd, compute_usd, unpriced_runs"
        " FROM reporting.dataset_costs WHERE dataset = %s ORDER BY month DESC",
        (dataset,),
    ).fetchall()
    keys = ("month", "runs", "usd", "api_usd", "compute_usd", "unpriced_runs")
    return [
        {k: float(v) if k.endswith("usd") else v for k, v in zip(keys, r, strict=True)}
        for r in rows
    ]


def _costs_table(costs: list[dict[str, Any]]) -> Any:
    return table(
        "Cost per month (every feed run: AWS API spend + compute share)",
        ["month", "runs", "usd", "API", "compute", "unpriced runs"],
        [
            (
                c["month"].isoformat(),
                c["runs"],
                f"{c['usd']:.6f}",
                f"{c['api_usd']:.6f}",
                f"{c['compute_usd']:.6f}",
                c["unpriced_runs"],
            )
            for c in costs
        ],
    )


def _versions_table(versions: list[Any]) -> Any:
    columns = ["id", "zone", "status", "rows", "bytes", "crs", "types", "sha256", "quality"]
    rows = []
    for v in versions:
        crs = v.crs if v.crs and len(v.crs) < 30 else (v.crs and "custom")
        verdict = None if v.quality is None else ("passed" if v.quality.get("passed") else "failed")
        rows.append(
            (
                v.id,
                v.zone,
                v.status,
                v.rows,
                v.bytes,
                crs,
                ",".join(v.geometry_types),
                v.checksum[:12],
                verdict,
            )
        )
    rejected = any(v.status == "rejected" for v in versions)
    return table(
        "Versions",
        [*columns, "created", *(["rejected by: reason"] if rejected else [])],
        [
            (
                *r,
                v.created_at.isoformat(timespec="seconds"),
                *(
                    [escape(f"{v.rejected_by}: {v.reason}") if v.reason else None]
                    if rejected
                    else []
                ),
            )
            for r, v in zip(rows, versions, strict=True)
        ],
    )


def _lineage_table(edges: list[dict[str, Any]]) -> Any:
    return table(
        "Lineage",
        ["step", "from", "to", "rows", "ms", "at"],
        [
            (
                e["step"],
                e["from_version_id"] or escape(e["from_uri"]),
                e["to_version_id"] or escape(e["to_uri"]),
                e["rows"],
                e["duration_ms"],
                e["started_at"].isoformat(timespec="seconds"),
            )
            for e in edges
        ],
    )


AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="A label recorded in the history beside your database login (default: OS user).",
    ),
]


@datasets_app.command("set")
def set_dataset(
    ctx: typer.Context,
    dataset: DatasetArg,
    changes: Annotated[list[str], typer.Argument(help="key=value pairs (rules or columns).")],
    as_user: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare or change a dataset's rules and schedule; validated, recorded in the history.

    Rules: crs (the CRS of a file that has none; must match the file's when it has one),
    crs_override (replaces a wrong .prj), encoding, geometry_types (comma-separated),
    bounds (xmin,ymin,xmax,ymax in EPSG:2154), max_outside, required_columns, id_column (the
    exposure's key), min_rows, max_rows, repair, null_geometries, where (OGR SQL row filter),
    max_suspect_text. Columns: source, layer, cron, timezone, enabled, note. An empty value
    clears (the rule's default).

    Examples:
      locxia datasets set roads crs_override=EPSG:2154 encoding=CP1252

      locxia datasets set roads "where=nature = 'Route'" id_column=cleabs --as alice

      locxia datasets set roads cron="0 3 * * *" min_rows=1000 max_outside=
    """
    from infra.cli.errors import usage_errors
    from infra.cli.state import actor
    from infra.db import connect
    from pipelines.feed import declared

    who = actor(ctx, as_user)
    with usage_errors(ctx):
        rules, columns = declared.parse_assignments(dataset, changes)
    settings = state(ctx).settings
    with connect(settings.require_database_url(), application_name="locxia:datasets") as conn:
        change = declared.set_dataset(conn, dataset, rules, columns, actor=who)
    diff = change.diff()
    if as_json:
        emit_json(
            {
                "name": dataset,
                "created": change.before is None,
                "changed": {k: list(v) for k, v in diff.items()},
                "by": who,
            }
        )
        return
    if not diff:
        console.print(f"{dataset}: nothing changed")
        return
    verb = "created" if change.before is None else "changed"
    console.print(f"{dataset}: {verb} by {escape(who)}")
    _print_changes(diff)


@datasets_app.command("history")
def dataset_history(
    ctx: typer.Context,
    dataset: DatasetArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Who changed a dataset's row, and what, newest first (ids are for `datasets revert`).

    Example: locxia datasets history roads
    """
    from infra.db import connect
    from pipelines.feed import declared

    with connect(state(ctx).settings.require_database_url()) as conn:
        entries = declared.history(conn, dataset, limit)
    emit_history(dataset, entries, declared.show, as_json)


@datasets_app.command("revert")
def revert_dataset(
    ctx: typer.Context,
    dataset: DatasetArg,
    change: Annotated[
        int | None,
        typer.Option("--change", min=1, help="History id to undo (default: the latest)."),
    ] = None,
    as_user: AsOpt = None,
) -> None:
    """Put a dataset's row back as it was before a change (itself a new, audited change).

    Example: locxia datasets revert roads --change 42
    """
    from infra.cli.state import actor
    from infra.db import connect
    from pipelines.feed import declared

    who = actor(ctx, as_user)
    with connect(
        state(ctx).settings.require_database_url(), application_name="locxia:datasets"
    ) as conn:
        result = declared.revert(conn, dataset, change, actor=who)
    console.print(f"{dataset}: reverted by {escape(who)}")
    _print_changes(result.diff())


def _print_changes(diff: Mapping[str, tuple[Any, Any]]) -> None:
    from pipelines.feed.declared import show

    for key, (old, new) in diff.items():
        console.print(escape(f"  {key}: {show(old)} → ") + f"[bold]{escape(show(new))}[/bold]")
