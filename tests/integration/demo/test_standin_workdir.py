"""Two demos on one machine: the second must not touch the Terraform state the first planned on.

The interleaving behind the demo's occasional "Saved plan is stale": demo A plans the adoption
on an empty state and holds the plan (the plan file is kept in the database); demo B, another
process sharing the demo home (``/var/tmp/locxia-demo`` as root), starts, copies the stand-in
module over the same directory and applies; A's approval then applies its saved plan against
B's state, whose serial has moved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.demo.standin import standin_terraform
from infra.settings import Settings
from pipelines.shape import tfvars
from pipelines.shape.runner import EmbeddedTerraform, Terraform
from tests.integration.shape.test_runner import DOC  # one EC2 instance, nothing else

pytestmark = pytest.mark.slow
# The other demo shares this test's stand-in AWS (each real demo has its own): its instance has
# a name of its own, as a create of a name in use would launch a duplicate, as in AWS.
OTHER_DOC = {**DOC, "instances": {"vm-2": DOC["instances"]["vm-1"]}}


# Demo B, in a process of its own as a second `locxia demo` would be: plan and apply at once.
OTHER_DEMO = """
import json, sys
from pathlib import Path
from infra.demo.standin import standin_terraform
from infra.settings import load_settings
from pipelines.shape import tfvars
from pipelines.shape.runner import EmbeddedTerraform, Terraform
home, endpoint, doc = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
with standin_terraform(home / "terraform", endpoint) as workdir:
    tf = Terraform(load_settings(), workdir, EmbeddedTerraform())
    tf.init()
    tfvars.write(workdir, doc)
    tf.apply(tf.plan(workdir / "b.tfplan").planfile)
    print(workdir)
"""


def test_a_second_demo_leaves_the_first_ones_state_alone(
    tmp_path: Path, settings: Settings, moto_endpoint: str
) -> None:
    home = tmp_path / "demo-home"
    with standin_terraform(home / "terraform", moto_endpoint) as mine:
        tf = Terraform(settings, mine, EmbeddedTerraform())
        tf.init()
        tfvars.write(mine, DOC)
        held = tf.plan(mine / "adopt.tfplan").planfile.read_bytes()  # held for approval

        other = subprocess.run(
            [sys.executable, "-c", OTHER_DEMO, str(home), moto_endpoint, json.dumps(OTHER_DOC)],
            env={**os.environ, "LOCXIA_DATABASE_URL": settings.require_database_url()},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert other.returncode == 0, other.stderr

        (mine / "adopt.tfplan").write_bytes(held)  # the approval writes the held plan back
        log = tf.apply(mine / "adopt.tfplan")  # on one shared directory: "Saved plan is stale"
    assert "Apply complete! Resources: " in log
    assert Path(other.stdout.strip()) != mine
    state = json.loads((mine / "terraform.tfstate").read_text())
    assert state["serial"] >= 1 and state["resources"], "the apply wrote no state"
