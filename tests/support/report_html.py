"""Read back what a report shows: figures, tables and sections by their data-* attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Parsed:
    sections: list[str] = field(default_factory=list)
    views: dict[str, str] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    headers: dict[str, list[str]] = field(default_factory=dict)
    charts: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out = Parsed()
        self._table: str | None = None
        self._tables: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.out.tags.add(tag)
        for name in ("src", "href", "action", "xlink:href"):
            if name in a:
                self.out.urls.append(a[name])
        if "data-section" in a:
            self.out.sections.append(a["data-section"])
            self.out.views[a["data-section"]] = a["data-view"]
        if "data-empty" in a:
            self.out.empty.add(a["data-empty"])
        if "data-figure" in a:
            self.out.figures[a["data-figure"]] = a["data-value"]
        if "data-chart" in a:
            self.out.charts.append(a["data-chart"])
        if tag == "table":
            key = a.get("data-table", "")
            self._tables.append(key)
            # A chart's numbers table has the chart's key: keep both apart.
            name = f"chart:{key}" if self.out.charts and self.out.charts[-1] == key else key
            self.out.tables[name] = []
            self.out.headers[name] = []
            self._table = name
        if tag == "th" and self._table is not None:
            self._in_th = True
            self.out.headers[self._table].append("")
        if tag == "tr" and self._table is not None:
            self.out.tables[self._table].append([])
        if tag == "td" and self._table is not None and "data-value" in a:
            self.out.tables[self._table][-1].append(a["data-value"])

    def handle_data(self, data: str) -> None:
        if self._in_th and self._table is not None:
            self.out.headers[self._table][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False
        if tag == "table":
            self._tables.pop()
            self._table = None


def parse(html: str) -> Parsed:
    reader = _Reader()
    reader.feed(html)
    out = reader.out
    for key, rows in out.tables.items():
        out.tables[key] = [r for r in rows if r]  # header rows have no td
    return out
