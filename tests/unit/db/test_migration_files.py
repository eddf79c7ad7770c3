from __future__ import annotations

import re

from infra.db import migrate


def test_migrations_are_numbered_uniquely_and_ordered() -> None:
    found = migrate.shipped()
    versions = [m.version for m in found]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_checksum_tracks_content() -> None:
    mig = migrate.shipped()[0]
    assert re.fullmatch(r"[0-9a-f]{64}", mig.checksum)
    assert migrate.Migration(mig.version, mig.name, mig.sql + " ").checksum != mig.checksum


def test_no_migration_grants_grafana_more_than_reporting() -> None:
    for mig in migrate.shipped():
        for line in mig.sql.splitlines():
            if "locxia_grafana" in line and line.strip().upper().startswith("GRANT"):
                assert "reporting" in line.lower(), f"{mig.name}: {line}"
