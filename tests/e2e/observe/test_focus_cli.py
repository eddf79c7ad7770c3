"""`locxia observe actuals` and `locxia observe export --focus` in a subprocess: a delivery in
the moto S3 read, the costs written as FOCUS 1.2 and read back, bad input in one line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.observe.costs import focus
from tests.e2e.conftest import Run
from tests.integration.observe.fleet import client
from tests.support.dataexports import BUCKET, PERIOD, URI, deliver, seed_resources, usage_rows

pytestmark = pytest.mark.slow


def test_actuals_then_export_focus(
    locxia: Run, moto_endpoint: str, db_url: str, tmp_path: Path
) -> None:
    client(moto_endpoint, "s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    seed_resources(db_url)
    deliver(moto_endpoint, usage_rows(0.25), "exec-1")
    env = {"LOCXIA_AWS_ENDPOINT_URL": moto_endpoint, "LOCXIA_FOCUS_EXPORT_URI": URI}
    read = locxia("observe", "actuals", env=env)
    assert read.returncode == 0, read.stderr
    assert "Data Exports (BilledCost)" in read.stdout
    out = tmp_path / "costs.parquet"
    end = (PERIOD + timedelta(days=2)).strftime("%Y-%m-%d")
    done = locxia("observe", "export", "--focus", str(out), "--from", "2026-11-01", "--to", end)
    assert done.returncode == 0, done.stderr
    print(f"\n{done.stdout.strip()}")
    assert "wrote 96 FOCUS 1.2 row(s)" in done.stdout and "48 actual, 48 estimated" in done.stdout
    assert focus.problems(pq.read_table(out)) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--focus PATH is required"),
        (("--focus", "{tmp}/x.parquet", "--from", "2026-13-01"), "expected YYYY-MM-DD"),
        (("--focus", "{tmp}/x.parquet", "--from", "2026-11-02", "--to", "2026-11-01"), "after"),
        (("--focus", "{tmp}/missing/x.parquet"), "does not exist"),
    ],
    ids=["no-path", "bad-day", "empty-period", "no-directory"],
)
def test_bad_export_lines_are_usage_errors(
    locxia: Run, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = locxia("observe", "export", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.glob("*.parquet")) == []


def test_actuals_without_the_setting_is_one_line(locxia: Run) -> None:
    done = locxia("observe", "actuals")
    assert done.returncode == 1
    assert "LOCXIA_FOCUS_EXPORT_URI is not set" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
