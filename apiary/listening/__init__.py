"""Listening: sources, the mention stream and enrichment (issue 4)."""
