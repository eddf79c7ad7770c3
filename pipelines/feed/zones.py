"""Zones as storage: ``file:///path`` or ``s3://bucket/prefix``, with keys confined to the zone.

A key is a relative, ``/``-separated path built from validated parts (a dataset name, a
checksum, a file name). :func:`check_key` refuses anything that could leave the zone (``..``,
an absolute path, a backslash, a NUL), and :class:`FileZone` checks again after resolving
symlinks. Writes are atomic: a file zone writes a temporary file and renames it; an S3 zone
uploads (multipart for big files) and only then is the version recorded.

The parts of a partitioned version are put *pending* (decision 95): a file zone removes what a
failed run left, but the feed role may not delete S3 zone objects (zones are append-only), so
an S3 zone tags each part ``locxia-part=pending`` on upload and the working bucket's lifecycle
rule (``terraform/modules/data_zones``, ``pending_part_days``) expires what is still tagged;
:meth:`Zone.commit_parts` clears the tag just before the manifest is put.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlencode, urlsplit

from infra.aws import AwsClients, aws_errors
from infra.errors import InputError, SourceError
from infra.settings import Settings
from pipelines.feed.scratch import scratch_dir

__all__ = [
    "PENDING_TAG",
    "FileZone",
    "S3Zone",
    "Zone",
    "check_key",
    "safe_filename",
    "scratch_dir",
    "zone",
]

#: Parts untagged at once at commit (botocore's default connection pool holds 10).
UNTAG_THREADS = 10

#: The object tag of a part not committed yet: the working bucket's lifecycle rule expires
#: current objects carrying it (``terraform/modules/data_zones``, ``pending_part_days``), and
#: the feed role may set it only with this value (``access_roles/policies``).
PENDING_TAG = ("locxia-part", "pending")


def check_key(key: str) -> str:
    """Return ``key`` if it is a relative path that stays inside its zone.

    Raises:
        InputError: empty, absolute, with ``.``/``..`` parts, backslashes or control chars.
    """
    parts = key.split("/")
    bad = (
        not key
        or key.startswith("/")
        or "\\" in key
        or any(ord(ch) < 32 for ch in key)
        or any(part in ("", ".", "..") for part in parts)
    )
    if bad:
        raise InputError(f"{key!r} is not a path inside a zone", "zone key")
    return key


def safe_filename(name: str, default: str = "source") -> str:
    """A file name made of ``[A-Za-z0-9._-]`` only (others become ``_``), never ``.``/``..``."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in name)
    cleaned = cleaned.lstrip(".")[:120]
    return cleaned or default


class Zone(Protocol):
    """A place holding files of one stage (landing or working)."""

    name: str
    uri: str

    def uri_for(self, key: str) -> str:
        """The URI of ``key`` in this zone (what the catalog records)."""
        ...

    def put_file(self, local: Path, key: str, *, pending: bool = False) -> None:
        """Store ``local`` at ``key``, replacing what was there, atomically.

        ``pending``: a part of a version not committed yet, which the zone may discard on its
        own unless :meth:`commit_parts` names it (an S3 zone tags it :data:`PENDING_TAG`).
        """
        ...

    def commit_parts(self, keys: list[str]) -> None:
        """Keep the pending parts ``keys`` for good (called before their manifest is put)."""
        ...

    def fetch(self, key: str, scratch: Path) -> Path:
        """A local path with the content of ``key`` (in place for file zones)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (sorted)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove what a failed run left under ``prefix`` (where the zone allows); how many."""
        ...


class FileZone:
    """A zone in a local directory (``file:///path``)."""

    def __init__(self, name: str, uri: str) -> None:
        self.name = name
        self.uri = uri.rstrip("/")
        self.root = Path(unquote(urlsplit(uri).path))

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise InputError(f"{key!r} resolves outside the {self.name} zone", "zone key")
        return path

    def uri_for(self, key: str) -> str:
        """``file:///root/key``."""
        return f"{self.uri}/{check_key(key)}"

    def put_file(self, local: Path, key: str, *, pending: bool = False) -> None:
        """Copy then rename inside the zone, so a reader never sees half a file.

        ``pending`` changes nothing here: a failed run's parts are removed by
        :meth:`delete_prefix`.

        Raises:
            SourceError: the zone directory cannot be written.
        """
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            os.close(fd)
            try:
                shutil.copyfile(local, tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise SourceError(f"cannot write {self.uri_for(key)}: {exc.strerror}") from exc

    def fetch(self, key: str, scratch: Path) -> Path:
        """The file itself (no copy).

        Raises:
            SourceError: the key is missing.
        """
        path = self._path(key)
        if not path.is_file():
            raise SourceError(f"{self.uri_for(key)} is missing from the {self.name} zone")
        return path

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def commit_parts(self, keys: list[str]) -> None:
        """Nothing: a file zone's parts carry no mark (a failed run's are deleted instead)."""

    def keys(self, prefix: str) -> list[str]:
        """Files under ``prefix`` (relative keys)."""
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".part-")
        )

    def delete_prefix(self, prefix: str) -> int:
        """Remove the folder ``prefix`` and everything in it (also half-written files).

        Raises:
            SourceError: the folder cannot be removed.
        """
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        try:
            shutil.rmtree(base)
        except OSError as exc:
            raise SourceError(f"cannot remove {self.uri_for(prefix.rstrip('/'))}: {exc}") from exc
        return count


class S3Zone:
    """A zone under ``s3://bucket/prefix``, reached through :class:`AwsClients` (feed role)."""

    def __init__(self, name: str, uri: str, clients: AwsClients) -> None:
        parts = urlsplit(uri)
        self.name = name
        self.uri = uri.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._clients = clients
        self._client: object | None = None

    def _s3(self) -> object:
        if self._client is None:
            self._client = self._clients.client("s3", role="feed")
        return self._client

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def put_file(self, local: Path, key: str, *, pending: bool = False) -> None:
        """Upload (multipart above 8 MiB); S3 makes the object visible only when complete.

        ``pending``: the object is written with the tag :data:`PENDING_TAG` (``Tagging`` of
        PutObject, or of CreateMultipartUpload above the threshold: boto3's ``upload_file``
        passes it to whichever it uses), in the same request, so no part is ever untagged
        before :meth:`commit_parts`.

        Raises:
            AwsError: the upload failed.
        """
        s3 = self._s3()
        extra = {"Tagging": urlencode([PENDING_TAG])} if pending else None
        with aws_errors("s3", "PutObject"):
            s3.upload_file(str(local), self.bucket, self._object_key(key), ExtraArgs=extra)  # type: ignore[attr-defined]

    def commit_parts(self, keys: list[str]) -> None:
        """Remove every tag of each part (``DeleteObjectTagging``), one call per part.

        DeleteObjectTagging rather than PutObjectTagging with another value: the feed role may
        then set the tag only to ``pending`` and remove it only where it is ``pending``
        (decision 95). A part the lifecycle rule already expired (a run longer than
        ``pending_part_days``) has a delete marker as its current version: the call fails, and
        so does the commit, before any manifest is put.

        Raises:
            AwsError: a part cannot be untagged (missing, expired, or access denied).
        """
        s3 = self._s3()

        def untag(key: str) -> None:
            s3.delete_object_tagging(Bucket=self.bucket, Key=self._object_key(key))  # type: ignore[attr-defined]

        # a national layer has thousands of parts: one round trip each, in sequence, would
        # hold the commit for minutes; botocore's clients are thread-safe and pool 10
        # connections by default, so 10 in flight
        with aws_errors("s3", "DeleteObjectTagging"), ThreadPoolExecutor(UNTAG_THREADS) as pool:
            for done in pool.map(untag, keys):
                del done  # map re-raises the first failure here, in key order

    def fetch(self, key: str, scratch: Path) -> Path:
        """Download to ``scratch``.

        Raises:
            SourceError: the object is missing.
            AwsError: the download failed.
        """
        if not self.exists(key):
            raise SourceError(f"{self.uri_for(key)} is missing from the {self.name} zone")
        target = scratch / safe_filename(key.rsplit("/", 1)[-1])
        with aws_errors("s3", "GetObject"):
            self._s3().download_file(self.bucket, self._object_key(key), str(target))  # type: ignore[attr-defined]
        return target

    def exists(self, key: str) -> bool:
        """``HeadObject``; a 404 is ``False``, other errors raise."""
        from botocore.exceptions import ClientError

        try:
            self._s3().head_object(Bucket=self.bucket, Key=self._object_key(key))  # type: ignore[attr-defined]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            with aws_errors("s3", "HeadObject"):
                raise
        return True

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``, relative to the zone."""
        full = self._object_key(prefix).rstrip("/") + "/"
        out: list[str] = []
        with aws_errors("s3", "ListObjectsV2"):
            pages = self._s3().get_paginator("list_objects_v2")  # type: ignore[attr-defined]
            for page in pages.paginate(Bucket=self.bucket, Prefix=full):
                out.extend(obj["Key"] for obj in page.get("Contents", []))
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(k[strip:] for k in out)

    def delete_prefix(self, prefix: str) -> int:
        """Nothing: the feed role may not delete zone objects (zones are append-only).

        Parts left under a prefix without its manifest are no version (nothing lists them).
        They were put pending (:data:`PENDING_TAG`), so the working bucket's lifecycle rule
        expires them ``pending_part_days`` after upload (a delete marker; the noncurrent-version
        rule then frees the bytes). Only a run that dies between :meth:`commit_parts` and the
        manifest leaves untagged parts, which the next run of the same landing version, rules
        and partition size overwrites by name (decision 95).
        """
        return 0


def zone(settings: Settings, name: str) -> Zone:
    """The zone ``landing`` or ``working`` from settings.

    Raises:
        InputError: an unknown zone name.
    """
    uris = {"landing": settings.landing_uri, "working": settings.working_uri}
    if name not in uris:
        raise InputError(f"{name!r} is not a file zone (landing or working)", "zone")
    uri = uris[name]
    if uri.startswith("s3://"):
        return S3Zone(name, uri, AwsClients(settings))
    return FileZone(name, uri)
