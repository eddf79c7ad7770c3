from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import CRS, Transformer

from pipelines.feed.project import Reprojector
from pipelines.feed.wkb import reproject
from tests.support import geodata

TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = TO_L93.transform(x, y)
    return np.asarray(out[0]), np.asarray(out[1])


def via_shapely(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, xy, interleaved=False)


MIXED = [
    shapely.Point(2.35, 48.85),
    shapely.LineString([(2, 48), (2.1, 48.1), (2.2, 48.0)]),
    shapely.Polygon(
        [(2, 48), (2.1, 48), (2.1, 48.1), (2, 48.1)],
        holes=[[(2.02, 48.02), (2.05, 48.02), (2.05, 48.05)]],
    ),
    shapely.MultiPoint([(1, 45), (1.5, 45.5)]),
    shapely.MultiLineString([[(1, 45), (1.1, 45.1)], [(3, 46), (3.1, 46), (3.2, 46.2)]]),
    shapely.MultiPolygon(
        [
            shapely.box(2, 48, 2.01, 48.01),
            shapely.Polygon(
                [(3, 47), (3.1, 47), (3.1, 47.1), (3, 47.1)],
                holes=[[(3.01, 47.01), (3.02, 47.01), (3.02, 47.02)]],
            ),
        ]
    ),
    shapely.Polygon(),
    None,
]


@pytest.mark.parametrize("large", [False, True], ids=["binary", "large_binary"])
def test_bytes_path_equals_shapely_path(large: bool) -> None:
    geoms = np.array(MIXED * 3 + list(geodata.footprints(500, invalid_share=0.1)), dtype=object)
    kind = pa.large_binary() if large else pa.binary()
    array = pa.array(shapely.to_wkb(geoms), type=kind)
    out = reproject(array, xy)
    assert out is not None and out.type == kind and len(out) == len(array)
    got = shapely.from_wkb(out.to_numpy(zero_copy_only=False))
    want = via_shapely(geoms)
    assert shapely.is_missing(got).tolist() == shapely.is_missing(want).tolist()
    present = ~shapely.is_missing(want)
    assert shapely.equals_exact(got[present], want[present], tolerance=1e-9).all()
    assert array.to_pylist()[0] != out.to_pylist()[0]  # a new buffer, input untouched
    assert shapely.from_wkb(array.to_pylist()[0]).equals(MIXED[0])


def test_sliced_arrays_are_read_at_their_offset() -> None:
    geoms = geodata.footprints(50)
    array = pa.array(shapely.to_wkb(geoms)).slice(10, 20)
    out = reproject(array, xy)
    assert out is not None
    got = shapely.from_wkb(out.to_numpy(zero_copy_only=False))
    assert shapely.equals_exact(got, via_shapely(geoms[10:30]), tolerance=1e-9).all()


@pytest.mark.parametrize(
    "geom",
    [
        shapely.Point(1, 2, 3),
        shapely.GeometryCollection([shapely.Point(1, 2)]),
    ],
    ids=["3d", "collection"],
)
def test_unhandled_geometries_fall_back(geom: shapely.Geometry) -> None:
    array = pa.array([shapely.to_wkb(shapely.Point(2, 48)), shapely.to_wkb(geom)])
    assert reproject(array, xy) is None


def test_big_endian_and_truncated_fall_back() -> None:
    big = shapely.to_wkb(shapely.Point(2, 48), byte_order=0)
    assert reproject(pa.array([big]), xy) is None
    cut = shapely.to_wkb(shapely.box(0, 0, 1, 1))[:-8]
    assert reproject(pa.array([cut]), xy) is None


def test_reprojector_identity_keeps_bytes() -> None:
    array = pa.array([shapely.to_wkb(shapely.Point(700000, 6600000))])
    assert Reprojector(CRS("EPSG:2154")).wkb(array) is array


def test_unprojectable_points_count_as_outside() -> None:
    from pipelines.feed.formats import LayerReader
    from pipelines.feed.model import Rules
    from pipelines.feed.refine import BatchRefiner

    points = [shapely.Point(2.35, 48.85), shapely.Point(1e12, -1e12)]
    batch = pa.record_batch({"id": [1, 2], "geometry": pa.array(shapely.to_wkb(points))})
    reader = LayerReader("EPSG:4326", "geometry", ("id",), "UTF-8", iter([batch]))
    refiner = BatchRefiner("pts", reader, Rules())
    _, tally = refiner.process(batch)
    assert tally.outside == 1 and tally.unprojectable == 1 and tally.rows_out == 1
