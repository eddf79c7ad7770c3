# The user data of a Dask worker instance: a cloud-init shell script that installs (unless the
# image has it) and starts `dask worker <scheduler>` as a systemd unit. No provider and no
# resource: terraform/live renders it once for every worker (each names itself by its instance
# id at boot), and the tests render it with the Terraform core to read exactly what is sent.
locals {
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    scheduler      = var.scheduler
    packages       = var.packages
    tls_secret_arn = startswith(var.scheduler, "tls://") ? var.tls_secret_arn : null
  })
}
