"""PostgreSQL's newest-matches lookup (``search._pg_newest``) gives the same ids, newest first,
whether the first id span holds enough matches or the lookup has to go on below it."""

from __future__ import annotations

import pytest
from django.db import connection

from apiary.community import search
from apiary.community import search_text as st

pytestmark = [
    # Not inside a test transaction: the bounded step's SET LOCAL (a forced walk) runs only
    # outside a caller's transaction, and that path must be the one tested.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's id spans"),
]


def _all_matches(queries) -> list[int]:
    match = search._PG_MATCH
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT post_id FROM community_post_search WHERE ({match}) "  # noqa: S608
            "ORDER BY post_id DESC",
            queries,
        )
        return [r[0] for r in cur.fetchall()]


@pytest.mark.parametrize("span", [3, 40, 10_000])
def test_spans_give_the_newest_matches_in_order(world, make_user, monkeypatch, span):
    from apiary.community import services

    author, space = world.people["owner"], world.spaces["public"]
    for i in range(24):
        word = "cardamom" if i % 3 == 0 else "cinnamon"
        services.post_create(
            author=author, space=space, type="discussion", title=f"{word} {i}", body="spice"
        )
    monkeypatch.setattr(search, "PG_ID_SPANS", (span, None))
    monkeypatch.setattr(search, "SCAN_CAP", 5)
    words = st.parse_words("cardamom")
    with connection.cursor() as cur:
        cur.execute(search.PG_TOP_IDS, [st.tsquery(words)] * len(st.PG_CONFIGS))
        top_post, _top_comment, *queries = cur.fetchone()
    expected = _all_matches(queries)
    assert len(expected) == 8
    assert not connection.in_atomic_block
    assert search._pg_newest(search.PG_POST_IDS, top_post, queries) == expected[:5]
    monkeypatch.setattr(search, "SCAN_CAP", 50)  # more than there are: all of them, once each
    assert search._pg_newest(search.PG_POST_IDS, top_post, queries) == expected
