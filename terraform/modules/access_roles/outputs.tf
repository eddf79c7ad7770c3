output "read_role_arn" {
  description = "Role to observe (LOCXIA_READ_ROLE_ARN)."
  value       = aws_iam_role.read.arn
}

output "write_role_arn" {
  description = "Role to shape (LOCXIA_WRITE_ROLE_ARN)."
  value       = aws_iam_role.write.arn
}

output "feed_role_arn" {
  description = "Role to read and write the zone buckets (LOCXIA_FEED_ROLE_ARN)."
  value       = aws_iam_role.feed.arn
}

output "dask_worker_role_arn" {
  description = "Role of Dask worker instances; null without dask_worker_bucket_arns."
  value       = try(aws_iam_role.dask_worker[0].arn, null)
}

output "dask_worker_instance_profile" {
  description = "Instance profile of Dask worker instances (terraform/live network.dask_worker_instance_profile); null without dask_worker_bucket_arns."
  value       = try(aws_iam_instance_profile.dask_worker[0].name, null)
}
