"""Helpers shared by the test suites (real PostgreSQL, moto server, Terraform core)."""
