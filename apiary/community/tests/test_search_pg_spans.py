"""PostgreSQL's newest-matches lookup (``search._pg_newest``): the same rows, newest first,
however it gets there (the first walk holds enough; a second walk; id buckets below it; the
rest at once for a rare word or one whose matches are all old; the ``plain`` strategy, as
without the bucket index), and the reply side table's post and state kept by its trigger
(migration 0009)."""

from __future__ import annotations

import pytest
from django.db import connection

from apiary.community import search
from apiary.community import search_text as st

pytestmark = [
    # Not inside a test transaction: the steps' SET LOCAL (a forced walk, a forced bitmap) runs
    # only outside a caller's transaction, and that path must be the one tested.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's id buckets"),
]


def _queries(text: str) -> tuple[int, int, list[str]]:
    words = st.parse_words(text)
    with connection.cursor() as cur:
        cur.execute(search.PG_TOP_IDS, [st.tsquery(words)] * len(st.PG_CONFIGS))
        top_post, top_comment, *queries = cur.fetchone()
    return top_post, top_comment, queries


def _all_matches(side, queries) -> list[tuple]:
    match, params = search._pg_match(queries)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {side.id}{side.more} FROM {side.table} "  # noqa: S608 (constants)
            f"WHERE ({match}){side.where} ORDER BY {side.id} DESC",
            params,
        )
        return cur.fetchall()


def _posts(world, pattern: list[bool]):
    from apiary.community import services

    author, space = world.people["owner"], world.spaces["public"]
    for i, hit in enumerate(pattern):
        word = "cardamom" if hit else "cinnamon"
        services.post_create(
            author=author, space=space, type="discussion", title=f"{word} {i}", body="spice"
        )


@pytest.mark.parametrize("strategy", search.PG_STRATEGIES)
@pytest.mark.parametrize(
    ("walk", "bucket", "cap"),
    [
        (3, 4, 5),  # the walk finds 1, buckets find the rest
        (40, 4, 5),  # the walk holds them all
        (3, 2, 50),  # more wanted than there are: every bucket step, then the rest at once
        (3, 1_000, 5),  # one bucket holds every id: the rest at once
        (10_000, 4, 50),  # the walk covers the whole table
    ],
)
def test_the_steps_give_the_newest_matches_in_order(
    world, monkeypatch, walk, bucket, cap, strategy
):
    _posts(world, [i % 3 == 0 for i in range(30)])
    monkeypatch.setattr(search, "PG_WALK", walk)
    monkeypatch.setattr(search, "PG_WALK_MORE", 0)  # no second walk: the later steps run
    # Other bucket sizes than the index's are just a filter: the same rows, slower.
    monkeypatch.setattr(search, "PG_BUCKET", bucket)
    monkeypatch.setattr(search, "SCAN_CAP", cap)
    top_post, _top_comment, queries = _queries("cardamom")
    expected = _all_matches(search.PG_POSTS, queries)
    assert len(expected) == 10
    assert not connection.in_atomic_block
    assert search._pg_newest(search.PG_POSTS, top_post, queries, strategy) == expected[:cap]


def test_a_second_walk_when_the_rate_says_it_is_short(world, monkeypatch):
    _posts(world, [i % 2 == 0 for i in range(40)])
    monkeypatch.setattr(search, "PG_WALK", 4)
    monkeypatch.setattr(search, "SCAN_CAP", 8)
    top_post, _top_comment, queries = _queries("cardamom")
    expected = _all_matches(search.PG_POSTS, queries)
    walks = []

    def spy(execute, sql, params, many, context):
        walks.append("/" not in sql and "LIMIT" in sql)  # PG_IDS has no bucket division
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert search._pg_newest(search.PG_POSTS, top_post, queries, "buckets") == expected[:8]
    # the first walk (4 ids: 2 matches), a second one for the 6 wanted at that rate (~16 ids)
    assert walks.count(True) == 2


def test_bucket_steps_read_their_heap_pages_several_at_a_time(world, monkeypatch):
    # PostgreSQL 15 reads a bitmap heap scan's pages one by one unless told the storage
    # serves several at once (effective_io_concurrency), for the bucket step only
    _posts(world, [i % 3 == 0 for i in range(30)])
    monkeypatch.setattr(search, "PG_WALK", 3)
    monkeypatch.setattr(search, "PG_WALK_MORE", 0)
    monkeypatch.setattr(search, "PG_BUCKET", 4)
    monkeypatch.setattr(search, "SCAN_CAP", 5)
    top_post, _top_comment, queries = _queries("cardamom")
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        found = search._pg_newest(search.PG_POSTS, top_post, queries, "buckets")
    assert found == _all_matches(search.PG_POSTS, queries)[:5]
    setting = f"SET LOCAL effective_io_concurrency = {search.PG_IO_CONCURRENCY}"
    selects = [i for i, sql in enumerate(statements) if sql.startswith("SELECT")]
    settings = [i for i, sql in enumerate(statements) if sql == setting]
    # the first walk runs without it (an index walk reads no bitmap); each later step with it
    assert settings and selects[0] < settings[0]
    later = [i for i in selects if i > settings[0]]
    assert later and all(setting in statements[i - 2 : i] for i in later)


def test_the_database_has_the_bucket_indexes():
    search._PG_STRATEGY_CACHE.clear()
    assert search._pg_strategy() == "buckets"  # btree_gin is in PostgreSQL's contrib


@pytest.mark.parametrize("strategy", search.PG_STRATEGIES)
def test_a_word_found_only_long_ago(world, monkeypatch, strategy):
    # No match among the newest ids: bucket steps of 1, 4, then (past PG_EMPTY_BUCKETS) the
    # rest at once; and the rate-based path once the first old match turns up.
    _posts(world, [i < 4 for i in range(60)])
    monkeypatch.setattr(search, "PG_WALK", 3)
    monkeypatch.setattr(search, "PG_BUCKET", 4)
    monkeypatch.setattr(search, "PG_EMPTY_BUCKETS", 2)
    monkeypatch.setattr(search, "SCAN_CAP", 3)
    top_post, _top_comment, queries = _queries("cardamom")
    expected = _all_matches(search.PG_POSTS, queries)
    assert len(expected) == 4
    assert search._pg_newest(search.PG_POSTS, top_post, queries, strategy) == expected[:3]
    monkeypatch.setattr(search, "PG_EMPTY_BUCKETS", 1_000)  # bucket by bucket down to id 0
    assert search._pg_newest(search.PG_POSTS, top_post, queries, strategy) == expected[:3]


def test_replies_come_published_with_their_posts(world, monkeypatch):
    from apiary.community import services
    from apiary.community.models import Comment, CommentState

    author, space = world.people["owner"], world.spaces["public"]
    post = services.post_create(
        author=author, space=space, type="discussion", title="Grinders", body="which one"
    )
    other = services.post_create(
        author=author, space=space, type="discussion", title="Kettles", body="gooseneck"
    )
    replies = [
        services.comment_create(author=author, post=[post, other][i % 2], body=f"cardamom {i}")
        for i in range(8)
    ]
    services.comment_delete(actor=author, comment=replies[7])  # removed: not a match any more
    Comment.objects.filter(pk=replies[6].pk).update(state=CommentState.HIDDEN)
    services.comment_update(actor=author, comment=replies[5], body="cinnamon instead")
    monkeypatch.setattr(search, "PG_WALK", 2)
    monkeypatch.setattr(search, "PG_BUCKET", 2)
    _top_post, top_comment, queries = _queries("cardamom")
    rows = search._pg_newest(search.PG_COMMENTS, top_comment, queries)
    assert rows == [(c.pk, c.post_id) for c in reversed(replies[:5])]
    Comment.objects.filter(pk=replies[6].pk).update(state=CommentState.PUBLISHED)  # approved
    rows = search._pg_newest(search.PG_COMMENTS, top_comment, queries)
    assert rows[0] == (replies[6].pk, replies[6].post_id)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM community_comment_search s JOIN community_comment c "
            "ON c.id = s.comment_id WHERE s.post_id = c.post_id AND s.state = c.state"
        )
        assert cur.fetchone()[0] == Comment.objects.count()


def test_configurations_with_the_same_query_share_an_arm():
    sql, params = search._pg_match(["'grinder'", "'grind'", "'grind'", ""])
    assert params == ["'grinder'", "'grind'"]
    assert sql.count("vector @@") == 2
    assert "'english'::regconfig, 'russian'::regconfig" in sql
    assert "spanish" not in sql  # stop words only: matches nothing, left out
    assert search._pg_match(["", "", "", ""]) == ("", [])


def test_the_bucket_is_the_index_expression():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('community_post_search_recent', 'community_comment_search_recent')"
        )
        found = dict(cur.fetchall())
    assert len(found) == 2
    for definition in found.values():
        assert f"/ {search.PG_BUCKET})" in definition, definition
