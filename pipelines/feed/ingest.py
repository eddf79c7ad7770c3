"""source → landing: the raw bytes, unchanged, with their SHA-256, provenance and profile.

The file is fetched once into scratch space while it is hashed; if this dataset already has
these exact bytes in landing, nothing else happens (a no-op). Otherwise the file must open as a
layer (a broken zip or a truncated GeoPackage is refused here, before it lands), the layer is
chosen (``--layer`` when the file has several), profiled, stored under
``<dataset>/<sha256[:16]>/<file name>`` and recorded with a lineage edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.errors import FormatError
from infra.names import required_name
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.formats import Profile, profile
from pipelines.feed.model import Dataset, dataset_name
from pipelines.feed.sources import Fetched, fetch, lone_part
from pipelines.feed.zones import scratch_dir, zone


@dataclass(frozen=True)
class Ingested:
    """The landing version, whether it was already there, and the layer's profile."""

    version: catalog.Version
    noop: bool
    profile: dict[str, Any] | None


def _land(
    conn: Any,
    settings: Settings,
    name: str,
    fetched: Fetched,
    *,
    layer: str | None,
    prof: Profile | None,
    step_name: str,
    started: datetime,
    clock: float,
    run_id: int | None,
) -> catalog.Version:
    landing = zone(settings, "landing")
    key = f"{name}/{fetched.sha256[:16]}/{fetched.filename}"
    landing.put_file(fetched.path, key)
    provenance = {**fetched.provenance, "key": key, "filename": fetched.filename}
    if prof is not None:
        provenance["profile"] = prof.as_json()
    version = catalog.insert(
        conn,
        catalog.NewVersion(
            dataset=name,
            zone="landing",
            uri=landing.uri_for(key),
            fingerprint=fetched.sha256,
            checksum=fetched.sha256,
            status="landed",
            rows=prof.rows if prof else None,
            bytes=fetched.size,
            crs=prof.crs if prof else None,
            bbox=prof.bbox if prof else None,
            geometry_types=prof.geometry_types if prof else (),
            layer=layer,
            provenance=provenance,
            run_id=run_id,
        ),
    )
    catalog.add_edge(
        conn,
        dataset=name,
        step=step_name,
        from_uri=str(fetched.provenance.get("source", "")),
        to_uri=version.uri,
        to_version=version.id,
        rows=version.rows,
        started_at=started,
        duration_s=time.perf_counter() - clock,
        run_id=run_id,
    )
    return version


def _reject(
    conn: Any,
    name: str,
    fetched: Fetched,
    layer: str | None,
    reason: str,
    earlier: catalog.Version | None,
    run_id: int | None,
) -> None:
    """Record bytes that do not read as a layer: a rejected landing version with the reason.

    Nothing is stored in landing (the version's uri is its source). The same bytes rejected
    again for the same reason touch the earlier record rather than add one per attempt.
    """
    source = str(fetched.provenance.get("source", ""))
    uri = source if "://" in source else Path(source).as_uri() if source else fetched.filename
    line = catalog.reason_line(reason)
    report = {"dataset": name, "passed": False, "error": line, "checks": []}
    if earlier is not None and earlier.reason == line:
        catalog.reject(conn, earlier.id, "ingest", line, report)
    else:
        catalog.insert(
            conn,
            catalog.NewVersion(
                dataset=name,
                zone="landing",
                uri=uri,
                fingerprint=fetched.sha256,
                checksum=fetched.sha256,
                status="rejected",
                bytes=fetched.size,
                layer=layer,
                quality=report,
                provenance={**fetched.provenance, "filename": fetched.filename},
                run_id=run_id,
                reason=line,
                rejected_by="ingest",
            ),
        )
    conn.commit()


def _again(
    conn: Any,
    name: str,
    existing: catalog.Version,
    fetched: Fetched,
    started: datetime,
    clock: float,
    run_id: int | None,
    step_name: str = "ingest",
) -> None:
    """The same bytes landed before: nothing is stored, but they become current again.

    A source that goes back to earlier bytes (A → B → A) must be what refine and publish
    move forward next; when they were not the current landing version, the move is recorded.
    """
    current = catalog.find(conn, name, "landing")
    catalog.make_current(conn, existing.id)
    if current is not None and current.id != existing.id:
        catalog.add_edge(
            conn,
            dataset=name,
            step=step_name,
            from_uri=str(fetched.provenance.get("source", "")),
            to_uri=existing.uri,
            to_version=existing.id,
            rows=existing.rows,
            started_at=started,
            duration_s=time.perf_counter() - clock,
            run_id=run_id,
        )
    conn.commit()


def ingest(
    conn: Any,
    settings: Settings,
    name: str,
    source: str | None = None,
    layer: str | None = None,
    *,
    run_id: int | None = None,
) -> Ingested:
    """Land ``source`` (default: the dataset's declared source) as a version of ``name``.

    Raises:
        InputError: bad dataset name, a blank source or layer, or no source given nor
            declared.
        SourceError: the source cannot be fetched.
        FormatError: the file is not a readable layer (or the layer is ambiguous); the bytes
            are recorded as a landing version rejected by ``ingest``, with the reason.
    """
    name = dataset_name(name)
    # Only None means "the declared one": an empty string is a mistake, never a default.
    if source is not None:
        required_name(source, "source", "ingest")
    if layer is not None:
        required_name(layer, "layer name", "ingest")
    declared = catalog.load_dataset(conn, name) or Dataset(name)
    conn.rollback()
    explicit_layer = layer
    source = source or declared.source
    layer = layer or declared.layer
    if not source:
        from infra.errors import InputError

        raise InputError(f"{name}: no source given and none declared in params.datasets")
    started, clock = datetime.now(UTC), time.perf_counter()
    with scratch_dir(settings, "ingest") as scratch:
        try:
            fetched = fetch(source, scratch, settings)
        except FormatError as exc:
            lone = lone_part(source, scratch)  # a multi-file layer that misses a part
            if lone is not None:
                earlier = catalog.find(conn, name, "landing", checksum=lone.sha256)
                _reject(conn, name, lone, layer, str(exc), earlier, run_id)
            raise
        existing = catalog.find(conn, name, "landing", checksum=fetched.sha256)
        if existing is not None and existing.rejected_by != "ingest":
            _again(conn, name, existing, fetched, started, clock, run_id)
            return Ingested(existing, True, existing.provenance.get("profile"))
        try:
            prof = profile(fetched.path, layer, declared.rules.encoding)
        except FormatError as exc:
            if not exc.layers:  # which layer to read is a question to the user, not a defect
                _reject(conn, name, fetched, layer, str(exc), existing, run_id)
            raise
        version = _land(
            conn,
            settings,
            name,
            fetched,
            layer=prof.layer,
            prof=prof,
            step_name="ingest",
            started=started,
            clock=clock,
            run_id=run_id,
        )
        # An ad-hoc ingest declares its dataset; only a layer the user named binds later runs.
        uri = source if "://" in source else Path(source).resolve().as_uri()
        catalog.declare(conn, name, uri, explicit_layer)
        conn.commit()
    return Ingested(version, False, prof.as_json())


def land_url(
    conn: Any, settings: Settings, name: str, url: str, *, run_id: int | None = None
) -> Ingested:
    """Copy any external URL (http(s) or s3) into landing as-is, without reading it as a layer.

    The external → S3 transfer: bytes, checksum and provenance are recorded like an ingest,
    and the same bytes twice are a no-op, but no format is assumed (``ingest`` checks that).

    Raises:
        InputError: bad dataset name or URL.
        SourceError: the URL cannot be fetched.
    """
    from infra.errors import InputError

    name = dataset_name(name)
    if "://" not in url or url.startswith("file://"):
        raise InputError(f"{url!r}: expected an http(s):// or s3:// URL", "transfer url")
    started, clock = datetime.now(UTC), time.perf_counter()
    with scratch_dir(settings, "transfer") as scratch:
        fetched = fetch(url, scratch, settings)
        existing = catalog.find(conn, name, "landing", checksum=fetched.sha256)
        if existing is not None:
            _again(conn, name, existing, fetched, started, clock, run_id, "transfer")
            return Ingested(existing, True, None)
        version = _land(
            conn,
            settings,
            name,
            fetched,
            layer=None,
            prof=None,
            step_name="transfer",
            started=started,
            clock=clock,
            run_id=run_id,
        )
        conn.commit()
    return Ingested(version, False, None)
