"""Building-like layers generated in code: the canonical test layer and the bench layer.

Footprints are small rotated rectangles and L-shapes (5–40 m) around French cities plus a
rural scatter, in EPSG:4326; a chosen share is made invalid as "bowties" (two vertices
swapped), the most common invalid polygon in real cadastral data. Attributes cover the types
that trip loaders: int64 ids, floats, a nullable integer, accented text, a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import shapely

# (lon, lat, weight, spread in degrees)
CITIES = [
    (2.35, 48.86, 0.22, 0.15),
    (4.83, 45.76, 0.08, 0.10),
    (5.37, 43.30, 0.07, 0.08),
    (1.44, 43.60, 0.06, 0.08),
    (3.06, 50.63, 0.06, 0.08),
    (-0.58, 44.84, 0.05, 0.08),
    (-1.55, 47.22, 0.05, 0.08),
    (7.75, 48.58, 0.04, 0.06),
    (-1.68, 48.11, 0.04, 0.06),
    (3.88, 43.61, 0.04, 0.06),
    (9.15, 42.30, 0.01, 0.10),  # Corsica
]
RURAL = 1.0 - sum(c[2] for c in CITIES)
# A box well inside metropolitan France for the rural scatter.
RURAL_BOX = (-1.0, 43.8, 6.5, 49.5)
USAGES = ["Résidentiel", "Commercial et services", "Agricole", "Industriel", "Religieux", "Annexe"]


def _centres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    weights = np.array([c[2] for c in CITIES] + [RURAL])
    which = rng.choice(len(weights), size=n, p=weights / weights.sum())
    lon = np.empty(n)
    lat = np.empty(n)
    for i, (clon, clat, _, spread) in enumerate(CITIES):
        mask = which == i
        k = int(mask.sum())
        lon[mask] = clon + rng.normal(0, spread, k)
        lat[mask] = clat + rng.normal(0, spread * 0.7, k)
    mask = which == len(CITIES)
    k = int(mask.sum())
    lon[mask] = rng.uniform(RURAL_BOX[0], RURAL_BOX[2], k)
    lat[mask] = rng.uniform(RURAL_BOX[1], RURAL_BOX[3], k)
    return lon, lat


def footprints(n: int, *, seed: int = 5, invalid_share: float = 0.02) -> np.ndarray:
    """``n`` building-like polygons (EPSG:4326); ``invalid_share`` of them are bowties."""
    rng = np.random.default_rng(seed)
    lon, lat = _centres(rng, n)
    w = rng.uniform(5, 40, n)
    h = rng.uniform(5, 25, n)
    angle = rng.uniform(0, np.pi, n)
    # L-shape for a third of them: 6 vertices; rectangles repeat a vertex to keep one array.
    ell = rng.random(n) < 0.33
    unit = np.array(
        [
            [-0.5, -0.5],
            [0.5, -0.5],
            [0.5, 0.0],
            [0.0, 0.0],
            [0.0, 0.5],
            [-0.5, 0.5],
        ]
    )
    rect = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [-0.5, 0.5]])
    shape = np.where(ell[:, None, None], unit[None], rect[None])  # (n, 6, 2)
    x = shape[..., 0] * w[:, None]
    y = shape[..., 1] * h[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    xr = x * cos - y * sin
    yr = x * sin + y * cos
    coords = np.empty((n, 6, 2))
    coords[..., 0] = lon[:, None] + xr / (111_320 * np.cos(np.radians(lat))[:, None])
    coords[..., 1] = lat[:, None] + yr / 110_540
    bad = rng.random(n) < invalid_share
    # bowtie: swap the first two vertices of the ring
    coords[bad, 0], coords[bad, 1] = coords[bad, 1].copy(), coords[bad, 0].copy()
    polys = shapely.polygons(coords)
    # rectangles carry duplicate vertices; drop them so they are plain 4-corner rings
    rect_idx = np.flatnonzero(~ell)
    polys[rect_idx] = shapely.remove_repeated_points(polys[rect_idx])
    return polys


def attributes(n: int, *, seed: int = 5, offset: int = 0) -> dict[str, pa.Array]:
    """Attribute columns matching :func:`footprints` (ids start at ``offset + 1``)."""
    rng = np.random.default_rng(seed + 1)
    levels = rng.integers(1, 12, n).astype("int32")
    levels_mask = rng.random(n) < 0.1
    base = dt.date(1850, 1, 1).toordinal()
    days = rng.integers(0, 170 * 365, n)
    epoch = dt.date(1970, 1, 1).toordinal()
    return {
        "id": pa.array(np.arange(offset + 1, offset + n + 1, dtype="int64")),
        "height": pa.array(np.round(rng.uniform(2.5, 45.0, n), 2)),
        "levels": pa.array(levels, mask=levels_mask),
        "usage": pa.array(np.array(USAGES, dtype=object)[rng.integers(0, len(USAGES), n)]),
        "name": pa.array([f"Bâtiment n°{offset + i + 1}" for i in range(n)]),
        "built": pa.array((base - epoch + days).astype("int32"), type=pa.date32()),
    }


def layer_table(n: int, *, seed: int = 5, invalid_share: float = 0.02) -> pa.Table:
    """The layer as an Arrow table with a WKB ``geometry`` column (EPSG:4326)."""
    geoms = footprints(n, seed=seed, invalid_share=invalid_share)
    cols = attributes(n, seed=seed)
    cols["geometry"] = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    return pa.table(cols)


def write_gpkg(path: Path, n: int, *, seed: int = 5, chunk: int = 100_000) -> Path:
    """Write ``n`` footprints to a GeoPackage in chunks (bounded memory for the bench)."""
    import pyogrio

    for i, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        geoms = footprints(size, seed=seed + i)
        cols = attributes(size, seed=seed + i, offset=start)
        cols["geometry"] = pa.array(shapely.to_wkb(geoms), type=pa.binary())
        pyogrio.write_arrow(
            pa.table(cols),
            path,
            layer="buildings",
            driver="GPKG",
            geometry_name="geometry",
            geometry_type="Polygon",
            crs="EPSG:4326",
            append=i > 0,
        )
    return path


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, length)`` pairs covering ``total`` rows."""
    for start in range(0, total, size):
        yield start, min(size, total - start)
