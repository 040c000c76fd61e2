"""Reply channels: the settings page and API that store the credentials replies go out with.
Secrets are write-only (masked on the way out), validation names the field, agents may not."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apiary.accounts.models import AuditEntry
from apiary.care.replies import MASK

from .test_replies_support import make_source

pytestmark = pytest.mark.django_db


def test_api_lists_reply_capable_sources_with_secrets_masked(api, manager):
    bsky = make_source(
        "bluesky",
        {
            "url": "wss://jet.example",
            "reply_identifier": "brand.bsky.social",
            "reply_secret": "app-pass-1234",
        },
        name="Bluesky brand",
    )
    make_source("rss", {"url": "https://example.com/feed"}, name="Reviews feed")
    rows = api(manager).get("/api/v1/care/reply-channels").json()
    assert [r["name"] for r in rows] == ["Bluesky brand"]
    row = rows[0]
    assert row["source_id"] == bsky.pk and row["ready"] is True
    assert row["settings"]["reply_secret"] == MASK
    assert "app-pass-1234" not in str(rows)


def test_api_update_validates_keeps_masked_secret_and_generates_a_webhook_secret(api, manager):
    hook = make_source("webhook", {}, name="Shop widget")
    client = api(manager)
    url = f"/api/v1/care/reply-channels/{hook.pk}"
    bad = client.put(url, {"settings": {"reply_url": "not a url"}})
    assert bad.status_code == 422 and "reply_url" in bad.content.decode()
    unknown = client.put(url, {"settings": {"reply_nonsense": 1}})
    assert unknown.status_code == 422 and "reply_nonsense" in unknown.content.decode()

    ok = client.put(url, {"settings": {"reply_url": "https://shop.example/replies"}})
    assert ok.status_code == 200, ok.content
    body = ok.json()
    generated = body["generated_secret"]
    assert generated.startswith("whsec_") and body["ready"] is True
    assert body["settings"]["reply_secret"] == MASK

    again = client.put(
        url, {"settings": {"reply_url": "https://shop.example/v2", "reply_secret": MASK}}
    )
    assert again.status_code == 200 and again.json()["generated_secret"] is None
    hook.refresh_from_db()
    assert hook.config["reply_secret"] == generated
    assert hook.config["reply_url"] == "https://shop.example/v2"
    assert (
        AuditEntry.objects.filter(action="care.reply_settings", target_id=str(hook.pk)).count() == 2
    )

    assert client.put("/api/v1/care/reply-channels/999999", {"settings": {}}).status_code == 404
    assert client.put(url, {"settings": "x"}).status_code == 422


def test_agents_and_anonymous_cannot_read_or_change_reply_channels(api, agent, manager):
    hook = make_source("webhook", {"reply_url": "https://a.example/r"})
    assert api(agent).get("/api/v1/care/reply-channels").status_code == 403
    r = api(agent).put(
        f"/api/v1/care/reply-channels/{hook.pk}",
        {"settings": {"reply_url": "https://evil.example"}},
    )
    assert r.status_code == 403
    assert api().get("/api/v1/care/reply-channels").status_code == 401
    hook.refresh_from_db()
    assert hook.config["reply_url"] == "https://a.example/r"
    c = Client()
    c.force_login(agent)
    assert c.get(reverse("care:settings_replies")).status_code == 403


def test_settings_page_saves_shows_errors_and_never_echoes_a_secret(manager):
    masto = make_source("mastodon", {"url": "https://social.example"}, name="Mastodon brand")
    c = Client()
    c.force_login(manager)
    page = c.get(reverse("care:settings_replies"))
    assert page.status_code == 200
    assert "Mastodon brand" in page.content.decode()

    bad = c.post(
        reverse("care:settings_replies"),
        {"source_id": masto.pk, "reply_token": "a b", "reply_max_characters": "lots"},
    )
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "Must be a whole number." in text
    saved = c.post(
        reverse("care:settings_replies"),
        {
            "source_id": masto.pk,
            "reply_token": "tok-secret-123",
            "reply_visibility": "unlisted",
            "reply_max_characters": "400",
        },
    )
    assert saved.status_code == 302
    masto.refresh_from_db()
    assert masto.config["reply_token"] == "tok-secret-123"
    assert masto.config["reply_max_characters"] == 400
    page = c.get(reverse("care:settings_replies")).content.decode()
    assert "tok-secret-123" not in page and "unlisted" in page
    # an empty secret keeps the stored one
    c.post(
        reverse("care:settings_replies"),
        {"source_id": masto.pk, "reply_token": "", "reply_visibility": "public"},
    )
    masto.refresh_from_db()
    assert (
        masto.config["reply_token"] == "tok-secret-123"
        and masto.config["reply_visibility"] == "public"
    )
    assert c.post(reverse("care:settings_replies"), {"source_id": "x"}).status_code == 404
