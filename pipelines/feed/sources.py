"""Where a layer comes from: a local file, an ``http(s)://`` URL or an ``s3://`` URI.

Every source is read once, as a stream, into a local file while its SHA-256 is computed, so
big files never sit in memory and the checksum is of exactly the bytes that will land.
Provenance (URL, ETag, Last-Modified, S3 version...) is kept for the catalog.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from infra.aws import AwsClients, aws_errors
from infra.db.connection import redact_url
from infra.errors import InputError, SourceError
from infra.settings import Settings
from pipelines.feed import multifile
from pipelines.feed.progress import step
from pipelines.feed.zones import safe_filename

CHUNK = 1 << 20
KNOWN_SUFFIXES = (
    ".gpkg",
    ".zip",
    ".shp",
    ".mif",
    ".tab",
    ".geojson",
    ".json",
    ".fgb",
    ".parquet",
    ".geoparquet",
    ".csv",
    ".kml",
    ".gml",
    ".pbf",
    ".osm",
)
# First bytes of the formats a URL without a file name may serve.
MAGIC = (
    (b"SQLite format 3\x00", ".gpkg"),
    (b"PK\x03\x04", ".zip"),
    (b"PAR1", ".parquet"),
    (b"fgb\x03", ".fgb"),
    (b"{", ".geojson"),
)


@dataclass(frozen=True)
class Fetched:
    """A source read to a local file: where, its checksum and size, and where it came from."""

    path: Path
    filename: str
    sha256: str
    size: int
    provenance: dict[str, Any] = field(default_factory=dict)


def sniff_suffix(path: Path) -> str:
    """The suffix the content of ``path`` calls for, from its first bytes ('' if unknown)."""
    with path.open("rb") as fh:
        head = fh.read(16).lstrip()
    for magic, suffix in MAGIC:
        if head.startswith(magic):
            return suffix
    return ""


class _Readable(Protocol):
    """A byte stream: a file, an HTTP response, an S3 object's ``StreamingBody``."""

    def read(self, size: int, /) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...


def _copy(src: _Readable, dest: Path, total: int | None, label: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out, step(label, total) as bar:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
            bar.advance(len(chunk))
    return digest.hexdigest(), size


def hash_file(path: Path, label: str = "checksum") -> tuple[str, int]:
    """SHA-256 and size of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh, step(label, path.stat().st_size) as bar:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            bar.advance(len(chunk))
    return digest.hexdigest(), size


def _name_with_suffix(name: str, path: Path) -> str:
    if name.lower().endswith(KNOWN_SUFFIXES):
        return name
    return name + sniff_suffix(path)


def fetch(source: str, scratch: Path, settings: Settings) -> Fetched:
    """Read ``source`` into ``scratch`` (local files are hashed in place, not copied).

    Raises:
        InputError: the source is not a file path, http(s) URL or s3 URI, or is a directory.
        SourceError: it cannot be read (missing file, HTTP error, unreachable host).
        AwsError: S3 refused the read.
    """
    kind = source_kind(source)
    if kind in ("http", "s3"):
        check_remote(source)
    if kind == "http":
        return _fetch_http(source, scratch, settings)
    if kind == "s3":
        return _fetch_s3(source, scratch, settings)
    path = local_path(source)
    assert path is not None
    if multifile.format_of(path.name) is not None and path.is_file():
        return _gathered(path, scratch)
    return _local(path, scratch)


def check_remote(source: str) -> None:
    """Refuse the main file of a multi-file format by URL: its other parts would not come.

    Guessing the parts' URLs (case, extra requests, a listing S3 may not allow) is not worth
    it when the provider can serve, and the user can give, the usual zip.

    Raises:
        InputError: ``source`` ends with ``.shp``, ``.mif`` or ``.tab``.
    """
    name = unquote(urlsplit(source).path).rsplit("/", 1)[-1]
    kind = multifile.format_of(name)
    if kind is not None:
        raise InputError(
            f"{name}: a {kind.label} by URL comes without its {', '.join(kind.required)};"
            " give the URL of a .zip holding all its files",
            "source",
        )


def source_kind(source: str) -> Literal["http", "s3", "file", "path"]:
    """What ``source`` names, from its form alone (nothing is read).

    Raises:
        InputError: a URL whose scheme is not http(s), s3 or file.
    """
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("s3", "file"):
        return "s3" if scheme == "s3" else "file"
    if scheme and len(scheme) > 1:  # one letter: a Windows drive, i.e. a path
        raise InputError(
            f"{source!r}: unsupported scheme {scheme!r} (a path, http(s)://, s3://)", "source"
        )
    return "path"


def local_path(source: str) -> Path | None:
    """The local path ``source`` names (a path or a ``file://`` URL), else None."""
    kind = source_kind(source)
    if kind == "file":
        return Path(unquote(urlsplit(source).path))
    return Path(source) if kind == "path" else None


def directory_refusal(path: Path) -> str:
    """Why a directory cannot be ingested, and what to give instead (raised with the path).

    A landing version is one file: its bytes, their SHA-256 and its provenance. A directory
    has none of these, and which of its files would be "the layer" is a guess, so it is
    refused. When it holds files of the accepted formats, the line names them (a ``.shp``,
    ``.mif`` or ``.tab`` is ingested with its parts, see :func:`_gathered`). Short, since
    Click's frame wraps long lines.
    """
    try:
        names = sorted(p.name for p in path.iterdir() if p.is_file())
    except OSError:
        names = []
    ingestible = [n for n in names if n.lower().endswith(KNOWN_SUFFIXES)]
    if ingestible:
        shown = ", ".join(ingestible[:4]) + (", ..." if len(ingestible) > 4 else "")
        return f"is a directory: ingest its files one at a time, -d NAME each ({shown})"
    return (
        "is a directory: ingest takes one layer file (GeoPackage, zip, Shapefile, MapInfo,"
        " GeoJSON, FlatGeobuf, GeoParquet, CSV, KML, GML, OSM) or an http(s):// or s3:// URL"
    )


def check_local(source: str) -> None:
    """Refuse a local source that is a directory, before anything runs or is recorded.

    Raises:
        InputError: ``source`` names a directory (:func:`directory_refusal` says what to do).
    """
    path = local_path(source)
    if path is not None and path.is_dir():
        raise InputError(directory_refusal(path), str(path))


def _local(path: Path, scratch: Path) -> Fetched:
    """Copy into scratch while hashing.

    What lands is exactly what was hashed, even if the original is rewritten meanwhile.

    Raises:
        InputError: ``path`` is a directory.
        SourceError: it is missing or cannot be read.
    """
    if path.is_dir():
        raise InputError(directory_refusal(path), str(path))
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    filename = safe_filename(path.name)
    target = scratch / filename
    try:
        stat = path.stat()
        with path.open("rb") as fh:
            sha, size = _copy(fh, target, stat.st_size, f"read {path.name}")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from exc
    return Fetched(
        path=target,
        filename=filename,
        sha256=sha,
        size=size,
        provenance={
            "source": str(path.resolve()),
            "kind": "file",
            "mtime": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        },
    )


def lone_part(source: str, scratch: Path) -> Fetched | None:
    """The main file of a local multi-file layer alone (hashed), or None for any other source.

    A layer refused for a missing part is still recorded as a rejected version: these are
    the bytes the user gave, so trying them again finds the same record.
    """
    path = local_path(source) if source_kind(source) in ("file", "path") else None
    if path is None or multifile.format_of(path.name) is None or not path.is_file():
        return None
    return _local(path, scratch)


def _gathered(main: Path, scratch: Path) -> Fetched:
    """A multi-file layer's parts from its folder, packed into one reproducible zip.

    The zip is what lands (one version, one checksum, every part); provenance lists each
    part with its SHA-256.

    Raises:
        FormatError: a required part is missing (named).
        SourceError: a part cannot be read.
    """
    parts = multifile.parts_of(main)
    target = scratch / safe_filename(f"{main.stem}.zip")
    try:
        digests = multifile.pack(parts, target)
        sha, size = hash_file(target, f"checksum {target.name}")
    except OSError as exc:
        raise SourceError(f"{main}: cannot read ({exc.strerror})") from exc
    return Fetched(
        path=target,
        filename=target.name,
        sha256=sha,
        size=size,
        provenance={
            "source": str(main.resolve()),
            "kind": "file",
            "parts": digests,
            "mtime": datetime.fromtimestamp(main.stat().st_mtime, UTC).isoformat(),
        },
    )


def _fetch_http(url: str, scratch: Path, settings: Settings) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": "locxia-orchestrator"})
    tmp = scratch / "download"
    try:
        with urllib.request.urlopen(request, timeout=settings.layers_http_timeout_seconds) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            sha, size = _copy(resp, tmp, total, f"download {urlsplit(url).netloc}")
            headers = {k: resp.headers.get(k) for k in ("ETag", "Last-Modified", "Content-Type")}
            final = resp.geturl()
    except urllib.error.HTTPError as exc:
        raise SourceError(f"GET {redact_url(url)}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"GET {redact_url(url)}: {reason}") from exc
    if total is not None and size != total:
        raise SourceError(f"GET {redact_url(url)}: got {size} bytes of {total} (connection cut)")
    name = urlsplit(final).path.rsplit("/", 1)[-1]
    filename = _name_with_suffix(safe_filename(unquote(name)), tmp)
    path = tmp.rename(scratch / filename)
    provenance = {"source": redact_url(url), "kind": "http", "final_url": redact_url(final)}
    provenance.update({k.lower(): v for k, v in headers.items() if v})
    return Fetched(path, filename, sha, size, provenance)


def _fetch_s3(uri: str, scratch: Path, settings: Settings) -> Fetched:
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise InputError(f"{uri!r}: expected s3://bucket/key", "source")
    s3 = AwsClients(settings).client("s3", role="feed")
    tmp = scratch / "download"
    with aws_errors("s3", "GetObject"):
        obj = s3.get_object(Bucket=bucket, Key=key)
        body = obj["Body"]
        try:
            sha, size = _copy(body, tmp, obj.get("ContentLength"), f"download s3://{bucket}")
        finally:
            body.close()
    filename = _name_with_suffix(safe_filename(key.rsplit("/", 1)[-1]), tmp)
    path = tmp.rename(scratch / filename)
    provenance = {
        "source": uri,
        "kind": "s3",
        "etag": obj.get("ETag"),
        "version_id": obj.get("VersionId"),
        "last_modified": str(obj.get("LastModified")),
    }
    return Fetched(path, filename, sha, size, {k: v for k, v in provenance.items() if v})
