output "user_data" {
  description = "The cloud-init script (plain text; the AWS provider base64-encodes it and keeps its SHA-1 in the state)."
  value       = local.user_data
}
