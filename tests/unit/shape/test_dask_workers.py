"""Dask worker rows (``purpose = dask-worker``): parsing, validation, tfvars and guardrails."""

from __future__ import annotations

import filecmp
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from infra.demo.standin import STANDIN_MODULE
from infra.errors import InputError
from infra.settings import Settings
from pipelines.shape import forcenew, store, tfvars
from pipelines.shape import guardrails as g
from pipelines.shape.model import Desired, InstanceSpec, effective
from pipelines.shape.plan import parse
from pipelines.shape.validation import check_change, check_scheduler
from tests.conftest import ROOT

NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
WORKER = {
    "name": "dask-1",
    "kind": "ec2",
    "instance_class": "c6i.xlarge",
    "storage_gb": 30,
    "purpose": "dask-worker",
}
GENERAL = {"name": "batch-vm", "kind": "ec2", "instance_class": "m6i.large", "storage_gb": 30}


def _spec(**row: Any) -> InstanceSpec:
    return InstanceSpec.parse({**WORKER, **row})


# --- the row -----------------------------------------------------------------------------------


def test_purpose_defaults_to_general_and_round_trips() -> None:
    general = InstanceSpec.parse(GENERAL)
    assert general.purpose == "general" and not general.dask_worker
    worker = _spec()
    assert worker.dask_worker and worker.row()["purpose"] == "dask-worker"
    assert InstanceSpec.parse(worker.row()) == worker


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"purpose": "gpu"}, r"params.instances\[dask-1\].purpose: 'gpu': expected one of"),
        (
            {
                "kind": "rds",
                "instance_class": "db.t4g.large",
                "storage_gb": 100,
                "engine": "postgres",
                "engine_version": "16",
            },
            r"params.instances\[dask-1\].purpose: a Dask worker is an EC2 instance",
        ),
        (
            {"protected": True},
            r"params.instances\[dask-1\].protected: a Dask worker holds no data and is never"
            r" protected",
        ),
        (
            {"tags": {"locxia:purpose": "dask-worker"}},
            r"params.instances\[dask-1\].tags: tag locxia:purpose is set from the purpose column",
        ),
    ],
    ids=["unknown", "rds", "protected", "reserved-tag"],
)
def test_invalid_worker_rows_are_refused_with_one_line(row: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        _spec(**row)
    assert "\n" not in str(caught.value)


def test_purpose_is_an_editable_column() -> None:
    """``locxia params set dask-1 purpose=dask-worker``, as for any column."""
    assert store.parse_assignments(["purpose=dask-worker"]) == {"purpose": "dask-worker"}
    with pytest.raises(InputError, match="did you mean purpose"):
        store.parse_assignments(["purpse=dask-worker"])


def test_the_purpose_tag_is_reserved_on_general_rows_too() -> None:
    with pytest.raises(InputError, match="tag Locxia:Purpose is set from the purpose column"):
        InstanceSpec.parse({**GENERAL, "tags": {"Locxia:Purpose": "dask-worker"}})


def test_purpose_cannot_change_on_an_existing_row() -> None:
    general = InstanceSpec.parse({**GENERAL, "name": "dask-1"})
    with pytest.raises(InputError, match=r"dask-1\].purpose: purpose cannot change \(general"):
        check_change(general, _spec(), NOW)
    check_change(_spec(), _spec(instance_class="c6i.2xlarge"), NOW)  # other columns may


def test_a_worker_without_a_scheduler_is_refused_on_real_aws() -> None:
    real = Settings(aws_endpoint_url=None, dask_scheduler=None)
    with pytest.raises(InputError) as caught:
        check_scheduler(_spec(), real)
    assert str(caught.value) == (
        "params.instances[dask-1].purpose: a Dask worker needs a scheduler to join:"
        " set LOCXIA_DASK_SCHEDULER (tls://host:8786)"
    )
    check_scheduler(InstanceSpec.parse(GENERAL), real)  # general rows need none
    plain = {"dask_scheduler": "tcp://10.0.1.5:8786", "dask_allow_plaintext": True}
    check_scheduler(_spec(), real.model_copy(update=plain))
    # a stand-in AWS boots nothing: the demo's work runs on an embedded local cluster
    check_scheduler(_spec(), real.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:1"}))


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:1"], ids=["aws", "stand-in"])
def test_a_worker_for_a_scheduler_the_client_refuses_is_refused_first(
    endpoint: str | None,
) -> None:
    """Decision 96: no worker is paid for to join a scheduler the run will not talk to."""
    plain = Settings(aws_endpoint_url=endpoint, dask_scheduler="tcp://10.0.1.5:8786")
    with pytest.raises(InputError) as caught:
        check_scheduler(_spec(), plain)
    assert str(caught.value).startswith(
        "params.instances[dask-1].purpose: refusing the plain-text Dask scheduler"
        " tcp://10.0.1.5:8786: task payloads carry the database credentials"
    )
    tls = plain.model_copy(update={"dask_scheduler": "tls://10.0.1.5:8786"})
    with pytest.raises(InputError, match=r"dask-1\].purpose: the Dask scheduler tls://10.0.1.5"):
        check_scheduler(_spec(), tls)
    check_scheduler(InstanceSpec.parse(GENERAL), plain)  # a general row joins nothing


# --- the tfvars --------------------------------------------------------------------------------


def _document(*rows: dict[str, Any], scheduler: str | None = None) -> dict[str, Any]:
    settings = Settings(aws_endpoint_url=None, write_role_arn=None, dask_scheduler=scheduler)
    desired = [effective(InstanceSpec.parse(r), NOW) for r in rows]
    return tfvars.render(desired, settings)


def test_rows_without_workers_render_as_before() -> None:
    doc = _document(GENERAL, scheduler="tcp://10.0.1.5:8786")
    assert "purpose" not in doc["instances"]["batch-vm"]
    assert not {"dask_scheduler", "dask_worker_packages"} & set(doc)


def test_a_worker_carries_its_purpose_the_scheduler_and_pinned_packages() -> None:
    doc = _document(GENERAL, WORKER, scheduler="tcp://10.0.1.5:8786")
    assert doc["instances"]["dask-1"]["purpose"] == "dask-worker"
    assert doc["instances"]["dask-1"]["protected"] is False
    assert doc["dask_scheduler"] == "tcp://10.0.1.5:8786"
    assert doc["dask_worker_packages"] == [
        f"{name}=={metadata.version(name)}" for name in tfvars.WORKER_DISTRIBUTIONS
    ]
    # a new scheduler is a new document (Terraform replaces the workers)
    moved = _document(GENERAL, WORKER, scheduler="tcp://10.0.1.6:8786")
    assert tfvars.inputs_hash(moved) != tfvars.inputs_hash(doc)


def test_the_plain_text_opt_in_reaches_the_workers_only_when_given() -> None:
    doc = _document(GENERAL, WORKER, scheduler="tls://10.0.1.5:8786")
    assert "dask_allow_plaintext" not in doc  # unchanged documents hash as before
    settings = Settings(
        aws_endpoint_url=None,
        write_role_arn=None,
        dask_scheduler="tcp://10.0.1.5:8786",
        dask_allow_plaintext=True,
    )
    desired = [effective(InstanceSpec.parse(r), NOW) for r in (GENERAL, WORKER)]
    assert tfvars.render(desired, settings)["dask_allow_plaintext"] is True
    assert "dask_allow_plaintext" not in tfvars.render(desired[:1], settings)


def test_an_absent_worker_takes_the_scheduler_out_of_the_document() -> None:
    doc = _document(GENERAL, {**WORKER, "state": "absent"}, scheduler="tcp://10.0.1.5:8786")
    assert set(doc["instances"]) == {"batch-vm"} and "dask_scheduler" not in doc


# --- the guardrails ----------------------------------------------------------------------------


def _instance(tags: dict[str, str]) -> dict[str, Any]:
    return {
        "instance_type": "c6i.xlarge",
        "root_block_device": [{"volume_size": 30, "volume_type": "gp3"}],
        "disable_api_termination": False,
        "tags": tags,
    }


WORKER_TAGS = {"Name": "dask-1", "locxia:purpose": "dask-worker"}


def _plan(actions: list[str], before: Any, after: Any, **change: Any) -> Any:
    return parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": 'module.ec2["dask-1"].aws_instance.this',
                    "module_address": 'module.ec2["dask-1"]',
                    "type": "aws_instance",
                    "name": "this",
                    "change": {"actions": actions, "before": before, "after": after, **change},
                }
            ],
        }
    )


def _desired(**row: Any) -> dict[str, Desired]:
    spec = _spec(**row)
    return {spec.name: effective(spec, NOW)}


def test_replacing_a_worker_needs_neither_approval_nor_a_rebuild() -> None:
    plan = _plan(
        ["delete", "create"],
        _instance(WORKER_TAGS),
        _instance(WORKER_TAGS),
        replace_paths=[["user_data"]],
    )
    assert g.check_changes(plan, _desired()) == []
    (change,) = plan.changes
    assert not g.holds_data(change)


def test_replacing_an_instance_that_is_no_worker_yet_is_still_refused() -> None:
    """A row switched to dask-worker (refused by validation, possible in psql) does not make
    the instance as it exists disposable: its tags before the change decide."""
    plan = _plan(
        ["delete", "create"],
        _instance({"Name": "dask-1"}),
        _instance(WORKER_TAGS),
        replace_paths=[["user_data"]],
    )
    findings = g.check_changes(plan, _desired())
    assert [(f.rule, f.level) for f in findings] == [("data-replacement", "refuse")]
    assert "user_data changed" in findings[0].message


def test_a_worker_whose_row_is_gone_may_be_deleted() -> None:
    gone = _plan(["delete"], _instance(WORKER_TAGS), None)
    assert g.check_changes(gone, {}) == []
    general = _plan(["delete"], _instance({"Name": "dask-1"}), None)
    assert [f.rule for f in g.check_changes(general, {})] == ["delete-not-wanted"]


def test_a_worker_found_by_its_default_tags_too() -> None:
    before = {**_instance({"Name": "dask-1"}), "tags_all": WORKER_TAGS}
    plan = _plan(["delete"], before, None)
    assert g.check_changes(plan, {}) == []


# --- the stand-in follows the real modules -----------------------------------------------------


def test_standin_user_data_module_is_a_copy_of_the_real_one() -> None:
    real = ROOT / "terraform" / "modules" / "dask_worker_user_data"
    copy = STANDIN_MODULE / "dask_worker_user_data"
    names = sorted(p.name for p in real.iterdir() if p.is_file() and p.suffix != ".md")
    assert names == ["main.tf", "outputs.tf", "user_data.sh.tftpl", "variables.tf", "versions.tf"]
    match, mismatch, errors = filecmp.cmpfiles(real, copy, names, shallow=False)
    assert (mismatch, errors) == ([], []) and match == names


def _block_keys(path: Path, local: str) -> list[str]:
    text = path.read_text()
    block = re.search(rf"^\s*{local}\s*=.*?\{{(.*?)\}}\s*$", text, re.M)
    assert block, f"no {local} in {path}"
    return re.findall(r"\{?\s*\"?([a-z0-9_.]+)\"?\s*=", block.group(1))


def test_standin_replaces_on_user_data_as_the_provider_does_with_replace_on_change() -> None:
    keys = _block_keys(STANDIN_MODULE / "ec2" / "main.tf", "forcenew_user_data")
    assert keys == ["user_data"] and set(keys) <= set(forcenew.EC2_USER_DATA)
    module = (ROOT / "terraform" / "modules" / "ec2_instance" / "main.tf").read_text()
    assert re.search(r"^\s*user_data\s*=\s*var\.user_data$", module, re.M)
    assert re.search(
        r"^\s*user_data_replace_on_change\s*=\s*can\(length\(var\.user_data\)\)$", module, re.M
    )
