output "trust" {
  description = "Trust policy of the three roles."
  value       = jsonencode(local.trust)
}

output "read" {
  description = "Policy of the read role (observe)."
  value       = jsonencode(local.read)
}

output "write" {
  description = "Policy of the write role (shape)."
  value       = jsonencode(local.write)
}

output "feed" {
  description = "Policy of the feed role (move layers between the zone buckets)."
  value       = jsonencode(local.feed)
}
