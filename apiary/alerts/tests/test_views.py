"""Alerts pages: who may see what, the list and its live rows, the detail with its numbers and
next actions, rules with per-field errors and the preview, webhooks with the secret shown once.
Real database; alerts are raised through ``services.alerts_raise`` on mentions stored by the
real pipeline."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.alerts.models import Alert, AlertEvent, AlertRule, WebhookEndpoint
from apiary.alerts.services import (
    Signal,
    alert_acknowledge,
    alerts_raise,
    webhook_endpoint_create,
)
from apiary.listening.models import Mention

from .conftest import BUY, NEG, post, store

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager(make_user):
    return make_user(Role.CARE_MANAGER, email="lead@example.com", display_name="Lena Lead")


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com", display_name="Ada Agent")


def spike(queries, *, severity="high", observed=42, country="ES", key="spike:test:ES"):
    now = timezone.now()
    store(*[post(NEG, now - timedelta(minutes=1), author_location="Madrid") for _ in range(3)])
    ids = list(Mention.objects.order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():  # alerts_raise runs in its caller's transaction
        [raised] = alerts_raise(
            [
                Signal(
                    kind="crisis_spike",
                    dedup_key=key,
                    severity=severity,
                    title=f"Crisis: negative spike about Northwind in {country}",
                    at=now,
                    explanation={
                        "observed": observed,
                        "baseline": 6.0,
                        "scale": 2.4,
                        "z_score": 15.0,
                        "z_threshold": 4.0,
                        "window_minutes": 5,
                        "baseline_minutes": 30,
                        "min_volume": 10,
                        "peak": observed,
                        "query": "Northwind",
                        "measure": "negative",
                        "country": country,
                    },
                    mention_ids=ids,
                    query_id=queries.brand.pk,
                    country=country,
                    mention_id=ids[0],
                    suggested_actions=["escalate_manager", "reply_template"],
                    replace_explanation=True,
                )
            ]
        )
    return raised.alert


def lead(queries):
    now = timezone.now()
    store(post(BUY, now, author_handle="ana.bsky.social", author_followers=5400))
    m = Mention.objects.latest("pk")
    with transaction.atomic():  # alerts_raise runs in its caller's transaction
        [raised] = alerts_raise(
            [
                Signal(
                    kind="lead",
                    dedup_key=f"lead:test:{m.pk}",
                    severity="medium",
                    title="Lead: @ana.bsky.social wants to buy (Northwind)",
                    at=now,
                    explanation={
                        "followers": 5400,
                        "intent": "purchase",
                        "sentiment": "neutral",
                        "platform": "bluesky",
                        "reasons": ["influential"],
                        "queries": ["Northwind"],
                    },
                    mention_ids=[m.pk],
                    mention_id=m.pk,
                    suggested_actions=["reply_template", "offer_discount", "open_conversation"],
                )
            ]
        )
    return raised.alert


# --- Permissions ---------------------------------------------------------------------------


def test_members_get_403_everywhere_and_anonymous_users_log_in(member, manager, queries):
    # given
    alert = spike(queries)
    rule = AlertRule.objects.create(name="r", kind="lead")
    client = client_for(member)
    paths = [
        "/alerts/",
        "/alerts/rows/?after=0",
        "/alerts/stream/",
        "/alerts/badge/",
        f"/alerts/{alert.pk}/",
        "/alerts/rules/",
        f"/alerts/rules/{rule.pk}/",
        "/alerts/webhooks/",
    ]
    # when / then
    for path in paths:
        assert client.get(path).status_code == 403, path
        assert Client().get(path).status_code == 302, path
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert client.post(f"/alerts/{alert.pk}/actions/open_conversation/").status_code == 403
    assert Alert.objects.get(pk=alert.pk).status == "open"


def test_agents_see_alerts_but_not_rules_or_webhooks(agent, queries):
    alert = spike(queries)
    client = client_for(agent)
    assert client.get("/alerts/").status_code == 200
    assert client.get(f"/alerts/{alert.pk}/").status_code == 200
    assert client.get("/alerts/rules/").status_code == 403
    assert client.get("/alerts/rules/new/?kind=lead").status_code == 403
    assert client.post("/alerts/rules/preview/", {"kind": "lead"}).status_code == 403
    assert client.get("/alerts/webhooks/").status_code == 403
    assert client.post("/alerts/webhooks/new/", {"name": "x"}).status_code == 403
    assert b"/alerts/rules/" not in client.get("/alerts/").content


def test_missing_things_are_404(manager):
    client = client_for(manager)
    assert client.get("/alerts/999999/").status_code == 404
    assert client.post("/alerts/999999/acknowledge/").status_code == 404
    assert client.post("/alerts/999999/resolve/").status_code == 404
    assert client.post("/alerts/999999/actions/open_conversation/").status_code == 404
    assert client.get("/alerts/rules/999999/").status_code == 404
    assert client.post("/alerts/rules/999999/delete/").status_code == 404
    assert client.get("/alerts/webhooks/999999/").status_code == 404
    assert client.post("/alerts/webhooks/999999/test/").status_code == 404


# --- The list ------------------------------------------------------------------------------


def test_the_list_shows_open_alerts_with_their_explanation_and_counts(manager, queries):
    # given
    crisis = spike(queries, severity="critical")
    other = lead(queries)
    alert_acknowledge(alert_id=other.pk, user=manager)
    client = client_for(manager)
    # when
    page = client.get("/alerts/")
    acked = client.get("/alerts/?status=acknowledged")
    filtered = client.get("/alerts/?kind=lead")
    # then
    body = page.content.decode()
    assert page.status_code == 200
    assert f'id="alert-{crisis.pk}"' in body and f'id="alert-{other.pk}"' not in body
    assert "42 negative mentions about Northwind in 5 min in ES" in body
    assert "7× the usual 6" in body and "z-score 15" in body
    assert 'data-count="open">1<' in body and 'data-count="acknowledged">1<' in body
    assert "sev-critical" in body
    assert f'id="alert-{other.pk}"' in acked.content.decode()
    assert "acknowledged by Lena Lead" in acked.content.decode()
    assert f'id="alert-{crisis.pk}"' not in filtered.content.decode()


def test_bad_filters_say_so_instead_of_failing(manager):
    page = client_for(manager).get("/alerts/?status=nope&kind=weird&cursor=abc")
    assert page.status_code == 400
    body = page.content.decode()
    assert "Unknown status" in body and "Unknown kind" in body
    assert "Not a cursor from a previous page." in body


def test_live_rows_bring_new_alerts_and_drop_ones_that_left_the_tab(manager, queries):
    # given: the page was rendered with one open alert
    first = spike(queries, key="spike:a")
    client = client_for(manager)
    page = client.get("/alerts/")
    after = page.context["after"]
    # when: a new alert is raised and the first is acknowledged elsewhere
    second = lead(queries)
    alert_acknowledge(alert_id=first.pk, user=manager)
    rows = client.get(f"/alerts/rows/?status=open&after={after}", HTTP_HX_REQUEST="true")
    again = client.get(
        f"/alerts/rows/?status=open&after={rows.context['after']}", HTTP_HX_REQUEST="true"
    )
    # then
    body = rows.content.decode()
    assert rows.status_code == 200
    assert f'id="alert-{second.pk}"' in body and 'data-fresh="1"' in body
    assert f'data-remove="{first.pk}"' in body
    assert 'data-count-for="open">1<' in body
    assert rows.context["after"] == AlertEvent.objects.latest("pk").pk
    assert "alert-row" not in again.content.decode()


def test_the_row_poll_without_a_position_starts_from_now(manager, queries):
    spike(queries)
    rows = client_for(manager).get("/alerts/rows/?status=open", HTTP_HX_REQUEST="true")
    assert rows.status_code == 200 and "alert-row" not in rows.content.decode()
    # an id from the future is clamped to the newest event, so the feed is not silenced
    future = client_for(manager).get("/alerts/rows/?after=999999999")
    assert future.context["after"] == AlertEvent.objects.latest("pk").pk


def test_the_stream_sends_new_events_as_server_sent_events(manager, queries, settings):
    # given
    settings.ALERTS_STREAM_SECONDS = 0.2
    spike(queries, key="spike:a")
    before = AlertEvent.objects.latest("pk").pk
    second = lead(queries)
    # when
    response = client_for(manager).get("/alerts/stream/", HTTP_LAST_EVENT_ID=str(before))
    body = b"".join(response.streaming_content).decode()
    # then
    assert response["Content-Type"].startswith("text/event-stream")
    assert body.startswith("retry: 1000")
    event = AlertEvent.objects.get(alert=second)
    assert f"id: {event.pk}\nevent: alert\n" in body
    assert f'"alert_id":{second.pk}' in body
    assert "wants to buy" not in body  # no text in the feed: pages fetch rows through access


def test_the_header_badge_counts_open_alerts(manager, queries):
    spike(queries, severity="critical")
    badge = client_for(manager).get("/alerts/badge/")
    body = badge.content.decode()
    assert ">1<span" in body and "#b3261e" in body
    page = client_for(manager).get("/dashboard/")
    assert 'id="alerts-badge"' in page.content.decode()


# --- Detail and actions --------------------------------------------------------------------


def test_the_detail_explains_the_alert_with_numbers_chart_evidence_and_actions(manager, queries):
    # given
    alert = spike(queries)
    # when
    page = client_for(manager).get(f"/alerts/{alert.pk}/")
    # then
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-number="observed"' in body and 'data-number="z_score"' in body
    assert 'data-chart="alert-series"' in body
    for mention_id in alert.mention_ids:
        assert f'href="/listening/mentions/{mention_id}/"' in body
    assert "Northwind coffee is awful" in body
    assert 'id="action-escalate_manager"' in body and 'id="action-reply_template"' in body
    assert 'id="action-open_conversation"' in body
    assert "Raised" in body


def test_evidence_text_is_hidden_from_users_without_listening(make_user, queries, settings):
    # given: a role with alerts but not listening (none ships one: lend analysts alerts only)
    from apiary.accounts import access

    alert = spike(queries)
    role = dict(access.ROLE_PERMISSIONS)
    role[Role.MEMBER] = frozenset({access.Perm.ALERTS_VIEW, access.Perm.DASHBOARD_VIEW})
    viewer = make_user(Role.MEMBER)
    original = access.ROLE_PERMISSIONS
    access.ROLE_PERMISSIONS = role
    try:
        page = client_for(viewer).get(f"/alerts/{alert.pk}/")
    finally:
        access.ROLE_PERMISSIONS = original
    body = page.content.decode()
    assert page.status_code == 200
    assert "Northwind coffee is awful" not in body
    assert "/listening/mentions/" not in body


def test_acknowledge_and_resolve_with_a_note(manager, queries):
    # given
    alert = spike(queries)
    client = client_for(manager)
    # when
    row = client.post(f"/alerts/{alert.pk}/acknowledge/", HTTP_HX_REQUEST="true")
    too_long = client.post(f"/alerts/{alert.pk}/resolve/", {"note": "x" * 2001})
    done = client.post(f"/alerts/{alert.pk}/resolve/", {"note": "Courier apologised"})
    twice = client.post(f"/alerts/{alert.pk}/resolve/", {"note": ""}, follow=True)
    # then
    assert row.status_code == 200 and "acknowledged by Lena Lead" in row.content.decode()
    assert too_long.status_code == 400 and "At most 2,000 characters." in too_long.content.decode()
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution_note == "Courier apologised"
    assert "This alert is already resolved." in twice.content.decode()
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Courier apologised" in page and 'id="resolve-form"' not in page


def test_an_action_that_cannot_be_done_says_why(agent, queries):
    # given: an advocate-style action on an alert without a known customer
    alert = lead(queries)
    client = client_for(agent)
    # when
    plain = client.post(f"/alerts/{alert.pk}/actions/invite_community/", follow=True)
    htmx = client.post(f"/alerts/{alert.pk}/actions/invite_community/", HTTP_HX_REQUEST="true")
    unknown = client.post(f"/alerts/{alert.pk}/actions/make_coffee/", HTTP_HX_REQUEST="true")
    # then
    assert "The author is not a known customer." in plain.content.decode()
    assert htmx.status_code == 200 and "msg-error" in htmx.content.decode()
    assert "The author is not a known customer." in htmx.content.decode()
    assert "Unknown action." in unknown.content.decode()


def test_open_a_conversation_leads_to_the_care_conversation(agent, queries):
    # given
    alert = lead(queries)
    client = client_for(agent)
    # when
    htmx = client.post(f"/alerts/{alert.pk}/actions/open_conversation/", HTTP_HX_REQUEST="true")
    # then
    alert.refresh_from_db()
    assert alert.conversation_id is not None
    assert htmx["HX-Redirect"].startswith(f"/care/c/{alert.conversation_id}/")
    assert f"Conversation #{alert.conversation_id} is open." in htmx.content.decode()
    assert alert.status == "acknowledged"  # someone is on it


# --- Rules ---------------------------------------------------------------------------------


def test_the_kind_picker_and_a_form_per_kind(manager, queries):
    client = client_for(manager)
    picker = client.get("/alerts/rules/new/")
    crisis = client.get("/alerts/rules/new/?kind=crisis_spike")
    lead_form = client.get("/alerts/rules/new/?kind=lead")
    bad = client.get("/alerts/rules/new/?kind=nonsense")
    assert picker.status_code == 200 and 'id="kind-crisis_spike"' in picker.content.decode()
    body = crisis.content.decode()
    assert 'name="c_z_score"' in body and 'name="c_min_volume"' in body
    assert 'name="c_min_followers"' not in body
    assert "Default: 4.0." in body
    lead_body = lead_form.content.decode()
    assert 'name="c_min_followers"' in lead_body and 'name="c_segment_id"' in lead_body
    assert 'name="c_z_score"' not in lead_body
    assert bad.status_code == 400


def test_contradictory_conditions_are_shown_on_their_fields(manager, queries):
    client = client_for(manager)
    response = client.post(
        "/alerts/rules/new/",
        {
            "kind": "lead",
            "name": "Big buyers",
            "severity": "high",
            "cooldown_minutes": "30",
            "active": "on",
            "c_min_followers": "5000",
            "c_max_followers": "100",
            "c_intents": ["support"],
            "c_countries": "ES, XX",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    # a bad country is caught first; contradictions are checked once values are valid
    assert "c_countries" in form.errors
    response = client.post(
        "/alerts/rules/new/",
        {
            "kind": "lead",
            "name": "Big buyers",
            "severity": "high",
            "cooldown_minutes": "30",
            "c_min_followers": "5000",
            "c_max_followers": "100",
            "c_intents": ["support"],
        },
    )
    form = response.context["form"]
    body = response.content.decode()
    assert response.status_code == 400
    assert "is above the maximum" in form.errors["c_min_followers"][0]
    assert "intents must include purchase" in form.errors["c_intents"][0]
    assert 'id="errors-c_min_followers"' in body
    assert not AlertRule.objects.exists()


def test_a_manager_creates_edits_and_deletes_a_rule(manager, queries):
    client = client_for(manager)
    # when: created
    created = client.post(
        "/alerts/rules/new/",
        {
            "kind": "crisis_spike",
            "name": "Spain on fire",
            "severity": "high",
            "cooldown_minutes": "45",
            "active": "on",
            "c_query_ids": [str(queries.brand.pk)],
            "c_countries": "es",
            "c_per_country": "yes",
            "c_z_score": "5",
        },
    )
    rule = AlertRule.objects.get()
    listing = client.get("/alerts/rules/").content.decode()
    edit = client.get(f"/alerts/rules/{rule.pk}/").content.decode()
    saved = client.post(
        f"/alerts/rules/{rule.pk}/",
        {"kind": "crisis_spike", "name": "Spain on fire", "severity": "critical",
         "cooldown_minutes": "60", "c_z_score": "6"},
    )  # fmt: skip
    rule.refresh_from_db()
    deleted = client.post(f"/alerts/rules/{rule.pk}/delete/")
    # then
    assert created.status_code == 302
    assert "Spain on fire" in listing and "Countries: ES" in listing
    assert 'value="5.0"' in edit and "Northwind (brand)" in edit
    assert saved.status_code == 302
    assert rule.severity == "critical" and rule.conditions == {"z_score": 6.0}
    assert rule.active is False
    assert deleted.status_code == 302 and not AlertRule.objects.exists()


def test_the_preview_counts_past_fires_and_reports_bad_conditions(manager, queries):
    # given: three purchase-intent posts by different authors this week
    now = timezone.now()
    for i in range(3):
        store(post(BUY, now - timedelta(days=i, hours=1), author_handle=f"buyer{i}.bsky.social"))
    client = client_for(manager)
    # when
    ok = client.post(
        "/alerts/rules/preview/", {"kind": "lead", "cooldown_minutes": "60"}, HTTP_HX_REQUEST="true"
    )
    bad = client.post(
        "/alerts/rules/preview/",
        {"kind": "lead", "c_min_followers": "10", "c_max_followers": "5"},
        HTTP_HX_REQUEST="true",
    )
    # then
    assert ok.status_code == 200
    assert ok.context["preview"]["fires"] == 3
    assert 'id="preview-fires">3<' in ok.content.decode()
    assert "wants to buy" in ok.content.decode()
    assert bad.status_code == 200 and 'id="preview-errors"' in bad.content.decode()
    assert "Followers at least" in bad.content.decode()


# --- Webhooks ------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_then_hidden(manager):
    client = client_for(manager)
    created = client.post(
        "/alerts/webhooks/new/",
        {"name": "Ops chat", "url": "https://chat.example.com/hook", "min_severity": "high",
         "kinds": ["crisis_spike"], "active": "on"},
        follow=True,
    )  # fmt: skip
    endpoint = WebhookEndpoint.objects.get()
    again = client.get("/alerts/webhooks/").content.decode()
    edit = client.get(f"/alerts/webhooks/{endpoint.pk}/").content.decode()
    assert endpoint.secret in created.content.decode()
    assert endpoint.secret not in again and endpoint.secret not in edit
    assert endpoint.secret[:10] + "…" in again
    assert "Crisis spike" in again
    # rotating shows the new secret once
    client.post(
        f"/alerts/webhooks/{endpoint.pk}/",
        {"name": "Ops chat", "url": "https://chat.example.com/hook", "min_severity": "high",
         "rotate_secret": "on", "active": "on"},
    )  # fmt: skip
    endpoint.refresh_from_db()
    shown = client.get("/alerts/webhooks/").content.decode()
    assert endpoint.secret in shown
    assert endpoint.secret not in client.get("/alerts/webhooks/").content.decode()


def test_bad_webhook_input_is_shown_on_the_form(manager):
    client = client_for(manager)
    response = client.post(
        "/alerts/webhooks/new/",
        {"name": "", "url": "ftp://example.com/x", "min_severity": "loud"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "name" in errors and "min_severity" in errors
    ftp = client.post(
        "/alerts/webhooks/new/", {"name": "x", "url": "ftp://example.com/x", "min_severity": "low"}
    )
    assert ftp.status_code == 400
    assert "Must be an http:// or https:// address." in ftp.context["form"].errors["url"]
    creds = client.post(
        "/alerts/webhooks/new/",
        {"name": "x", "url": "https://user:pw@example.com/", "min_severity": "low"},
    )
    assert "no user name or password" in creds.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_test_reports_a_receiver_that_is_down(manager):
    # given: an endpoint nobody listens on (a closed local port: nothing reaches the internet)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = webhook_endpoint_create(name="Down", url=f"http://127.0.0.1:{port}/hook")
    client = client_for(manager)
    # when
    page = client.post(f"/alerts/webhooks/{endpoint.pk}/test/", follow=True)
    # then
    body = page.content.decode()
    assert 'id="test-result"' in body and "The test delivery failed" in body


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_stream_is_async_and_sends_the_same_events(manager, queries, settings):
    # given: what uvicorn runs (an ASGI request); the rows are committed for the loop's thread
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncClient

    settings.ALERTS_STREAM_SECONDS = 0.3
    spike(queries, key="spike:a")
    before = AlertEvent.objects.latest("pk").pk
    second = lead(queries)

    async def read() -> tuple[bool, str]:
        client = AsyncClient()
        await client.aforce_login(manager)
        response = await client.get("/alerts/stream/", headers={"Last-Event-ID": str(before)})
        chunks = [c async for c in response.streaming_content]
        # The stream read the database from asgiref's worker thread: close that connection
        # too, or PostgreSQL refuses to drop the test database.
        await sync_to_async(connections.close_all)()
        return response.is_async, b"".join(chunks).decode()

    # when
    is_async, body = asyncio.run(read())
    # then: no thread held per open page, and the frames are those of the WSGI stream
    assert is_async
    event = AlertEvent.objects.get(alert=second)
    assert f"id: {event.pk}\nevent: alert\n" in body and f'"alert_id":{second.pk}' in body
