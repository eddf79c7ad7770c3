"""``python -m tests.reliability.report [pytest args]``: run the reliability suite, write
docs/reliability.md (what was tried, what survived), the way ``python -m bench`` writes
docs/benchmarks.md.

Each case of the suite appends one JSON line to ``$LOCXIA_RELIABILITY_RECORD`` (see
tests/reliability/conftest.py); this module points that variable at a temporary file, runs
pytest on tests/reliability, and turns the lines into tables, with the machine and the date.
Every kill point runs here ($LOCXIA_RELIABILITY_FULL=1); `make test` runs a subset of them.
A case that failed is shown as such: the document is what the suite measured, not a goal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine
from tests.reliability.conftest import FULL_ENV, RECORD_ENV

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "reliability.md"
ORDER = ["kill -9", "Dask worker killed", "database under serve", "AWS faults", "bad input"]
INTRO = {
    "kill -9": "A real `locxia` process killed with SIGKILL at an observed point inside the "
    "stage, then the same command run again; compared row for row with a fault-free run "
    "into a twin database. Survived: nothing lost or duplicated, no partial table, no "
    "double apply, and nothing left behind (a record `running`/`applying`, scratch of the "
    "dead process) once the next command or service has started.",
    "Dask worker killed": "A worker process of the embedded Dask cluster killed with SIGKILL"
    " while it runs a partition of a partitioned refine; the run goes on (Dask runs the lost"
    " partitions again) and its version is compared feature id by feature id with the same"
    " layer refined in process. Lost and duplicated: rows.",
    "database under serve": "`locxia serve` with a job ticking every second while its "
    "PostgreSQL is stopped (`pg_ctl stop -m fast`) and started again. Tries: ticks recorded; "
    "lost: ticks missing while the database answered; duplicated: ticks run twice.",
    "AWS faults": "discover, collect and costs through a proxy in front of moto injecting "
    "throttling (each protocol's throttling error), HTTP 500/503 and delays, seeded; "
    "compared with the fault-free run. Tries: AWS requests; injected faults in the notes.",
    "bad input": "Each command case: exit code (2 usage / 1 failure), one error line, no "
    "traceback, no secret, and a digest of every table of params, ops, metrics, costs and "
    "exposure and of the zones unchanged. Parameter rows: inserted as `locxia_editor`, each "
    "must be refused by the database.",
}


def run_suite(pytest_args: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Run tests/reliability recording each case; the cases and pytest's exit code."""
    with tempfile.TemporaryDirectory(prefix="locxia-reliability-") as tmp:
        record = Path(tmp) / "cases.jsonl"
        env = {**os.environ, RECORD_ENV: str(record), FULL_ENV: "1"}
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*args, str(ROOT / "tests" / "reliability"), *pytest_args], env=env, cwd=ROOT
        )
        lines = record.read_text().splitlines() if record.exists() else []
    return [json.loads(line) for line in lines], done.returncode


def render(cases: list[dict[str, Any]], when: datetime, where: str) -> str:
    """The Markdown document."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        groups[case["group"]].append(case)
    out = [
        "# Reliability",
        "",
        "Written by `make reliability` (`python -m tests.reliability.report`) from the cases"
        " the suite in tests/reliability ran (it also runs in `make test`).",
        "",
        f"_Run {when:%Y-%m-%d %H:%M} UTC on {where}._",
        "",
        "| group | cases | tries | survived | lost | duplicated | left behind |",
        "|---|---|---|---|---|---|---|",
    ]
    names = sorted(groups, key=lambda g: (ORDER.index(g) if g in ORDER else len(ORDER), g))
    for name in names:
        rows = groups[name]
        out.append(
            f"| {name} | {len(rows)} | {sum(r['tries'] for r in rows)}"
            f" | {sum(r['survived'] for r in rows)} | {sum(r['lost'] for r in rows)}"
            f" | {sum(r['duplicated'] for r in rows)} | {sum(r.get('left', 0) for r in rows)} |"
        )
    for name in names:
        rows = groups[name]
        out += ["", f"## {name}", "", INTRO.get(name, ""), ""]
        if name == "bad input":
            kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in rows:
                kinds[r["case"].split(":", 1)[0]].append(r)
            out += ["| kind | cases | survived |", "|---|---|---|"]
            out += [
                f"| {k} | {len(v)} | {sum(r['survived'] for r in v)} |"
                for k, v in sorted(kinds.items())
            ]
            failed = [r for r in rows if not r["survived"]]
            if failed:
                out += ["", "Not survived:", ""]
                out += [f"- {r['case']}: {r['note'].strip() or 'see the test'}" for r in failed]
            continue
        out += [
            "| case | tries | survived | lost | duplicated | left behind | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {r['case']} | {r['tries']} | {r['survived']} | {r['lost']} | {r['duplicated']}"
            f" | {r.get('left', 0)} | {r['note']} |"
            for r in rows
        ]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    cases, code = run_suite(argv)
    if not cases:
        print("error: the suite recorded no case", file=sys.stderr)
        return 1
    REPORT.write_text(render(cases, datetime.now(UTC), machine()), encoding="utf-8")
    print(f"written: {REPORT} ({len(cases)} cases; pytest exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
