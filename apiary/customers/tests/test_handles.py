import pytest

from apiary.customers.handles import (
    HandleError,
    detect_platform,
    handle_local_part,
    handle_skeleton,
    normalize_handle,
    profile_url,
)

NORMALISED = [
    # Bluesky: handles are domains, lower case; a bare name gets the default server.
    ("bluesky", "alice.bsky.social", "alice.bsky.social"),
    ("bluesky", "  @Alice.BSKY.social ", "alice.bsky.social"),
    ("bluesky", "Alice", "alice.bsky.social"),
    ("bluesky", "https://bsky.app/profile/Alice.bsky.social", "alice.bsky.social"),
    ("bluesky", "bsky.app/profile/alice.example.com/", "alice.example.com"),
    ("bluesky", "https://www.bsky.app/profile/alice.bsky.social?ref=x", "alice.bsky.social"),
    ("bluesky", "https://bsky.app/profile/alice.bsky.social/post/3k", "alice.bsky.social"),
    ("bluesky", "https://alice.bsky.social", "alice.bsky.social"),
    ("bluesky", "did:plc:abcdefghijklmnopqrstuvwx", "did:plc:abcdefghijklmnopqrstuvwx"),
    # Mastodon: user@server, lower case, from every address form.
    ("mastodon", "@Alice@Mastodon.Social", "alice@mastodon.social"),
    ("mastodon", "alice@mastodon.social", "alice@mastodon.social"),
    ("mastodon", "https://mastodon.social/@Alice", "alice@mastodon.social"),
    ("mastodon", "mastodon.social/@alice/", "alice@mastodon.social"),
    ("mastodon", "https://mastodon.social/@alice/112233?x=1", "alice@mastodon.social"),
    ("mastodon", "https://fosstodon.org/users/Bob", "bob@fosstodon.org"),
    ("mastodon", "https://social.example/@carol", "carol@social.example"),
    ("mastodon", "https://mastodon.social/@dan@other.example", "dan@other.example"),
    # X / Twitter
    ("x", "@Alice_1", "alice_1"),
    ("x", "https://x.com/Alice", "alice"),
    ("x", "https://twitter.com/alice/", "alice"),
    ("x", "www.twitter.com/alice?lang=en", "alice"),
    ("x", "https://mobile.twitter.com/alice/status/123", "alice"),
    ("x", "x.com/alice", "alice"),
    # Facebook
    ("facebook", "https://www.facebook.com/Alice.Smith", "alice.smith"),
    ("facebook", "facebook.com/alice.smith/", "alice.smith"),
    ("facebook", "https://m.facebook.com/alice.smith?ref=bookmarks", "alice.smith"),
    ("facebook", "https://www.facebook.com/profile.php?id=100012345", "100012345"),
    ("facebook", "fb.com/alice.smith", "alice.smith"),
    # Instagram
    ("instagram", "@Alice.Smith", "alice.smith"),
    ("instagram", "https://www.instagram.com/alice_smith/", "alice_smith"),
    ("instagram", "instagram.com/alice_smith?igsh=abc", "alice_smith"),
    # VK
    ("vk", "https://vk.com/Alice_Smith", "alice_smith"),
    ("vk", "vk.com/id12345", "id12345"),
    ("vk", "https://m.vk.com/alice/", "alice"),
    # Telegram
    ("telegram", "@Alice_Smith", "alice_smith"),
    ("telegram", "https://t.me/alice_smith", "alice_smith"),
    ("telegram", "t.me/alice_smith/", "alice_smith"),
    ("telegram", "https://telegram.me/alice_smith", "alice_smith"),
    ("telegram", "https://t.me/s/alice_smith", "alice_smith"),
    # YouTube: @handles lower case; channel ids keep their case.
    ("youtube", "@AliceCooks", "alicecooks"),
    ("youtube", "https://www.youtube.com/@AliceCooks", "alicecooks"),
    ("youtube", "youtube.com/@alicecooks/videos", "alicecooks"),
    ("youtube", "https://m.youtube.com/@alicecooks?si=x", "alicecooks"),
    ("youtube", "https://youtube.com/channel/UC1234567890abcdefghijKL", "UC1234567890abcdefghijKL"),
    ("youtube", "https://www.youtube.com/c/AliceCooks", "alicecooks"),
    # Reddit
    ("reddit", "https://www.reddit.com/user/Alice_Smith", "alice_smith"),
    ("reddit", "https://old.reddit.com/u/alice_smith/", "alice_smith"),
    ("reddit", "reddit.com/user/alice-smith", "alice-smith"),
    ("reddit", "/u/Alice_Smith", "alice_smith"),
    ("reddit", "u/alice_smith", "alice_smith"),
    # TikTok
    ("tiktok", "@Alice.Smith", "alice.smith"),
    ("tiktok", "https://www.tiktok.com/@alice.smith", "alice.smith"),
    ("tiktok", "tiktok.com/@alice.smith/video/123?lang=en", "alice.smith"),
    # Review sites and "other": trimmed and case-folded; URLs kept without their scheme.
    ("trustpilot", "https://www.Trustpilot.com/users/ABC123", "www.trustpilot.com/users/abc123"),
    ("trustpilot", "  John   D. ", "john d."),
    (
        "google_reviews",
        "https://www.google.com/maps/contrib/123",
        "www.google.com/maps/contrib/123",
    ),
    ("yelp", "yelp.com/user_details?userid=AbC", "yelp.com/user_details?userid=abc"),
    (
        "tripadvisor",
        "https://www.tripadvisor.co.uk/Profile/Alice",
        "www.tripadvisor.co.uk/profile/alice",
    ),
    ("other", "https://x.com/Alice", "x.com/alice"),
    ("other", "@Straße", "strasse"),
]


@pytest.mark.parametrize(("platform", "raw", "expected"), NORMALISED)
def test_normalize_handle_accepts_every_form(platform, raw, expected):
    # when
    handle = normalize_handle(platform, raw)
    # then
    assert handle == expected
    # and normalising again changes nothing (the identity index relies on this)
    assert normalize_handle(platform, handle) == handle


WRONG_PLATFORM = [
    ("bluesky", "https://mastodon.social/@alice", "Mastodon", "Bluesky"),
    ("bluesky", "@alice@mastodon.social", "Mastodon", "Bluesky"),
    ("bluesky", "https://x.com/alice", "X (Twitter)", "Bluesky"),
    ("mastodon", "https://bsky.app/profile/alice.bsky.social", "Bluesky", "Mastodon"),
    ("mastodon", "alice.bsky.social", "Bluesky", "Mastodon"),
    ("mastodon", "https://www.tiktok.com/@alice", "TikTok", "Mastodon"),
    ("x", "https://www.instagram.com/alice/", "Instagram", "X (Twitter)"),
    ("x", "https://social.example/@alice", "Mastodon", "X (Twitter)"),
    ("x", "alice.bsky.social", "Bluesky", "X (Twitter)"),
    ("instagram", "https://www.facebook.com/alice", "Facebook", "Instagram"),
    ("facebook", "https://vk.com/alice", "VK", "Facebook"),
    ("vk", "https://t.me/alice", "Telegram", "VK"),
    ("telegram", "https://www.youtube.com/@alice", "YouTube", "Telegram"),
    ("youtube", "https://www.tiktok.com/@alice", "TikTok", "YouTube"),
    ("reddit", "https://twitter.com/alice", "X (Twitter)", "Reddit"),
    ("tiktok", "https://www.youtube.com/@alice", "YouTube", "TikTok"),
    ("trustpilot", "https://www.yelp.com/user_details?userid=1", "Yelp", "Trustpilot"),
    ("yelp", "https://bsky.app/profile/alice.bsky.social", "Bluesky", "Yelp"),
]


@pytest.mark.parametrize(("platform", "raw", "detected", "label"), WRONG_PLATFORM)
def test_an_address_of_another_platform_says_which_platform_it_looks_like(
    platform, raw, detected, label
):
    with pytest.raises(HandleError) as exc:
        normalize_handle(platform, raw)
    assert exc.value.message == f"This looks like a {detected} address, not a {label} handle."


@pytest.mark.parametrize(
    ("platform", "raw", "fragment"),
    [
        ("x", "", "Enter a handle"),
        ("x", "   ", "Enter a handle"),
        ("x", None, "Enter a handle"),
        ("x", "al ice", "not a valid X (Twitter) handle"),
        ("x", "alice!", "not a valid X (Twitter) handle"),
        ("x", "a" * 16, "not a valid X (Twitter) handle"),
        ("x", "ali\x00ce", "invalid characters"),
        ("instagram", "alice\u200b", "invalid characters"),
        ("bluesky", "alice_smith.bsky.social", "not a valid Bluesky handle"),
        ("bluesky", "-alice.bsky.social", "not a valid Bluesky handle"),
        ("mastodon", "@alice", "with its server"),
        ("mastodon", "a@b@c@d", "with its server"),
        ("mastodon", "https://mastodon.social/about", "not a valid Mastodon handle"),
        ("x", "https://example.com/alice", "not a X (Twitter) profile address"),
        ("x", "https://x.com/home", "does not point to a profile"),
        ("youtube", "https://youtu.be/dQw4w9WgXcQ", "does not point to a profile"),
        ("instagram", "https://www.instagram.com/p/Cxyz/", "does not point to a profile"),
        ("reddit", "https://www.reddit.com/r/coffee", "does not point to a profile"),
        ("telegram", "https://t.me/+AbCdEf", "not a valid Telegram handle"),
        ("myspace", "alice", "Unknown platform"),
    ],
)
def test_invalid_handles_are_refused_with_a_reason(platform, raw, fragment):
    with pytest.raises(HandleError) as exc:
        normalize_handle(platform, raw)
    assert fragment in exc.value.message
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    ("raw", "platform"),
    [
        ("https://bsky.app/profile/alice.bsky.social", "bluesky"),
        ("https://alice.bsky.social", "bluesky"),
        ("@alice@mastodon.social", "mastodon"),
        ("https://hachyderm.io/@alice", "mastodon"),
        ("https://x.com/alice", "x"),
        ("twitter.com/alice", "x"),
        ("https://www.facebook.com/alice", "facebook"),
        ("instagram.com/alice", "instagram"),
        ("https://vk.com/alice", "vk"),
        ("https://t.me/alice", "telegram"),
        ("https://www.youtube.com/@alice", "youtube"),
        ("https://www.reddit.com/user/alice", "reddit"),
        ("https://www.tiktok.com/@alice", "tiktok"),
        ("https://uk.trustpilot.com/users/1", "trustpilot"),
        ("https://www.google.com/maps/contrib/1", "google_reviews"),
        ("https://www.yelp.es/user_details?userid=1", "yelp"),
        ("https://www.tripadvisor.es/Profile/alice", "tripadvisor"),
        ("https://example.com/alice", None),
        ("alice", None),
        ("alice@example.com", None),
        ("", None),
    ],
)
def test_detect_platform_recognises_profile_addresses(raw, platform):
    assert detect_platform(raw) == platform


@pytest.mark.parametrize(
    ("platform", "handle", "url"),
    [
        ("bluesky", "alice.bsky.social", "https://bsky.app/profile/alice.bsky.social"),
        ("mastodon", "alice@mastodon.social", "https://mastodon.social/@alice"),
        ("x", "alice", "https://x.com/alice"),
        ("facebook", "alice.smith", "https://www.facebook.com/alice.smith"),
        ("instagram", "alice", "https://www.instagram.com/alice/"),
        ("vk", "alice", "https://vk.com/alice"),
        ("telegram", "alice", "https://t.me/alice"),
        ("youtube", "alice", "https://www.youtube.com/@alice"),
        (
            "youtube",
            "UC1234567890abcdefghijKL",
            "https://www.youtube.com/channel/UC1234567890abcdefghijKL",
        ),
        ("reddit", "alice", "https://www.reddit.com/user/alice"),
        ("tiktok", "alice", "https://www.tiktok.com/@alice"),
        ("trustpilot", "www.trustpilot.com/users/1", "https://www.trustpilot.com/users/1"),
        ("yelp", "john d.", ""),
        ("x", "", ""),
    ],
)
def test_profile_url_builds_the_public_address(platform, handle, url):
    assert profile_url(platform, handle) == url


def test_profile_url_round_trips_through_normalisation():
    for platform, handle in [
        ("bluesky", "alice.bsky.social"),
        ("mastodon", "alice@mastodon.social"),
        ("x", "alice"),
        ("facebook", "alice.smith"),
        ("instagram", "alice"),
        ("vk", "alice"),
        ("telegram", "alice"),
        ("youtube", "alice"),
        ("reddit", "alice"),
        ("tiktok", "alice"),
    ]:
        assert normalize_handle(platform, profile_url(platform, handle)) == handle


@pytest.mark.parametrize(
    ("platform", "handle", "local", "skeleton"),
    [
        ("bluesky", "alice-smith.bsky.social", "alice-smith", "alicesmith"),
        ("bluesky", "alice.example.com", "alice.example", "aliceexample"),
        ("mastodon", "a.lice_99@mastodon.social", "a.lice_99", "alice"),
        ("x", "alice_smith1987", "alice_smith1987", "alicesmith"),
        ("instagram", "alice.smith", "alice.smith", "alicesmith"),
    ],
)
def test_local_part_and_skeleton(platform, handle, local, skeleton):
    assert handle_local_part(platform, handle) == local
    assert handle_skeleton(platform, handle) == skeleton
