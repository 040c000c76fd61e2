"""The listening query language: syntax, matching, errors and the query book (pure, no DB)."""

import pytest

from apiary.listening.queries import (
    And,
    MatchDoc,
    Not,
    Or,
    QueryBook,
    QuerySyntaxError,
    Word,
    compile_query,
    fold,
    parse_query,
    prepare,
)

EN_INSTANT = "I only drink instant coffee, sorry"
EN_CAFE = "Best café in town, no instant stuff"
RU_COFFEE = "Утренний кофе в Northwind — просто огонь!"
ES_PRICE = "¿Cuál es el precio del espresso en Northwind?"

# (query, text, expected)
MATCHES = [
    # plain words: whole words, case- and accent-insensitive
    ("coffee", "Great COFFEE today", True),
    ("coffee", "coffeehouse vibes", False),
    ("cafe", "Un café, por favor", True),
    ("café", "un CAFE por favor", True),
    ("niño", "el nino come", True),
    # Cyrillic words, ё ≡ е
    ("кофе", RU_COFFEE, True),
    ("КОФЕ", "кофейня рядом", False),
    ("ёлка", "Новогодняя елка", True),
    ("елка", "Новогодняя Ёлка", True),
    ("огонь", RU_COFFEE, True),
    # the example
    ('(кофе OR café) AND NOT "instant coffee"', RU_COFFEE, True),
    ('(кофе OR café) AND NOT "instant coffee"', EN_CAFE, True),
    ('(кофе OR café) AND NOT "instant coffee"', "café and instant coffee", False),
    ('(кофе OR café) AND NOT "instant coffee"', EN_INSTANT, False),
    # phrases are consecutive words
    ('"instant coffee"', EN_INSTANT, True),
    ('"instant coffee"', "coffee, instant", False),
    ('"instant coffee"', "instant hot coffee", False),
    ('"precio del espresso"', ES_PRICE, True),
    ("coca-cola", "I love Coca Cola", True),
    ("coca-cola", "cola coca", False),
    ('"утренний кофе"', RU_COFFEE, True),
    # hashtags match the hashtag token only; a bare word also matches inside a hashtag
    ("#NorthwindCoffee", "Loving #northwindcoffee this morning", True),
    ("#NorthwindCoffee", "Loving northwindcoffee this morning", False),
    ("#NorthwindCoffee", "Loving #NorthwindCoffeeShop", False),
    ("#Northwind*", "Loving #NorthwindCoffeeShop", True),
    ("northwindcoffee", "Loving #NorthwindCoffee", True),
    ("#кофе", "Утро начинается с #Кофе", True),
    ("#café", "#cafe con leche", True),
    # handles, with dots; not e-mail addresses
    ("@northwind.bsky.social", "thanks @Northwind.bsky.social!", True),
    ("@northwind.bsky.social", "thanks @northwind.bsky.social.", True),
    ("@northwind.bsky.social", "thanks northwind.bsky.social", False),
    ("@northwind.bsky.social", "mail me at bob@northwind.bsky.social", False),
    ("@northwind", "hey @northwind.bsky.social", False),
    ("@northwind*", "hey @northwind.bsky.social", True),
    ("@alice", "cc @alice@mastodon.social", True),
    ("@alice@mastodon.social", "cc @Alice@Mastodon.Social", True),
    # prefix wildcard
    ("espress*", ES_PRICE, True),
    ("espress*", "Espressomaschine kaputt", True),
    ("espress*", "an express train", False),
    ("кофе*", "кофейня рядом", True),
    ("caf*", "CAFÉS abiertos", True),
    # field filters
    ("lang:es AND precio", ES_PRICE, True),
    ("lang:ES precio", ES_PRICE, True),
    ("lang:es AND precio", "el precio", True),
    # implicit AND between adjacent terms
    ("northwind coffee", "Northwind makes coffee", True),
    ("northwind coffee", "Northwind makes tea", False),
    ("northwind (tea OR coffee)", "coffee from northwind", True),
    # -term is NOT
    ("coffee -spam", "coffee time", True),
    ("coffee -spam", "coffee SPAM offer", False),
    ("-spam", "nothing to see", True),
    ("-spam", "spam", False),
    ('coffee -"instant coffee"', EN_INSTANT, False),
    ("coffee -(tea OR milk)", "coffee with milk", False),
    # lower-case operators are plain words
    ("rock and roll", "rock and roll", True),
    ("rock and roll", "rock n roll", False),
]


@pytest.mark.parametrize(("query", "text", "expected"), MATCHES)
def test_query_matches_text(query, text, expected):
    # given
    compiled = compile_query(query)
    doc = MatchDoc(text, language="es" if "precio" in text else "")

    # when
    result = compiled.matches(doc)

    # then
    assert result is expected


# (query, doc, expected)
FIELD_MATCHES = [
    ("lang:es AND precio", MatchDoc("el precio", language="es"), True),
    ("lang:es AND precio", MatchDoc("el precio", language="en"), False),
    ("lang:es", MatchDoc("hola", language="es-MX"), True),
    ("lang:es", MatchDoc("hola", language="est"), False),
    ("language:ru", MatchDoc("привет", language="RU"), True),
    ("platform:mastodon OR country:RU", MatchDoc("x", platform="mastodon"), True),
    ("platform:mastodon OR country:RU", MatchDoc("x", platform="bluesky", country="ru"), True),
    ("platform:mastodon OR country:RU", MatchDoc("x", platform="bluesky", country="ES"), False),
    ("platform:bluesky -country:ES", MatchDoc("x", platform="bluesky", country="ES"), False),
    ("platform:bluesky -country:ES", MatchDoc("x", platform="Bluesky", country="FR"), True),
    ("(lang:ru OR lang:es) café", MatchDoc("Café!", language="ru"), True),
    ("(lang:ru OR lang:es) café", MatchDoc("Café!", language="en"), False),
]


@pytest.mark.parametrize(("query", "doc", "expected"), FIELD_MATCHES)
def test_field_filters_combine_with_boolean_logic(query, doc, expected):
    # given
    compiled = compile_query(query)

    # when
    result = compiled.matches(doc)

    # then
    assert result is expected


# (query, position, message)
ERRORS = [
    ("", 0, "empty query"),
    ("   ", 0, "empty query"),
    ('coffee "instant', 7, "unclosed quote at position 7"),
    ('brand "abc def" "xyz', 16, "unclosed quote at position 16"),
    ("cafe NOT", 5, "expected a term after NOT at position 5"),
    ("a AND NOT )", 6, "expected a term after NOT at position 6"),
    ("coffee AND", 7, "expected a term after AND at position 7"),
    ("a OR OR b", 2, "expected a term after OR at position 2"),
    ("OR coffee", 0, "expected a term before OR at position 0"),
    ("(AND coffee)", 1, "expected a term before AND at position 1"),
    ("(coffee OR tea", 0, "unbalanced parenthesis at position 0"),
    ("coffee)", 6, "unbalanced parenthesis at position 6"),
    ("(a (b OR c)", 0, "unbalanced parenthesis at position 0"),
    ("a (", 2, "unbalanced parenthesis at position 2"),
    (")", 0, "unbalanced parenthesis at position 0"),
    ("()", 0, "empty parentheses at position 0"),
    ("a  foo:bar", 3, "unknown field 'foo' at position 3"),
    ("lang:", 0, "expected a value after 'lang:' at position 0"),
    ("coffee - tea", 7, "expected a term after '-' at position 7"),
    ('""', 0, "empty phrase at position 0"),
    ("# coffee", 0, "expected a hashtag after '#' at position 0"),
    ("@", 0, "expected a handle after '@' at position 0"),
    ("es*presso", 2, "a wildcard '*' is only allowed at the end of a term at position 2"),
    ("*", 0, "expected a term, got '*' at position 0"),
]


@pytest.mark.parametrize(("query", "position", "message"), ERRORS)
def test_invalid_query_is_rejected_with_position(query, position, message):
    # given / when
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query)

    # then
    assert caught.value.position == position
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_not_binds_tighter_than_and_which_binds_tighter_than_or():
    # given
    query = "NOT a AND b OR c d"

    # when
    ast = parse_query(query)

    # then
    assert ast == Or((And((Not(Word("a")), Word("b"))), And((Word("c"), Word("d")))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("b c", True), ("a", True), ("a c", True), ("c", False), ("b", False)],
)
def test_or_is_weaker_than_implicit_and(text, expected):
    # given
    compiled = compile_query("a OR b c")

    # when
    result = compiled.matches(MatchDoc(text))

    # then
    assert result is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("northwind espresso", True),
        ("northwind latte cheap", True),
        ("northwind latte cheap spam", False),
        ("northwind latte", False),
        ("contoso espresso", True),
        ("fabrikam espresso", False),
        ("northwind espresso instant coffee", False),
    ],
)
def test_nested_parentheses(text, expected):
    # given
    compiled = compile_query(
        '(northwind OR contoso) AND ((espresso OR (latte AND cheap)) -spam) NOT "instant coffee"'
    )

    # when
    result = compiled.matches(MatchDoc(text))

    # then
    assert result is expected


def test_query_book_returns_ids_and_kinds_of_matching_queries():
    # given
    book = QueryBook(
        [
            (1, "brand", "northwind OR #NorthwindCoffee"),
            (2, "competitor", "contoso* OR @contoso.bsky.social"),
            (3, "topic", "espress* lang:es"),
            (4, "topic", '"cold brew"'),
        ]
    )
    doc = MatchDoc("¿#NorthwindCoffee o Contoso? El espresso de ambos", language="es")

    # when
    matched = book.match(doc)

    # then
    assert matched == [(1, "brand"), (2, "competitor"), (3, "topic")]
    assert len(book) == 4


def test_query_book_matches_one_prepared_doc_against_many_queries():
    # given
    book = QueryBook([("a", "brand", "кофе"), ("b", "topic", "чай"), ("c", "topic", "-чай")])
    prepared = prepare(MatchDoc("Кофе или чай?"))

    # when
    matched = book.match_prepared(prepared)

    # then
    assert matched == [("a", "brand"), ("b", "topic")]


def test_query_book_rejects_unknown_kind():
    # given
    queries = [(1, "product", "coffee")]

    # when / then
    with pytest.raises(ValueError, match="kind must be one of brand, competitor, topic"):
        QueryBook(queries)


def test_query_book_reports_syntax_error_position():
    # given
    queries = [(1, "brand", "coffee"), (2, "topic", "(tea")]

    # when / then
    with pytest.raises(QuerySyntaxError) as caught:
        QueryBook(queries)
    assert caught.value.position == 0


def test_prepare_tokenises_words_hashtags_and_mentions_once():
    # given
    doc = MatchDoc("Ёлка у Café #Кофе, спасибо @shop.bsky.social! bob@mail.example", "ru")

    # when
    prepared = prepare(doc)

    # then
    assert prepared.tokens[:4] == ("елка", "у", "cafe", "кофе")
    assert prepared.hashtags == frozenset({"кофе"})
    assert prepared.mentions == frozenset({"shop.bsky.social"})
    assert prepared.language == "ru"


def test_fold_drops_latin_accents_but_keeps_cyrillic_letters():
    # given
    text = "Crème BRÛLÉE, señor — Йогурт, Ёж"

    # when
    folded = fold(text)

    # then
    assert folded == "creme brulee, senor — йогурт, еж"


def test_fold_handles_decomposed_input():
    # given: "café" and "й" written with combining marks (NFD)
    text = "cafe\u0301 и\u0306"

    # when
    folded = fold(text)

    # then
    assert folded == "cafe й"


def test_compiled_query_is_reusable_across_documents():
    # given
    compiled = compile_query("coffee")
    docs = [MatchDoc("coffee"), MatchDoc("tea"), MatchDoc("Coffee!")]

    # when
    results = [compiled.matches(d) for d in docs]

    # then
    assert results == [True, False, True]
