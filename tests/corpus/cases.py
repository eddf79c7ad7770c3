"""The corpus: one case per real public layer (or a format derived from one), and what to expect.

Every case names the package file it comes from. Where no package ships a class the issue asks
for (MapInfo, FlatGeobuf, GeoParquet, KML, GeoJSON, a multi-layer GeoPackage, CSV with lon/lat,
an invalid polygon), the case writes it from a real layer with GDAL (pyogrio's own GDAL) or
geopandas, and ``derived`` says how. ``pending`` names the behaviour of issue 15 that today's
feed lacks: the test then states the expected behaviour and is a strict expected failure.

None of these layers lies in metropolitan France, so every case widens ``bounds`` (a rule of
the dataset, as a user would declare it) to the whole projected plane of EPSG:2154.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: ``bounds`` for layers outside France: the EPSG:2154 plane, far beyond any real coordinate.
WORLD = [-1.0e9, -1.0e9, 1.0e9, 1.0e9]

SF = "usr/lib/R/site-library/sf"
PYOGRIO = "pyogrio/tests/fixtures"
PYSHP = "pyshp-3.1.9/tests/shapefiles"

Build = Callable[[Path, Path], Path]


@dataclass(frozen=True)
class Case:
    """One corpus file and what the feed must do with it.

    Attributes:
        id: test id and dataset name (``[a-z][a-z0-9_]*``).
        klass: the class of real-world data it stands for (the issue's list).
        package: key of :data:`tests.corpus.sources.PACKAGES`.
        source: the real layer, relative to the unpacked package.
        build: makes the file given to ``ingest`` from the real one (in a scratch folder).
        derived: how the input was made from the real layer; ``""`` = the real file as shipped.
        layer: layer to ingest in multi-layer files.
        rules: rules of the dataset besides ``bounds``.
        expect: ``published``, or ``refused`` (one line, recorded as a rejected version).
        pending: the missing behaviour when today's feed fails the case (strict xfail).
        zm: ``z`` when the source has Z that must reach exposure, ``zm`` when it also has M,
            ``m`` when it has M alone (served 2D).
        gdal_config: GDAL settings the independent read needs to read the file at all.
        refusal: a pattern the refusal line must match (it names the cause).
    """

    id: str
    klass: str
    package: str
    source: str
    build: Build
    derived: str = ""
    layer: str | None = None
    rules: dict[str, Any] = field(default_factory=dict)
    expect: Literal["published", "refused"] = "published"
    pending: str = ""
    zm: Literal["", "z", "zm", "m"] = ""
    gdal_config: dict[str, str] = field(default_factory=dict)
    refusal: str = ""

    def dataset_rules(self) -> dict[str, Any]:
        """The rules declared for the dataset."""
        return {"bounds": WORLD, **self.rules}


# --- builders: each takes (real file, scratch folder) and returns the file to ingest ---------


def as_is(real: Path, tmp: Path) -> Path:
    """The real file, copied as shipped (with nothing beside it)."""
    out = tmp / real.name
    shutil.copyfile(real, out)
    return out


def with_sidecars(real: Path, tmp: Path) -> Path:
    """The real file with every file of the same stem beside it (as shipped)."""
    for part in real.parent.glob(f"{real.stem}.*"):
        shutil.copyfile(part, tmp / part.name)
    return tmp / real.name


def zipped(real: Path, tmp: Path) -> Path:
    """The parts of a multi-file layer (same stem) in one .zip, as the feed asks for them."""
    out = tmp / f"{real.stem}.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for part in sorted(real.parent.glob(f"{real.stem}.*")):
            archive.write(part, part.name)
    return out


def _frame(real: Path, layer: str | None = None) -> Any:
    import pyogrio

    return pyogrio.read_dataframe(real, layer=layer)


def converted(
    driver: str, suffix: str, *, to_crs: str | None = None, pack: bool = False, **options: Any
) -> Build:
    """A builder writing the real layer with GDAL's ``driver`` (optionally zipped)."""

    def build(real: Path, tmp: Path) -> Path:
        import pyogrio

        frame = _frame(real)
        if to_crs:
            frame = frame.to_crs(to_crs)
        folder = tmp / "derived"
        folder.mkdir()
        out = folder / f"{real.stem}{suffix}"
        pyogrio.write_dataframe(frame, out, driver=driver, **options)
        return zipped(out, tmp) if pack else out

    return build


def mapinfo_alone(suffix: str, **options: Any) -> Build:
    """The main file of a MapInfo layer given alone, its companions left behind."""

    def build(real: Path, tmp: Path) -> Path:
        full = converted("MapInfo File", suffix, **options)(real, tmp)
        out = tmp / full.name
        shutil.copyfile(full, out)
        return out

    return build


def geoparquet(real: Path, tmp: Path) -> Path:
    """GeoParquet 1.1 written by geopandas (neither GDAL build here has a Parquet driver)."""
    out = tmp / f"{real.stem}.parquet"
    _frame(real).to_parquet(out, schema_version="1.1.0", write_covering_bbox=True)
    return out


def gpkg_layers(real: Path, tmp: Path) -> Path:
    """Every layer of a real SpatiaLite file copied into one GeoPackage (several layers)."""
    import pyogrio

    out = tmp / f"{real.stem}.gpkg"
    for name, _ in pyogrio.list_layers(real):
        pyogrio.write_dataframe(_frame(real, str(name)), out, layer=str(name), driver="GPKG")
    return out


def gpkg_without_srs(real: Path, tmp: Path) -> Path:
    """The real layer in a GeoPackage whose SRS is undefined (``srs_id`` 0 or -1)."""
    import pyogrio

    frame = _frame(real)
    frame = frame.set_crs(None, allow_override=True)
    out = tmp / f"{real.stem}_nosrs.gpkg"
    pyogrio.write_dataframe(frame, out, driver="GPKG")
    return out


def csv_lonlat(real: Path, tmp: Path) -> Path:
    """The towns of the real SpatiaLite file as a CSV with ``lon``/``lat`` columns (WGS 84)."""
    frame = _frame(real, "Towns").to_crs("EPSG:4326")
    table = frame.drop(columns="geometry")
    table["lon"] = frame.geometry.x
    table["lat"] = frame.geometry.y
    out = tmp / f"{real.stem}_lonlat.csv"
    table.to_csv(out, index=False, float_format="%.9f")
    return out


def bowties(real: Path, tmp: Path) -> Path:
    """The real layer with every 7th polygon's 2nd and 3rd vertices swapped (a bowtie), zipped.

    No package here ships an invalid polygon; a swapped vertex pair is the classic digitising
    error that makes a self-intersecting ring.
    """
    import pyogrio
    import shapely

    frame = _frame(real)
    geoms = list(frame.geometry)
    for i in range(0, len(geoms), 7):
        polygon = shapely.get_geometry(geoms[i], 0)  # the first part of a multipolygon
        ring = list(polygon.exterior.coords)
        if len(ring) > 4:
            ring[1], ring[2] = ring[2], ring[1]
            geoms[i] = shapely.Polygon(ring, [h.coords for h in polygon.interiors])
    frame = frame.set_geometry(geoms, crs=frame.crs)
    folder = tmp / "derived"
    folder.mkdir()
    out = folder / f"{real.stem}_bowties.shp"
    pyogrio.write_dataframe(frame, out, driver="ESRI Shapefile")
    return zipped(out, tmp)


def ldid_cleared(real: Path, tmp: Path) -> Path:
    """The real Shapefile, zipped, with its dBase code page mark (LDID, byte 29) set to 0.

    Many exports carry no code page at all; the text is then Windows-1252 with nothing saying so.
    """
    folder = tmp / "parts"
    folder.mkdir()
    for part in real.parent.glob(f"{real.stem}.*"):
        shutil.copyfile(part, folder / part.name)
    dbf = folder / f"{real.stem}.dbf"
    data = bytearray(dbf.read_bytes())
    data[29] = 0
    dbf.write_bytes(bytes(data))
    return zipped(folder / real.name, tmp)


def with_prj_of(crs: str) -> Build:
    """The real Shapefile, zipped, its .prj replaced by one that names ``crs`` (a lying .prj)."""

    def build(real: Path, tmp: Path) -> Path:
        from pyproj import CRS

        folder = tmp / "parts"
        folder.mkdir()
        for part in real.parent.glob(f"{real.stem}.*"):
            shutil.copyfile(part, folder / part.name)
        (folder / f"{real.stem}.prj").write_text(CRS.from_user_input(crs).to_wkt("WKT1_ESRI"))
        return zipped(folder / real.name, tmp)

    return build


def utf8_marked_1252(real: Path, tmp: Path) -> Path:
    """The real layer rewritten in UTF-8, its .cpg then claiming Windows-1252 (mojibake), zipped.

    GDAL decodes every accented name as two Windows-1252 characters: valid text, wrong text.
    """
    import pyogrio

    folder = tmp / "parts"
    folder.mkdir()
    out = folder / real.name
    pyogrio.write_dataframe(_frame(real), out, driver="ESRI Shapefile", encoding="UTF-8")
    (folder / f"{real.stem}.cpg").write_text("1252")
    return zipped(out, tmp)


NC_GPKG = f"{SF}/gpkg/nc.gpkg"
PENDING_Z = "Z kept through working and exposure (geometry(...Z, 2154))"
PENDING_GATHER = "multi-file formats gathered from the source's folder, or refused naming the file"

CASES: tuple[Case, ...] = (
    Case(
        "shp_prj_cpg",
        "Shapefile with .prj and .cpg (world polygons)",
        "pyogrio",
        f"{PYOGRIO}/naturalearth_lowres/naturalearth_lowres.shp",
        zipped,
        # Antarctica cannot be projected to Lambert-93 (the South Pole is infinitely far):
        # dropped and counted as outside, which the dataset allows for this one feature
        rules={"max_outside": 1},
    ),
    Case(
        "shp_no_prj",
        "Shapefile without .prj (CRS declared)",
        "pyshp",
        f"{PYSHP}/blockgroups.shp",
        zipped,
        rules={"crs": "EPSG:4269"},
    ),
    Case(
        "shp_no_cpg",
        "Shapefile with .prj, without .cpg",
        "r-cran-sf",
        f"{SF}/shape/nc.shp",
        zipped,
    ),
    Case(
        "shp_cp1252",
        "non-UTF-8 code page (dBase LDID 0x57, Windows-1252, no .cpg)",
        "r-cran-sf",
        f"{SF}/shape/olinda1.shp",
        zipped,
    ),
    Case(
        "shp_cp1252_declared",
        "non-UTF-8 code page nothing declares (encoding rule CP1252)",
        "r-cran-sf",
        f"{SF}/shape/olinda1.shp",
        ldid_cleared,
        derived="dBase LDID byte set to 0 (no code page mark), zipped",
        rules={"encoding": "CP1252"},
    ),
    Case(
        "shp_cp1252_undeclared",
        "non-UTF-8 code page nothing declares, no rule",
        "r-cran-sf",
        f"{SF}/shape/olinda1.shp",
        ldid_cleared,
        derived="dBase LDID byte set to 0 (no code page mark), zipped",
        expect="refused",
        refusal="encoding",
    ),
    Case(
        "shp_mojibake",
        "wrong code page declared (UTF-8 text, .cpg says 1252)",
        "r-cran-sf",
        f"{SF}/shape/olinda1.shp",
        utf8_marked_1252,
        derived="rewritten in UTF-8 (pyogrio), .cpg replaced by 1252, zipped",
        expect="refused",
        refusal="encoding|code page|mojibake",
    ),
    Case(
        "shp_prj_lies",
        "a .prj that lies (UTM 17N on lon/lat NAD27), crs_override declared",
        "r-cran-sf",
        f"{SF}/shape/nc.shp",
        with_prj_of("EPSG:32617"),
        derived=".prj replaced by EPSG:32617's, zipped",
        rules={"crs_override": "EPSG:4267"},
    ),
    Case(
        "shp_alone",
        "Shapefile .shp given alone, sidecars beside it",
        "r-cran-sf",
        f"{SF}/shape/nc.shp",
        with_sidecars,
    ),
    Case(
        "shp_zip_subfolder",
        "zipped Shapefile in a sub-folder, 3D polygon",
        "pyshp",
        f"{PYSHP}/REL.zip",
        as_is,
        zm="z",
    ),
    Case(
        "shp_3d",
        "3D data (LineString Z, no .prj)",
        "r-cran-sf",
        f"{SF}/shape/storms_xyz_feature.shp",
        zipped,
        rules={"crs": "EPSG:4326"},
        zm="z",
    ),
    Case(
        "shp_m",
        "measures without Z (PolyLineM, shape type 23, despite its name)",
        "r-cran-sf",
        f"{SF}/shape/storms_xyzm_feature.shp",
        zipped,
        rules={"crs": "EPSG:4326"},
        zm="m",
    ),
    Case(
        "invalid_polygon",
        "invalid polygons (self-intersecting rings)",
        "pyshp",
        f"{PYSHP}/blockgroups.shp",
        bowties,
        derived="every 7th polygon's 2nd/3rd vertices swapped (pyogrio), zipped",
        rules={"crs": "EPSG:4269"},
    ),
    Case("gpkg", "GeoPackage (EPSG:4267)", "r-cran-sf", NC_GPKG, as_is),
    Case(
        "gpkg_layers",
        "GeoPackage with several layers (layer Regions)",
        "r-cran-sf",
        f"{SF}/sqlite/test3.sqlite",
        gpkg_layers,
        derived="the 3 layers of the SpatiaLite file copied into one GeoPackage (pyogrio)",
        layer="Regions",
    ),
    Case(
        "gpkg_layers_lines",
        "GeoPackage with several layers (layer HighWays)",
        "r-cran-sf",
        f"{SF}/sqlite/test3.sqlite",
        gpkg_layers,
        derived="the 3 layers of the SpatiaLite file copied into one GeoPackage (pyogrio)",
        layer="HighWays",
    ),
    Case(
        "gpkg_undefined_srs",
        "GeoPackage with an undefined SRS (CRS declared)",
        "r-cran-sf",
        NC_GPKG,
        gpkg_without_srs,
        derived="written without its CRS (pyogrio)",
        rules={"crs": "EPSG:4267"},
    ),
    Case(
        "gpkg_custom_srs",
        "GeoPackage whose SRS has no authority (NONE:100000, OSGB TM)",
        "r-cran-sf",
        f"{SF}/gpkg/buildings.gpkg",
        as_is,
    ),
    Case(
        "gpkg_no_geometry",
        "GeoPackage table without geometry",
        "r-cran-sf",
        f"{SF}/gpkg/nospatial.gpkg",
        as_is,
        expect="refused",
        refusal="geometry",
    ),
    Case(
        "gpkg_zm",
        "3D data with measures (GeoPackage LineString ZM)",
        "pyogrio",
        f"{PYOGRIO}/line_zm.gpkg",
        as_is,
        zm="zm",
    ),
    Case(
        "gpkg_nulls",
        "GeoPackage with null attribute values of every type",
        "pyogrio",
        f"{PYOGRIO}/test_gpkg_nulls.gpkg",
        as_is,
    ),
    Case(
        "geojson",
        "GeoJSON",
        "r-cran-sf",
        NC_GPKG,
        converted("GeoJSON", ".geojson", to_crs="EPSG:4326"),
        derived="ogr GeoJSON driver, WGS 84",
    ),
    Case(
        "flatgeobuf",
        "FlatGeobuf",
        "r-cran-sf",
        f"{SF}/shape/olinda1.shp",
        converted("FlatGeobuf", ".fgb"),
        derived="ogr FlatGeobuf driver",
    ),
    Case(
        "geoparquet",
        "GeoParquet 1.1",
        "r-cran-sf",
        NC_GPKG,
        geoparquet,
        derived="geopandas to_parquet, GeoParquet 1.1 with bbox covering",
    ),
    Case(
        "kml",
        "KML",
        "r-cran-sf",
        NC_GPKG,
        converted("KML", ".kml", to_crs="EPSG:4326"),
        derived="ogr KML driver, WGS 84",
    ),
    Case(
        "gml",
        "GML (FMI observations, points; GDAL itself skips the 2nd 'identifier' and 'name')",
        "r-cran-sf",
        f"{SF}/gml/fmi_test.gml",
        as_is,
    ),
    Case(
        "csv_wkt",
        "CSV with WKT (CRS declared)",
        "r-cran-sf",
        f"{SF}/csv/pt.csv",
        as_is,
        rules={"crs": "EPSG:4326"},
    ),
    Case(
        "csv_lonlat",
        "CSV with lon/lat (8,101 towns, CRS declared)",
        "r-cran-sf",
        f"{SF}/sqlite/test3.sqlite",
        csv_lonlat,
        derived="layer Towns to WGS 84, lon/lat columns (geopandas)",
        rules={"crs": "EPSG:4326"},
    ),
    Case(
        "mif_mid",
        "MapInfo MIF/MID (zipped together)",
        "r-cran-sf",
        NC_GPKG,
        converted("MapInfo File", ".mif", pack=True, FORMAT="MIF"),
        derived="ogr MapInfo File driver, FORMAT=MIF, .mif + .mid zipped",
    ),
    Case(
        "mif_alone",
        "MapInfo .MIF given without its .MID",
        "r-cran-sf",
        NC_GPKG,
        mapinfo_alone(".mif", FORMAT="MIF"),
        derived="ogr MapInfo File driver, FORMAT=MIF, .mid left out",
        expect="refused",
        refusal=r"\.mid",
    ),
    Case(
        "tab",
        "MapInfo TAB (zipped with .dat/.map/.id)",
        "r-cran-sf",
        NC_GPKG,
        converted("MapInfo File", ".tab", pack=True),
        derived="ogr MapInfo File driver, .tab/.dat/.map/.id zipped",
    ),
    Case(
        "tab_alone",
        "MapInfo .TAB given alone, companions beside it",
        "r-cran-sf",
        NC_GPKG,
        converted("MapInfo File", ".tab"),
        derived="ogr MapInfo File driver, .tab given with .dat/.map/.id beside it",
    ),
    Case(
        "osm_pbf_points",
        "OSM PBF (layer points)",
        "pyogrio",
        f"{PYOGRIO}/sample.osm.pbf",
        as_is,
        layer="points",
    ),
    Case(
        "osm_pbf_lines",
        "OSM PBF (layer lines: ways, node ids not increasing)",
        "pyogrio",
        f"{PYOGRIO}/sample.osm.pbf",
        as_is,
        layer="lines",
        gdal_config={"OSM_USE_CUSTOM_INDEXING": "NO"},
    ),
)
