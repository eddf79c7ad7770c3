"""The quality report that goes with every refined version (and every rejected one).

Counters are accumulated batch by batch (so memory does not grow with the layer), then the
rules are evaluated once at the end into a list of checks: rule, passed or not, detail. The
report is plain JSON: it is stored on the version in ``ops.dataset_versions.quality`` and the
CLI renders its checks as a table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.feed.model import Rules

FAMILIES = {
    "Point": "point",
    "MultiPoint": "point",
    "LineString": "line",
    "LinearRing": "line",
    "MultiLineString": "line",
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
    "GeometryCollection": "collection",
}


@dataclass(frozen=True)
class Check:
    """One evaluated rule."""

    rule: str
    passed: bool
    detail: str


@dataclass
class Tally:
    """Counters accumulated over the batches of one layer."""

    rows_in: int = 0
    rows_out: int = 0
    null: int = 0
    empty: int = 0
    invalid: int = 0
    repaired: int = 0
    outside: int = 0
    unprojectable: int = 0
    types_in: Counter[str] = field(default_factory=Counter)
    types_out: Counter[str] = field(default_factory=Counter)
    bbox: list[float] | None = None
    ids: list[np.ndarray] = field(default_factory=list)

    def add_bbox(self, bounds: np.ndarray) -> None:
        """Grow the layer's bbox with finite per-row bounds ``(n, 4)``."""
        finite = bounds[np.isfinite(bounds).all(axis=1)]
        if len(finite) == 0:
            return
        box = [
            float(finite[:, 0].min()),
            float(finite[:, 1].min()),
            float(finite[:, 2].max()),
            float(finite[:, 3].max()),
        ]
        if self.bbox is None:
            self.bbox = box
        else:
            self.bbox = [
                min(self.bbox[0], box[0]),
                min(self.bbox[1], box[1]),
                max(self.bbox[2], box[2]),
                max(self.bbox[3], box[3]),
            ]

    def merge(self, other: Tally) -> None:
        """Add the counters of ``other`` (one batch) to these (the layer so far)."""
        counters = ("rows_in", "rows_out", "null", "empty", "invalid", "repaired", "outside")
        for name in (*counters, "unprojectable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.types_in.update(other.types_in)
        self.types_out.update(other.types_out)
        if other.bbox is not None:
            self.add_bbox(np.array([other.bbox]))
        self.ids.extend(other.ids)

    def duplicates(self) -> int:
        """How many id values repeat an earlier one (ids are 64-bit hashes or integers)."""
        if not self.ids:
            return 0
        values = np.sort(np.concatenate(self.ids))
        return int((values[1:] == values[:-1]).sum())


def evaluate(
    tally: Tally,
    rules: Rules,
    bounds: tuple[float, float, float, float],
) -> list[Check]:
    """Turn the counters into checks under ``rules`` (the checks that need the whole layer)."""
    checks = [_types(tally, rules)]
    if tally.invalid:
        detail = f"{tally.invalid} invalid, {tally.repaired} repaired with make_valid"
        checks.append(Check("validity", rules.repair or tally.invalid == 0, detail))
    else:
        checks.append(Check("validity", True, "all valid"))
    missing = tally.null + tally.empty
    nulls_ok = rules.null_geometries != "fail" or missing == 0
    action = "dropped" if rules.null_geometries == "drop" else "kept"
    checks.append(
        Check("null_geometries", nulls_ok, f"{tally.null} null, {tally.empty} empty ({action})")
    )
    checks.append(
        Check(
            "bounds",
            tally.outside <= rules.max_outside,
            f"{tally.outside} outside {_fmt_box(bounds)} (max {rules.max_outside})",
        )
    )
    rows_ok = tally.rows_out >= rules.min_rows and (
        rules.max_rows is None or tally.rows_out <= rules.max_rows
    )
    upper = "" if rules.max_rows is None else f", max {rules.max_rows}"
    checks.append(Check("rows", rows_ok, f"{tally.rows_out} rows (min {rules.min_rows}{upper})"))
    if rules.id_column:
        dups = tally.duplicates()
        checks.append(Check("unique_ids", dups == 0, f"{dups} duplicate {rules.id_column}"))
    return checks


def _types(tally: Tally, rules: Rules) -> Check:
    seen = {t: n for t, n in tally.types_in.items() if n}
    listing = ", ".join(f"{t}: {n}" for t, n in sorted(seen.items())) or "none"
    if rules.geometry_types is not None:
        bad = sorted(set(seen) - set(rules.geometry_types))
        return Check("geometry_types", not bad, f"{listing}; allowed {list(rules.geometry_types)}")
    families = {FAMILIES.get(t, t) for t in seen}
    if len(families) > 1:
        return Check(
            "geometry_types",
            False,
            f"mixed geometry types ({listing}); declare rules.geometry_types to accept them",
        )
    return Check("geometry_types", True, listing)


def _fmt_box(box: tuple[float, float, float, float] | list[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


def report(
    dataset: str,
    tally: Tally,
    checks: list[Check],
    rules: Rules,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The JSON report recorded on the version."""
    return {
        "dataset": dataset,
        "passed": all(c.passed for c in checks),
        "checks": [{"rule": c.rule, "passed": c.passed, "detail": c.detail} for c in checks],
        "rows_in": tally.rows_in,
        "rows_out": tally.rows_out,
        "geometry": {
            "null": tally.null,
            "empty": tally.empty,
            "invalid": tally.invalid,
            "repaired": tally.repaired,
            "outside": tally.outside,
            "unprojectable": tally.unprojectable,
            "types_in": dict(sorted(tally.types_in.items())),
            "types_out": dict(sorted(tally.types_out.items())),
        },
        "bbox": tally.bbox,
        "rules": rules.as_json(),
        **context,
    }


def failures(checks: list[Check]) -> list[str]:
    """``rule: detail`` of every failed check."""
    return [f"{c.rule}: {c.detail}" for c in checks if not c.passed]
