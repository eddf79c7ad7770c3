"""Feed: geospatial layers from landing through working to exposure.

``ingest`` (file, URL or S3 → landing), ``refine`` (landing → working GeoParquet), ``publish``
(working → PostGIS exposure, atomic swap, rollback), ``transfer`` (DB ↔ DB), ``catalog``
(``params.datasets``, versions, lineage). :mod:`.jobs` is the scheduler plugin (entry point
``feed``; CLI verbs ``ingest``, ``refine``, ``publish``, ``datasets``). Imports the core
(:mod:`infra`) and no other feature.
"""
