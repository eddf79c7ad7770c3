from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import InputError, SourceError
from pipelines.feed.zones import FileZone, check_key, safe_filename


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "a/../../b", "/etc/passwd", "a//b", "a/./b", "a\\b", "a/\x00", ""],
    ids=["dotdot", "inner-dotdot", "absolute", "empty-part", "dot", "backslash", "nul", "empty"],
)
def test_keys_that_leave_the_zone_are_refused(key: str) -> None:
    with pytest.raises(InputError, match="not a path inside a zone"):
        check_key(key)


def test_safe_filename() -> None:
    assert safe_filename("Bâtiments 2024.gpkg") == "B_timents_2024.gpkg"
    assert safe_filename("../..") == "_.."
    assert safe_filename("...") == "source"


def test_file_zone_round_trip_and_symlink_escape(tmp_path: Path) -> None:
    zone = FileZone("landing", (tmp_path / "landing").as_uri())
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc")
    zone.put_file(src, "ds/abc/x.bin")
    assert zone.exists("ds/abc/x.bin")
    assert zone.fetch("ds/abc/x.bin", tmp_path).read_bytes() == b"abc"
    assert zone.keys("ds") == ["ds/abc/x.bin"]
    assert zone.uri_for("ds/abc/x.bin") == (tmp_path / "landing").as_uri() + "/ds/abc/x.bin"
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "landing" / "evil").symlink_to(outside)
    with pytest.raises(InputError, match="resolves outside the landing zone"):
        zone.put_file(src, "evil/x.bin")
    assert list(outside.iterdir()) == []
    with pytest.raises(SourceError, match="missing"):
        zone.fetch("ds/nope", tmp_path)
