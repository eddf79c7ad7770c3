output "rds" {
  description = "Each RDS instance: identifier, ARN, endpoint address, master password secret, final snapshot name."
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
  description = "Each EC2 instance: id, ARN, private IP, power state."
  value = {
    for name, m in module.ec2 : name => {
      id         = m.id
      arn        = m.arn
      private_ip = m.private_ip
      state      = m.state
    }
  }
}
