output "rds" {
  description = "Each RDS instance, as terraform/live reports it."
  value = {
    for name, m in module.rds : name => {
      identifier                = m.identifier
      arn                       = m.arn
      address                   = m.address
      master_user_secret_arn    = m.master_user_secret_arn
      final_snapshot_identifier = m.final_snapshot_identifier
    }
  }
}

output "ec2" {
  description = "Each EC2 instance, as terraform/live reports it."
  value = {
    for name, m in module.ec2 : name => {
      id         = m.id
      arn        = m.arn
      private_ip = m.private_ip
      state      = m.state
    }
  }
}
