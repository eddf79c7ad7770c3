variable "scheduler" {
  description = "Address of the Dask scheduler the worker joins (LOCXIA_DASK_SCHEDULER), tcp://host:port or tls://host:port. Required: a worker with no scheduler has nothing to join."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^(tcp|tls)://[A-Za-z0-9.-]+:[0-9]{1,5}$", var.scheduler))
    error_message = "scheduler must look like tcp://10.0.1.5:8786 (tcp or tls, a host and a port)."
  }
}

variable "packages" {
  description = "Pinned pip requirements of the worker environment (name==version): the orchestrator's own versions of dask, distributed and the product, so the worker runs what the client sends."
  type        = list(string)
  nullable    = false

  validation {
    condition     = alltrue([for p in var.packages : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(\\[[A-Za-z0-9,._-]+\\])?==[0-9][A-Za-z0-9.+!-]*$", p))])
    error_message = "packages: pinned requirements only (name==version), e.g. distributed==2025.1.0."
  }
}
