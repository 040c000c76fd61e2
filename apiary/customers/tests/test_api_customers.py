from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import (
    Customer,
    IdentitySuggestion,
    Order,
    Segment,
    SocialIdentity,
)
from apiary.customers.segments import segments_ensure_defaults
from apiary.customers.services.customers import custom_field_define, customer_create
from apiary.customers.services.identities import identity_link

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT)


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALYST)


def _order(customer, ext, total, currency="EUR", at=T0):
    return Order.objects.create(
        external_id=ext, customer=customer, ordered_at=at, currency=currency, total=Decimal(total)
    )


def _fields(res) -> dict:
    assert res.status_code == 422, res.content
    body = res.json()
    assert body["code"] == "validation_error"
    return {e["field"]: e["message"] for e in body["errors"]}


# --- Customers -----------------------------------------------------------------------------------


def test_create_and_read_a_customer(api, agent, analyst):
    # when
    res = api(agent).post(
        "/api/v1/customers",
        {"email": "Rosa@Example.com", "name": "Rosa", "country": "mx", "tags": ["VIP"]},
    )
    # then
    assert res.status_code == 201, res.content
    body = res.json()
    assert (body["email"], body["country"], body["tags"]) == ("rosa@example.com", "MX", ["vip"])
    got = api(analyst).get(f"/api/v1/customers/{body['id']}")
    assert got.status_code == 200
    assert got.json()["name"] == "Rosa"
    assert AuditEntry.objects.filter(
        action="customer.view", actor=analyst, target_id=str(body["id"])
    ).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "nickname": "y"}, "nickname"),
        ({"country": "XX"}, "country"),
        ({"email": "nope"}, "email"),
        ({"lifecycle_stage": "vip"}, "lifecycle_stage"),
        ({"tags": "vip"}, "tags"),
        ({"organisation_id": 424242}, "organisation"),
        ({"custom_fields": {"unknown": 1}}, "custom_fields"),
    ],
)
def test_create_bad_input_is_a_422_naming_the_field(api, agent, payload, field):
    res = api(agent).post("/api/v1/customers", payload)
    assert field in _fields(res)
    assert not Customer.objects.exists()


def test_list_with_filters_sort_and_value_annotations(api, analyst):
    # given
    ana = customer_create(name="Ana", country="ES")
    ben = customer_create(name="Ben", country="GB")
    customer_create(name="Cid", country="ES")
    _order(ana, "a1", "10.00", at=timezone.now() - timedelta(days=2))
    _order(ben, "b1", "99.50")
    _order(ben, "b2", "0.50")
    identity_link(
        customer=ana,
        platform="bluesky",
        handle="ana.bsky.social",
        touchpoint="api",
        consent_text="ok",
    )
    client = api(analyst)
    # when
    by_total = client.get("/api/v1/customers?sort=-orders_total").json()
    social = client.get("/api/v1/customers?social=true&country=ES").json()
    recent = client.get("/api/v1/customers?ordered_within_days=30").json()
    on_platforms = client.get("/api/v1/customers?platforms=x,bluesky").json()
    repeated = client.get("/api/v1/customers?country=ES&country=GB&limit=2&offset=1").json()
    # then
    assert [c["name"] for c in by_total["items"]] == ["Ben", "Ana", "Cid"]
    assert by_total["items"][0]["orders_total"] == "100.00"
    assert by_total["items"][0]["orders_count"] == 2
    assert [c["name"] for c in social["items"]] == ["Ana"]
    assert social["items"][0]["identity_count"] == 1
    assert [c["name"] for c in recent["items"]] == ["Ana"]
    assert [c["name"] for c in on_platforms["items"]] == ["Ana"]
    assert repeated["count"] == 3
    assert [c["name"] for c in repeated["items"]] == ["Ben", "Cid"]


def test_list_sort_by_last_order_puts_customers_without_orders_last(api, analyst):
    a = customer_create(name="A")
    b = customer_create(name="B")
    customer_create(name="C")
    _order(a, "x1", "1", at=T0)
    _order(b, "x2", "1", at=T0 + timedelta(days=1))
    client = api(analyst)
    newest = client.get("/api/v1/customers?sort=-last_order_at").json()["items"]
    oldest = client.get("/api/v1/customers?sort=last_order_at").json()["items"]
    assert [c["name"] for c in newest] == ["B", "A", "C"]
    assert [c["name"] for c in oldest] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("platforms=myspace", "platforms"),
        ("country=Spain", "country"),
        ("ordered_within_days=0", "ordered_within_days"),
        ("sort=shoe_size", "sort"),
        ("limit=500", "limit"),
        ("limit=0", "limit"),
        ("social=perhaps", "social"),
        ("created_after=yesterday", "created_after"),
    ],
)
def test_list_bad_query_is_a_422_naming_the_parameter(api, analyst, query, field):
    res = api(analyst).get(f"/api/v1/customers?{query}")
    assert any(f == field or f.startswith(f"{field}.") for f in _fields(res)), res.json()


def test_list_by_segment_slug_and_unknown_segment(api, analyst):
    segments_ensure_defaults()
    ana = customer_create(name="Ana")
    customer_create(name="Ben")
    identity_link(
        customer=ana,
        platform="bluesky",
        handle="ana.bsky.social",
        touchpoint="api",
        consent_text="ok",
    )
    res = api(analyst).get("/api/v1/customers?segment=customers-on-bluesky")
    assert [c["name"] for c in res.json()["items"]] == ["Ana"]
    assert api(analyst).get("/api/v1/customers?segment=nope").status_code == 404


def test_patch_and_delete(api, agent, analyst):
    # given
    custom_field_define(key="tier", label="Tier", type="choice", choices=["gold", "silver"])
    customer = customer_create(name="Pat", custom_fields={"tier": "gold"})
    url = f"/api/v1/customers/{customer.pk}"
    # when
    res = api(agent).patch(url, {"city": "Porto", "country": "pt", "custom_fields": {"tier": None}})
    # then
    assert res.status_code == 200, res.content
    assert (res.json()["city"], res.json()["country"]) == ("Porto", "PT")
    assert res.json()["custom_fields"] == {}
    assert "country" in _fields(api(agent).patch(url, {"country": "PX"}))
    assert "colour" in _fields(api(agent).patch(url, {"colour": "red"}))
    assert api(analyst).patch(url, {"city": "Lisbon"}).status_code == 403
    assert api(analyst).delete(url).status_code == 403
    assert api(agent).delete(url).status_code == 204
    assert api(agent).get(url).status_code == 404


def test_access_by_role(api, make_user):
    customer = customer_create(name="Q")
    url = f"/api/v1/customers/{customer.pk}"
    member = make_user(Role.MEMBER)
    manager = make_user(Role.COMMUNITY_MANAGER)
    assert api().get(url).status_code == 401
    assert api(member).get(url).status_code == 403
    assert api(member).get("/api/v1/customers").status_code == 403
    assert api(manager).get(url).status_code == 200
    assert api(manager).patch(url, {"name": "R"}).status_code == 403
    assert api(manager).post("/api/v1/customers", {"name": "S"}).status_code == 403
    assert api(manager).get(f"{url}/export").status_code == 403
    assert api(make_user(Role.CARE_AGENT)).get(f"{url}/export").status_code == 403
    assert api(make_user(Role.ANALYST)).get(url).status_code == 200
    assert api(member).get("/api/v1/customers/999999").status_code == 403
    assert api(manager).get("/api/v1/customers/999999").status_code == 404


def test_merged_customer_url_answers_with_the_record_it_went_into(api, analyst):
    target = customer_create(name="Target")
    source = customer_create(name="Source")
    Customer.objects.filter(pk=source.pk).update(merged_into=target, deleted_at=timezone.now())
    res = api(analyst).get(f"/api/v1/customers/{source.pk}")
    assert res.json()["id"] == target.pk


def test_value_endpoint_money_as_strings(api, analyst):
    customer = customer_create(name="V")
    _order(customer, "v1", "10.10", "EUR")
    _order(customer, "v2", "20.20", "EUR")
    _order(customer, "v3", "5.00", "USD")
    body = api(analyst).get(f"/api/v1/customers/{customer.pk}/value").json()
    assert body["orders"] == 3
    assert body["by_currency"] == [
        {"currency": "EUR", "orders": 2, "total": "30.30", "aov": "15.15"},
        {"currency": "USD", "orders": 1, "total": "5.00", "aov": "5.00"},
    ]


# --- Identities ----------------------------------------------------------------------------------


def test_link_list_and_withdraw_identities(api, agent, analyst):
    # given
    customer = customer_create(name="Ida")
    base = f"/api/v1/customers/{customer.pk}/identities"
    # when
    res = api(agent).post(
        base,
        {
            "platform": "mastodon",
            "handle": "https://mastodon.social/@Ida",
            "touchpoint": "support_form",
            "consent_text": "Ida agreed on the phone.",
            "followers": 120,
        },
    )
    # then
    assert res.status_code == 201, res.content
    identity = res.json()
    assert identity["handle"] == "ida@mastodon.social"
    assert identity["consents"][0]["text"] == "Ida agreed on the phone."
    listed = api(analyst).get(base).json()
    assert [i["handle"] for i in listed["items"]] == ["ida@mastodon.social"]
    withdrawn = api(agent).post(f"{base}/{identity['id']}/withdraw?touchpoint=support_form")
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["is_active"] is False
    assert [c["action"] for c in withdrawn.json()["consents"]] == ["withdrawn", "given"]
    active = api(analyst).get(f"{base}?include_withdrawn=false").json()
    assert active["count"] == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"platform": "myspace", "handle": "a", "consent_text": "ok"}, "platform"),
        ({"platform": "x", "handle": "a", "consent_text": "ok", "extra": 1}, "extra"),
        ({"platform": "x", "handle": "a"}, "consent_text"),
        (
            {
                "platform": "x",
                "handle": "https://bsky.app/profile/a.bsky.social",
                "consent_text": "ok",
            },
            "handle",
        ),
    ],
)
def test_link_bad_input_names_the_field(api, agent, payload, field):
    customer = customer_create(name="J")
    res = api(agent).post(f"/api/v1/customers/{customer.pk}/identities", payload)
    assert field in _fields(res)
    assert not SocialIdentity.objects.exists()


def test_withdraw_an_identity_of_another_customer_is_a_404(api, agent):
    mine = customer_create(name="Mine")
    theirs = customer_create(name="Theirs")
    identity = identity_link(
        customer=theirs, platform="x", handle="theirs", touchpoint="api", consent_text="ok"
    )
    res = api(agent).post(f"/api/v1/customers/{mine.pk}/identities/{identity.pk}/withdraw")
    assert res.status_code == 404


# --- Timeline ------------------------------------------------------------------------------------


def test_timeline_pages_with_the_cursor(api, analyst):
    # given
    customer = customer_create(name="Tim")
    for i in range(5):
        _order(customer, f"t{i}", "1", at=T0 + timedelta(hours=i // 2))
    url = f"/api/v1/customers/{customer.pk}/timeline"
    client = api(analyst)
    # when
    refs, before = [], None
    while True:
        query = "limit=2" + (f"&before={quote(before)}" if before else "")
        body = client.get(f"{url}?{query}").json()
        refs += [e["ref"] for e in body["items"]]
        before = body["next_before"]
        if before is None:
            break
    # then
    assert len(refs) == 5 == len(set(refs))
    only = client.get(f"{url}?kinds=consent").json()
    assert only == {"items": [], "next_before": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kinds=order,gossip", "kinds"),
        ("before=not-a-date", "before"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ],
)
def test_timeline_bad_query_names_the_field(api, analyst, query, field):
    customer = customer_create(name="Bad")
    res = api(analyst).get(f"/api/v1/customers/{customer.pk}/timeline?{query}")
    assert field in _fields(res)


# --- Privacy -------------------------------------------------------------------------------------


def test_export_and_erase_for_admins(api, admin_user):
    # given
    customer = customer_create(name="Erin", email="erin@example.com")
    _order(customer, "e1", "12.00")
    url = f"/api/v1/customers/{customer.pk}"
    # when
    export = api(admin_user).get(f"{url}/export")
    wrong = api(admin_user).post(f"{url}/erase", {"confirm": "1234567"})
    erased = api(admin_user).post(f"{url}/erase", {"confirm": str(customer.pk)})
    again = api(admin_user).post(f"{url}/erase", {"confirm": str(customer.pk)})
    # then
    assert export.status_code == 200
    assert export.json()["customer"]["email"] == "erin@example.com"
    assert export.json()["orders"][0]["total"] == "12.00"
    assert "confirm" in _fields(wrong)
    assert erased.status_code == 200, erased.content
    assert (erased.json()["email"], erased.json()["name"]) == (None, "")
    assert erased.json()["erased_at"] is not None
    assert "customer" in _fields(again)
    assert Order.objects.get(external_id="e1").customer_id == customer.pk


# --- Merge ---------------------------------------------------------------------------------------


def test_merge_preview_then_merge(api, agent):
    # given
    source = customer_create(name="Sam", email="sam@old.example", city="Oslo")
    target = customer_create(name="Samuel")
    _order(source, "m1", "5")
    base = f"/api/v1/customers/{source.pk}"
    # when
    preview = api(agent).get(f"{base}/merge-preview?into={target.pk}")
    merged = api(agent).post(f"{base}/merge", {"into": target.pk})
    # then
    assert preview.status_code == 200, preview.content
    assert preview.json()["move"]["orders"] == 1
    assert merged.status_code == 200, merged.content
    assert merged.json()["id"] == target.pk
    assert merged.json()["city"] == "Oslo"
    assert Order.objects.get(external_id="m1").customer_id == target.pk
    assert api(agent).post(f"{base}/merge", {"into": target.pk}).status_code == 409
    self_merge = api(agent).post(f"/api/v1/customers/{target.pk}/merge", {"into": target.pk})
    assert "into" in _fields(self_merge)
    assert api(agent).get(f"{base}/merge-preview").status_code == 422


# --- Segments ------------------------------------------------------------------------------------


def test_segment_crud_with_live_counts(api, agent, make_user):
    # given
    segments_ensure_defaults()
    ana = customer_create(name="Ana", country="ES")
    customer_create(name="Ben", country="ES")
    client = api(agent)
    # when
    created = client.post("/api/v1/segments", {"name": "Spain", "filters": {"country": ["es"]}})
    # then
    assert created.status_code == 201, created.content
    seg = created.json()
    assert (seg["slug"], seg["filters"], seg["count"]) == ("spain", {"country": ["ES"]}, 2)
    listed = client.get("/api/v1/segments").json()
    assert listed["count"] == 5
    social = next(s for s in listed["items"] if s["slug"] == "social-customers")
    assert social["count"] == 0
    identity_link(customer=ana, platform="x", handle="ana_es", touchpoint="api", consent_text="ok")
    assert client.get(f"/api/v1/segments/{social['id']}").json()["count"] == 1
    members = client.get(f"/api/v1/segments/{seg['id']}/customers").json()
    assert [c["name"] for c in members["items"]] == ["Ana", "Ben"]
    patched = client.patch(f"/api/v1/segments/{seg['id']}", {"filters": {"social": True}})
    assert patched.json()["count"] == 1
    bad = client.patch(f"/api/v1/segments/{seg['id']}", {"filters": {"platforms": ["aol"]}})
    assert "filters.platforms" in _fields(bad)
    assert "colour" in _fields(client.post("/api/v1/segments", {"name": "x", "colour": 1}))
    assert api(make_user(Role.MEMBER)).get("/api/v1/segments").status_code == 403
    assert client.delete(f"/api/v1/segments/{seg['id']}").status_code == 204
    assert not Segment.objects.filter(slug="spain").exists()


# --- Review queue --------------------------------------------------------------------------------


def test_review_queue_accept_and_reject(api, agent, analyst):
    # given
    customer = customer_create(name="Olga", city="Kazan")
    keep = IdentitySuggestion.objects.create(
        customer=customer, platform="vk", handle="olga_k", reason="same name and city", score=0.9
    )
    drop = IdentitySuggestion.objects.create(
        customer=customer, platform="x", handle="olga_x", reason="handle variant", score=0.5
    )
    # when
    queue = api(analyst).get("/api/v1/identity-suggestions").json()
    denied = api(analyst).post(f"/api/v1/identity-suggestions/{keep.pk}/reject")
    missing_text = api(agent).post(f"/api/v1/identity-suggestions/{keep.pk}/accept", {})
    accepted = api(agent).post(
        f"/api/v1/identity-suggestions/{keep.pk}/accept",
        {"consent_text": "Olga confirmed in chat."},
    )
    rejected = api(agent).post(f"/api/v1/identity-suggestions/{drop.pk}/reject")
    twice = api(agent).post(f"/api/v1/identity-suggestions/{drop.pk}/reject")
    # then
    assert [s["handle"] for s in queue["items"]] == ["olga_k", "olga_x"]
    assert queue["items"][0]["customer"]["name"] == "Olga"
    assert denied.status_code == 403
    assert "consent_text" in _fields(missing_text)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    assert SocialIdentity.objects.filter(customer=customer, handle="olga_k").exists()
    assert rejected.json()["status"] == "rejected"
    assert twice.status_code == 409
    assert api(analyst).get("/api/v1/identity-suggestions").json()["count"] == 0
    done = api(analyst).get("/api/v1/identity-suggestions?status=rejected").json()
    assert [s["handle"] for s in done["items"]] == ["olga_x"]
    assert "status" in _fields(api(analyst).get("/api/v1/identity-suggestions?status=maybe"))


# --- Organisations and custom fields -------------------------------------------------------------


def test_organisations_and_custom_fields(api, agent, admin_user, analyst):
    org = api(agent).post("/api/v1/organisations", {"name": "Acme", "country": "de"})
    assert org.status_code == 201, org.content
    assert org.json()["country"] == "DE"
    assert "name" in _fields(api(agent).post("/api/v1/organisations", {"name": "ACME"}))
    listed = api(analyst).get("/api/v1/organisations?search=acm").json()
    assert [o["name"] for o in listed["items"]] == ["Acme"]
    linked = api(agent).post(
        "/api/v1/customers", {"name": "Worker", "organisation_id": org.json()["id"]}
    )
    assert linked.json()["organisation"]["name"] == "Acme"

    field = {"key": "tier", "label": "Tier", "type": "choice", "choices": ["gold"]}
    assert api(agent).post("/api/v1/custom-fields", field).status_code == 403
    assert api(admin_user).post("/api/v1/custom-fields", field).status_code == 201
    bad = api(admin_user).post("/api/v1/custom-fields", {**field, "type": "colour"})
    assert "type" in _fields(bad)
    fields = api(analyst).get("/api/v1/custom-fields").json()
    assert [f["key"] for f in fields["items"]] == ["tier"]


def test_only_editors_change_shared_segments(api, make_user):
    # given: an analyst reads customers but does not edit them
    from apiary.accounts.models import Role

    analyst = make_user(Role.ANALYST)
    agent = make_user(Role.CARE_AGENT)
    body = {"name": "Bluesky fans", "filters": {"platforms": ["bluesky"]}}
    # then
    assert api(analyst).post("/api/v1/segments", body).status_code == 403
    created = api(agent).post("/api/v1/segments", body)
    assert created.status_code == 201
    segment_id = created.json()["id"]
    assert api(analyst).get("/api/v1/segments").status_code == 200
    assert api(analyst).delete(f"/api/v1/segments/{segment_id}").status_code == 403
