"""Which files make one layer, how a zip's layer is found, and how GDAL's words are translated."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from infra.errors import FormatError, InputError
from pipelines.feed import multifile
from pipelines.feed.formats import (
    STRONG_SUFFIXES,
    WEAK_SUFFIXES,
    _archive_layer,
    _reason,
    defined_crs,
)
from pipelines.feed.sources import check_remote

MISSING = {
    "mif-alone": ("a/roads.MIF", ["a/roads.MIF"], ["a/roads.MID"]),
    "mif-with-mid-any-case": ("roads.mif", ["roads.mif", "ROADS.MID"], []),
    "tab-without-dat-id": (
        "roads.tab",
        ["roads.tab", "roads.map"],
        ["roads.dat", "roads.id"],
    ),
    "shp-without-dbf": ("x/b.shp", ["x/b.shp", "x/b.shx", "b.dbf"], ["x/b.dbf"]),
    "not-multi-file": ("b.gpkg", ["b.gpkg"], []),
}


@pytest.mark.parametrize("case", list(MISSING), ids=list(MISSING))
def test_missing_parts_are_named(case: str) -> None:
    main, names, missing = MISSING[case]
    assert multifile.missing_in(main, names) == missing


def test_format_of_knows_the_main_files_only() -> None:
    assert [multifile.format_of(n) for n in ("a.SHP", "a.mif", "a.Tab")] == list(multifile.FORMATS)
    assert multifile.format_of("a.dbf") is None and multifile.format_of("a.mid") is None


def test_layer_files_skip_folders_sidecars_and_archiver_debris() -> None:
    names = ["d/", "d/a.shp", "d/a.dbf", "__MACOSX/d/._a.shp", ".hidden/b.gpkg", "c/readme.json"]
    assert multifile.layer_files(names, STRONG_SUFFIXES) == ["d/a.shp"]
    assert multifile.layer_files(names, WEAK_SUFFIXES) == ["c/readme.json"]


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


ARCHIVES = {
    "nested-tab": (
        {"x/y/r.tab": b"1", "x/y/r.dat": b"1", "x/y/r.map": b"1", "x/y/r.id": b"1"},
        "x/y/r.tab",
    ),
    "gpkg-beside-notes": ({"data/b.gpkg": b"1", "meta.json": b"{}"}, "data/b.gpkg"),
    "two-shapefiles-one-folder": (
        {f"s/{n}{e}": b"1" for n in ("a", "b") for e in (".shp", ".shx", ".dbf")},
        "s",
    ),
    "shapefiles-at-root": ({f"{n}{e}": b"1" for n in "ab" for e in (".shp", ".shx", ".dbf")}, ""),
}


@pytest.mark.parametrize("case", list(ARCHIVES), ids=list(ARCHIVES))
def test_the_layer_of_an_archive_is_found_in_any_folder(case: str, tmp_path: Path) -> None:
    members, inner = ARCHIVES[case]
    assert _archive_layer(_zip(tmp_path / "a.zip", members)) == inner


BAD_ARCHIVES = {
    "empty": ({}, "a.zip: empty archive (no file in it)"),
    "only-folders": ({"d/": b""}, "a.zip: empty archive (no file in it)"),
    "no-layer": ({"notes.txt": b"x"}, "a.zip: no layer in the archive (it holds notes.txt)"),
    "mif-without-mid": ({"d/r.mif": b"x"}, "a.zip: d/r.mif comes without d/r.mid"),
    "layers-in-two-places": (
        {"a/x.gpkg": b"1", "b/y.fgb": b"1"},
        "a.zip: 2 layer files (a/x.gpkg, b/y.fgb); give one layer per archive",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ARCHIVES), ids=list(BAD_ARCHIVES))
def test_an_archive_without_one_whole_layer_is_one_line(case: str, tmp_path: Path) -> None:
    members, line = BAD_ARCHIVES[case]
    path = _zip(tmp_path / "a.zip", members)
    with pytest.raises(FormatError) as caught:
        _archive_layer(path)
    assert str(caught.value).startswith(line)


def test_packing_is_reproducible_and_lists_each_part(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("r.tab", "r.DAT", "r.map", "r.id", "r.ind", "other.tab", "r.txt"):
        (folder / name).write_bytes(name.encode())
    parts = multifile.parts_of(folder / "r.tab")
    assert [p.name for p in parts] == ["r.DAT", "r.id", "r.ind", "r.map", "r.tab"]
    first = multifile.pack(parts, tmp_path / "1.zip")
    (folder / "r.tab").touch()  # a new mtime alone changes nothing
    second = multifile.pack(multifile.parts_of(folder / "r.tab"), tmp_path / "2.zip")
    assert first == second and set(first) == {p.name for p in parts}
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()


def test_a_missing_part_names_it_and_the_folder(tmp_path: Path) -> None:
    (tmp_path / "r.tab").write_bytes(b"x")
    (tmp_path / "r.map").write_bytes(b"x")
    with pytest.raises(FormatError) as caught:
        multifile.parts_of(tmp_path / "r.tab")
    assert str(caught.value) == (
        f"r.tab: r.dat is missing from {tmp_path.resolve()}"
        " (a MapInfo TAB needs its .dat, .map, .id beside it)"
    )


REASONS = {
    "driver-advice": (
        "'x.tab' not recognized as being in a supported file format.; Open() failed for x.dat;"
        " It might help to specify the correct driver explicitly by prefixing the file path"
        " with '<DRIVER>:', e.g. 'CSV:path'.",
        "not a vector format GDAL reads (check the file and its extension)",
    ),
    "sqlite-repeats": (
        "failed to prepare SQL: SELECT x; file is not a database",
        "file is not a database",
    ),
    "plain": ("No such layer", "No such layer"),
}


@pytest.mark.parametrize("case", list(REASONS), ids=list(REASONS))
def test_gdal_reasons_lose_advice_a_user_cannot_act_on(case: str) -> None:
    raw, reason = REASONS[case]
    assert _reason(Exception(raw)) == reason
    assert "<DRIVER>" not in _reason(Exception(raw))


CRSS = {
    "epsg": ("EPSG:4326", "EPSG:4326"),
    "gpkg-undefined-cartesian": (
        'LOCAL_CS["Undefined Cartesian SRS",UNIT["Meter",1],AXIS["Easting",EAST],'
        'AXIS["Northing",NORTH]]',
        None,
    ),
    "gpkg-undefined-geographic": (
        'GEOGCS["Undefined geographic SRS",DATUM["unknown",SPHEROID["unknown",6378137,'
        '298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
        None,
    ),
    "none": (None, None),
    "not-a-crs": ("nonsense", "nonsense"),  # refine names it, with the dataset
}


@pytest.mark.parametrize("case", list(CRSS), ids=list(CRSS))
def test_undefined_crs_placeholders_read_as_no_crs(case: str) -> None:
    text, expected = CRSS[case]
    assert defined_crs(text) == expected


@pytest.mark.parametrize(
    "url",
    ["https://h/x/roads.shp", "s3://b/k/Roads.MIF", "https://h/x/r%C3%A9seau.tab?v=1"],
)
def test_a_lone_main_file_by_url_is_refused(url: str) -> None:
    with pytest.raises(InputError, match="by URL comes without its"):
        check_remote(url)


def test_other_urls_pass() -> None:
    for url in ("https://h/x/roads.zip", "s3://b/k/roads.gpkg", "https://h/shp"):
        check_remote(url)
