output "bucket_names" {
  description = "Bucket name of each zone (landing, working, exposure)."
  value       = { for zone, bucket in aws_s3_bucket.this : zone => bucket.id }
}

output "bucket_arns" {
  description = "Bucket ARN of each zone."
  value       = { for zone, bucket in aws_s3_bucket.this : zone => bucket.arn }
}

output "zone_uris" {
  description = "Zone URIs for LOCXIA_LANDING_URI, LOCXIA_WORKING_URI and LOCXIA_EXPOSURE_URI."
  value       = { for zone, bucket in aws_s3_bucket.this : zone => "s3://${bucket.id}" }
}
