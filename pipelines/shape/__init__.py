"""Shape: parameter rows → effective desired state → Terraform → guardrails → cost → apply.

One module per concept: :mod:`model` (validated rows), :mod:`schedule` (time windows),
:mod:`validation` (rules a row must follow), :mod:`store` (reading and editing
``params.instances``), :mod:`tfvars` (the one file Terraform reads), :mod:`runner` (the
Terraform core or a binary), :mod:`plan` (the JSON plan), :mod:`guardrails`, :mod:`cost`,
:mod:`records` (``ops.terraform_runs``), :mod:`reconcile`, :mod:`drift`, and :mod:`rds` /
:mod:`ec2` where AWS's rules differ.
"""
