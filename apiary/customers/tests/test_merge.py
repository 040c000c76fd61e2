import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    IdentitySuggestion,
    Order,
    Organisation,
    SocialIdentity,
)
from apiary.customers.services.identities import identity_consent_withdraw, identity_link
from apiary.customers.services.merge import customer_merge, customer_merge_preview
from apiary.customers.services.resolution import AuthorRef, IdentityIndex, author_resolve

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def make_customer(**fields) -> Customer:
    n = next(_seq)
    fields.setdefault("name", f"Person {n}")
    return Customer.objects.create(**fields)


def make_order(customer, total="10.00", **fields) -> Order:
    n = next(_seq)
    return Order.objects.create(
        external_id=f"o-{n}",
        customer=customer,
        ordered_at=T0 + timedelta(days=n),
        currency="EUR",
        total=Decimal(total),
        **fields,
    )


def link(customer, platform, handle):
    return identity_link(
        customer=customer,
        platform=platform,
        handle=handle,
        touchpoint="checkout",
        consent_text="I agree.",
    )


def suggestion(customer, handle, status="pending"):
    return IdentitySuggestion.objects.create(
        customer=customer, platform="x", handle=handle, reason="similar handle", status=status
    )


@pytest.fixture
def pair(make_user):
    """A duplicate pair: the older shop record (source) and the newer community one (target)."""
    org = Organisation.objects.create(name="Northwind")
    account = make_user(Role.MEMBER, email="ana.member@example.com")
    source = make_customer(
        name="Ana Gómez",
        email="ana@shop.example",
        external_id="shop-17",
        phone="+34 600 000 000",
        city="Sevilla",
        country="ES",
        tags=["vip", "newsletter"],
        custom_fields={"size": "M", "shoe": 38},
        organisation=org,
        user=account,
        lifecycle_stage="customer",
        created_at=T0,
    )
    target = make_customer(
        name="Ana G.",
        email="ana.g@community.example",
        city="sevilla",
        tags=["community"],
        custom_fields={"size": "S"},
        lifecycle_stage="lead",
        created_at=T0 + timedelta(days=200),
    )
    return source, target


def test_preview_lists_what_would_move_fill_and_conflict(pair):
    # given
    source, target = pair
    link(source, "bluesky", "ana.bsky.social")
    withdrawn = link(source, "x", "ana_g")
    identity_consent_withdraw(identity=withdrawn, touchpoint="api")
    make_order(source)
    make_order(source)
    make_order(target)
    suggestion(source, "ana_gomez")
    suggestion(source, "ana_g2")
    suggestion(target, "ana_g2")  # the same candidate is already waiting on the target
    # when
    preview = customer_merge_preview(source=source, target=target)
    # then
    assert preview["move"] == {
        "identities": 2,
        "active_identities": 1,
        "orders": 2,
        "suggestions": 1,
        "duplicate_suggestions": 1,
        "merged_records": 0,
    }
    assert preview["fill"]["external_id"] == "shop-17"
    assert preview["fill"]["phone"] == "+34 600 000 000"
    assert preview["fill"]["country"] == "ES"
    assert preview["fill"]["organisation"] == source.organisation_id
    assert preview["fill"]["user"] == source.user_id
    assert preview["fill"]["created_at"] == T0.isoformat()
    assert "city" not in preview["fill"]  # "Sevilla" vs "sevilla" is no conflict either
    conflicts = {c["field"]: (c["source"], c["target"]) for c in preview["conflicts"]}
    assert conflicts["email"] == ("ana@shop.example", "ana.g@community.example")
    assert conflicts["name"] == ("Ana Gómez", "Ana G.")
    assert conflicts["lifecycle_stage"] == ("customer", "lead")
    assert conflicts["custom_fields.size"] == ("M", "S")
    assert "city" not in conflicts
    assert preview["tags_added"] == ["vip", "newsletter"]
    assert preview["custom_fields_added"] == {"shoe": 38}
    # and nothing was written
    assert Order.objects.filter(customer=source).count() == 2
    assert not AuditEntry.objects.filter(action="customer.merge").exists()


def test_merge_moves_everything_fills_blanks_and_is_audited(pair, admin_user):
    # given
    source, target = pair
    identity = link(source, "bluesky", "ana.bsky.social")
    orders = [make_order(source), make_order(source)]
    kept = suggestion(source, "ana_gomez")
    duplicate = suggestion(source, "ana_g2")
    suggestion(target, "ana_g2")
    earlier = make_customer(merged_into=source, deleted_at=timezone.now())
    # when
    merged = customer_merge(source=source, target=target, actor=admin_user)
    # then the target has the history
    assert merged.pk == target.pk
    identity.refresh_from_db()
    assert identity.customer_id == target.pk
    assert ConsentRecord.objects.filter(identity=identity).count() == 1
    assert set(Order.objects.filter(customer=target).values_list("pk", flat=True)) == {
        o.pk for o in orders
    }
    kept.refresh_from_db()
    assert kept.customer_id == target.pk
    assert not IdentitySuggestion.objects.filter(pk=duplicate.pk).exists()
    assert IdentitySuggestion.objects.filter(customer=target, handle="ana_g2").count() == 1
    earlier.refresh_from_db()
    assert earlier.merged_into_id == target.pk
    # and the blanks are filled while the target wins conflicts
    target.refresh_from_db()
    assert target.name == "Ana G." and target.email == "ana.g@community.example"
    assert target.external_id == "shop-17"
    assert target.phone == "+34 600 000 000" and target.country == "ES"
    assert target.user_id is not None and target.organisation_id is not None
    assert target.created_at == T0
    assert target.tags == ["community", "vip", "newsletter"]
    assert target.custom_fields == {"size": "S", "shoe": 38}
    assert target.lifecycle_stage == "lead"
    # and the source is a tombstone pointing at the target, its unique values freed
    source.refresh_from_db()
    assert source.merged_into_id == target.pk and source.deleted_at is not None
    assert source.email is None and source.external_id is None and source.user_id is None
    # and the audit keeps what the source gave up
    entry = AuditEntry.objects.get(action="customer.merge")
    assert entry.actor == admin_user
    assert entry.target_id == str(target.pk)
    assert entry.data["source_id"] == source.pk
    assert entry.data["source_email"] == "ana@shop.example"
    assert entry.data["source_external_id"] == "shop-17"
    assert entry.data["moved"]["orders"] == 2
    assert entry.data["moved"]["merged_records"] == 1
    assert "external_id" in entry.data["filled"]
    # and the moved identity now resolves to the target
    author = AuthorRef(platform="bluesky", handle="ana.bsky.social")
    assert author_resolve(author=author) == target
    assert IdentityIndex.load().lookup("bluesky", "ana.bsky.social") == target.pk


def test_merge_takes_over_the_source_email_when_the_target_has_none(admin_user):
    # given
    source = make_customer(email="solo@example.com", external_id="ext-1")
    target = make_customer()
    # when
    customer_merge(source=source, target=target, actor=admin_user)
    # then the unique e-mail and external id moved without a constraint error
    target.refresh_from_db()
    assert target.email == "solo@example.com"
    assert target.external_id == "ext-1"
    assert Customer.objects.filter(email="solo@example.com").count() == 1


def test_merge_into_itself_is_refused(admin_user):
    customer = make_customer()
    with pytest.raises(ValidationError) as exc:
        customer_merge_preview(source=customer, target=customer)
    assert "itself" in exc.value.message_dict["target"][0]
    with pytest.raises(ValidationError):
        customer_merge(source=customer, target=customer, actor=admin_user)


@pytest.mark.parametrize(
    ("side", "state", "fragment"),
    [
        ("source", "deleted_at", "deleted"),
        ("source", "erased_at", "erased"),
        ("source", "merged_into", "already merged"),
        ("target", "deleted_at", "deleted"),
        ("target", "erased_at", "erased"),
        ("target", "merged_into", "already merged"),
    ],
)
def test_merging_deleted_erased_or_merged_records_is_refused(admin_user, side, state, fragment):
    # given
    records = {"source": make_customer(), "target": make_customer()}
    make_order(records["source"])
    value = make_customer() if state == "merged_into" else timezone.now()
    setattr(records[side], state, value)
    records[side].save()
    # when
    with pytest.raises(ValidationError) as exc:
        customer_merge(source=records["source"], target=records["target"], actor=admin_user)
    # then
    assert fragment in exc.value.message_dict[side][0]
    assert Order.objects.get().customer_id == records["source"].pk
    assert not AuditEntry.objects.filter(action="customer.merge").exists()


def test_merge_rechecks_the_database_state_not_the_stale_objects(admin_user):
    # given someone merged the source elsewhere after we loaded it
    source = make_customer()
    target = make_customer()
    elsewhere = make_customer()
    Customer.objects.filter(pk=source.pk).update(merged_into=elsewhere, deleted_at=timezone.now())
    # when
    with pytest.raises(ValidationError) as exc:
        customer_merge(source=source, target=target, actor=admin_user)
    # then
    assert "already merged" in exc.value.message_dict["source"][0]


def test_merged_identities_keep_their_active_handle_unique(admin_user):
    # given both records hold different live identities on the same platform
    source = make_customer()
    target = make_customer()
    link(source, "x", "ana_one")
    link(target, "x", "ana_two")
    # when
    customer_merge(source=source, target=target, actor=admin_user)
    # then
    assert set(SocialIdentity.objects.filter(customer=target).values_list("handle", flat=True)) == {
        "ana_one",
        "ana_two",
    }
