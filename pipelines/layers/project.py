"""Coordinates: CRS resolution, reprojection to Lambert-93, bounds of France, Hilbert keys.

Reprojection is the costliest step of refining a layer. PROJ's pipeline from WGS 84 (or RGF93
geographic) to EPSG:2154 is a plain Lambert Conic Conformal projection (the datum change is
a null transformation), so when :class:`Reprojector` sees exactly that pipeline it runs the
projection's closed formulas (IOGP Guidance Note 7-2, method 9802) in numpy, ~10x faster
than a per-point call into PROJ; any other pipeline goes through pyproj unchanged. Tests
check both paths agree to the micrometre.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from infra.errors import FormatError
from pipelines.layers.model import TARGET_CRS

# PROJ's definition of the EPSG:4326 -> EPSG:2154 operation (checked at run time).
LAMBERT93_PIPELINE = (
    "proj=pipeline step proj=unitconvert xy_in=deg xy_out=rad step proj=lcc lat_0=46.5 "
    "lon_0=3 lat_1=49 lat_2=44 x_0=700000 y_0=6600000 ellps=GRS80"
)
_A = 6378137.0
_F = 1 / 298.257222101
_E = float(np.sqrt(2 * _F - _F * _F))


def parse_crs(text: str, where: str) -> CRS:
    """A pyproj CRS from ``EPSG:n``, WKT or PROJJSON.

    Raises:
        FormatError: the text is not a CRS.
    """
    try:
        value: Any = json.loads(text) if text.lstrip().startswith("{") else text
        return CRS.from_user_input(value)
    except (CRSError, ValueError) as exc:
        raise FormatError(f"{where}: not a CRS ({text[:60]!r})") from exc


def crs_label(crs: CRS) -> str:
    """``EPSG:2154``-style label when the CRS has an authority code, else its name."""
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


@lru_cache(maxsize=1)
def target_crs() -> CRS:
    """EPSG:2154 (Lambert-93), the CRS of working and exposure."""
    return CRS.from_user_input(TARGET_CRS)


@lru_cache(maxsize=1)
def france_bounds() -> tuple[float, float, float, float]:
    """EPSG:2154's area of use (metropolitan France with Corsica, on- and offshore), in 2154."""
    area = target_crs().area_of_use
    assert area is not None  # EPSG:2154 always has one
    to_l93 = Transformer.from_crs("EPSG:4326", TARGET_CRS, always_xy=True)
    xmin, ymin, xmax, ymax = to_l93.transform_bounds(*area.bounds, densify_pts=51)
    return (float(xmin), float(ymin), float(xmax), float(ymax))


def _lcc_constants() -> tuple[float, float, float, float]:
    def m(phi: float) -> float:
        return float(np.cos(phi) / np.sqrt(1 - _E**2 * np.sin(phi) ** 2))

    def t(phi: float) -> float:
        s = np.sin(phi)
        return float(np.tan(np.pi / 4 - phi / 2) / ((1 - _E * s) / (1 + _E * s)) ** (_E / 2))

    p1, p2, p0 = np.radians(49.0), np.radians(44.0), np.radians(46.5)
    n = (np.log(m(p1)) - np.log(m(p2))) / (np.log(t(p1)) - np.log(t(p2)))
    big_f = m(p1) / (n * t(p1) ** n)
    r0 = _A * big_f * t(p0) ** n
    return float(n), float(big_f), float(r0), float(np.radians(3.0))


_N, _BIGF, _R0, _LON0 = _lcc_constants()


def lambert93(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project geographic degrees (RGF93 ≈ WGS 84) to Lambert-93 metres, vectorised."""
    phi = np.radians(lat)
    s = np.sin(phi)
    t = np.tan(np.pi / 4 - phi / 2) / ((1 - _E * s) / (1 + _E * s)) ** (_E / 2)
    r = _A * _BIGF * t**_N
    theta = _N * (np.radians(lon) - _LON0)
    return 700000.0 + r * np.sin(theta), 6600000.0 + _R0 - r * np.cos(theta)


class Reprojector:
    """Reprojects shapely geometries from ``source`` to EPSG:2154."""

    def __init__(self, source: CRS) -> None:
        self.identity = source.equals(target_crs(), ignore_axis_order=True)
        self._transformer = Transformer.from_crs(source, target_crs(), always_xy=True)
        self.fast = (not self.identity) and self._transformer.definition == LAMBERT93_PIPELINE

    def _xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.fast:
            return lambert93(x, y)
        out_x, out_y = self._transformer.transform(x, y, errcheck=False)
        return np.asarray(out_x), np.asarray(out_y)

    def __call__(self, geoms: np.ndarray) -> np.ndarray:
        """The same geometries in EPSG:2154 (points that cannot be projected become inf)."""
        if self.identity:
            return geoms
        result: np.ndarray = shapely.transform(geoms, self._xy, interleaved=False)
        return result


def extent_wgs84(
    bbox: tuple[float, float, float, float] | None, crs: str | None
) -> tuple[float, float, float, float] | None:
    """``bbox`` (in ``crs``) as lon/lat bounds, for maps; ``None`` when either is unknown."""
    if bbox is None or crs is None:
        return None
    try:
        source = parse_crs(crs, "crs")
        to_wgs = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
        out = to_wgs.transform_bounds(*bbox, densify_pts=21)
    except (FormatError, CRSError):
        return None
    if not all(np.isfinite(out)):
        return None
    return (float(out[0]), float(out[1]), float(out[2]), float(out[3]))


def hilbert_keys(
    bounds: np.ndarray, extent: tuple[float, float, float, float], order: int = 16
) -> np.ndarray:
    """Hilbert index (``uint32``) of each bbox centre on a 2^order grid over ``extent``.

    Neighbours on the curve are neighbours on the ground, so sorting by this key makes each
    row group cover a compact area (what lets readers skip row groups by bbox).
    """
    side = (1 << order) - 1
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    width = max(extent[2] - extent[0], 1e-9)
    height = max(extent[3] - extent[1], 1e-9)
    fx = np.nan_to_num((cx - extent[0]) / width, nan=0.0, posinf=1.0, neginf=0.0)
    fy = np.nan_to_num((cy - extent[1]) / height, nan=0.0, posinf=1.0, neginf=0.0)
    x = (np.clip(fx, 0, 1) * side).astype(np.int64)
    y = (np.clip(fy, 0, 1) * side).astype(np.int64)
    d = np.zeros(len(x), dtype=np.int64)
    s = 1 << (order - 1)
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x = np.where(flip, side - x, x)
        y = np.where(flip, side - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d.astype(np.uint32)
