output "id" {
  description = "Instance id."
  value       = try(aws_instance.this.id, null)
}

output "arn" {
  description = "Instance ARN."
  value       = try(aws_instance.this.arn, null)
}

output "private_ip" {
  description = "Private IP address."
  value       = try(aws_instance.this.private_ip, null)
}

output "state" {
  description = "Power state after apply (running or stopped)."
  value       = try(aws_ec2_instance_state.power.state, null)
}
