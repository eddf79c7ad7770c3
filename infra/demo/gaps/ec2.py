"""EC2: what AWS always returns in ``DescribeInstances`` and moto leaves out.

``PlatformDetails`` — the billing platform of the instance's AMI ("Linux/UNIX", "Windows",
"Red Hat Enterprise Linux"…) — is present on every instance AWS describes (EC2 API
Reference, ``Instance``: "PlatformDetails: The platform details value for the instance"; the
values are the AMI billing information fields, "Understand AMI billing information", EC2
User Guide). moto omits it, and the product prices an instance by it (an instance without it
is unpriced rather than priced as Linux). So the answer is completed here: ``Windows`` when
moto says ``<platform>windows</platform>`` (what AWS reports for Windows AMIs), otherwise
``Linux/UNIX`` — moto's AMIs carry no other billing product.

Not modelled: other billing products (RHEL, SUSE, SQL Server), which moto's AMIs cannot
express; ``UsageOperation`` is completed alongside with the matching code (``RunInstances``
for Linux/UNIX, ``RunInstances:0002`` for Windows, from the same AWS page).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from infra.demo.gaps import Completion, JsonObject, Operation

_OPERATIONS = {"Linux/UNIX": "RunInstances", "Windows": "RunInstances:0002"}


def complete_describe_instances(body: bytes) -> bytes:
    """Add ``platformDetails`` and ``usageOperation`` to every instance that lacks them."""
    root = ET.fromstring(body)
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    ns = f"{{{namespace}}}" if namespace else ""
    changed = False
    for instances in root.iter(f"{ns}instancesSet"):
        for item in instances.findall(f"{ns}item"):
            if item.find(f"{ns}platformDetails") is not None:
                continue
            platform = (item.findtext(f"{ns}platform") or "").strip().lower()
            details = "Windows" if platform == "windows" else "Linux/UNIX"
            ET.SubElement(item, f"{ns}platformDetails").text = details
            ET.SubElement(item, f"{ns}usageOperation").text = _OPERATIONS[details]
            changed = True
    if not changed:
        return body
    if namespace:
        ET.register_namespace("", namespace)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


class Ec2Gaps:
    """Completes moto's ``DescribeInstances`` answers; no operation of its own."""

    name = "ec2"

    def operations(self) -> dict[str, Operation]:
        """None: EC2 itself is moto's."""
        return {}

    def completions(self) -> dict[str, Completion]:
        """``DescribeInstances`` answers gain ``PlatformDetails``."""
        return {"DescribeInstances": complete_describe_instances}

    def seed(self, body: JsonObject) -> None:
        """Nothing to seed."""

    def reset(self) -> None:
        """Nothing to reset."""
