import itertools
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import ConsentRecord, Customer, SocialIdentity
from apiary.customers.services import identities
from apiary.customers.services.identities import identity_consent_withdraw, identity_link

pytestmark = pytest.mark.django_db

CONSENT = "I agree that Northwind links my social accounts to my customer profile."
_seq = itertools.count(1)


def make_customer(**fields) -> Customer:
    n = next(_seq)
    fields.setdefault("email", f"customer{n}@example.com")
    fields.setdefault("name", f"Customer {n}")
    return Customer.objects.create(**fields)


def link(customer, platform="bluesky", handle="alice.bsky.social", **kw):
    kw.setdefault("touchpoint", "checkout")
    kw.setdefault("consent_text", CONSENT)
    return identity_link(customer=customer, platform=platform, handle=handle, **kw)


def test_link_normalises_the_handle_and_records_consent_and_audit(make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    customer = make_customer()
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # when
    identity = link(
        customer,
        handle="https://bsky.app/profile/Alice.bsky.social",
        touchpoint="support_form",
        actor=agent,
        display_name="  Alice   Smith ",
        followers=120,
        verified=True,
        at=at,
    )
    # then
    assert identity.handle == "alice.bsky.social"
    assert identity.profile_url == "https://bsky.app/profile/alice.bsky.social"
    assert identity.display_name == "Alice Smith"
    assert identity.followers == 120 and identity.verified
    assert identity.created_at == at and identity.is_active
    consent = ConsentRecord.objects.get(identity=identity)
    assert consent.action == ConsentRecord.Action.GIVEN
    assert consent.touchpoint == "support_form"
    assert consent.text == CONSENT
    assert consent.at == at
    assert consent.actor == agent
    entry = AuditEntry.objects.get(action="identity.link")
    assert entry.actor == agent
    assert entry.target_type == "customer" and entry.target_id == str(customer.pk)
    assert entry.data["handle"] == "alice.bsky.social" and entry.data["created"] is True


def test_relinking_the_same_handle_refreshes_it_and_records_new_consent():
    # given
    customer = make_customer()
    first = link(customer, handle="alice.bsky.social", followers=10, verified=True)
    # when
    again = link(
        customer,
        handle="@Alice.bsky.social",
        touchpoint="community_profile",
        consent_text="Show my Bluesky account on my profile.",
        display_name="Alice S.",
        followers=25,
    )
    # then one identity, two consents, and what the form did not ask about is kept
    assert again.pk == first.pk
    assert SocialIdentity.objects.filter(customer=customer).count() == 1
    again.refresh_from_db()
    assert again.display_name == "Alice S." and again.followers == 25 and again.verified
    texts = list(ConsentRecord.objects.filter(identity=again).values_list("touchpoint", "text"))
    assert ("community_profile", "Show my Bluesky account on my profile.") in texts
    assert len(texts) == 2
    assert AuditEntry.objects.filter(action="identity.link").count() == 2


def test_a_handle_linked_to_another_customer_is_refused():
    # given
    owner = make_customer()
    other = make_customer()
    link(owner, platform="x", handle="@Alice")
    # when
    with pytest.raises(ValidationError) as exc:
        link(other, platform="x", handle="https://twitter.com/alice")
    # then
    assert "already linked to another customer" in exc.value.message_dict["handle"][0]
    assert not SocialIdentity.objects.filter(customer=other).exists()
    assert ConsentRecord.objects.count() == 1


def test_a_lost_race_on_the_unique_handle_is_a_validation_error_not_a_500(monkeypatch):
    # given another customer holds the handle, but our pre-check does not see it (as if the
    # other transaction committed between our check and our insert)
    owner = make_customer()
    late = make_customer()
    link(owner, platform="telegram", handle="alice_smith")
    real = identities._active_identity
    calls = []

    def blind_first(platform, handle):
        calls.append(handle)
        return None if len(calls) == 1 else real(platform, handle)

    monkeypatch.setattr(identities, "_active_identity", blind_first)
    # when the insert hits the real partial unique index
    with pytest.raises(ValidationError) as exc:
        link(late, platform="telegram", handle="@Alice_Smith")
    # then
    assert "already linked" in exc.value.message_dict["handle"][0]
    assert len(calls) == 2
    assert SocialIdentity.objects.filter(platform="telegram").count() == 1


def test_a_lost_race_against_the_same_customer_refreshes_instead(monkeypatch):
    # given
    customer = make_customer()
    first = link(customer, platform="vk", handle="alice")
    real = identities._active_identity
    calls = []

    def blind_first(platform, handle):
        calls.append(handle)
        return None if len(calls) == 1 else real(platform, handle)

    monkeypatch.setattr(identities, "_active_identity", blind_first)
    # when
    again = link(customer, platform="vk", handle="vk.com/alice", followers=7)
    # then
    assert again.pk == first.pk and again.followers == 7
    assert ConsentRecord.objects.filter(identity=first).count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"platform": "myspace"}, "platform", "not a valid choice"),
        ({"touchpoint": "carrier_pigeon"}, "touchpoint", "not a valid choice"),
        ({"handle": "https://mastodon.social/@alice"}, "handle", "looks like a Mastodon"),
        ({"handle": ""}, "handle", "Enter a handle"),
        ({"consent_text": "   "}, "consent_text", "text the customer agreed to"),
        ({"profile_url": "javascript:alert(1)"}, "profile_url", "valid URL"),
        ({"followers": -1}, "followers", "zero or more"),
        ({"display_name": "x" * 201}, "display_name", "200"),
    ],
)
def test_invalid_links_name_the_field(kwargs, field, fragment):
    # given
    customer = make_customer()
    # when
    with pytest.raises(ValidationError) as exc:
        link(customer, **kwargs)
    # then
    assert fragment in exc.value.message_dict[field][0]
    assert not SocialIdentity.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert not AuditEntry.objects.filter(action="identity.link").exists()


@pytest.mark.parametrize(
    "state",
    [{"deleted_at": timezone.now()}, {"erased_at": timezone.now()}],
)
def test_links_to_deleted_or_erased_customers_are_refused(state):
    # given
    customer = make_customer(**state)
    # when
    with pytest.raises(ValidationError) as exc:
        link(customer)
    # then
    assert "customer" in exc.value.message_dict


def test_withdrawal_records_consent_and_audit_and_is_idempotent(make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    customer = make_customer()
    identity = link(customer)
    at = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    # when
    withdrawn = identity_consent_withdraw(
        identity=identity, touchpoint="support_form", actor=agent, at=at
    )
    again = identity_consent_withdraw(identity=identity, touchpoint="api", actor=agent)
    # then
    assert withdrawn.withdrawn_at == at and not withdrawn.is_active
    assert again.withdrawn_at == at
    assert identity.withdrawn_at == at
    records = ConsentRecord.objects.filter(identity=identity)
    assert records.filter(action=ConsentRecord.Action.WITHDRAWN).count() == 1
    assert records.get(action=ConsentRecord.Action.WITHDRAWN).touchpoint == "support_form"
    assert AuditEntry.objects.filter(action="identity.withdraw").count() == 1


def test_withdraw_refuses_an_unknown_touchpoint():
    # given
    identity = link(make_customer())
    # when
    with pytest.raises(ValidationError) as exc:
        identity_consent_withdraw(identity=identity, touchpoint="nowhere")
    # then
    assert "touchpoint" in exc.value.message_dict
    identity.refresh_from_db()
    assert identity.is_active


def test_linking_again_after_withdrawal_starts_a_fresh_identity():
    # given
    customer = make_customer()
    old = link(customer)
    identity_consent_withdraw(identity=old, touchpoint="api")
    # when
    new = link(customer, touchpoint="signup", consent_text="Yes, link it again.")
    # then
    assert new.pk != old.pk and new.is_active
    old.refresh_from_db()
    assert not old.is_active
    assert list(new.consents.values_list("text", flat=True)) == ["Yes, link it again."]


def test_after_withdrawal_another_customer_may_link_the_handle():
    # given
    first = make_customer()
    second = make_customer()
    identity_consent_withdraw(
        identity=link(first, platform="reddit", handle="u/alice"), touchpoint="api"
    )
    # when
    identity = link(second, platform="reddit", handle="alice")
    # then
    assert identity.customer == second
