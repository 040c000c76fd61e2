"""Writes for customers, one module per concept (import the module you need):

- ``customers``: create/update/upsert-by-email, custom fields, soft delete, organisations
- ``identities``: link a consented social identity, withdraw consent
- ``resolution``: author → customer (exact match), suggestions for near matches, review decisions
- ``merge``: preview and perform an audited merge of two customer records
- ``orders``: validate and upsert orders (single, batch, webhook) — file parsing in ``importers``
- ``privacy``: export everything about a customer, erase a customer
"""
