# The zone buckets' rule for the parts of partitioned versions that were never committed
# (decision 95), as data: no provider and no resource, so tests/integration/shape/
# test_data_zones_lifecycle.py renders it with the Terraform core and reads exactly what
# ../main.tf puts in the bucket's lifecycle configuration.
#
# The feed puts each part tagged locxia-part=pending (pipelines/feed/zones.py, PENDING_TAG)
# and removes the tag just before the version's manifest is put: what still carries it after
# pending_part_days belongs to a refine that failed or died.
locals {
  pending_parts = {
    id   = "expire-pending-parts"
    tag  = { key = "locxia-part", value = "pending" }
    days = var.pending_part_days
  }
}
