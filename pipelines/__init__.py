"""Locxia data flows: metrics, costs and geospatial layers. Imports `infra`, never the reverse."""
