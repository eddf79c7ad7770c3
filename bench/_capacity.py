"""The capacity plan of docs/scale.md, computed from a scale benchmark's results file.

Inputs measured by ``python -m bench scale`` (rows/s per core for refine, rows/s for publish,
bytes per row in each zone); the platform's sizes come from the issue (3.5 TB: 2 TB working,
1 TB exposure; 500 indicators); prices from the product's catalog
(``infra/data/prices-eu-west-3.csv``, eu-west-3 on-demand list prices, source
https://aws.amazon.com/ec2/pricing/on-demand/ and https://aws.amazon.com/rds/postgresql/pricing/).
EC2 Linux is billed per second (60 s minimum; same EC2 pricing page), so a window that removes
its workers when the run ends pays for core-hours used plus boot time, not for whole hours.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parents[1] / "infra" / "data" / "prices-eu-west-3.csv"
WORKING_TB, EXPOSURE_TB, INDICATORS = 2.0, 1.0, 500
WORKER_CLASS, WORKER_VCPUS = "c6i.2xlarge", 8  # compute-optimised: refine is CPU-bound
DB_CLASS, DB_VCPUS = "db.r6g.4xlarge", 16  # memory-optimised: index builds, many COPYs
WINDOW_HOURS = 8.0  # a national rebuild overnight
INDICATOR_SHARE = 0.10  # ASSUMPTION: an indicator reads 10 % of the working rows on average
BOOT_HOURS = 0.1  # ASSUMPTION: ~6 min from plan to workers joined, paid per worker


def price(service: str, item: str) -> float:
    """USD per hour of ``item`` in the product's eu-west-3 catalog."""
    with PRICES.open() as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))
        for row in rows:
            if row[:2] == [service, item] and row[3] == "hour" and row[2] in ("linux", "postgres"):
                return float(row[4])
    raise KeyError(f"{service} {item} not in {PRICES}")


def rates(data: dict[str, Any]) -> dict[str, float | str]:
    """Measured rates: refine rows/s per core, publish rows/s, bytes per row in each zone."""
    cases = data["cases"]
    rows = float(data["rows"])
    ok = {k: c for k, c in cases.items() if not c.get("missing") and "refine_s" in c}
    out: dict[str, float | str] = {"source_bytes_per_row": data["source_bytes"] / rows}
    if "dask1" in ok:  # one worker process, one thread: one core of refine
        out["refine_rows_s_core"] = rows / ok["dask1"]["refine_s"]
        out["refine_basis"] = "Dask, 1 worker (1 process, 1 thread)"
    elif "inproc" in ok:
        out["refine_rows_s_core"] = rows / ok["inproc"]["refine_s"] / data["cores"]
        out["refine_basis"] = f"in process (2 threads) ÷ {data['cores']} cores"
    best = ok.get("dask2") or ok.get("inproc")
    if best is not None:
        # the database shared the machine's cores with the client: a per-vCPU floor
        out["publish_rows_s"] = rows / best["publish_s"]
        out["publish_rows_s_vcpu"] = rows / best["publish_s"] / data["cores"]
        out["working_bytes_per_row"] = best["working_bytes"] / best["rows"]
        out["table_bytes_per_row"] = best["table_bytes"] / best["rows"]
    return out


def plan(data: dict[str, Any]) -> str:
    """The figures and the plan, as Markdown lines to paste into docs/scale.md."""
    r = rates(data)
    lines = [
        f"measured on {data['rows']:,} rows, {data['cores']} cores:",
        *(
            f"- {k}: {v:,.1f}" if isinstance(v, float) else f"- {k}: {v}"
            for k, v in sorted(r.items())
        ),
    ]
    needed = ("refine_rows_s_core", "publish_rows_s_vcpu", "working_bytes_per_row")
    if not all(k in r for k in needed):
        return "\n".join([*lines, "(not enough measured to plan)"])
    refine_rate = float(r["refine_rows_s_core"])
    publish_rate = float(r["publish_rows_s_vcpu"])
    working_rows = WORKING_TB * 1e12 / float(r["working_bytes_per_row"])
    exposure_rows = EXPOSURE_TB * 1e12 / float(r["table_bytes_per_row"])
    refine_core_h = working_rows / refine_rate / 3600
    vcpus = refine_core_h / WINDOW_HOURS
    workers = math.ceil(vcpus / WORKER_VCPUS)
    worker_price = price("ec2", WORKER_CLASS)
    refine_cost = (refine_core_h / WORKER_VCPUS + workers * BOOT_HOURS) * worker_price
    publish_h = exposure_rows / (publish_rate * DB_VCPUS) / 3600
    db_price = price("rds", DB_CLASS)
    indicator_core_h = INDICATORS * INDICATOR_SHARE * working_rows / refine_rate / 3600
    ind_workers = math.ceil(indicator_core_h / WINDOW_HOURS / WORKER_VCPUS)
    ind_cost = (indicator_core_h / WORKER_VCPUS + ind_workers * BOOT_HOURS) * worker_price
    lines += [
        "",
        f"- working rows in {WORKING_TB:g} TB: {working_rows:,.0f};"
        f" exposure rows in {EXPOSURE_TB:g} TB: {exposure_rows:,.0f}",
        f"- full refine: {refine_core_h:,.0f} core-hours → in {WINDOW_HOURS:g} h:"
        f" {vcpus:,.0f} vCPUs = {workers} × {WORKER_CLASS} ({WORKER_VCPUS} vCPU,"
        f" ${worker_price}/h) ≈ ${refine_cost:,.0f}",
        f"- full publish at {publish_rate:,.0f} rows/s per database vCPU: {publish_h:,.1f} h on"
        f" {DB_CLASS} ({DB_VCPUS} vCPU, ${db_price}/h) ≈ ${publish_h * db_price:,.0f}"
        " for the database window",
        f"- {INDICATORS} indicators at {INDICATOR_SHARE:.0%} of the working rows each (assumed),"
        f" costed at the refine rate: {indicator_core_h:,.0f} core-hours → {ind_workers} ×"
        f" {WORKER_CLASS} for {WINDOW_HOURS:g} h ≈ ${ind_cost:,.0f}",
    ]
    return "\n".join(lines)
