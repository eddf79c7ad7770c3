"""The AWS provider's force-new attributes of an instance: the one list, cited.

A change of one of these attributes makes the AWS provider destroy the resource and create
it anew (``ForceNew: true`` in the resource's schema) — for a database, an empty one. Two
places depend on the list being exact:

* the demo's stand-in root module (``infra/demo/terraform/{rds,ec2}/main.tf``) keys its
  ``triggers_replace`` map by exactly these names, so the stand-in replaces where the provider
  would (``tests/unit/shape/test_forcenew.py`` compares the HCL with this module);
* adoption (:mod:`pipelines.shape.adopt`): the ones Locxia's modules set (:data:`ADOPTED`)
  take the value discovery found on an adopted instance, so adopting never plans a
  replacement.

Source: ``hashicorp/terraform-provider-aws`` v5, the top-level schema attributes marked
``ForceNew: true`` in ``internal/service/rds/instance.go`` (``ResourceInstance``, schema
version 2) and ``internal/service/ec2/ec2_instance.go`` (``ResourceInstance``); nested ones
listed as ``block.attribute`` where Locxia's modules set the block. Conditional ones are
apart: EC2 ``user_data``/``user_data_base64`` are force-new only when
``user_data_replace_on_change`` is true (``CustomizeDiff``: ``ForceNewIf``), which
``terraform/modules/ec2_instance`` sets exactly when it sets ``user_data`` (Dask workers,
:data:`EC2_USER_DATA`); ``launch_template.0.version`` is left out (the modules set no launch
template).
"""

from __future__ import annotations

from typing import Any

#: ``aws_db_instance``: attributes with ``ForceNew: true`` (internal/service/rds/instance.go).
#: ``identifier`` is not among them in v5: a new identifier renames the instance in place.
RDS: tuple[str, ...] = (
    "availability_zone",
    "backup_target",
    "character_set_name",
    "custom_iam_instance_profile",
    "db_name",
    "engine",
    "kms_key_id",
    "nchar_character_set_name",
    "restore_to_point_in_time",
    "snapshot_identifier",
    "storage_encrypted",
    "timezone",
    "username",
)

#: ``aws_instance``: attributes with ``ForceNew: true`` (internal/service/ec2/ec2_instance.go),
#: plus the two of ``root_block_device`` (``encrypted``, ``kms_key_id``), the one block the
#: module sets.
EC2: tuple[str, ...] = (
    "ami",
    "associate_public_ip_address",
    "availability_zone",
    "cpu_core_count",
    "cpu_threads_per_core",
    "ebs_optimized",
    "ephemeral_block_device",
    "hibernation",
    "host_id",
    "ipv6_address_count",
    "ipv6_addresses",
    "key_name",
    "launch_template",
    "placement_group",
    "placement_partition_number",
    "private_dns_name_options",
    "private_ip",
    "root_block_device.encrypted",
    "root_block_device.kms_key_id",
    "security_groups",
    "subnet_id",
    "tenancy",
)

#: ``aws_instance``: force-new only with ``user_data_replace_on_change = true``
#: (``customdiff.ForceNewIf("user_data", ...)`` and ``("user_data_base64", ...)`` in
#: ``ResourceInstance``'s ``CustomizeDiff``). The module sets ``user_data`` (never the base64
#: form) and the flag together, for Dask workers; the stand-in keys ``user_data`` in
#: ``triggers_replace`` exactly then.
EC2_USER_DATA: tuple[str, ...] = ("user_data", "user_data_base64")

#: Per resource type, as the plan names it.
BY_TYPE: dict[str, tuple[str, ...]] = {"aws_db_instance": RDS, "aws_instance": EC2}
BY_KIND: dict[str, tuple[str, ...]] = {"rds": RDS, "ec2": EC2}

#: The force-new attributes terraform/modules set (the others are left unset: Optional and
#: Computed, so an imported value never differs from the configuration). On an adopted
#: instance these take the value discovery found instead of the module's default.
#: ``manage_master_user_password`` is not force-new, but turning it on rotates the live master
#: password into Secrets Manager: an adopted database keeps what it has.
ADOPTED: dict[str, tuple[str, ...]] = {
    "rds": ("kms_key_id", "storage_encrypted", "username", "manage_master_user_password"),
    "ec2": (
        "ami",
        "associate_public_ip_address",
        "ebs_optimized",
        "root_block_device.encrypted",
        "root_block_device.kms_key_id",
        "subnet_id",
    ),
}


def aws_path(key: str) -> tuple[Any, ...]:
    """The provider's attribute path of a key of :data:`RDS`/:data:`EC2`.

    ``root_block_device.encrypted`` is ``("root_block_device", 0, "encrypted")`` (a block is a
    one-element list); any other key is itself.
    """
    block, _, attribute = key.partition(".")
    return (block, 0, attribute) if attribute else (key,)
