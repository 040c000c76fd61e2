"""Listening writes: sources (``sources.py``), receipt of mentions (``ingest.py``), queries
(``queries.py``) and the bulk store (``store.py``)."""
