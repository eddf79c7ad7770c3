output "identifier" {
  description = "DB instance identifier."
  value       = try(aws_db_instance.this.identifier, null)
}

output "arn" {
  description = "DB instance ARN."
  value       = try(aws_db_instance.this.arn, null)
}

output "address" {
  description = "Host name of the endpoint."
  value       = try(aws_db_instance.this.address, null)
}

output "port" {
  description = "Port of the endpoint."
  value       = try(aws_db_instance.this.port, null)
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master password (managed by RDS)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "final_snapshot_identifier" {
  description = "Name of the snapshot taken if this instance is ever deleted."
  value       = try(aws_db_instance.this.final_snapshot_identifier, null)
}
