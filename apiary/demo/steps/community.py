"""Demo community: a public product space (with a sub-space), a registered-only how-to space, a
closed partner space joined by invitation link, a secret beta space; ~300 members writing in
English, Russian and Spanish — discussions, questions with accepted answers, ideas with votes and
statuses, blog posts, documents, a poll, a photo contest, comments, reactions and a few flags.

Spaces, the invitation, the poll and the contest go through the real services; the bulk of
posts, comments, reactions and votes is written with ``bulk_create`` (rendered through the same
Markdown + nh3 path) and the counters are recomputed in the database afterwards, so the step
stays quick. Deterministic from ``ctx.rng``; a second run finds the spaces and does nothing."""

from __future__ import annotations

import io
import random
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from PIL import Image

from apiary.accounts.models import Role, User
from apiary.community import markdown, services
from apiary.community.models import (
    Comment,
    IdeaStatus,
    IdeaVote,
    MembershipState,
    Post,
    PostState,
    PostTag,
    PostType,
    Profile,
    Reaction,
    ReactionKind,
    Space,
    SpaceMembership,
    SpaceRole,
    Tag,
)

EXTRA_MEMBERS = 240
POSTS = 520
MANAGER_EMAIL = "community@apiary.local"

NAMES = {
    "en": (
        ["Chloe", "Oscar", "Ruby", "Leo", "Isla", "Harry", "Freya", "Alfie"],
        ["Moore", "King", "Wright", "Green", "Baker", "Hall"],
    ),
    "ru": (
        ["Дарья", "Михаил", "Ксения", "Артём", "Полина", "Егор", "Вера", "Глеб"],
        ["Орлова", "Зайцев", "Белова", "Соколов", "Фролова", "Ершов"],
    ),
    "es": (
        ["Lucas", "Martina", "Hugo", "Paula", "Álvaro", "Carla", "Daniel", "Sara"],
        ["Torres", "Romero", "Navarro", "Molina", "Ortiz", "Castro"],
    ),
}
TRANSLIT = str.maketrans(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяáéíóúñ", "abvgdeezziiklmnoprstufhccss_y_euaaeioun"
)

TITLES = {
    "en": {
        "discussion": [
            "Best beans for a V60?",
            "Grinder noise after descaling",
            "Show us your morning setup",
            "Oat milk that actually foams",
            "How fresh is too fresh?",
        ],
        "question": [
            "Why does my espresso taste sour?",
            "What grind size for cold brew?",
            "How do I reset the Barista Pro?",
            "Which filter papers fit the Drip One?",
        ],
        "idea": [
            "Subscription pause button",
            "Decaf in the tasting box",
            "Refill pouches for capsules",
            "Roast date on the bag front",
            "Recipe cards in Spanish",
        ],
        "blog": ["Inside our roastery: a day in March", "Meet the farmers of Huila"],
        "document": ["Descaling guide (PDF)", "Warranty terms 2026"],
    },
    "ru": {
        "discussion": [
            "Лучшие зёрна для пуровера?",
            "Кофемолка шумит после чистки",
            "Покажите ваш утренний сетап",
            "Растительное молоко для капучино",
        ],
        "question": [
            "Почему эспрессо кислит?",
            "Какой помол для колд брю?",
            "Как сбросить настройки кофемашины?",
        ],
        "idea": [
            "Пауза подписки",
            "Декаф в дегустационном наборе",
            "Дата обжарки на лицевой стороне",
        ],
        "blog": ["Как мы выбираем зерно"],
        "document": ["Инструкция по декальцинации"],
    },
    "es": {
        "discussion": [
            "¿Mejor café para V60?",
            "El molinillo hace ruido",
            "Enseñad vuestro rincón del café",
            "Leche de avena que haga espuma",
        ],
        "question": [
            "¿Por qué mi espresso sabe ácido?",
            "¿Qué molienda para cold brew?",
            "¿Cómo reinicio la cafetera?",
        ],
        "idea": ["Pausar la suscripción", "Descafeinado en la caja de cata", "Recetas en español"],
        "blog": ["Un día en nuestra tostadora"],
        "document": ["Guía de descalcificación"],
    },
}
BODIES = {
    "en": [
        "I tried **three** different ratios this week and 1:16 still wins.",
        "Any tips? I followed the manual but the result is *bitter*.",
        "Here is what worked for me:\n\n1. Fresh beans\n2. Fine grind\n3. 93 °C water",
        "Would love to hear what the team thinks.",
    ],
    "ru": [
        "На этой неделе попробовал **три** пропорции, 1:16 всё ещё лучше всех.",
        "Есть советы? Делал по инструкции, но получается *горько*.",
        "Вот что помогло мне:\n\n1. Свежие зёрна\n2. Мелкий помол\n3. Вода 93 °C",
    ],
    "es": [
        "Esta semana probé **tres** proporciones y 1:16 sigue ganando.",
        "¿Algún consejo? Seguí el manual pero sale *amargo*.",
        "Esto me funcionó:\n\n1. Granos frescos\n2. Molienda fina\n3. Agua a 93 °C",
    ],
}
REPLIES = {
    "en": [
        "Same here!",
        "Try a coarser grind first.",
        "Thanks, that fixed it.",
        "Descale every month, it helps.",
        "+1, I would buy this.",
    ],
    "ru": [
        "У меня так же!",
        "Попробуйте помол покрупнее.",
        "Спасибо, помогло.",
        "Поддерживаю идею.",
    ],
    "es": [
        "¡A mí también!",
        "Prueba una molienda más gruesa.",
        "Gracias, funcionó.",
        "Apoyo la idea.",
    ],
}
TAGS = ["espresso", "brewing", "grinder", "milk", "subscription", "beans", "machine"]
RESPONSES = {
    IdeaStatus.PLANNED: "Planned for the summer release. Thanks for the votes!",
    IdeaStatus.IN_PROGRESS: "Our team is building this now.",
    IdeaStatus.SHIPPED: "Shipped in March — see the release notes.",
    IdeaStatus.DECLINED: "We looked closely, but this does not fit our roasting schedule.",
    IdeaStatus.UNDER_REVIEW: "",
}


def _png(rng) -> bytes:
    out = io.BytesIO()
    color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


def _extra_members(ctx, rng) -> list[User]:
    base = ctx.data.get("members") or list(User.objects.filter(role=Role.MEMBER).order_by("pk"))
    password = base[0].password if base else make_password(ctx.password)
    langs = ["en"] * 5 + ["ru"] * 3 + ["es"] * 3
    rows = []
    for i in range(EXTRA_MEMBERS):
        lang = rng.choice(langs)
        first, last = rng.choice(NAMES[lang][0]), rng.choice(NAMES[lang][1])
        local = f"{first}.{last}".lower().translate(TRANSLIT)
        rows.append(
            User(
                email=f"{local}.c{i}@community.example",
                display_name=f"{first} {last}",
                role=Role.MEMBER,
                language=lang,
                password=password,
            )
        )
    User.objects.bulk_create(rows, ignore_conflicts=True)
    return list(User.objects.filter(role=Role.MEMBER, is_active=True).order_by("pk"))


def _profiles(users) -> None:
    taken = set(Profile.objects.values_list("handle", flat=True))
    have = set(Profile.objects.values_list("user_id", flat=True))
    rows = []
    for user in users:
        if user.pk in have:
            continue
        base = (
            "".join(
                ch if ch.isalnum() else "_" for ch in user.name.lower().translate(TRANSLIT)
            ).strip("_")[:30]
            or "member"
        )
        handle, n = base, 1
        while handle in taken:
            n += 1
            handle = f"{base}{n}"
        taken.add(handle)
        rows.append(Profile(user=user, handle=handle))
    Profile.objects.bulk_create(rows)


def run(ctx) -> str:
    # Our own generator, seeded from the demo seed: earlier steps consume ctx.rng differently
    # on a re-run (they skip work), and the same seed must still give the same members.
    rng = random.Random(f"community-{ctx.seed}")
    members = _extra_members(ctx, rng)  # idempotent (ignore_conflicts on e-mail)
    if Space.objects.filter(slug="northwind").exists():
        return f"community already present ({len(members)} members)"
    now = timezone.now()
    manager = User.objects.get(email=MANAGER_EMAIL)
    _profiles([manager, *members])

    product = services.space_create(
        actor=manager,
        name="Northwind Coffee",
        slug="northwind",
        description="Questions, ideas and stories about our coffee and machines.",
        visibility="public",
        language="en",
    )
    machines = services.space_create(
        actor=manager,
        name="Espresso machines",
        slug="espresso-machines",
        description="Barista Pro, Drip One and friends.",
        visibility="public",
        parent=product,
    )
    howto = services.space_create(
        actor=manager,
        name="How-to guides",
        slug="how-to",
        description="Step-by-step guides for registered members.",
        visibility="registered",
    )
    partners = services.space_create(
        actor=manager,
        name="Partner cafés",
        slug="partners",
        description="For our wholesale partners: pricing, launches, training.",
        visibility="closed",
        join_policy="invitation",
        is_partner=True,
    )
    beta = services.space_create(
        actor=manager,
        name="Beta lab",
        slug="beta-lab",
        description="Unreleased products under NDA.",
        visibility="secret",
        join_policy="invitation",
    )
    spaces = [product, machines, howto, partners, beta]
    _invitation, raw_token = services.invitation_create(
        actor=manager, space=partners, max_uses=None, expires_at=now + timedelta(days=30)
    )
    ctx.data["community_invitation"] = raw_token

    # memberships (bulk): everyone in the product space, most in how-to, a few partners/beta
    rows = []
    shares = {product: 1.0, machines: 0.5, howto: 0.6, partners: 0.1, beta: 0.06}
    space_members: dict[int, list[User]] = {}
    for space, share in shares.items():
        chosen = [m for m in members if rng.random() < share]
        space_members[space.pk] = chosen
        for i, user in enumerate(chosen):
            role = SpaceRole.MODERATOR if i < 2 else SpaceRole.MEMBER
            rows.append(
                SpaceMembership(space=space, user=user, role=role, state=MembershipState.ACTIVE)
            )
    SpaceMembership.objects.bulk_create(rows, ignore_conflicts=True)

    # posts (bulk)
    tags = {slug: Tag.objects.get_or_create(slug=slug, defaults={"name": slug})[0] for slug in TAGS}
    weights = [
        (PostType.DISCUSSION, 40),
        (PostType.QUESTION, 30),
        (PostType.IDEA, 18),
        (PostType.BLOG, 6),
        (PostType.DOCUMENT, 6),
    ]
    types = [t for t, w in weights for _ in range(w)]
    posts = []
    rendered_cache: dict[str, markdown.Rendered] = {}
    for _i in range(POSTS):
        space = rng.choices(spaces, weights=[45, 15, 20, 12, 8])[0]
        author = rng.choice(space_members[space.pk] or members)
        lang = author.language if author.language in TITLES else "en"
        kind = rng.choice(types)
        title = rng.choice(TITLES[lang][kind])
        body = rng.choice(BODIES[lang])
        rendered = rendered_cache.get(body) or markdown.render(body, resolve_mentions=False)
        rendered_cache[body] = rendered
        at = now - timedelta(minutes=rng.randrange(60, 60 * 24 * 60))
        audience = "members" if space == product and rng.random() < 0.05 else "everyone"
        post = Post(
            space=space,
            type=kind,
            title=title,
            body=body,
            body_html=rendered.html,
            excerpt=markdown.excerpt(rendered.plain),
            language=lang,
            author=author,
            state=PostState.PUBLISHED,
            audience=audience,
            created_at=at,
            updated_at=at,
            published_at=at,
            last_activity_at=at,
        )
        if kind == PostType.IDEA:
            post.idea_status = rng.choice(
                [IdeaStatus.NEW] * 4
                + [IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED, IdeaStatus.IN_PROGRESS]
                + [IdeaStatus.SHIPPED, IdeaStatus.DECLINED]
            )
            response = RESPONSES.get(post.idea_status, "")
            if response:
                post.official_response = response
                post.official_response_html = markdown.render(response).html
                post.official_response_by = manager
                post.official_response_at = at + timedelta(days=2)
        posts.append(post)
    Post.objects.bulk_create(posts)
    posts = list(Post.objects.filter(space__in=spaces).order_by("pk"))
    PostTag.objects.bulk_create(
        [
            PostTag(post=p, tag=t)
            for p in posts
            for t in rng.sample(list(tags.values()), rng.randrange(0, 3))
        ],
        ignore_conflicts=True,
    )

    # comments, accepted answers, reactions, idea votes (bulk)
    comments = []
    for post in posts:
        pool = space_members[post.space_id] or members
        lang = post.language if post.language in REPLIES else "en"
        for k in range(rng.randrange(0, 6)):
            text = rng.choice(REPLIES[lang])
            comments.append(
                Comment(
                    post=post,
                    author=rng.choice(pool),
                    body=text,
                    body_html=markdown.render(text, resolve_mentions=False).html,
                    created_at=post.created_at + timedelta(hours=k + 1),
                )
            )
    Comment.objects.bulk_create(comments)
    firsts = {}
    for cid, pid in (
        Comment.objects.filter(post__in=posts, post__type=PostType.QUESTION)
        .order_by("pk")
        .values_list("pk", "post_id")
    ):
        firsts.setdefault(pid, cid)
    answered = [pid for pid in firsts if rng.random() < 0.6]
    for pid in answered:
        Post.objects.filter(pk=pid).update(accepted_comment_id=firsts[pid])

    reactions, votes = [], []
    kinds = list(ReactionKind.values)
    for post in posts:
        pool = space_members[post.space_id] or members
        for user in rng.sample(pool, min(len(pool), rng.randrange(0, 14))):
            reactions.append(Reaction(user=user, post=post, kind=rng.choice(kinds)))
        if post.type == PostType.IDEA:
            for user in rng.sample(pool, min(len(pool), rng.randrange(0, 40))):
                votes.append(IdeaVote(post=post, user=user))
    Reaction.objects.bulk_create(reactions, ignore_conflicts=True)
    IdeaVote.objects.bulk_create(votes, ignore_conflicts=True)

    # counters, computed in the database
    def count_of(model, **filters):
        return Coalesce(
            Subquery(
                model.objects.filter(post=OuterRef("pk"), **filters)
                .values("post")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
            0,
        )

    Post.objects.filter(space__in=spaces).update(
        comments_count=count_of(Comment),
        reactions_count=count_of(Reaction),
        votes_count=count_of(IdeaVote),
    )
    for space in spaces:
        Space.objects.filter(pk=space.pk).update(
            posts_count=Post.objects.filter(space=space, state=PostState.PUBLISHED).count(),
            members_count=SpaceMembership.objects.filter(
                space=space, state=MembershipState.ACTIVE
            ).count(),
            last_activity_at=now,
        )

    # a poll and a photo contest through the services (rules, counters, notifications)
    voters = space_members[product.pk]
    poll = services.post_create(
        author=manager,
        space=product,
        type=PostType.POLL,
        title="Which roast should we add next?",
        body="Vote for the **next** single origin.",
        poll_options=["Ethiopia Guji", "Colombia Huila", "Brazil Cerrado", "Kenya Nyeri"],
        poll_results="after_vote",
        poll_closes_at=now + timedelta(days=10),
        tags=["beans"],
    )
    options = list(poll.poll_options.values_list("pk", flat=True))
    for user in voters[:90]:
        services.poll_vote(user=user, post=poll, option_ids=[rng.choice(options)])
    contest = services.post_create(
        author=manager,
        space=product,
        type=PostType.CONTEST,
        title="Photo contest: your latte art",
        body="Post your best latte art. Voting runs for a week.",
        contest_entries_until=now + timedelta(days=3),
        contest_voting_from=now - timedelta(days=1),
        contest_voting_until=now + timedelta(days=6),
    )
    entries = []
    for user in voters[:8]:
        image = services.attachment_upload(
            user=user, fileobj=io.BytesIO(_png(rng)), filename=f"latte-{user.pk}.png"
        )
        entries.append(
            services.contest_entry_create(
                user=user, post=contest, title=f"Latte by {user.name}", image_id=image.pk
            )
        )
    for user in voters[8:70]:
        services.contest_vote(user=user, entry=rng.choice(entries))

    # a partner joins by invitation link; a few flags for the moderation queue
    services.invitation_accept(user=voters[-1], token=raw_token)
    public_posts = [p for p in posts if p.space_id == product.pk]
    for user, post in zip(voters[100:106], rng.sample(public_posts, 6), strict=False):
        services.flag_create(user=user, reason=rng.choice(["spam", "off_topic"]), post=post)

    return (
        f"{len(spaces)} spaces, {len(members)} members, {Post.objects.count()} posts, "
        f"{Comment.objects.count()} comments, {Reaction.objects.count()} reactions, "
        f"{IdeaVote.objects.count()} idea votes, a poll, a photo contest and a partner "
        "invitation link (printed by the demo command from ctx.data)"
    )
