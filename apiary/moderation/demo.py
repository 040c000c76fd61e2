"""Demo moderation: a queue with something in it, built through the real services.

In the public Northwind space: three posts hidden by members' flags and a reply hidden by a
moderator's flag (pending review), a spam post and a newcomer's first post held for approval, a
suspended spam account and a warned member, plus a few decided items spread over the last weeks
so the statistics have figures. Deterministic for a seed; a second run changes nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from apiary.accounts import services as accounts_services
from apiary.accounts.models import User
from apiary.community import access as community_access
from apiary.community import services as community_services
from apiary.community.models import (
    Comment,
    CommentState,
    FlagReason,
    MembershipState,
    Post,
    PostState,
    Space,
    SpaceMembership,
    SpaceRole,
)
from apiary.moderation import services
from apiary.moderation.models import ItemReason, ItemState, ModerationItem

SPAMMER_EMAIL = "quick.cash@example.net"
NEWCOMER_EMAIL = "nora.newcomer@example.net"
MANAGER_EMAIL = "community@apiary.local"  # the community demo's manager
SPAM_TITLE = "BUY NOW: make money fast from home"
SPAM_BODY = (
    "Click here https://cash.example/a and https://cash.example/b — earn money from home, "
    "100% free, limited time offer!"
)
REASONS = [FlagReason.SPAM, FlagReason.ABUSE, FlagReason.OFF_TOPIC, FlagReason.OTHER]


def _member(email: str, name: str, password: str) -> User:
    found = User.objects.filter(email=email).first()
    if found is not None:
        return found
    user = accounts_services.member_register(email=email, password=password, display_name=name)
    community_services.profile_ensure(user=user)
    return user


def _flag_until_hidden(post: Post, flaggers: list[User], rng: random.Random) -> int:
    """Members flag until the post is hidden (their trust decides how many it takes)."""
    n = 0
    for user in flaggers:
        post.refresh_from_db(fields=["state"])
        if post.state != PostState.PUBLISHED:
            break
        community_services.flag_create(user=user, reason=rng.choice(REASONS), post=post)
        n += 1
    return n


def run(ctx) -> str:
    rng = random.Random(f"moderation-{ctx.seed}")
    space = Space.objects.filter(slug="northwind").first()
    if space is None:
        return "skipped (no community demo)"
    # The two accounts first, whatever else happens: the same seed gives the same members even
    # when the demo runs again over deleted members.
    spammer = _member(SPAMMER_EMAIL, "Quick Cash", ctx.password)
    newcomer = _member(NEWCOMER_EMAIL, "Nora Newcomer", ctx.password)
    # The held spam post marks a finished run (members may have been re-created since).
    if ModerationItem.objects.filter(space=space, reason=ItemReason.SPAM).exists():
        return "already present"
    manager = User.objects.get(email=MANAGER_EMAIL)
    roles = dict(
        SpaceMembership.objects.filter(space=space, state=MembershipState.ACTIVE).values_list(
            "user_id", "role"
        )
    )
    moderator = (
        User.objects.filter(
            pk__in=[uid for uid, role in roles.items() if role == SpaceRole.MODERATOR]
        )
        .order_by("pk")
        .first()
        or manager
    )
    members = list(
        User.objects.filter(
            pk__in=[uid for uid, role in roles.items() if role == SpaceRole.MEMBER], is_active=True
        ).order_by("pk")
    )
    flaggers = members[20:80]
    candidates = list(
        Post.objects.filter(space=space, state=PostState.PUBLISHED, flags__isnull=True)
        .exclude(author=moderator)
        .order_by("pk")[:200]
    )
    if len(flaggers) < 8 or len(candidates) < 7:
        return "skipped (the community demo has too few members or posts)"
    chosen = rng.sample(candidates, 7)

    # pending: three posts hidden by members, one reply hidden by a moderator's flag
    for post in chosen[:3]:
        _flag_until_hidden(post, rng.sample(flaggers, 8), rng)
    reply = (
        Comment.objects.filter(post__space=space, state=CommentState.PUBLISHED)
        .exclude(author=moderator)
        .order_by("pk")
        .first()
    )
    if reply is not None:
        community_services.flag_create(user=moderator, reason=FlagReason.ABUSE, comment=reply)

    # decided over the last weeks: two removals the community started, one dismissal, one
    # removal a moderator started (for the statistics)
    now = timezone.now()
    decided = []
    for post, action in zip(chosen[3:], ["remove", "remove", "dismiss", "staff"], strict=True):
        if action == "staff":
            community_services.flag_create(user=moderator, reason=FlagReason.SPAM, post=post)
        else:
            flags = 1 if action == "dismiss" else 8
            _flag_until_hidden(post, rng.sample(flaggers, flags), rng)
        item = ModerationItem.objects.get(post=post, state=ItemState.PENDING)
        if action == "dismiss":
            services.item_dismiss(actor=moderator, item=item, note="Reads fine to me.")
        else:
            services.item_remove(actor=moderator, item=item, note="Against the guidelines.")
        decided.append(item)
    for item in decided:
        opened = now - timedelta(days=rng.randrange(2, 25), hours=rng.randrange(0, 12))
        hidden = opened + timedelta(minutes=rng.randrange(5, 180)) if item.hidden_at else None
        resolved = (hidden or opened) + timedelta(hours=rng.randrange(1, 30))
        ModerationItem.objects.filter(pk=item.pk).update(
            opened_at=opened, hidden_at=hidden, resolved_at=resolved
        )

    # the pending ones were flagged in one burst here; spread them over the last hours as if
    # members had flagged them one by one (time to hide is a statistic)
    for item in ModerationItem.objects.filter(
        space=space, state=ItemState.PENDING, hidden_at__isnull=False
    ).order_by("pk"):
        opened = now - timedelta(hours=rng.randrange(3, 20))
        ModerationItem.objects.filter(pk=item.pk).update(
            opened_at=opened, hidden_at=opened + timedelta(minutes=rng.randrange(10, 150))
        )

    # held: a spam post and a newcomer's first post
    community_access.memberships_forget(spammer)
    spam_post = community_services.post_create(
        author=spammer, space=space, title=SPAM_TITLE, body=SPAM_BODY
    )
    first = community_services.post_create(
        author=newcomer,
        space=space,
        title="Hello from a new Barista Pro owner",
        body="Just unpacked my machine. What grind size do you start with?",
    )

    # sanctions: the spam account suspended for a week, a member warned
    services.member_suspend(
        actor=moderator, user=spammer, space=space, days=7, note="Link spam in several posts."
    )
    warned = chosen[0].author
    if warned is not None and not community_access.can_moderate(user=warned, space=space):
        services.member_warn(
            actor=manager, user=warned, space=space, note="Please keep replies on topic."
        )
    pending = ModerationItem.objects.filter(space=space, state=ItemState.PENDING).count()
    return (
        f"{pending} items waiting (hidden by flags, spam post {spam_post.state}, first post "
        f"{first.state}), {len(decided)} decided, 1 suspended member "
        f"({SPAMMER_EMAIL})"
    )
