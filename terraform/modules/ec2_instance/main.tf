# One EC2 instance as Locxia shapes it: private, IMDSv2 only, encrypted root volume,
# termination protection from the protected flag. A type change on a running instance is
# done by the provider with a stop/modify/start; the power state is its own resource so a
# schedule window can stop the instance without replacing it.
resource "aws_instance" "this" {
  ami                         = var.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = var.vpc_security_group_ids
  iam_instance_profile        = var.iam_instance_profile
  associate_public_ip_address = false
  disable_api_termination     = var.protected
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size           = var.root_volume_gb
    volume_type           = var.root_volume_type
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  volume_tags = merge(var.tags, { Name = var.name })
  tags        = merge(var.tags, { Name = var.name })
}

resource "aws_ec2_instance_state" "power" {
  instance_id = aws_instance.this.id
  state       = var.state
}
