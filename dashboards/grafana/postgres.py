"""A PostgreSQL query type for grafana-foundation-sdk panels and annotations.

The SDK ships query types for Prometheus, Loki, CloudWatch… but none for Grafana's built-in
PostgreSQL datasource, so this module adds one the way the SDK's ``custom-query`` example does:
a :class:`~grafana_foundation_sdk.cog.variants.Dataquery` whose ``to_json`` produces exactly
what Grafana stores for a code-mode SQL query (``rawSql``, ``format``, ``rawQuery``,
``editorMode``, ``refId``, ``datasource``), wrapped in a builder that panel builders'
``with_target()`` accept.

Annotations are the same query attached to the dashboard instead of a panel; the SDK types
their target for the built-in Grafana datasource only, so :class:`SqlAnnotationTarget`
overrides its JSON the same way.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder, variants
from grafana_foundation_sdk.models import dashboard as model

Format = Literal["time_series", "table"]
FORMATS: tuple[Format, ...] = ("time_series", "table")


def _payload(
    sql: str, fmt: Format, ref_id: str, ds: model.DataSourceRef | None
) -> dict[str, object]:
    payload: dict[str, object] = {
        "editorMode": "code",
        "format": fmt,
        "rawQuery": True,
        "rawSql": sql,
        "refId": ref_id,
    }
    if ds is not None:
        payload["datasource"] = ds
    return payload


class PostgresQuery(variants.Dataquery):
    """One SQL query of a panel, as Grafana's PostgreSQL datasource stores it.

    Attributes:
        raw_sql: the SQL, with Grafana macros (``$__timeFilter(col)``...) and variables.
        format: ``time_series`` (needs a ``time`` column, sorted) or ``table``.
        ref_id: the query's letter within its panel.
        datasource: the datasource it runs against.
    """

    def __init__(
        self,
        raw_sql: str,
        format: Format = "table",
        ref_id: str = "A",
        datasource: model.DataSourceRef | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown query format {format!r} (expected one of {FORMATS})")
        self.raw_sql = raw_sql
        self.format: Format = format
        self.ref_id = ref_id
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """The target object of Grafana's dashboard JSON."""
        return _payload(self.raw_sql, self.format, self.ref_id, self.datasource)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target back from dashboard JSON (the inverse of :meth:`to_json`)."""
        ds = data.get("datasource")
        return cls(
            raw_sql=str(data["rawSql"]),
            format=data.get("format", "table"),
            ref_id=str(data.get("refId", "A")),
            datasource=model.DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
        )


class PostgresQueryBuilder(builder.Builder[PostgresQuery]):
    """Builder for :class:`PostgresQuery`, accepted by every panel's ``with_target()``."""

    def __init__(self, raw_sql: str) -> None:
        self._internal = PostgresQuery(raw_sql)

    def build(self) -> PostgresQuery:
        """The query object."""
        return self._internal

    def format(self, fmt: Format) -> Self:
        """``time_series`` for time series panels, ``table`` for everything else."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown query format {fmt!r} (expected one of {FORMATS})")
        self._internal.format = fmt
        return self

    def ref_id(self, ref_id: str) -> Self:
        """The query's letter within its panel (``A`` by default)."""
        self._internal.ref_id = ref_id
        return self

    def datasource(self, ref: model.DataSourceRef) -> Self:
        """The datasource the query runs against."""
        self._internal.datasource = ref
        return self


class SqlAnnotationTarget(model.AnnotationTarget):
    """The SQL target of an annotation query (columns ``time``, ``text``, optional ``tags``)."""

    def __init__(self, raw_sql: str, datasource: model.DataSourceRef | None = None) -> None:
        super().__init__()
        self.raw_sql = raw_sql
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """What Grafana stores as an SQL annotation's ``target``."""
        return _payload(self.raw_sql, "table", "Anno", self.datasource)


class SqlAnnotationTargetBuilder(builder.Builder[model.AnnotationTarget]):
    """Builder for :class:`SqlAnnotationTarget`, accepted by ``AnnotationQuery.target()``."""

    def __init__(self, raw_sql: str, datasource: model.DataSourceRef | None = None) -> None:
        self._internal = SqlAnnotationTarget(raw_sql, datasource)

    def build(self) -> model.AnnotationTarget:
        """The annotation target object."""
        return self._internal
