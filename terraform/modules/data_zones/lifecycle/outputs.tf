output "pending_parts" {
  description = "The rule expiring uncommitted parts: id, tag filter (key, value) and days."
  value       = local.pending_parts
}
