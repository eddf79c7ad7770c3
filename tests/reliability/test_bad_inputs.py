# ruff: noqa: E501  (a table: one case a line reads better than wrapped strings)
"""A table of bad inputs: files, flags, names, settings, URLs and parameter rows.

Each command case asserts the documented exit code (2: usage, 1: failure), one error line, no
traceback, no secret, and that NOTHING was written: a digest of every row of every table of
the params, ops, metrics, costs and exposure schemas and of every file in the zones is the
same before and after. The one record allowed is the run's own ``failed`` row in ops.runs:
a refused run is audited like any other (ops.runs records every run and how it ended). A usage error is Click's usage block, whose error box holds one line
(the terminal is 200 columns wide); a failure is exactly one ``error: ...`` line.

Parameter rows are inserted as the ``locxia_editor`` role, as an editor would with psql: each
must be refused by the database itself (a constraint, a trigger or a privilege), leaving the
same digest.

The commands run in-process through the ``cli`` fixture of tests/e2e/test_every_command.py.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from infra.db import connect
from tests.e2e.test_every_command import PASSWORD, TRACEBACK, Outcome
from tests.reliability.conftest import SCHEMAS, tables
from tests.support import formats, geodata, pg

#: A fixed database password, so that "no secret shown" can be checked in every line.
SECRET_URL = f"postgresql://locxia:{PASSWORD}@127.0.0.1:1/nowhere"


@pytest.fixture(scope="module")
def quiet_db(admin_url: str, template_url: str) -> Iterator[str]:
    """One migrated database for the whole table: a case that writes shows in the digest."""
    url = pg.create_db(admin_url, "locxia_bad", template=urlsplit(template_url).path[1:])
    with connect(url) as conn:  # something in the tables the commands could damage
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version) VALUES ('work-db', 'rds', 'db.t4g.large', 100, 'postgres', '16')"
        )
        conn.execute(
            "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('all', 'total', 50)"
        )
        conn.commit()
    yield url
    pg.drop_db(admin_url, url)


#: What a refused command may write: the record of its own failure (a failed run, and the
#: ``job_failing`` notification once a job has failed several times in a row).
FAILURE_RECORDS = {
    ("ops", "runs"): "WHERE status <> 'failed'",
    ("ops", "notifications"): "WHERE kind <> 'job_failing'",
}


def digest(url: str, *folders: Path) -> dict[str, str]:
    """Row digests of every table of the written schemas (one query) and the files."""
    parts = [
        sql.SQL(
            "SELECT {name}, count(*)::text || ':' || md5(coalesce(string_agg(md5(t::text), ','"
            " ORDER BY md5(t::text)), '')) FROM {table} AS t {where}"
        ).format(
            name=sql.Literal(f"{s}.{t}"),
            table=sql.Identifier(s, t),
            where=sql.SQL(FAILURE_RECORDS.get((s, t), "")),
        )
        for s, t in tables(url, SCHEMAS)
    ]
    with connect(url) as conn:
        found = dict(conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall())
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            found[str(path)] = str(path.stat().st_size) if path.is_file() else "dir"
    return found


# --- the bad files ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad files, each named for what is wrong with it."""
    folder = tmp_path_factory.mktemp("bad-files")
    (folder / "empty.gpkg").write_bytes(b"")
    (folder / "empty.geojson").write_bytes(b"")
    (folder / "empty.zip").write_bytes(b"")
    (folder / "random.gpkg").write_bytes(bytes(range(256)) * 64)
    (folder / "random.fgb").write_bytes(b"\x00\xff" * 4096)
    (folder / "random.parquet").write_bytes(b"PAR1" + b"\x01" * 1000)
    (folder / "truncated.parquet").write_bytes(b"PAR1garbage-without-footer")
    (folder / "text.shp").write_text("not a shapefile\n")
    (folder / "png.geojson").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    (folder / "invalid.geojson").write_text('{"type": "FeatureCollection", "features": [')
    (folder / "not-geo.geojson").write_text(json.dumps({"hello": "world"}))
    (folder / "nulls.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": None, "properties": {"a": 1}}] * 3,
            }
        )
    )
    (folder / "no-features.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": []})
    )
    (folder / "huge-header.geojson").write_text(
        '{"type": "FeatureCollection", "name": "' + "x" * 5_000_000 + '", "features": [}'
    )
    (folder / "huge-header.csv").write_text("a" * 3_000_000 + "\n1\n")
    (folder / "binary.csv").write_bytes(b"\x00\x01\x02" * 1000)
    (folder / "unknown.xyz").write_text("what is this")
    (folder / "no-extension").write_bytes(b"\x00" * 64)
    (folder / "a-folder").mkdir()
    (folder / "utf16.geojson").write_bytes('{"type": "FeatureCollection"'.encode("utf-16"))
    conn = sqlite3.connect(folder / "sqlite-no-tables.gpkg")
    conn.execute("CREATE TABLE t (a int)")
    conn.commit()
    conn.close()
    with zipfile.ZipFile(folder / "zip-no-shapefile.zip", "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with zipfile.ZipFile(folder / "zip-traversal.zip", "w") as zf:
        zf.writestr("../../../../tmp/locxia-escaped.shp", "x")
        zf.writestr("../../../../tmp/locxia-escaped.dbf", "x")
    with zipfile.ZipFile(folder / "zip-absolute.zip", "w") as zf:
        zf.writestr("/tmp/locxia-absolute.shp", "x")
    with zipfile.ZipFile(folder / "zip-bomb-ish.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("layer.shp", b"\x00" * 20_000_000)
    (folder / "corrupt.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    layer = geodata.layer_table(20, seed=2)
    (folder / "shp-parts").mkdir()
    formats.shapefile(layer, folder / "shp-parts")
    with zipfile.ZipFile(folder / "zip-shp-only.zip", "w") as zf:  # no .shx / .dbf
        zf.write(folder / "shp-parts" / "shp" / "buildings.shp", "buildings.shp")
    with zipfile.ZipFile(folder / "nested.zip", "w") as zf:
        zf.write(folder / "zip-shp-only.zip", "inner.zip")
    with zipfile.ZipFile(folder / "zip-random-shp.zip", "w") as zf:
        for ext in ("shp", "shx", "dbf"):
            zf.writestr(f"layer.{ext}", bytes(range(256)) * 8)
    (folder / "array.geojson").write_text("[1, 2, 3]")
    (folder / "good").mkdir()
    good, _ = formats.flatgeobuf(layer, folder / "good")
    (folder / "truncated.fgb").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    whole = geodata.write_gpkg(folder / "good" / "whole.gpkg", 50, seed=3)
    (folder / "truncated.gpkg").write_bytes(whole.read_bytes()[:4096])
    whole.unlink()
    link = folder / "passwd.geojson"
    link.symlink_to("/etc/passwd")
    (folder / "dangling.gpkg").symlink_to(folder / "does-not-exist.gpkg")
    return folder


#: (id, file under the bad folder, exit code)
FILES = [
    ("empty-gpkg", "empty.gpkg", 1),
    ("empty-geojson", "empty.geojson", 1),
    ("empty-zip", "empty.zip", 1),
    ("random-bytes-gpkg", "random.gpkg", 1),
    ("random-bytes-fgb", "random.fgb", 1),
    ("random-parquet", "random.parquet", 1),
    ("truncated-parquet", "truncated.parquet", 1),
    ("text-as-shapefile", "text.shp", 1),
    ("png-as-geojson", "png.geojson", 1),
    ("invalid-json", "invalid.geojson", 1),
    ("json-not-geojson", "not-geo.geojson", 1),
    ("huge-header-geojson", "huge-header.geojson", 1),
    ("unknown-extension", "unknown.xyz", 1),
    ("no-extension", "no-extension", 1),
    ("a-directory", "a-folder", 2),
    ("utf16-geojson", "utf16.geojson", 1),
    ("sqlite-without-layers", "sqlite-no-tables.gpkg", 1),
    ("zip-without-shapefile", "zip-no-shapefile.zip", 1),
    ("zip-path-traversal", "zip-traversal.zip", 1),
    ("zip-absolute-member", "zip-absolute.zip", 1),
    ("zip-mostly-zeros", "zip-bomb-ish.zip", 1),
    ("corrupt-zip", "corrupt.zip", 1),
    ("zip-shp-without-dbf", "zip-shp-only.zip", 1),
    ("symlink-to-etc-passwd", "passwd.geojson", 1),
    ("dangling-symlink", "dangling.gpkg", 1),
    ("missing-file", "nope.gpkg", 1),
    ("truncated-gpkg", "truncated.gpkg", 1),
    ("zip-in-a-zip", "nested.zip", 1),
    ("zip-random-shapefile", "zip-random-shp.zip", 1),
    ("json-array", "array.geojson", 1),
    ("dev-null", "/dev/null", 1),
    ("proc-environ", "/proc/self/environ", 1),
    ("traversal-in-path", "../../../../etc/shadow", 1),
]

#: (id, arguments, exit code): flags, names and values the command line refuses or fails on.
COMMANDS: list[tuple[str, list[str], int]] = [
    # flags
    ("unknown-command", ["frobnicate"], 2),
    ("unknown-option", ["runs", "list", "--frob"], 2),
    ("limit-not-a-number", ["runs", "list", "--limit", "many"], 2),
    ("limit-negative", ["runs", "list", "--limit", "-1"], 2),
    ("limit-zero", ["runs", "list", "--limit", "0"], 2),
    ("status-unknown", ["runs", "list", "--status", "exploded"], 2),
    ("run-id-not-a-number", ["runs", "show", "abc"], 2),
    ("run-id-huge", ["runs", "show", "99999999999999999999999"], 1),
    ("run-id-unknown", ["runs", "show", "424242"], 1),
    ("days-zero", ["observe", "costs", "--days", "0"], 2),
    ("days-too-many", ["observe", "costs", "--days", "91"], 2),
    ("days-text", ["observe", "costs", "--days", "week"], 2),
    ("flag-clash", ["observe", "costs", "--estimate-only", "--days", "3"], 2),
    ("since-text", ["observe", "collect", "--since", "yesterday"], 2),
    ("since-future", ["observe", "collect", "--since", "2999-01-01"], 2),
    ("since-negative", ["observe", "collect", "--since", "-5m"], 2),
    ("since-injection", ["observe", "collect", "--since", "1h'; DROP TABLE ops.runs;--"], 2),
    ("policy-unknown", ["observe", "collect", "--policy", "nope"], 1),
    ("policy-injection", ["observe", "collect", "--policy", "x' OR '1'='1"], 1),
    ("resource-type-unknown", ["observe", "resources", "--type", "vm"], 2),
    ("trigger-timeout-negative", ["jobs", "trigger", "core.noop", "--timeout", "-3"], 2),
    ("trigger-unknown-job", ["jobs", "trigger", "no.such.job", "--timeout", "1"], 1),
    ("run-unknown-task", ["jobs", "run", "no.such.task"], 1),
    ("run-arg-without-equals", ["jobs", "run", "core.noop", "--arg", "sleep"], 2),
    ("run-arg-bad-json", ["jobs", "run", "core.noop", "--arg", "sleep_seconds={"], 2),
    ("run-arg-unknown", ["jobs", "run", "core.noop", "--arg", "colour=1"], 1),
    ("report-month-bad", ["report", "--month", "2026-13"], 2),
    ("report-month-text", ["report", "--month", "last"], 2),
    ("report-out-in-missing-dir", ["report", "--out", "/nonexistent/dir/r.html"], 1),
    ("dashboard-unknown", ["dashboards", "check", "--dashboard", "nope"], 2),
    ("history-limit-text", ["params", "history", "work-db", "--limit", "x"], 2),
    ("infra-status-limit-text", ["infra", "status", "--limit", "x"], 2),
    ("approve-run-text", ["infra", "approve", "abc"], 2),
    ("approve-run-unknown", ["infra", "approve", "999999"], 1),
    ("approve-blank-actor", ["infra", "approve", "1", "--as", "  "], 2),
    ("serve-for-negative", ["serve", "--for", "-1"], 2),
    ("refine-version-unknown", ["refine", "roads", "--version", "999999"], 1),
    ("publish-version-text", ["publish", "roads", "--version", "v1"], 2),
    ("revert-change-unknown", ["params", "revert", "work-db", "--change", "999999"], 1),
    # names
    ("params-set-empty-name", ["params", "set", "", "instance_class=db.t4g.small"], 2),
    ("params-set-blank-name", ["params", "set", "   ", "instance_class=db.t4g.small"], 2),
    ("params-set-quote-name", ["params", "set", "bad'name", "instance_class=db.t4g.small"], 2),
    (
        "params-set-injection-name",
        ["params", "set", "x;DROP TABLE params.instances", "kind=rds"],
        2,
    ),
    ("params-set-long-name", ["params", "set", "a" * 41, "kind=rds"], 2),
    ("params-set-unicode-name", ["params", "set", "base-données", "kind=rds"], 2),
    ("params-set-newline-name", ["params", "set", "work-db\nx", "kind=rds"], 2),
    ("params-set-unknown-column", ["params", "set", "work-db", "colour=red"], 2),
    ("params-set-no-equals", ["params", "set", "work-db", "instance_class"], 2),
    ("params-set-bad-json", ["params", "set", "work-db", "schedule=[oops"], 2),
    ("params-set-blank-actor", ["params", "set", "work-db", "storage=120", "--as", "\t"], 2),
    ("params-set-control-actor", ["params", "set", "work-db", "storage=120", "--as", "a\x1bb"], 2),
    ("params-set-bad-kind", ["params", "set", "new-db", "kind=mainframe", "class=x"], 1),
    ("params-set-storage-text", ["params", "set", "work-db", "storage=lots"], 1),
    ("params-set-storage-negative", ["params", "set", "work-db", "storage=-5"], 1),
    ("params-set-storage-shrink", ["params", "set", "work-db", "storage=10"], 1),
    ("params-set-unknown-class", ["params", "set", "work-db", "class=db.imaginary"], 1),
    ("params-set-injection-version", ["params", "set", "work-db", "engine_version=16;drop"], 1),
    ("params-set-unknown-state", ["params", "set", "work-db", "state=maybe"], 1),
    ("params-history-empty-name", ["params", "history", ""], 2),
    ("params-history-blank-name", ["params", "history", " "], 2),
    ("params-revert-empty-name", ["params", "revert", ""], 2),
    ("params-revert-unknown", ["params", "revert", "nope"], 1),
    ("datasets-show-empty", ["datasets", "show", ""], 2),
    ("datasets-show-traversal", ["datasets", "show", "../etc"], 2),
    ("datasets-show-unknown", ["datasets", "show", "nope"], 1),
    ("refine-empty-name", ["refine", ""], 2),
    ("refine-traversal", ["refine", "../../x"], 2),
    ("refine-unknown", ["refine", "nope"], 1),
    ("publish-empty-name", ["publish", " "], 2),
    ("publish-uppercase", ["publish", "Roads"], 2),
    ("publish-injection", ["publish", 'x"; DROP SCHEMA exposure CASCADE;--'], 2),
    ("publish-unknown", ["publish", "nope"], 1),
    ("rollback-empty", ["rollback", ""], 2),
    ("rollback-unknown", ["rollback", "nope"], 1),
    ("ingest-dataset-empty", ["ingest", "{bad}/random.gpkg", "-d", ""], 2),
    ("ingest-dataset-traversal", ["ingest", "{bad}/random.gpkg", "-d", "../../etc"], 2),
    ("ingest-dataset-slash", ["ingest", "{bad}/random.gpkg", "-d", "a/b"], 2),
    ("ingest-dataset-too-long", ["ingest", "{bad}/random.gpkg", "-d", "d" * 41], 2),
    ("ingest-layer-unknown", ["ingest", "{good}", "-d", "roads", "-l", "nope"], 1),
    ("ingest-layer-empty", ["ingest", "{good}", "-d", "roads", "-l", ""], 2),
    ("jobs-trigger-empty", ["jobs", "trigger", "", "--timeout", "1"], 2),
    ("jobs-run-empty-task", ["jobs", "run", ""], 2),
    (
        "transfer-table-no-schema",
        ["transfer", "table", "roofs", "--from", "{db}", "--to", "{db}"],
        2,
    ),
    (
        "transfer-table-injection",
        ["transfer", "table", "exposure.x;drop", "--from", "{db}", "--to", "{db}"],
        2,
    ),
    (
        "transfer-table-missing",
        ["transfer", "table", "exposure.roofs", "--from", "{db}", "--to", "{db}"],
        1,
    ),
    (
        "transfer-table-bad-url",
        ["transfer", "table", "exposure.roofs", "--from", "mysql://x", "--to", "{db}"],
        2,
    ),
    (
        "transfer-table-unreachable",
        ["transfer", "table", "exposure.roofs", "--from", SECRET_URL, "--to", "{db}"],
        1,
    ),
    # URLs
    ("url-file-scheme", ["transfer", "url", "file:///etc/passwd", "-d", "roads"], 2),
    ("url-ftp", ["transfer", "url", "ftp://example.org/x.zip", "-d", "roads"], 2),
    ("url-javascript", ["transfer", "url", "javascript:alert(1)", "-d", "roads"], 2),
    ("url-no-host", ["transfer", "url", "http:///x.zip", "-d", "roads"], 1),
    ("url-not-a-url", ["transfer", "url", "roads.zip", "-d", "roads"], 2),
    ("url-bad-ipv6", ["transfer", "url", "http://[::1/x.zip", "-d", "roads"], 2),
    (
        "url-header-injection",
        ["transfer", "url", "http://127.0.0.1:1/x\r\nX-Evil: 1", "-d", "roads"],
        1,
    ),
    ("url-s3-no-bucket", ["transfer", "url", "s3:///key.zip", "-d", "roads"], 1),
    ("url-refused-port", ["transfer", "url", "http://127.0.0.1:1/x.zip", "-d", "roads"], 1),
    (
        "url-credentials-not-shown",
        ["transfer", "url", f"http://u:{PASSWORD}@127.0.0.1:1/x.zip", "-d", "roads"],
        1,
    ),
    ("url-dataset-empty", ["transfer", "url", "http://127.0.0.1:1/x.zip", "-d", ""], 2),
]

#: (id, LOCXIA_* setting, value, arguments, exit code): settings from the environment.
SETTINGS: list[tuple[str, str, str, list[str], int]] = [
    ("database-url-garbage", "LOCXIA_DATABASE_URL", "not a url", ["runs", "list"], 1),
    ("database-url-mysql", "LOCXIA_DATABASE_URL", "mysql://x@y/z", ["runs", "list"], 1),
    ("database-url-secret", "LOCXIA_DATABASE_URL", SECRET_URL, ["runs", "list"], 1),
    ("region-unknown", "LOCXIA_AWS_REGION", "mars-north-1", ["observe", "discover"], 1),
    ("region-injection", "LOCXIA_AWS_REGION", "eu-west-3'--", ["observe", "prices"], 1),
    ("endpoint-not-a-url", "LOCXIA_AWS_ENDPOINT_URL", "localhost", ["observe", "discover"], 1),
    ("endpoint-ftp", "LOCXIA_AWS_ENDPOINT_URL", "ftp://127.0.0.1", ["observe", "discover"], 1),
    ("retention-negative", "LOCXIA_METRICS_RETENTION_DAYS", "-1", ["observe", "prune"], 1),
    ("retention-text", "LOCXIA_METRICS_RETENTION_DAYS", "forever", ["observe", "prune"], 1),
    ("leader-poll-text", "LOCXIA_LEADER_POLL_SECONDS", "soon", ["serve", "--for", "1"], 1),
    ("leader-poll-zero", "LOCXIA_LEADER_POLL_SECONDS", "0", ["serve", "--for", "1"], 1),
    (
        "landing-ftp",
        "LOCXIA_LANDING_URI",
        "ftp://x/landing",
        ["ingest", "{good}", "-d", "roads"],
        1,
    ),
    ("landing-relative", "LOCXIA_LANDING_URI", "landing", ["ingest", "{good}", "-d", "roads"], 1),
    ("working-garbage", "LOCXIA_WORKING_URI", "::::", ["refine", "roads"], 1),
    ("tag-key-blank", "LOCXIA_TAG_KEY", " ", ["observe", "discover"], 1),
    ("auto-apply-negative", "LOCXIA_SHAPE_AUTO_APPLY_USD", "-10", ["infra", "plan"], 1),
    ("auto-apply-text", "LOCXIA_SHAPE_AUTO_APPLY_USD", "lots", ["infra", "plan"], 1),
    ("terraform-dir-missing", "LOCXIA_TERRAFORM_DIR", "/nonexistent/live", ["infra", "plan"], 1),
    ("streams-uri-garbage", "LOCXIA_METRIC_STREAMS_URI", "gopher://x", ["observe", "streams"], 1),
    ("config-missing", "LOCXIA_CONFIG", "/nonexistent/locxia.toml", ["runs", "list"], 1),
    ("config-not-toml", "LOCXIA_CONFIG", "{bad}/png.geojson", ["runs", "list"], 1),
]


def check(outcome: Outcome, code: int) -> None:
    """The exit code, one error line, no traceback, no secret."""
    text = outcome.stdout + outcome.stderr
    assert TRACEBACK not in text, outcome.text
    assert PASSWORD not in text, outcome.text
    assert outcome.code == code, outcome.text
    lines = outcome.stderr.strip().splitlines()
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), outcome.text
    else:
        assert lines and lines[0].startswith("Usage: locxia"), outcome.text
        boxed = [line for line in lines if line.startswith("│")]
        assert len(boxed) == 1, outcome.text


def _fill(args: list[str], bad: Path, db: str) -> list[str]:
    good = bad / "good" / next(p.name for p in (bad / "good").iterdir())
    fill = {"{bad}": str(bad), "{good}": str(good), "{db}": db}
    out = []
    for arg in args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


def _rejections_only(db: str) -> bool:
    """Whether every version recorded is a rejection by ingest (nothing landed)."""
    with connect(db) as conn:
        kinds = conn.execute(
            "SELECT DISTINCT zone, status, rejected_by FROM ops.dataset_versions"
        ).fetchall()
    return kinds == [("landing", "rejected", "ingest")]


def _run_case(
    cli: Any,
    db: str,
    tmp_path: Path,
    args: list[str],
    code: int,
    outcome: Any,
    case: str,
    *,
    may_reject: bool = False,
) -> None:
    """Run a refused command: nothing written, but with ``may_reject`` a rejected version.

    A file that does not read is recorded as a version rejected by ingest (decision 65): that
    row, and only that row, is what such a refusal may write.
    """
    zones = tmp_path / "xdg"
    before = digest(db, zones)
    result = cli(args, db)
    after = digest(db, zones)
    written = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if may_reject and written == ["ops.dataset_versions"] and _rejections_only(db):
        written = []
    try:
        check(result, code)
        assert written == [], f"written by a refused command: {written}"
    except AssertionError:
        shown = "traceback shown; " if TRACEBACK in result.stdout + result.stderr else ""
        note = shown + (result.stderr.strip().splitlines() or ["(no error line)"])[-1][:120]
        outcome(tries=1, survived=0, group="bad input", case=case, note=note)
        raise
    outcome(tries=1, survived=1, group="bad input", case=case)


@pytest.mark.parametrize(("name", "file", "code"), FILES, ids=[c[0] for c in FILES])
def test_bad_files(
    cli: Any,
    quiet_db: str,
    bad: Path,
    tmp_path: Path,
    outcome: Any,
    name: str,
    file: str,
    code: int,
) -> None:
    args = ["ingest", str(bad / file), "-d", "roads"]
    _run_case(cli, quiet_db, tmp_path, args, code, outcome, f"file: {name}", may_reject=True)
    assert not Path("/tmp/locxia-escaped.shp").exists()
    assert not Path("/tmp/locxia-absolute.shp").exists()


@pytest.mark.parametrize(("name", "args", "code"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_bad_commands(
    cli: Any,
    quiet_db: str,
    bad: Path,
    tmp_path: Path,
    outcome: Any,
    name: str,
    args: list[str],
    code: int,
) -> None:
    full = _fill(args, bad, quiet_db)
    _run_case(cli, quiet_db, tmp_path, full, code, outcome, f"command: {name}")


@pytest.mark.parametrize(
    ("name", "key", "value", "args", "code"), SETTINGS, ids=[c[0] for c in SETTINGS]
)
def test_bad_settings(
    cli: Any,
    quiet_db: str,
    bad: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outcome: Any,
    name: str,
    key: str,
    value: str,
    args: list[str],
    code: int,
) -> None:
    run = cli
    if key == "LOCXIA_DATABASE_URL":

        def run(a: list[str], db: str) -> Outcome:  # the setting under test is the database
            return cli(a, value)

    else:
        monkeypatch.setenv(key, _fill([value], bad, quiet_db)[0])
    full = _fill(args, bad, quiet_db)
    _run_case(run, quiet_db, tmp_path, full, code, outcome, f"setting: {name}")


#: (id, statement run as locxia_editor): rows every params table must refuse by itself.
ROWS = [
    (
        "instance-empty-name",
        "INSERT INTO params.instances (name, kind, instance_class, storage_gb) VALUES ('', 'rds', 'db.t4g.large', 20)",
    ),
    (
        "instance-blank-name",
        "INSERT INTO params.instances (name, kind, instance_class, storage_gb) VALUES ('  ', 'rds', 'db.t4g.large', 20)",
    ),
    (
        "instance-bad-kind",
        "INSERT INTO params.instances (name, kind, instance_class, storage_gb) VALUES ('x-db', 'mainframe', 'db.t4g.large', 20)",
    ),
    (
        "instance-negative-storage",
        "UPDATE params.instances SET storage_gb = -1 WHERE name = 'work-db'",
    ),
    (
        "instance-huge-storage",
        "UPDATE params.instances SET storage_gb = 10000000 WHERE name = 'work-db'",
    ),
    (
        "instance-unknown-class",
        "UPDATE params.instances SET instance_class = 'db.imaginary' WHERE name = 'work-db'",
    ),
    ("instance-bad-state", "UPDATE params.instances SET state = 'maybe' WHERE name = 'work-db'"),
    (
        "budget-negative",
        "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('neg', 'total', -5)",
    ),
    (
        "budget-times-1000",
        "UPDATE params.budgets SET monthly_usd = monthly_usd * 1000 WHERE name = 'all'",
    ),
    (
        "budget-bad-scope",
        "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('b', 'galaxy', 5)",
    ),
    (
        "budget-empty-name",
        "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('', 'total', 5)",
    ),
    (
        "policy-1s-period",
        "UPDATE params.collection_policies SET period_seconds = 7 WHERE name = 'rds-default'",
    ),
    (
        "policy-every-1s",
        "UPDATE params.collection_policies SET every_seconds = 1 WHERE name = 'rds-default'",
    ),
    (
        "policy-no-metrics",
        "UPDATE params.collection_policies SET metrics = '{}' WHERE name = 'rds-default'",
    ),
    (
        "policy-bad-namespace",
        "UPDATE params.collection_policies SET namespace = 'AWS/RDS; DROP' WHERE name = 'rds-default'",
    ),
    (
        "policy-bad-name",
        "INSERT INTO params.collection_policies (name, resource_type, namespace, metrics, stats, period_seconds, every_seconds) VALUES ('Bad Name', 'rds:db', 'AWS/RDS', '{CPUUtilization}', '{Average}', 300, 300)",
    ),
    (
        "policy-bad-tags",
        "UPDATE params.collection_policies SET match_tags = '[1]' WHERE name = 'rds-default'",
    ),
    (
        "schedule-approve",
        "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES ('x', 'shape.approve', 60, '{\"run\": 1, \"actor\": \"cfo\"}')",
    ),
    (
        "schedule-transfer-url",
        "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES ('y', 'layers.transfer-url', 60, '{\"url\": \"http://169.254.169.254/\"}')",
    ),
    (
        "schedule-every-1s",
        "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('z', 'core.noop', 1)",
    ),
    ("dataset-traversal-name", "INSERT INTO params.datasets (name) VALUES ('../etc')"),
    ("audit-forged", "INSERT INTO ops.audit (schema_name) VALUES ('params')"),
]


@pytest.mark.parametrize(("name", "statement"), ROWS, ids=[c[0] for c in ROWS])
def test_bad_parameter_rows(
    admin_url: str, quiet_db: str, outcome: Any, name: str, statement: str
) -> None:
    before = digest(quiet_db)
    refused: Exception | None = None
    # A login of its own, as an editor connects: editors' limits bind every login that does
    # not own the tables (decision 47), which a `SET ROLE` from the owner's session would not be.
    editor_url = pg.login_in_role(admin_url, quiet_db, "bad_input_editor", "locxia_editor")
    with connect(editor_url) as conn:
        try:
            conn.execute(statement)
            conn.commit()
        except psycopg.Error as exc:
            refused = exc
            conn.rollback()
    written = sorted(k for k, v in digest(quiet_db).items() if before.get(k) != v)
    outcome(
        tries=1,
        survived=int(refused is not None and not written),
        group="bad input",
        case=f"row: {name}",
    )
    assert refused is not None, f"the database accepted {statement!r} from an editor"
    assert written == []
