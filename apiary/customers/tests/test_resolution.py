import itertools

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import ConsentRecord, Customer, IdentitySuggestion, SocialIdentity
from apiary.customers.services.identities import identity_consent_withdraw, identity_link
from apiary.customers.services.resolution import (
    AuthorRef,
    IdentityIndex,
    author_resolve,
    author_suggest,
    location_cities,
    name_key,
    suggestion_accept,
    suggestion_reject,
)

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)


def make_customer(**fields) -> Customer:
    n = next(_seq)
    fields.setdefault("email", f"person{n}@example.com")
    fields.setdefault("name", f"Person {n}")
    return Customer.objects.create(**fields)


def link(customer, platform, handle, **kw):
    return identity_link(
        customer=customer,
        platform=platform,
        handle=handle,
        touchpoint=kw.pop("touchpoint", "signup"),
        consent_text="I agree.",
        **kw,
    )


# --- Exact resolution -------------------------------------------------------------------------


def test_exact_match_after_normalisation_returns_the_customer():
    # given
    customer = make_customer()
    link(customer, "mastodon", "alice@mastodon.social")
    # when
    found = author_resolve(
        author=AuthorRef(platform="mastodon", handle="https://mastodon.social/@Alice")
    )
    # then
    assert found == customer
    assert not IdentitySuggestion.objects.exists()


def test_profile_url_is_used_when_the_handle_is_missing_or_invalid():
    # given
    customer = make_customer()
    link(customer, "x", "alice")
    # when
    found = author_resolve(
        author=AuthorRef(platform="x", handle="", profile_url="https://x.com/Alice")
    )
    # then
    assert found == customer


def test_withdrawn_identity_no_longer_resolves_and_is_not_suggested_again():
    # given
    customer = make_customer(name="Alice Smith", city="Sevilla")
    identity = link(customer, "bluesky", "alice.bsky.social")
    identity_consent_withdraw(identity=identity, touchpoint="api")
    author = AuthorRef(
        platform="bluesky",
        handle="alice.bsky.social",
        display_name="Alice Smith",
        location="Sevilla, España",
    )
    # when
    found = author_resolve(author=author)
    # then the customer said no: neither a link nor a suggestion back to them
    assert found is None
    assert not IdentitySuggestion.objects.exists()
    assert IdentityIndex.load().lookup("bluesky", "alice.bsky.social") is None


@pytest.mark.parametrize("state", ["deleted_at", "erased_at", "merged_into"])
def test_identities_of_deleted_erased_or_merged_customers_do_not_resolve(state):
    # given
    customer = make_customer()
    link(customer, "instagram", "alice")
    value = make_customer() if state == "merged_into" else timezone.now()
    Customer.objects.filter(pk=customer.pk).update(**{state: value})
    # when
    found = author_resolve(author=AuthorRef(platform="instagram", handle="@alice"), suggest=False)
    # then
    assert found is None
    assert IdentityIndex.load().lookup("instagram", "alice") is None


def test_invalid_author_handle_resolves_to_nothing():
    assert author_resolve(author=AuthorRef(platform="x", handle="not a handle!")) is None
    assert author_resolve(author=AuthorRef(platform="nope", handle="alice")) is None


# --- The identity index -------------------------------------------------------------------------


def test_index_resolves_raw_forms_in_batch():
    # given
    alice = make_customer()
    bob = make_customer()
    link(alice, "bluesky", "alice.bsky.social")
    link(alice, "x", "alice")
    link(bob, "mastodon", "bob@mastodon.social")
    link(bob, "youtube", "youtube.com/channel/UC1234567890abcdefghijKL")
    withdrawn = link(bob, "tiktok", "bob")
    identity_consent_withdraw(identity=withdrawn, touchpoint="api")
    # when
    index = IdentityIndex.load()
    result = index.resolve_many(
        [
            AuthorRef("bluesky", "alice.bsky.social"),
            AuthorRef("bluesky", "https://bsky.app/profile/Alice.bsky.social"),
            AuthorRef("x", "@ALICE"),
            AuthorRef("mastodon", "@Bob@mastodon.social"),
            AuthorRef("youtube", "UC1234567890abcdefghijKL"),
            AuthorRef("youtube", "uc1234567890abcdefghijkl"),  # channel ids are case-sensitive
            AuthorRef("tiktok", "bob"),  # withdrawn
            AuthorRef("x", "https://bsky.app/profile/alice.bsky.social"),  # wrong platform
            AuthorRef("x", "", profile_url="https://twitter.com/alice"),
            AuthorRef("reddit", "alice"),
            AuthorRef("x", ""),
        ]
    )
    # then
    assert result == [
        alice.pk,
        alice.pk,
        alice.pk,
        bob.pk,
        bob.pk,
        None,
        None,
        None,
        alice.pk,
        None,
        None,
    ]
    assert len(index) == 4
    assert index.lookup("x", "alice") == alice.pk


def test_index_load_is_one_query(django_assert_num_queries):
    # given
    for n in range(5):
        link(make_customer(), "x", f"user{n}")
    # when / then
    with django_assert_num_queries(1):
        index = IdentityIndex.load()
    assert len(index) == 5


# --- Suggestions --------------------------------------------------------------------------------


def test_same_name_and_city_becomes_a_pending_suggestion_never_a_link():
    # given
    customer = make_customer(name="José  Martínez", city="Sevilla")
    make_customer(name="José Martínez", city="Madrid")  # same name, other city
    make_customer(name="Ana Martínez", city="Sevilla")  # same city, other name
    author = AuthorRef(
        platform="bluesky",
        handle="@pepe.bsky.social",
        display_name="jose martinez",
        location="SEVILLA, España 🇪🇸",
    )
    # when
    found = author_resolve(author=author)
    # then
    assert found is None
    suggestion = IdentitySuggestion.objects.get()
    assert suggestion.customer == customer
    assert suggestion.status == IdentitySuggestion.Status.PENDING
    assert suggestion.handle == "pepe.bsky.social"
    assert suggestion.reason == "same name and city"
    assert 0 < suggestion.score <= 1
    assert suggestion.location == "SEVILLA, España 🇪🇸"
    assert suggestion.profile_url == "https://bsky.app/profile/pepe.bsky.social"
    assert not SocialIdentity.objects.exists()


def test_name_and_city_match_across_cyrillic_and_latin():
    # given
    customer = make_customer(name="Dmitry Orlov", city="Москва")
    author = AuthorRef(
        platform="vk", handle="id777", display_name="Дмитрий Орлов", location="москва"
    )
    # when
    author_resolve(author=author)
    # then
    suggestion = IdentitySuggestion.objects.get()
    assert suggestion.customer == customer
    assert suggestion.score == pytest.approx(0.7)  # weaker than an exact spelling


def test_similar_handle_on_the_same_platform_is_suggested():
    # given
    customer = make_customer(name="Alice Smith")
    link(customer, "x", "alice_smith")
    # when
    author_resolve(author=AuthorRef(platform="x", handle="alicesmith1987"))
    author_resolve(author=AuthorRef(platform="x", handle="alicesmith_", display_name="Alice Smith"))
    # then
    rows = {s.handle: s for s in IdentitySuggestion.objects.all()}
    assert set(rows) == {"alicesmith1987", "alicesmith_"}
    assert all(s.customer == customer and s.reason == "similar handle" for s in rows.values())
    assert rows["alicesmith_"].score > rows["alicesmith1987"].score  # the name agrees too


def test_same_local_part_on_another_platform_is_suggested():
    # given
    customer = make_customer()
    link(customer, "mastodon", "coffeefan@mastodon.social")
    # when
    author_resolve(author=AuthorRef(platform="bluesky", handle="coffeefan.bsky.social"))
    # then
    suggestion = IdentitySuggestion.objects.get()
    assert suggestion.customer == customer
    assert suggestion.platform == "bluesky"
    assert suggestion.reason == "similar handle"


def test_two_signals_for_one_customer_make_one_stronger_suggestion():
    # given
    customer = make_customer(name="Olga Ivanova", city="Kazan")
    link(customer, "telegram", "olga_ivanova")
    # when
    author_resolve(
        author=AuthorRef(
            platform="instagram",
            handle="olga_ivanova",
            display_name="Olga Ivanova",
            location="Kazan, Russia",
        )
    )
    # then
    suggestion = IdentitySuggestion.objects.get()
    assert suggestion.reason == "same name and city; similar handle"
    assert suggestion.score > 0.8


def test_short_or_unrelated_handles_are_not_suggested():
    # given
    link(make_customer(), "x", "al")
    link(make_customer(), "x", "alice")
    # when
    author_resolve(author=AuthorRef(platform="x", handle="al_2"))
    author_resolve(author=AuthorRef(platform="x", handle="alicia"))
    author_resolve(author=AuthorRef(platform="x", handle="bob", display_name="Alice"))
    # then
    assert not IdentitySuggestion.objects.exists()


def test_suggestions_are_idempotent_and_decisions_stick():
    # given
    customer = make_customer(name="Marta Ruiz", city="Valencia")
    author = AuthorRef(
        platform="x", handle="marta_r", display_name="Marta Ruiz", location="Valencia"
    )
    # when
    author_resolve(author=author)
    author_resolve(author=author)
    # then
    assert IdentitySuggestion.objects.filter(customer=customer).count() == 1
    # and once rejected, the same author is not suggested for that customer again
    suggestion_reject(suggestion=IdentitySuggestion.objects.get(), actor=None)
    author_resolve(author=author)
    assert IdentitySuggestion.objects.filter(status="pending").count() == 0


def test_author_suggest_returns_saved_suggestions_only_once():
    # given
    customer = make_customer(name="Lena Berg", city="Oslo")
    author = AuthorRef(platform="x", handle="lenab", display_name="Lena Berg", location="Oslo")
    # when
    first = author_suggest(author=author)
    second = author_suggest(author=author)
    # then
    assert [(s.pk is not None, s.customer_id) for s in first] == [(True, customer.pk)]
    assert second == []


def test_suggest_false_only_looks_up():
    # given
    make_customer(name="Marta Ruiz", city="Valencia")
    author = AuthorRef(platform="x", handle="marta", display_name="Marta Ruiz", location="Valencia")
    # when
    author_resolve(author=author, suggest=False)
    # then
    assert not IdentitySuggestion.objects.exists()


# --- Review decisions ---------------------------------------------------------------------------


def _pending(customer, handle="marta_r", platform="x"):
    return IdentitySuggestion.objects.create(
        customer=customer,
        platform=platform,
        handle=handle,
        display_name="Marta Ruiz",
        reason="same name and city",
        score=0.8,
    )


def test_accept_links_with_support_consent_and_closes_rival_suggestions(make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    customer = make_customer()
    rival = _pending(make_customer())
    suggestion = _pending(customer)
    # when
    identity = suggestion_accept(
        suggestion=suggestion, actor=agent, consent_text="Agreed in support chat #412."
    )
    # then
    assert identity.customer == customer and identity.handle == "marta_r"
    assert identity.display_name == "Marta Ruiz"
    consent = ConsentRecord.objects.get(identity=identity)
    assert consent.touchpoint == "support_form"
    assert consent.text == "Agreed in support chat #412."
    assert consent.actor == agent
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted"
    assert suggestion.decided_by == agent and suggestion.decided_at is not None
    rival.refresh_from_db()
    assert rival.status == "rejected"
    entry = AuditEntry.objects.get(action="identity_suggestion.accept")
    assert entry.actor == agent and entry.data["also_rejected"] == [rival.pk]
    assert author_resolve(author=AuthorRef(platform="x", handle="@marta_r")) == customer


@pytest.mark.parametrize("text", ["", "   "])
def test_accept_requires_the_consent_text(make_user, text):
    # given
    suggestion = _pending(make_customer())
    # when
    with pytest.raises(ValidationError) as exc:
        suggestion_accept(suggestion=suggestion, actor=make_user(Role.ADMIN), consent_text=text)
    # then
    assert "consent_text" in exc.value.message_dict
    suggestion.refresh_from_db()
    assert suggestion.status == "pending"
    assert not SocialIdentity.objects.exists()


def test_decided_suggestions_cannot_be_decided_again(make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    suggestion = _pending(make_customer())
    suggestion_reject(suggestion=suggestion, actor=agent)
    # when / then
    with pytest.raises(ValidationError) as exc:
        suggestion_accept(suggestion=suggestion, actor=agent, consent_text="ok")
    assert "already decided" in exc.value.message_dict["status"][0]
    with pytest.raises(ValidationError):
        suggestion_reject(suggestion=suggestion, actor=agent)
    assert not SocialIdentity.objects.exists()


def test_accept_refuses_a_handle_meanwhile_linked_to_someone_else(make_user):
    # given
    suggestion = _pending(make_customer())
    link(make_customer(), "x", "marta_r")
    # when
    with pytest.raises(ValidationError) as exc:
        suggestion_accept(suggestion=suggestion, actor=make_user(Role.ADMIN), consent_text="ok")
    # then nothing changed
    assert "handle" in exc.value.message_dict
    suggestion.refresh_from_db()
    assert suggestion.status == "pending"


def test_reject_records_who_and_when(make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    suggestion = _pending(make_customer())
    # when
    result = suggestion_reject(suggestion=suggestion, actor=agent)
    # then
    assert result.status == "rejected" and suggestion.status == "rejected"
    assert result.decided_by == agent and result.decided_at is not None
    assert not SocialIdentity.objects.exists()
    assert AuditEntry.objects.filter(action="identity_suggestion.reject").count() == 1


# --- Helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("José Martínez", "jose  MARTINEZ"),
        ("Martínez, José", "José Martínez"),
        ("Дмитрий Орлов", "Dmitry Orlov"),
        ("Дмитрий Орлов", "Dmitriy Orlov"),
        ("Юлия Харитонова", "Yuliya Haritonova"),
        ("Alice 🌸 Smith", "alice smith"),
    ],
)
def test_name_key_ignores_case_accents_order_and_script(a, b):
    assert name_key(a) == name_key(b)


def test_location_cities():
    assert location_cities("Sevilla, España") == ["Sevilla", "España"]
    assert location_cities("Москва") == ["Москва"]
    assert location_cities("📍 Rostov-on-Don | Russia") == ["Rostov-on-Don", "Russia"]
    assert location_cities("") == []
