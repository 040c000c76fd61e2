"""Local stand-ins for the networks listening talks to, speaking their real wire formats.

Each module is a small threaded server on 127.0.0.1 (a free port), used as a context manager,
with a programmable script and fault modes — e.g. :mod:`.feeds` (RSS 2.0 / Atom over HTTP),
:mod:`.mastodon` (REST timelines + SSE streaming). Nothing here reaches the internet.
"""
