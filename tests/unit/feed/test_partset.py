"""The partitioned layout's contract: part names, cells, the manifest, row ranges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from infra.errors import FormatError
from pipelines.feed.formats import RowRange
from pipelines.feed.partitioned import plan
from pipelines.feed.partset import (
    CELL_BITS,
    Manifest,
    Part,
    cell_of,
    is_prefix,
    manifest_key,
    parse_manifest,
    part_key,
)


def test_part_keys_are_deterministic_hive_style() -> None:
    assert part_key(7, 3) == "cell=03/part-00007.parquet"
    assert part_key(7, 3) == part_key(7, 3)
    assert manifest_key("roads/abc-def/roads.parts/") == "roads/abc-def/roads.parts/_manifest.json"
    assert is_prefix("roads/abc-def/roads.parts/") and not is_prefix("roads/abc/roads.parquet")


def test_cells_are_the_top_bits_of_the_hilbert_key() -> None:
    keys = np.array([0, (1 << 28) - 1, 1 << 28, 0xFFFFFFFF], dtype=np.uint32)
    assert cell_of(keys).tolist() == [0, 0, 1, (1 << CELL_BITS) - 1]


def _manifest() -> Manifest:
    parts = (
        Part("cell=00/part-00000.parquet", 10, 100, "a" * 64, 0, (0.0, 0.0, 1.0, 1.0)),
        Part("cell=05/part-00001.parquet", 5, 60, "b" * 64, 5, None),
    )
    return Manifest(rows=15, parts=parts)


def test_manifest_round_trips_with_stable_bytes() -> None:
    manifest = _manifest()
    data = manifest.to_bytes()
    assert parse_manifest("", data.decode()) == manifest
    assert parse_manifest("", data.decode()).to_bytes() == data
    assert manifest.size == 160
    doc = json.loads(data)
    assert doc["version"] == 1 and doc["rows"] == 15 and len(doc["parts"]) == 2


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "rows": 0, "parts": []},
        {"version": 1, "rows": 3, "parts": []},
        {"version": 1, "parts": []},
    ],
    ids=["unknown-version", "rows-not-parts", "no-rows"],
)
def test_manifest_that_does_not_add_up_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(FormatError, match="manifest|rows"):
        parse_manifest("x/", json.dumps(doc))


def test_row_range_counts() -> None:
    assert RowRange(10, 20).count == 10
    assert RowRange(10, None).count is None
    assert RowRange(10, None).within(15) == 5
    assert RowRange(10, 20).within(5) == 0


def test_gdal_layers_are_cut_every_partition_rows_last_range_open() -> None:
    ranges = plan(Path("layer.gpkg"), 25, 10)
    assert ranges == [RowRange(0, 10), RowRange(10, 20), RowRange(20, None)]
    assert plan(Path("layer.gpkg"), 0, 10) == [RowRange(0, None)]
