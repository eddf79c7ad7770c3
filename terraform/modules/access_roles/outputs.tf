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
