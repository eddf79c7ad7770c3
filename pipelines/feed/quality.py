"""The quality report that goes with every refined version (and every rejected one).

Counters are accumulated batch by batch (so memory does not grow with the layer), then the
rules are evaluated once at the end into a list of checks: rule, passed or not, detail. The
report is plain JSON: it is stored on the version in ``ops.dataset_versions.quality`` and the
CLI renders its checks as a table.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.feed.model import TARGET_CRS, Rules

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


COUNTERS = (
    "rows_in", "rows_out", "null", "empty", "invalid", "repaired", "outside", "unreadable",
    "collapsed", "m_dropped", "suspect_text", "id_nulls", "unprojectable",
)  # fmt: skip


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
    unreadable: int = 0
    collapsed: int = 0
    m_dropped: int = 0
    suspect_text: int = 0
    suspect_example: tuple[str, str] | None = None
    id_nulls: int = 0
    unprojectable: int = 0
    types_in: Counter[str] = field(default_factory=Counter)
    types_out: Counter[str] = field(default_factory=Counter)
    bbox: list[float] | None = None
    ids: list[np.ndarray] = field(default_factory=list)
    fids: list[np.ndarray] = field(default_factory=list)

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
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.suspect_example = self.suspect_example or other.suspect_example
        self.fids.extend(other.fids)
        self.types_in.update(other.types_in)
        self.types_out.update(other.types_out)
        if other.bbox is not None:
            self.add_bbox(np.array([other.bbox]))
        self.ids.extend(other.ids)

    def duplicates(self) -> int:
        """How many id values repeat an earlier one (ids are 64-bit hashes or integers)."""
        return _repeats(self.ids)

    def duplicate_fids(self) -> int:
        """How many source feature ids repeat an earlier one (0 at once when they increase)."""
        return _repeats(self.fids)


def _repeats(parts: list[np.ndarray]) -> int:
    if not parts:
        return 0
    values = np.concatenate(parts)
    if values.size < 2 or bool((values[1:] > values[:-1]).all()):
        return 0  # strictly increasing (GDAL's usual FIDs): no sort needed
    values = np.sort(values)
    return int((values[1:] == values[:-1]).sum())


def evaluate(
    tally: Tally,
    rules: Rules,
    bounds: tuple[float, float, float, float],
    dataset: str = "NAME",
) -> list[Check]:
    """Turn the counters into checks under ``rules`` (the checks that need the whole layer)."""
    checks = [_types(tally, rules)]
    if tally.invalid:
        detail = f"{tally.invalid} invalid, {tally.repaired} repaired with make_valid"
        if tally.collapsed:
            detail += f", {tally.collapsed} collapsed to EMPTY by the repair (dropped)"
        ok = rules.repair and (rules.null_geometries != "fail" or tally.collapsed == 0)
        checks.append(Check("validity", ok or tally.invalid == 0, detail))
    else:
        checks.append(Check("validity", True, "all valid"))
    missing = tally.null + tally.empty + tally.unreadable
    nulls_ok = rules.null_geometries != "fail" or missing == 0
    action = "dropped" if rules.null_geometries == "drop" else "kept"
    detail = f"{tally.null} null, {tally.empty} empty, {tally.unreadable} unreadable ({action})"
    checks.append(Check("null_geometries", nulls_ok, detail))
    if tally.m_dropped:
        checks.append(
            Check("measures", True, f"M values dropped from {tally.m_dropped} geometries")
        )
    checks.append(_text(tally, rules, dataset))
    checks.append(
        Check(
            "bounds",
            tally.outside <= rules.max_outside,
            f"{tally.outside} outside {_fmt_box(bounds)} (max {rules.max_outside})"
            + (
                f", {tally.unprojectable} of them with coordinates PROJ cannot project to"
                f" {TARGET_CRS} (dropped; fix them in the source, or allow them with"
                f" `locxia datasets set {dataset} max_outside=N`)"
                if tally.unprojectable
                else ""
            ),
        )
    )
    rows_ok = tally.rows_out >= rules.min_rows and (
        rules.max_rows is None or tally.rows_out <= rules.max_rows
    )
    upper = "" if rules.max_rows is None else f", max {rules.max_rows}"
    checks.append(Check("rows", rows_ok, f"{tally.rows_out} rows (min {rules.min_rows}{upper})"))
    if rules.id_column:
        dups = tally.duplicates()
        detail = f"{dups} duplicate {rules.id_column}, {tally.id_nulls} without one"
        checks.append(Check("unique_ids", dups == 0 and tally.id_nulls == 0, detail))
    else:
        dups = tally.duplicate_fids()
        detail = (
            f"{dups} repeated source feature ids; declare a key column: locxia datasets set"
            f" {dataset} id_column=COLUMN"
            if dups
            else "source feature ids (fid) unique"
        )
        checks.append(Check("feature_key", dups == 0, detail))
    return checks


def _text(tally: Tally, rules: Rules, dataset: str) -> Check:
    """Plausibility of text: mis-decoded rows fail unless ``max_suspect_text`` allows them."""
    if not tally.suspect_text:
        return Check("text", True, "no mis-decoded text")
    column, value = tally.suspect_example or ("?", "?")
    utf8_as_latin1 = _utf8_read_as_single_byte(value)
    remedy = (
        f"the text is UTF-8 read as Latin-1: locxia datasets set {dataset} encoding=UTF-8"
        if utf8_as_latin1
        else f"declare the source's code page: locxia datasets set {dataset} encoding=CP1252"
    )
    detail = (
        f"{tally.suspect_text} rows with mis-decoded text (e.g. {column}={value!r}); {remedy}"
        f" (max {rules.max_suspect_text})"
    )
    return Check("text", tally.suspect_text <= rules.max_suspect_text, detail)


# "é" (C3 A9) read as Latin-1 is "Ã©": Ã or Â, then a continuation byte's character.
_UTF8_AS_SINGLE_BYTE = re.compile("[\u00c2\u00c3][\u00a0-\u00bf\u2018-\u203a\u20ac\u2122]")


def _utf8_read_as_single_byte(value: str) -> bool:
    """Whether ``value`` is UTF-8 bytes that were decoded as Latin-1 or CP1252 ("Ã©")."""
    if _UTF8_AS_SINGLE_BYTE.search(value):
        return True
    for codec in ("latin-1", "cp1252"):
        try:
            again = value.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if again != value:
            return True
    return False


def units(
    source_extent: list[float] | None,
    geographic: bool,
    outside: int,
    rules: Rules,
    dataset: str,
) -> Check | None:
    """Coordinates in the wrong units: degrees declared as metres, or metres as degrees.

    Only judged when features fall outside the bounds (a plausible layer is never refused on
    its numbers alone); the check then names the remedy (``crs_override``).
    """
    if source_extent is None or outside <= rules.max_outside:
        return None
    xmin, ymin, xmax, ymax = source_extent
    degrees = -180.5 <= xmin and xmax <= 180.5 and -90.5 <= ymin and ymax <= 90.5
    fix = f"locxia datasets set {dataset} crs_override="
    if geographic and not degrees:
        detail = (
            f"coordinates up to {max(abs(xmin), abs(xmax), abs(ymin), abs(ymax)):.0f} look like"
            f" metres, the CRS is in degrees; {fix}EPSG:<the projected CRS, e.g. 2154>"
        )
        return Check("units", False, detail)
    if not geographic and degrees:
        detail = (
            f"coordinates within [{xmin:.3g}, {ymin:.3g}, {xmax:.3g}, {ymax:.3g}] look like"
            f" degrees, the CRS is projected; {fix}EPSG:4326"
        )
        return Check("units", False, detail)
    return None


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
            "unreadable": tally.unreadable,
            "collapsed": tally.collapsed,
            "m_dropped": tally.m_dropped,
            "unprojectable": tally.unprojectable,
            "invalid": tally.invalid,
            "repaired": tally.repaired,
            "outside": tally.outside,
            "types_in": dict(sorted(tally.types_in.items())),
            "types_out": dict(sorted(tally.types_out.items())),
        },
        "bbox": tally.bbox,
        "suspect_text": tally.suspect_text,
        "rules": rules.as_json(),
        **context,
    }


def failures(checks: list[Check]) -> list[str]:
    """``rule: detail`` of every failed check."""
    return [f"{c.rule}: {c.detail}" for c in checks if not c.passed]
