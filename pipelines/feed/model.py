"""What a dataset is once validated: a safe name, a source, a layer and its quality rules.

Rows of ``params.datasets`` and CLI arguments are raw input; they become these frozen values
before anything touches a zone or a table, and every error names where the bad value came
from (``params.datasets[roads].rules.min_rows: expected an integer >= 0``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from infra.errors import InputError
from infra.names import required_name

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ZONES = ("landing", "working", "exposure")
TARGET_CRS = "EPSG:2154"
NullPolicy = Literal["drop", "keep", "fail"]
GEOMETRY_TYPES = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)


def dataset_name(value: str, where: str = "dataset") -> str:
    """Return ``value`` if it is a safe dataset name (it becomes a table and a zone folder).

    Raises:
        InputError: empty or blank; not a lowercase identifier of at most 40 characters.
    """
    required_name(value, "dataset name", where)
    if not isinstance(value, str) or not NAME.match(value):
        raise InputError(
            f"{value!r} is not a safe dataset name (a lowercase letter, then a-z, 0-9 or _,"
            " at most 40 characters)",
            where,
        )
    return value


@dataclass(frozen=True)
class Rules:
    """Quality rules of one dataset (``params.datasets.rules``); every field has a safe default.

    Attributes:
        crs: CRS to assume when the source declares none (a missing CRS fails otherwise);
            when the source has one, it must be equivalent.
        crs_override: CRS that replaces the one the source declares (a ``.prj`` that lies);
            wins over ``crs`` and over the file's.
        geometry_types: allowed source geometry types; by default one family (points, lines
            or polygons, single or multi) is allowed and a mix fails.
        bounds: allowed extent in EPSG:2154 (default: metropolitan France incl. Corsica).
        max_outside: features allowed to fall outside ``bounds`` after reprojection.
        required_columns: attribute columns that must exist.
        id_column: a column whose values must be unique and present; the exposure table's
            primary key (the feature key kept across versions) instead of the source's FID.
        min_rows / max_rows: bounds on the number of features kept.
        encoding: text encoding of the source when it does not declare the right one.
        repair: repair invalid geometries with ``make_valid`` (else they fail the layer).
        null_geometries: ``drop`` (counted), ``keep`` or ``fail`` on null/empty geometries.
        where: an OGR SQL ``WHERE`` clause: only the rows it selects are read.
        max_suspect_text: rows allowed with text that looks mis-decoded (U+FFFD, C1 controls,
            UTF-8 read as Latin-1 like ``Ã©``).
    """

    crs: str | None = None
    crs_override: str | None = None
    geometry_types: tuple[str, ...] | None = None
    bounds: tuple[float, float, float, float] | None = None
    max_outside: int = 0
    required_columns: tuple[str, ...] = ()
    id_column: str | None = None
    min_rows: int = 1
    max_rows: int | None = None
    encoding: str | None = None
    repair: bool = True
    null_geometries: NullPolicy = "drop"
    where: str | None = None
    max_suspect_text: int = 0

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, where: str = "rules") -> Rules:
        """Validate a rules mapping (JSON from ``params.datasets``).

        Raises:
            InputError: an unknown key or a value of the wrong kind, naming the key.
        """
        raw = dict(raw or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(f"unknown rule(s) {', '.join(unknown)}", where)
        return cls(
            crs=_opt_str(raw, "crs", where),
            crs_override=_opt_str(raw, "crs_override", where),
            geometry_types=_geometry_types(raw.get("geometry_types"), f"{where}.geometry_types"),
            bounds=_bounds(raw.get("bounds"), f"{where}.bounds"),
            max_outside=_int(raw, "max_outside", 0, where),
            required_columns=_str_list(raw.get("required_columns"), f"{where}.required_columns"),
            id_column=_opt_str(raw, "id_column", where),
            min_rows=_int(raw, "min_rows", 1, where),
            max_rows=_opt_int(raw, "max_rows", where),
            encoding=_opt_str(raw, "encoding", where),
            repair=_bool(raw, "repair", True, where),
            null_geometries=_null_policy(raw.get("null_geometries", "drop"), where),
            where=_opt_str(raw, "where", where),
            max_suspect_text=_int(raw, "max_suspect_text", 0, where),
        )

    def as_json(self) -> dict[str, Any]:
        """The normalised rules as JSON (what the digest and the quality report record).

        Rules added after a release are left out while at their default, so the digest of
        existing rules (and with it every working version's no-op fingerprint) stays the same.
        """
        out = asdict(self)
        for key, default in _LATER_DEFAULTS.items():
            if out.get(key) == default:
                del out[key]
        return out

    @property
    def digest(self) -> str:
        """SHA-256 of the normalised rules: refining under other rules is another version."""
        text = json.dumps(self.as_json(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()


# Rules added by issue 15 and their defaults (see Rules.as_json).
_LATER_DEFAULTS: dict[str, Any] = {"crs_override": None, "where": None, "max_suspect_text": 0}


@dataclass(frozen=True)
class Dataset:
    """A declared dataset (a ``params.datasets`` row), validated."""

    name: str
    source: str | None = None
    layer: str | None = None
    rules: Rules = field(default_factory=Rules)
    cron: str | None = None
    timezone: str = "Europe/Paris"
    enabled: bool = True

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Dataset:
        """Build from a row of ``params.datasets``.

        Raises:
            InputError: naming ``params.datasets[name].<field>``.
        """
        name = dataset_name(str(row["name"]), "params.datasets.name")
        where = f"params.datasets[{name}]"
        return cls(
            name=name,
            source=row.get("source"),
            layer=row.get("layer"),
            rules=Rules.parse(row.get("rules"), f"{where}.rules"),
            cron=row.get("cron"),
            timezone=row.get("timezone") or "Europe/Paris",
            enabled=bool(row.get("enabled", True)),
        )


def _opt_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError("expected a non-empty string", f"{where}.{key}")
    return value


def _int(raw: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError("expected an integer >= 0", f"{where}.{key}")
    return value


def _opt_int(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if raw.get(key) is None else _int(raw, key, 0, where)


def _bool(raw: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise InputError("expected true or false", f"{where}.{key}")
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError("expected a list of names", where)
    return tuple(value)


def _geometry_types(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    types = _str_list(value, where)
    bad = sorted(set(types) - set(GEOMETRY_TYPES))
    if bad or not types:
        raise InputError(
            f"unknown geometry type(s) {bad}; known: {', '.join(GEOMETRY_TYPES)}", where
        )
    return tuple(sorted(set(types)))


def _bounds(value: Any, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == 4
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not ok or not (value[0] < value[2] and value[1] < value[3]):
        raise InputError("expected [xmin, ymin, xmax, ymax] in EPSG:2154", where)
    return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def _null_policy(value: Any, where: str) -> NullPolicy:
    if value == "drop":
        return "drop"
    if value == "keep":
        return "keep"
    if value == "fail":
        return "fail"
    raise InputError("expected drop, keep or fail", f"{where}.null_geometries")
