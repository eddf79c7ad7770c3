variable "scheduler" {
  description = "Address of the Dask scheduler the worker joins (LOCXIA_DASK_SCHEDULER): tls://host:port with tls_secret_arn, or tcp://host:port on loopback or with allow_plaintext. Required: a worker with no scheduler has nothing to join."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^(tcp|tls)://[A-Za-z0-9.-]+:[0-9]{1,5}$", var.scheduler))
    error_message = "scheduler must look like tls://10.0.1.5:8786 (tcp or tls, a host and a port)."
  }

  # The orchestrator's tasks carry its settings, the database password included (decision 87):
  # the same rule as the client's (infra/cluster.py, decision 96).
  validation {
    condition     = startswith(var.scheduler, "tls://") || var.allow_plaintext || can(regex("^tcp://(127\\.[0-9.]+|localhost):", var.scheduler))
    error_message = "scheduler: a plain-text tcp:// scheduler off loopback would receive the database credentials the tasks carry unencrypted; use tls:// with tls_secret_arn, or set allow_plaintext = true on a private network (LOCXIA_DASK_ALLOW_PLAINTEXT)."
  }

  validation {
    condition     = !startswith(var.scheduler, "tls://") || var.tls_secret_arn != null
    error_message = "scheduler: a tls:// scheduler needs tls_secret_arn, the Secrets Manager secret holding the worker's CA, certificate and key."
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

variable "tls_secret_arn" {
  description = "Secrets Manager secret whose SecretString is a JSON object {\"ca\", \"cert\", \"key\"} of PEM texts: the CA the scheduler's certificate chains to, and the worker's own certificate and key. Fetched at boot with the instance profile (access_roles' dask_worker_tls_secret_arn grants it), never written in the user data. Required with a tls:// scheduler."
  type        = string
  default     = null

  validation {
    condition     = var.tls_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.tls_secret_arn))
    error_message = "tls_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."
  }
}

variable "allow_plaintext" {
  description = "Let workers join a tcp:// scheduler off loopback (LOCXIA_DASK_ALLOW_PLAINTEXT): the operator's word that the network between scheduler and workers is private, since task payloads carry the database credentials."
  type        = bool
  default     = false
  nullable    = false
}
