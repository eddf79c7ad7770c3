# One RDS instance as Locxia shapes it. Safety is not configurable here:
# - a final snapshot is always taken on deletion (skip_final_snapshot is hard-coded false);
# - storage is always encrypted and never public;
# - the master password is generated and rotated by RDS in Secrets Manager, never in state.
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_118:Enhanced Monitoring needs a role supplied by the platform (monitoring_role_arn); it is enabled when one is given, and Locxia collects CloudWatch metrics itself.
  #checkov:skip=CKV_AWS_157:Multi-AZ is a per-instance choice in params.instances (multi_az); scratch and batch databases are single-AZ on purpose.
  #checkov:skip=CKV_AWS_293:Deletion protection follows the protected flag of params.instances; unprotected instances must be removable, and Locxia's guardrails refuse to delete any instance not explicitly wanted absent.
  #checkov:skip=CKV2_AWS_30:Query logging is a parameter-group setting chosen per database (parameter_group_name); logs are exported to CloudWatch below.
  identifier     = var.identifier
  engine         = var.engine
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage = var.allocated_storage
  storage_type      = var.storage_type
  storage_encrypted = true
  kms_key_id        = var.kms_key_id

  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_id

  multi_az               = var.multi_az
  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = var.vpc_security_group_ids
  publicly_accessible    = false
  parameter_group_name   = var.parameter_group_name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  apply_immediately                   = var.apply_immediately

  backup_retention_period   = var.backup_retention_period
  copy_tags_to_snapshot     = true
  deletion_protection       = var.protected
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"

  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_id
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = var.monitoring_role_arn == null ? 0 : 60
  monitoring_role_arn             = var.monitoring_role_arn

  tags = var.tags
}
