"""Formats made of several files: which files belong together, gathered or checked as one.

A Shapefile is a ``.shp`` with its ``.shx`` and ``.dbf`` (and often ``.prj``, ``.cpg``, an
index); a MapInfo layer is a ``.mif`` with its ``.mid``, or a ``.tab`` with its ``.dat``,
``.map`` and ``.id``. GDAL opens the main file alone and silently does without a missing part
(a ``.mif`` without its ``.mid`` reads every attribute as NULL), so the parts are checked here,
by name, before GDAL sees them:

* a local main file is gathered with every sidecar of its folder and packed into one zip
  (:func:`pack`): one landing version holds the whole layer, and its checksum changes when
  any part changes;
* an archive's members are checked the same way (:func:`missing_in`), in any sub-folder.

A missing required part is refused with one line naming it. The rules (GDAL's driver pages):
https://gdal.org/drivers/vector/shapefile.html, https://gdal.org/drivers/vector/mitab.html.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from infra.errors import FormatError


@dataclass(frozen=True)
class MultiFile:
    """One multi-file format: its main suffix, the parts it needs, the parts it may have."""

    label: str
    main: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def parts(self) -> tuple[str, ...]:
        """Every suffix that belongs to a layer of this format, main first."""
        return (self.main, *self.required, *self.optional)


FORMATS = (
    MultiFile(
        "Shapefile",
        ".shp",
        (".shx", ".dbf"),
        (
            ".prj",
            ".cpg",
            ".qix",
            ".sbn",
            ".sbx",
            ".fbn",
            ".fbx",
            ".ain",
            ".aih",
            ".atx",
            ".ixs",
            ".mxs",
            ".qpj",
            ".fix",
            ".shp.xml",
        ),
    ),
    MultiFile("MapInfo MIF", ".mif", (".mid",), ()),
    MultiFile("MapInfo TAB", ".tab", (".dat", ".map", ".id"), (".ind",)),
)
#: Fixed timestamp of packed members: the zip's bytes depend on the parts' names and bytes only.
EPOCH = (1980, 1, 1, 0, 0, 0)


def format_of(name: str) -> MultiFile | None:
    """The multi-file format whose main file ``name`` is (by suffix, any case), else None."""
    lower = name.lower()
    return next((f for f in FORMATS if lower.endswith(f.main)), None)


def _stem(name: str, kind: MultiFile) -> str:
    return name[: -len(kind.main)]


def missing_in(main: str, names: Iterable[str]) -> list[str]:
    """Required parts of ``main`` absent from ``names`` (same folder, same stem, any case).

    Works on paths inside an archive (``a/b/roads.shp``) and on plain file names alike.
    """
    kind = format_of(main)
    if kind is None:
        return []
    present = {n.lower() for n in names}
    stem = _stem(main, kind)
    upper = main[len(stem) :].isupper()  # named as the user would name it: ROADS.MID
    return [
        stem + (s.upper() if upper else s)
        for s in kind.required
        if (stem + s).lower() not in present
    ]


def parts_of(main: Path) -> list[Path]:
    """``main`` and every sidecar of it in its folder (matched without regard to case).

    Raises:
        FormatError: a required part is missing (the line names it and what the layer needs).
    """
    kind = format_of(main.name)
    assert kind is not None
    siblings = {p.name.lower(): p for p in main.parent.iterdir() if p.is_file()}
    missing = missing_in(main.name, siblings)
    if missing:
        needs = ", ".join(kind.required)
        raise FormatError(
            f"{main.name}: {missing[0]} is missing from {main.resolve().parent}"
            f" (a {kind.label} needs its {needs} beside it)"
        )
    stem = _stem(main.name, kind).lower()
    found = [siblings[stem + s] for s in kind.parts if stem + s in siblings]
    return sorted(found, key=lambda p: p.name)


def pack(parts: list[Path], target: Path) -> dict[str, str]:
    """Write ``parts`` into the zip ``target``, byte for byte reproducible; SHA-256 per part.

    Stored, not deflated: the archive's bytes then depend only on the parts' names and bytes
    (not on a zlib version), so the same parts land once whatever the machine.
    """
    digests: dict[str, str] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for part in parts:
            info = zipfile.ZipInfo(part.name, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            digest = hashlib.sha256()
            with part.open("rb") as src, archive.open(info, "w", force_zip64=True) as dest:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    dest.write(chunk)
            digests[part.name] = digest.hexdigest()
    return digests


def layer_files(names: Iterable[str], suffixes: tuple[str, ...]) -> list[str]:
    """Members of an archive that are layers (by suffix), skipping folders and OS debris.

    Sidecars are not layers (a ``.dbf`` is part of its ``.shp``); ``__MACOSX/`` and dot files
    are what archivers add, never data.
    """
    found = []
    for name in names:
        path = PurePosixPath(name)
        if name.endswith("/") or any(p.startswith((".", "__MACOSX")) for p in path.parts):
            continue
        if name.lower().endswith(suffixes):
            found.append(name)
    return sorted(found)
