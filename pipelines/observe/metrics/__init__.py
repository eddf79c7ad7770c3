"""The metrics path as stages: discovery → policies → batching → window → fetch → store.

Plus a second source (Metric Streams files, :mod:`.streams`) writing the same table, and the
retention of old partitions (:mod:`.retention`).
"""
