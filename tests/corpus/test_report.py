"""docs/feed-corpus.md is made from the recorded cases: one row per file, pending ones named."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.corpus.report import render

CASES = [
    {
        "id": "gpkg",
        "klass": "GeoPackage",
        "package": "r-cran-sf=1.0-9+dfsg-1+b1",
        "source": "nc.gpkg",
        "input": "nc.gpkg",
        "derived": "",
        "pending": "",
        "rows_in": 100,
        "rows_out": 98,
        "repaired": 3,
        "dropped": 2,
        "dropped_reason": "0 null, 2 empty (dropped)",
        "area_diff": 1.2e-16,
        "length_diff": None,
        "point_shift": None,
        "attributes": "14 columns × 98 rows equal",
        "seconds": 0.5,
        "outcome": "published",
        "result": "passed",
    },
    {
        "id": "mif_alone",
        "klass": "MapInfo .MIF without .MID",
        "package": "r-cran-sf=1.0-9+dfsg-1+b1",
        "source": "nc.gpkg",
        "input": "nc.mif",
        "derived": "ogr MapInfo File driver",
        "pending": "multi-file formats gathered",
        "seconds": 0.1,
        "outcome": "accepted",
        "result": "xfail",
    },
    {
        "id": "kml",
        "klass": "KML",
        "package": "r-cran-sf=1.0-9+dfsg-1+b1",
        "source": "nc.gpkg",
        "input": "nc.kml",
        "derived": "ogr KML driver",
        "pending": "",
        "seconds": 0.2,
        "outcome": "published, but: name: 1 missing, 1 extra",
        "result": "failed",
    },
]


def test_render_lists_every_file_with_its_figures_and_what_waits() -> None:
    text = render(CASES, datetime(2026, 12, 5, 21, 0, tzinfo=UTC), "test machine")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 3
    gpkg = next(r for r in rows if "`nc.gpkg` (r-cran-sf" in r and "→" not in r)
    assert "98 kept; 3 repaired; 2 dropped (0 null, 2 empty (dropped))" in gpkg
    assert "area 1.2e-16" in gpkg and "✅ passed" in gpkg
    kml = next(r for r in rows if "nc.kml" in r)
    assert "❌ FAILED: published, but: name: 1 missing, 1 extra" in kml
    assert "1 passed, 1 expected failures" in text and "1 failed" in text
    assert "- `mif_alone`: multi-file formats gathered." in text
    assert "| pyogrio==0.13.0 (pypi) |" in text and "CC-BY-4.0" in text
