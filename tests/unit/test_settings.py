from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "AWS_REGION", "AWS_ENDPOINT_URL", "CONFIG", "TAG_KEY"):
        monkeypatch.delenv(f"LOCXIA_{name}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def test_defaults_run_the_local_demo(tmp_path: Path) -> None:
    s = load_settings()
    assert s.aws_region == "eu-west-3"
    assert (s.tag_key, s.tag_value) == ("project", "locxia")
    assert s.database_url is None
    assert s.landing_uri == (tmp_path / "xdg" / "locxia" / "zones" / "landing").as_uri()
    assert s.misfire_grace_seconds > 1  # never APScheduler's 1-second default


def test_environment_wins_over_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "locxia.toml").write_text('aws_region = "eu-west-1"\ntag_value = "from-file"\n')
    monkeypatch.setenv("LOCXIA_AWS_REGION", "us-east-1")
    s = load_settings()
    assert s.aws_region == "us-east-1"
    assert s.tag_value == "from-file"


def test_config_env_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('database_url = "postgresql://u@db:5432/locxia"\n')
    monkeypatch.setenv("LOCXIA_CONFIG", str(cfg))
    assert load_settings().database_url == "postgresql://u@db:5432/locxia"


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("LOCXIA_AWS_REGION", "mars-1", "LOCXIA_AWS_REGION: 'mars-1' is not an AWS region"),
        ("LOCXIA_DATABASE_URL", "mysql://x@y/z", "LOCXIA_DATABASE_URL: expected postgresql://"),
        ("LOCXIA_DATABASE_URL", "postgresql://h:port/db", "LOCXIA_DATABASE_URL: bad port"),
        ("LOCXIA_AWS_ENDPOINT_URL", "localhost:5000", "LOCXIA_AWS_ENDPOINT_URL"),
        ("LOCXIA_READ_ROLE_ARN", "arn:aws:iam::12:role/x", "is not an IAM role ARN"),
        ("LOCXIA_LANDING_URI", "ftp://x/y", "expected s3://bucket/prefix or file:///path"),
        ("LOCXIA_WORKING_URI", "s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("LOCXIA_EXPOSURE_URI", "file://relative/path", "file URIs must be absolute"),
        ("LOCXIA_MISFIRE_GRACE_SECONDS", "0", "LOCXIA_MISFIRE_GRACE_SECONDS"),
        ("LOCXIA_TAG_KEY", "bad;tag", "not a valid AWS tag"),
    ],
    ids=[
        "region",
        "scheme",
        "port",
        "endpoint",
        "arn",
        "zone-scheme",
        "bucket",
        "relative",
        "grace",
        "tag",
    ],
)
def test_bad_settings_fail_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert err.value.setting == env


def test_unknown_toml_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "locxia.toml").write_text('databse_url = "postgresql://x/y"\n')
    with pytest.raises(ConfigError, match="unknown setting.*databse_url"):
        load_settings()


def test_malformed_toml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "locxia.toml").write_text("aws_region = \n")
    with pytest.raises(ConfigError, match="cannot read TOML"):
        load_settings()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_database_url_required_only_when_used() -> None:
    s = load_settings()
    with pytest.raises(ConfigError, match="LOCXIA_DATABASE_URL is not set"):
        s.require_database_url()


def test_endpoint_trailing_slash_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCXIA_AWS_ENDPOINT_URL", "http://127.0.0.1:5000/")
    assert load_settings().aws_endpoint_url == "http://127.0.0.1:5000"


# --- the Dask scheduler's mutual-TLS files ----------------------------------------------------

TLS_ENV = ("LOCXIA_DASK_TLS_CA_FILE", "LOCXIA_DASK_TLS_CERT_FILE", "LOCXIA_DASK_TLS_KEY_FILE")


def _pem_files(folder: Path) -> list[Path]:
    paths = [folder / f"{name}.pem" for name in ("ca", "cert", "key")]
    for path in paths:
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    return paths


def test_the_three_tls_files_are_read_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for env, path in zip(TLS_ENV, _pem_files(tmp_path), strict=True):
        monkeypatch.setenv(env, str(path.relative_to(tmp_path)))  # relative to the cwd
    s = load_settings()
    assert (s.dask_tls_ca_file, s.dask_tls_cert_file, s.dask_tls_key_file) == (
        tmp_path / "ca.pem",
        tmp_path / "cert.pem",
        tmp_path / "key.pem",
    )
    assert s.dask_allow_plaintext is False
    none = load_settings(dask_tls_ca_file=None, dask_tls_cert_file=None, dask_tls_key_file=None)
    assert none.dask_tls_ca_file is None


@pytest.mark.parametrize(
    "given", [(0,), (0, 1), (1, 2), (2,)], ids=["ca", "ca-cert", "cert-key", "key"]
)
def test_some_tls_files_without_the_others_are_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: tuple[int, ...]
) -> None:
    paths = _pem_files(tmp_path)
    for i in given:
        monkeypatch.setenv(TLS_ENV[i], str(paths[i]))
    with pytest.raises(ConfigError) as err:
        load_settings()
    missing = ", ".join(TLS_ENV[i] for i in range(3) if i not in given)
    assert str(err.value) == (
        "invalid setting LOCXIA_DASK_TLS_KEY_FILE: the Dask TLS CA, certificate and key files"
        f" go together (mutual TLS): {missing} not set"
    )


@pytest.mark.parametrize("which", [0, 1, 2], ids=["ca", "cert", "key"])
def test_a_tls_file_that_is_not_there_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, which: int
) -> None:
    paths = _pem_files(tmp_path)
    paths[which].unlink()
    for env, path in zip(TLS_ENV, paths, strict=True):
        monkeypatch.setenv(env, str(path))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == f"invalid setting {TLS_ENV[which]}: {paths[which]} is not a file"
    assert err.value.setting == TLS_ENV[which]


def test_a_tls_directory_is_not_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCXIA_DASK_TLS_CA_FILE", str(tmp_path))
    with pytest.raises(ConfigError, match=f"LOCXIA_DASK_TLS_CA_FILE: {tmp_path} is not a file"):
        load_settings()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: nothing is unreadable")
def test_an_unreadable_tls_file_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths = _pem_files(tmp_path)
    paths[2].chmod(0)
    for env, path in zip(TLS_ENV, paths, strict=True):
        monkeypatch.setenv(env, str(path))
    with pytest.raises(ConfigError, match="LOCXIA_DASK_TLS_KEY_FILE: .* is not readable"):
        load_settings()
