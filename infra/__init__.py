"""Locxia control plane: settings, errors, database, AWS access, provisioning, scheduling, CLI."""

__version__ = "0.1.0"
