"""Observe: what the tagged estate is, what it does and what it costs.

Two halves behind one plugin (:mod:`.jobs`, entry point ``observe``, CLI ``locxia observe``):
:mod:`.metrics` (discovery → policies → batching → window → fetch → store, CloudWatch into
``metrics.*``) and :mod:`.costs` (Cost Explorer, estimates, budgets, recommendations, prices into
``costs.*``). Imports the core (:mod:`infra`) and no other feature.
"""
