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

output "dask_worker_trust" {
  description = "Trust policy of the dask_worker role: EC2 instances only (an instance profile)."
  value       = jsonencode(local.dask_worker_trust)
}

output "dask_worker" {
  description = "Policy of the dask_worker role (read and write the working and exposure zones)."
  value       = jsonencode(local.dask_worker)
}
