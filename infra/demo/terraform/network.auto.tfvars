# What an operator writes once next to terraform/live (values are ignored by the stand-in).
network = {
  subnet_ids           = ["subnet-0123456789abcdef0"]
  security_group_ids   = ["sg-0123456789abcdef0"]
  db_subnet_group_name = "locxia-private"
  instance_profile     = "locxia-instance"
}
ec2_ami_id = "ami-0123456789abcdef0"
