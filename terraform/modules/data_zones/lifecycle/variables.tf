variable "pending_part_days" {
  description = "Days after upload at which a part still tagged pending expires (see ../variables.tf)."
  type        = number

  validation {
    condition     = var.pending_part_days >= 1 && floor(var.pending_part_days) == var.pending_part_days
    error_message = "pending_part_days must be a whole number of days, at least 1."
  }
}
