"""One canonical layer written to every format users bring (pyogrio's fixture habit).

Each writer takes the canonical Arrow table (WKB ``geometry`` in EPSG:4326) and a directory,
and returns the file to ingest plus the layer name to read (``None`` when the file has one).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS

Writer = Callable[[pa.Table, Path], tuple[Path, str | None]]


def _write(table: pa.Table, path: Path, driver: str, **kwargs: object) -> None:
    pyogrio.write_arrow(
        table,
        path,
        driver=driver,
        geometry_name="geometry",
        geometry_type=kwargs.pop("geometry_type", "Unknown"),
        crs=kwargs.pop("crs", "EPSG:4326"),
        **kwargs,
    )


def gpkg_multi(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """A GeoPackage with the layer and a second, unrelated one."""
    path = folder / "layer.gpkg"
    _write(table, path, "GPKG", layer="buildings")
    other = table.slice(0, 3).select(["id", "geometry"])
    _write(other, path, "GPKG", layer="other", append=False)
    return path, "buildings"


def zipped_shapefile(
    table: pa.Table,
    folder: Path,
    *,
    prj: bool = True,
    cpg: str | None = "UTF-8",
    encoding: str | None = None,
) -> tuple[Path, str | None]:
    """A zipped Shapefile, optionally without .prj, with a chosen .cpg (or none)."""
    shp_dir = folder / "shp"
    shp_dir.mkdir()
    _write(table, shp_dir / "buildings.shp", "ESRI Shapefile", encoding=encoding)
    archive = folder / "buildings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(shp_dir.iterdir()):
            if file.suffix == ".prj" and not prj:
                continue
            if file.suffix == ".cpg":
                continue
            zf.write(file, file.name)
        if cpg is not None:
            zf.writestr("buildings.cpg", cpg)
    return archive, None


def shapefile(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    return zipped_shapefile(table, folder)


def loose_shapefile(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """A Shapefile as GDAL writes it: the .shp and its parts side by side, not zipped."""
    path = folder / "buildings.shp"
    _write(table, path, "ESRI Shapefile", geometry_type="Polygon")
    return path, None


def mapinfo_mif(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """MapInfo Interchange: ``layer.mif`` (geometries) and ``layer.mid`` (attributes)."""
    path = folder / "layer.mif"
    _write(table, path, "MapInfo File", geometry_type="Polygon")
    return path, None


def mapinfo_tab(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """MapInfo TAB: ``layer.tab`` with its ``.dat``, ``.map`` and ``.id``."""
    path = folder / "layer.tab"
    _write(table, path, "MapInfo File", geometry_type="Polygon")
    return path, None


def geojson(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    path = folder / "layer.geojson"
    _write(table, path, "GeoJSON")
    return path, None


def flatgeobuf(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    path = folder / "layer.fgb"
    _write(table, path, "FlatGeobuf", geometry_type="Polygon")
    return path, None


def geoparquet(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """GeoParquet 1.1 written by hand (pyogrio's GDAL has no Parquet driver)."""
    path = folder / "layer.parquet"
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    types = sorted({shapely.get_type_id(g) for g in geoms if g is not None})
    names = {3: "Polygon", 6: "MultiPolygon", 0: "Point"}
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": [names[t] for t in types],
                "crs": CRS("EPSG:4326").to_json_dict(),
            }
        },
    }
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path)
    return path, None


def csv_wkt(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """CSV with a WKT column (no CRS: the dataset's rules must declare one)."""
    import pyarrow.csv as pacsv

    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    out = table.drop_columns(["geometry"]).append_column(
        "wkt", pa.array(shapely.to_wkt(geoms, rounding_precision=-1))
    )
    path = folder / "layer.csv"
    pacsv.write_csv(out, path)
    return path, None


def csv_lonlat(table: pa.Table, folder: Path) -> tuple[Path, str | None]:
    """CSV with lon/lat columns: the centroids of the canonical footprints."""
    import pyarrow.csv as pacsv

    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    pts = shapely.centroid(shapely.make_valid(geoms))  # a bowtie's own centroid is garbage
    out = table.drop_columns(["geometry"])
    out = out.append_column("lon", pa.array(shapely.get_x(pts))).append_column(
        "lat", pa.array(shapely.get_y(pts))
    )
    path = folder / "points.csv"
    pacsv.write_csv(out, path)
    return path, None


FORMATS: dict[str, Writer] = {
    "gpkg-multilayer": gpkg_multi,
    "shapefile-zip": shapefile,
    "geojson": geojson,
    "flatgeobuf": flatgeobuf,
    "geoparquet": geoparquet,
    "csv-wkt": csv_wkt,
}
