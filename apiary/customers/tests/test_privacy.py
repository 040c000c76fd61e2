import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.http import Http404

from apiary.accounts.models import AuditEntry, Role
from apiary.customers import access
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    IdentitySuggestion,
    Order,
    SocialIdentity,
)
from apiary.customers.segments import segments_ensure_defaults
from apiary.customers.services import privacy
from apiary.customers.services.customers import customer_create, organisation_create
from apiary.customers.services.identities import identity_consent_withdraw, identity_link

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def lena(make_user):
    """A social customer with everything a person can leave behind in the CRM."""
    org = organisation_create(name="Lena's Bakery", country="DE")
    customer = customer_create(
        name="Lena Schmidt",
        email="lena@example.de",
        external_id="shop-lena",
        phone="+49 30 123456",
        country="DE",
        city="Berlin",
        region="Berlin",
        tags=["vip"],
        organisation=org,
    )
    user = make_user(Role.MEMBER, email="lena.member@example.de")
    Customer.objects.filter(pk=customer.pk).update(user=user)
    customer.refresh_from_db()
    identity_link(
        customer=customer,
        platform="bluesky",
        handle="https://bsky.app/profile/Lena.bsky.social",
        touchpoint="checkout",
        consent_text="I agree that Northwind links my Bluesky account.",
        at=T0,
    )
    ig = identity_link(
        customer=customer,
        platform="instagram",
        handle="@lena_bakes",
        touchpoint="signup",
        consent_text="Link my Instagram.",
        at=T0 + timedelta(days=1),
    )
    identity_consent_withdraw(identity=ig, touchpoint="support_form", at=T0 + timedelta(days=2))
    Order.objects.create(
        external_id="o-1",
        customer=customer,
        ordered_at=T0 - timedelta(days=5),
        currency="EUR",
        total=Decimal("42.50"),
        items=[{"sku": "ESP", "name": "Espresso beans", "quantity": 2, "price": "21.25"}],
    )
    Order.objects.create(
        external_id="o-2",
        customer=customer,
        ordered_at=T0 + timedelta(days=3),
        currency="USD",
        total=Decimal("10.00"),
    )
    IdentitySuggestion.objects.create(
        customer=customer,
        platform="x",
        handle="lenaschmidt",
        display_name="Lena Schmidt",
        location="Berlin",
        reason="same display name and city",
        score=0.8,
    )
    return customer


def test_export_holds_everything_and_is_plain_json(lena, admin_user):
    # given
    segments_ensure_defaults()
    seen = []

    def extra(*, customer, customer_ids):
        seen.append(customer_ids)
        return {"posts": 3, "at": T0}

    privacy.register_exporter("community", extra)
    try:
        # when
        data = privacy.customer_export(customer=lena, actor=admin_user)
    finally:
        privacy._EXPORTERS.pop("community")
    # then
    assert json.loads(json.dumps(data)) == data  # nothing but JSON types
    assert data["customer"]["email"] == "lena@example.de"
    assert data["customer"]["phone"] == "+49 30 123456"
    assert data["organisation"]["name"] == "Lena's Bakery"
    identities = {i["platform"]: i for i in data["identities"]}
    assert identities["bluesky"]["handle"] == "lena.bsky.social"
    assert identities["bluesky"]["consents"][0]["text"].startswith("I agree that Northwind")
    assert [c["action"] for c in identities["instagram"]["consents"]] == ["given", "withdrawn"]
    orders = {o["external_id"]: o for o in data["orders"]}
    assert orders["o-1"]["total"] == "42.50"
    assert orders["o-1"]["items"][0]["name"] == "Espresso beans"
    assert orders["o-1"]["ordered_at"].startswith("2025-03-27T09:30:00")
    assert data["suggestions"][0]["handle"] == "lenaschmidt"
    slugs = {s["slug"] for s in data["segments"]}
    assert {"social-customers", "customers-on-bluesky"} <= slugs
    assert "ordered-90-days-no-social" not in slugs
    assert "customer.create" in {a["action"] for a in data["audit"]}
    kinds = [e["kind"] for e in data["timeline"]]
    assert kinds.count("order") == 2 and kinds.count("consent") == 3
    assert data["value"]["orders"] == 2
    assert data["extra"]["community"]["posts"] == 3
    assert seen == [[lena.pk]]
    assert AuditEntry.objects.filter(
        action="customer.export", target_id=str(lena.pk), actor=admin_user
    ).exists()


def test_export_includes_records_merged_into_the_customer(lena, admin_user):
    # given
    old = customer_create(name="L. Schmidt", email="old-lena@example.de")
    Order.objects.create(
        external_id="o-old", customer=old, ordered_at=T0, currency="EUR", total=Decimal("1")
    )
    Customer.objects.filter(pk=old.pk).update(merged_into=lena)
    # when
    data = privacy.customer_export(customer=lena, actor=admin_user)
    # then
    assert [m["email"] for m in data["merged_records"]] == ["old-lena@example.de"]
    assert "o-old" in {o["external_id"] for o in data["orders"]}


def test_erase_removes_personal_data_everywhere_and_keeps_revenue(lena, admin_user):
    # given
    revenue_before = Order.objects.aggregate(t=Sum("total"))["t"]
    erased_ids = []
    privacy.register_eraser(dummy := lambda **kw: erased_ids.append(kw["customer_ids"]))
    try:
        # when
        customer = privacy.customer_erase(customer=lena, actor=admin_user)
    finally:
        privacy._ERASERS.remove(dummy)
    # then
    assert customer.erased_at is not None
    assert (customer.name, customer.email, customer.phone) == ("", None, "")
    assert (customer.external_id, customer.city, customer.region) == (None, "", "")
    assert (customer.tags, customer.custom_fields, customer.user_id) == ([], {}, None)
    assert not SocialIdentity.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert not IdentitySuggestion.objects.exists()
    assert Order.objects.filter(customer=customer).count() == 2
    assert Order.objects.aggregate(t=Sum("total"))["t"] == revenue_before
    assert erased_ids == [[lena.pk]]
    entry = AuditEntry.objects.get(action="customer.erase")
    assert (entry.actor, entry.target_id) == (admin_user, str(lena.pk))
    logged = entry.summary + json.dumps(entry.data)
    for personal in ("Lena", "lena@example.de", "lena.bsky.social", "lena_bakes", "123456"):
        assert personal not in logged


def test_erase_reaches_records_merged_into_the_customer(lena, admin_user):
    # given
    old = customer_create(name="Lena S.", email="lena.old@example.de", phone="+49 1")
    identity_link(
        customer=old, platform="vk", handle="lena_vk", touchpoint="import", consent_text="ok"
    )
    Customer.objects.filter(pk=old.pk).update(merged_into=lena)
    # when
    privacy.customer_erase(customer=lena, actor=admin_user)
    # then
    old.refresh_from_db()
    assert (old.name, old.email, old.phone, old.erased_at is not None) == ("", None, "", True)
    assert not SocialIdentity.objects.filter(customer=old).exists()


def test_second_erase_is_refused(lena, admin_user):
    privacy.customer_erase(customer=lena, actor=admin_user)
    with pytest.raises(ValidationError) as exc_info:
        privacy.customer_erase(customer=lena, actor=admin_user)
    assert list(exc_info.value.message_dict) == ["customer"]
    assert AuditEntry.objects.filter(action="customer.erase").count() == 1


def test_a_failing_eraser_rolls_the_whole_erasure_back(lena, admin_user):
    def broken(**kwargs):
        raise RuntimeError("mentions store offline")

    privacy.register_eraser(broken)
    try:
        with pytest.raises(RuntimeError):
            privacy.customer_erase(customer=lena, actor=admin_user)
    finally:
        privacy._ERASERS.remove(broken)
    lena.refresh_from_db()
    assert lena.erased_at is None
    assert lena.email == "lena@example.de"
    assert SocialIdentity.objects.count() == 2


# --- Access and the view audit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "view", "edit", "privacy_ok"),
    [
        (Role.ADMIN, True, True, True),
        (Role.CARE_AGENT, True, True, False),
        (Role.COMMUNITY_MANAGER, True, False, False),
        (Role.ANALYST, True, False, False),
        (Role.MEMBER, False, False, False),
    ],
)
def test_every_role_against_every_access_function(make_user, lena, role, view, edit, privacy_ok):
    user = make_user(role)
    checks = [
        (access.customer_for_view, view),
        (access.customer_for_edit, edit),
        (access.customer_for_privacy, privacy_ok),
    ]
    for fn, allowed in checks:
        if allowed:
            assert fn(user=user, customer_id=lena.pk).pk == lena.pk
        else:
            with pytest.raises(PermissionDenied):
                fn(user=user, customer_id=lena.pk)


def test_access_404s_for_deleted_and_follows_merged(make_user, lena):
    analyst = make_user(Role.ANALYST)
    gone = customer_create(name="Gone")
    merged = customer_create(name="Merged")
    Customer.objects.filter(pk=gone.pk).update(deleted_at=T0)
    Customer.objects.filter(pk=merged.pk).update(merged_into=lena)
    with pytest.raises(Http404):
        access.customer_for_view(user=analyst, customer_id=gone.pk)
    assert access.customer_for_view(user=analyst, customer_id=merged.pk).pk == lena.pk
    raw = access.customer_for_view(user=analyst, customer_id=merged.pk, follow_merged=False)
    assert raw.pk == merged.pk


def test_views_are_audited_once_per_user_and_customer_per_window(make_user, lena):
    # given
    analyst = make_user(Role.ANALYST)
    other = make_user(Role.CARE_AGENT)

    def views():
        return AuditEntry.objects.filter(action="customer.view", target_id=str(lena.pk))

    # when
    for _ in range(3):
        access.customer_for_view(user=analyst, customer_id=lena.pk)
    access.customer_for_view(user=other, customer_id=lena.pk)
    access.customer_for_view(user=other, customer_id=lena.pk, audit=False)
    # then
    assert views().filter(actor=analyst).count() == 1
    assert views().filter(actor=other).count() == 1
    # after the window a new look is a new entry
    views().update(at=T0)
    access.customer_for_view(user=analyst, customer_id=lena.pk)
    assert views().filter(actor=analyst).count() == 2


def test_erase_scrubs_personal_data_quoted_in_earlier_audit_entries(admin_user):
    # given: a customer whose identity link and merge were audited with handles and e-mails
    from apiary.accounts.models import AuditEntry
    from apiary.customers.services.customers import customer_create
    from apiary.customers.services.identities import identity_link
    from apiary.customers.services.merge import customer_merge

    keep = customer_create(email="keep@example.com", name="Kept Person")
    twin = customer_create(email="twin@example.com", name="Twin Person")
    identity_link(
        customer=twin,
        platform="bluesky",
        handle="twin.bsky.social",
        touchpoint="checkout",
        consent_text="I agree.",
    )
    customer_merge(source=twin, target=keep, actor=admin_user)
    # when
    from apiary.customers.services.privacy import customer_erase

    customer_erase(customer=keep, actor=admin_user)
    # then: no audit entry about these customers still quotes their data
    entries = AuditEntry.objects.filter(
        target_type="customer", target_id__in=[str(keep.pk), str(twin.pk)]
    )
    dump = repr(list(entries.values("summary", "data")))
    for secret in (
        "twin.bsky.social",
        "twin@example.com",
        "keep@example.com",
        "Twin Person",
        "Kept Person",
    ):
        assert secret not in dump
    assert entries.filter(action="identity.link").exists()
    assert entries.filter(action="customer.erase").exists()
