output "read_role_arn" {
  description = "Role to observe (LOCXIA_READ_ROLE_ARN)."
  value       = aws_iam_role.read.arn
}

output "write_role_arn" {
  description = "Role to shape (LOCXIA_WRITE_ROLE_ARN)."
  value       = aws_iam_role.write.arn
}
