"""Column names within PostgreSQL's 63 bytes, and the refusal of a directory as a source."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import InputError, PublishError
from infra.settings import load_settings
from pipelines.feed.columns import collisions, column_names, stored_name
from pipelines.feed.publish import check_column_names
from pipelines.feed.refine import RESERVED
from pipelines.feed.sources import fetch

SHARED = "é" * 31 + "x"  # 63 bytes, 32 characters


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("a" * 63, "a" * 63),
        ("a" * 64, "a" * 63),
        ("é" * 32, "é" * 31),  # 64 bytes: the 32nd "é" would be cut in half, so it goes
        ("a" + "é" * 31 + "b", "a" + "é" * 31),
        (SHARED + "_nord", SHARED),
    ],
    ids=["fits", "ascii-cut", "two-byte-cut", "odd-boundary", "shared-prefix"],
)
def test_names_are_cut_in_bytes_on_character_boundaries(name: str, stored: str) -> None:
    assert stored_name(name) == stored
    assert len(stored_name(name).encode()) <= 63


def test_colliding_names_get_stable_distinct_names() -> None:
    fields = [SHARED + "_nord", SHARED + "_sud", "geom", "geom_1", "z" * 70, "ok"]
    names = column_names(fields, RESERVED)
    final = names.final
    assert final["ok"] == "ok" and final["geom_1"] == "geom_1"
    assert final["z" * 70] == "z" * 63
    assert final["geom"].startswith("geom_1_") and len(final["geom"]) == len("geom_1_") + 8
    assert final[SHARED + "_nord"] != final[SHARED + "_sud"]
    assert all(len(v.encode()) <= 63 for v in final.values())
    assert not collisions(final.values(), RESERVED)
    assert column_names(list(reversed(fields)), RESERVED).final == final
    lines = [c.line() for c in names.collisions]
    assert (
        f"columns {SHARED + '_nord'!r} and {SHARED + '_sud'!r} would be the same PostgreSQL"
        f" column {SHARED!r} (PostgreSQL keeps 63 bytes of a name)" in lines
    )
    assert "columns 'geom' and 'geom_1' would be the same PostgreSQL column 'geom_1'" in lines


def test_publish_refuses_columns_postgresql_would_merge() -> None:
    check_column_names(["id", "z" * 70, "geom"])
    with pytest.raises(PublishError) as caught:
        check_column_names(["id", SHARED + "_nord", SHARED + "_sud", "geom"])
    assert f"{SHARED + '_nord'!r} and {SHARED + '_sud'!r}" in str(caught.value)
    assert f"the same PostgreSQL column {SHARED!r}" in str(caught.value)
    check_column_names(["fid", "geom"])  # the source's feature id, written by refine
    with pytest.raises(PublishError, match="'fid' and 'fid'"):
        check_column_names(["fid", "fid", "geom"])


def test_a_declared_directory_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "roads.gpkg").write_bytes(b"")
    settings = load_settings(database_url="postgresql://localhost/x")
    for source in (str(tmp_path), tmp_path.as_uri()):
        with pytest.raises(InputError) as caught:
            fetch(source, tmp_path, settings)
        assert str(caught.value) == (
            f"{tmp_path}: is a directory: ingest its files one at a time, -d NAME each (roads.gpkg)"
        )
