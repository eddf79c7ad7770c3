"""Terraform's provider and S3 backend both assume the write role from settings."""

from __future__ import annotations

from infra.settings import load_settings
from pipelines.shape.tfvars import backend_role, render

ROLE = "arn:aws:iam::123456789012:role/locxia-write"


def test_the_rendered_tfvars_carry_the_write_role_for_the_provider() -> None:
    document = render([], load_settings(write_role_arn=ROLE))
    assert document["assume_role_arn"] == ROLE


def test_the_backend_config_assumes_the_write_role() -> None:
    text = backend_role(load_settings(write_role_arn=ROLE))
    assert text is not None
    assert f'role_arn     = "{ROLE}"' in text and text.startswith("assume_role = {")


def test_no_role_set_means_no_assume_role() -> None:
    settings = load_settings(write_role_arn=None)
    assert "assume_role_arn" not in render([], settings)
    assert backend_role(settings) is None
