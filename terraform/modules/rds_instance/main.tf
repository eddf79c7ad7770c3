# One RDS instance as Locxia shapes it. Safety is not configurable here:
# - a final snapshot is always taken on deletion (skip_final_snapshot is hard-coded false);
# - storage is encrypted and never public (an adopted instance keeps what it has: encryption
#   is force-new, so changing it would replace the database);
# - the master password is generated and rotated by RDS in Secrets Manager, never in state
#   (an adopted database that manages its own password keeps doing so).
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_118:Enhanced Monitoring needs a role supplied by the platform (monitoring_role_arn); it is enabled when one is given, and Locxia collects CloudWatch metrics itself.
  #checkov:skip=CKV_AWS_157:Multi-AZ is a per-instance choice in params.instances (multi_az); scratch and batch databases are single-AZ on purpose.
  #checkov:skip=CKV_AWS_293:Deletion protection follows the protected flag of params.instances; unprotected instances must be removable, and Locxia's guardrails refuse to delete any instance not explicitly wanted absent.
  #checkov:skip=CKV2_AWS_30:Query logging is a parameter-group setting chosen per database (parameter_group_name); logs are exported to CloudWatch below.
  identifier = var.identifier
  engine     = var.engine
  # The major only: AWS picks the minor and upgrades it (auto_minor_version_upgrade below); the
  # provider ignores minor differences when engine_version is a major (aws_db_instance docs).
  engine_version = var.engine_version
  # Set only by `locxia infra rebuild` (force-new: the instance is re-created from it).
  snapshot_identifier = var.snapshot_identifier
  instance_class      = var.instance_class

  allocated_storage  = var.allocated_storage
  storage_type       = var.storage_type
  iops               = var.iops
  storage_throughput = var.storage_throughput
  storage_encrypted  = var.storage_encrypted
  kms_key_id         = var.kms_key_id

  username                      = var.master_username
  manage_master_user_password   = var.manage_master_user_password ? true : null
  master_user_secret_kms_key_id = var.manage_master_user_password ? var.kms_key_id : null

  multi_az               = var.multi_az
  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = var.vpc_security_group_ids
  publicly_accessible    = false
  parameter_group_name   = var.parameter_group_name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  apply_immediately                   = var.apply_immediately
  maintenance_window                  = var.maintenance_window
  backup_window                       = var.backup_window

  backup_retention_period   = var.backup_retention_period
  copy_tags_to_snapshot     = true
  deletion_protection       = var.protected
  skip_final_snapshot       = false
  final_snapshot_identifier = var.final_snapshot_identifier

  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_id
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = var.monitoring_role_arn == null ? 0 : 60
  monitoring_role_arn             = var.monitoring_role_arn

  tags = var.tags
}
