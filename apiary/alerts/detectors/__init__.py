"""The detectors: ``mention`` (lead, advocate, custom rules; the ingestion hook), ``rate``
(crisis spike, competitor move; the ``alerts-detectors`` loop, on ``spike``'s state machine),
``care`` (SLA breach, VIP waiting; the same loop), ``rulebook`` (the cached active rules)."""
