"""The demo's sample layer: swimming pools around cities of southern France, as a GeoPackage.

Synthetic, generated in code from a fixed seed (no file to ship, no licence to check): a few
thousand pool outlines — small private pools, a few public ones — scattered around ten cities,
in EPSG:4326 as a survey would deliver them. Like real deliveries it is not clean: about 1 % of
the outlines are self-intersecting (a bowtie: two corners swapped when digitising) and a few
have no geometry at all, so the refine step's quality report has repairs and drops to show.

The dataset is declared in ``params.datasets`` with its quality rules (audited like any edit),
then fed through landing → working → exposure by the real ``layers.*`` tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

DATASET = "swimming_pools"
LAYER = "swimming_pools"
FEATURES = 3_000
SEED = 20_260_701
INVALID_EVERY = 97  # ~1 % bowties
NULL_EVERY = 601  # a handful of features without geometry
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0

#: City, longitude, latitude, relative weight (how many pools around it).
CITIES: tuple[tuple[str, float, float, int], ...] = (
    ("Marseille", 5.3698, 43.2965, 18),
    ("Toulouse", 1.4442, 43.6047, 14),
    ("Nice", 7.2620, 43.7102, 12),
    ("Montpellier", 3.8767, 43.6108, 12),
    ("Bordeaux", -0.5792, 44.8378, 10),
    ("Aix-en-Provence", 5.4474, 43.5297, 10),
    ("Toulon", 5.9280, 43.1242, 8),
    ("Nîmes", 4.3601, 43.8367, 6),
    ("Avignon", 4.8055, 43.9493, 5),
    ("Perpignan", 2.8956, 42.6887, 5),
)

#: Quality rules of the dataset (``params.datasets.rules``, see docs/feed.md).
RULES: dict[str, Any] = {
    "geometry_types": ["Polygon"],
    "required_columns": ["pool_id", "city", "kind", "area_m2"],
    "id_column": "pool_id",
    "min_rows": 1_000,
    "max_rows": 100_000,
    "repair": True,
    "null_geometries": "drop",
}
NOTE = "demo: synthetic swimming pools around ten cities of southern France"


@dataclass(frozen=True)
class Sample:
    """The sample written: where, how many features, how many broken on purpose."""

    path: Path
    features: int
    invalid: int
    null: int


def _outline(lon: float, lat: float, width: float, length: float, angle: float) -> list[Any]:
    """Corners of a ``width`` x ``length`` m rectangle turned by ``angle``, in degrees."""
    per_lon = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = dx * width / 2, dy * length / 2
        corners.append(
            (lon + (x * cos - y * sin) / per_lon, lat + (x * sin + y * cos) / M_PER_DEG_LAT)
        )
    return corners


def pools(features: int = FEATURES, seed: int = SEED) -> Any:
    """The layer as a GeoDataFrame (EPSG:4326); the same seed always gives the same pools."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Polygon

    rng = np.random.default_rng(seed)
    weights = np.array([c[3] for c in CITIES], dtype=float)
    picks = rng.choice(len(CITIES), size=features, p=weights / weights.sum())
    rows: list[dict[str, Any]] = []
    geometries: list[Any] = []
    for i, pick in enumerate(picks):
        city, lon, lat, _ = CITIES[int(pick)]
        public = rng.random() < 0.04
        width = rng.uniform(12, 25) if public else rng.uniform(3, 5)
        length = rng.uniform(25, 50) if public else rng.uniform(6, 11)
        x = lon + rng.normal(0, 0.06)
        y = lat + rng.normal(0, 0.04)
        corners = _outline(x, y, width, length, rng.uniform(0, math.pi))
        if (i + 1) % INVALID_EVERY == 0:
            corners[1], corners[2] = corners[2], corners[1]  # a bowtie: digitised out of order
        geometries.append(None if (i + 1) % NULL_EVERY == 0 else Polygon(corners))
        rows.append(
            {
                "pool_id": i + 1,
                "city": city,
                "kind": "public" if public else "private",
                "area_m2": round(width * length, 1),
                "surveyed": int(rng.integers(2019, 2026)),
            }
        )
    return gpd.GeoDataFrame(rows, geometry=geometries, crs="EPSG:4326")


def write_sample(folder: Path, features: int = FEATURES) -> Sample:
    """Write the sample GeoPackage into ``folder`` (replacing an older one) and describe it."""
    import pyogrio

    frame = pools(features)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DATASET}.gpkg"
    partial = folder / f"{DATASET}.partial.gpkg"  # GDAL wants the .gpkg extension
    partial.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, partial, layer=LAYER, driver="GPKG")
    partial.replace(path)  # never a half-written file where the ingest looks
    null = int(frame.geometry.isna().sum())
    invalid = int((~frame.geometry.dropna().is_valid).sum())
    return Sample(path, len(frame), invalid, null)


def declare(conn: psycopg.Connection[Any], source: str, actor: str) -> None:
    """Declare (or re-declare) the dataset with its source and rules, audited as ``actor``."""
    with conn.transaction():
        conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))
        conn.execute(
            "INSERT INTO params.datasets (name, source, layer, rules, note)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source,"
            " layer = EXCLUDED.layer, rules = EXCLUDED.rules, note = EXCLUDED.note"
            " WHERE (params.datasets.source, params.datasets.layer, params.datasets.rules,"
            " params.datasets.note) IS DISTINCT FROM"
            " (EXCLUDED.source, EXCLUDED.layer, EXCLUDED.rules, EXCLUDED.note)",
            (DATASET, source, LAYER, Jsonb(RULES), NOTE),
        )
