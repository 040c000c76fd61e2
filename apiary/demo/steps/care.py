"""Demo care: agent profiles for the care users (Lucía es/en, Dmitri ru/en, Grace en/es/ru), the
default SLA policies (urgent 15 min, high 30, normal 30, low 120; business hours off) and inbox
rules, and a few dozen conversations from the demo's stored brand mentions, so the inbox and the
SLA report have something to show: answered within the SLA, answered late, waiting on the
customer, and open ones whose countdown is running now.

The conversations are opened by the real intake (``intake.conversations_ingest``, the inbox
rules decide); their times are then moved back to when the mentions were written. The demo's
past replies are recorded as sent with ``demo-reply-…`` ids: they never went to a network.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from apiary.accounts.models import User
from apiary.care import canned, intake, rules, services, sla
from apiary.care.models import (
    Conversation,
    ConversationLog,
    Delivery,
    Direction,
    Message,
    Status,
)
from apiary.listening.models import ListeningQuery, Mention

AGENTS = [
    ("care@apiary.local", ["es", "en"]),
    ("care2@apiary.local", ["ru", "en"]),
    ("carelead@apiary.local", ["en", "es", "ru"]),
]
CONVERSATIONS = 40
LOOKBACK_DAYS = 5
REPLIES = {
    "en": [
        "Sorry about that! Could you send us your order number by DM? We'll sort it out today.",
        "Thanks for letting us know. We've passed this to our delivery team and will update you.",
    ],
    "es": [
        "¡Lo sentimos! ¿Nos envías el número de pedido por mensaje privado? Lo resolvemos hoy.",
        "Gracias por avisarnos. Ya lo revisa nuestro equipo de envíos y te contamos enseguida.",
    ],
    "ru": [
        "Простите за неудобства! Пришлите, пожалуйста, номер заказа в личные сообщения.",
        "Спасибо, что написали. Мы уже передали вопрос службе доставки и скоро ответим.",
    ],
}


def run(ctx) -> str:
    rng = random.Random(f"{ctx.seed}:care")
    agents = _agents()
    policies = sla.sla_policies_ensure_defaults()
    new_rules = rules.rules_ensure_defaults()
    rules.rules_invalidate()
    canned_responses = canned.canned_ensure_defaults()
    if Conversation.objects.exists():
        return (
            f"already loaded ({Conversation.objects.count()} conversations); {len(agents)} agents"
        )
    made = _conversations(rng, agents)
    breached = sla.sla_breach_check()
    return (
        f"{len(agents)} agents, {policies} SLA policies, {new_rules} inbox rules and "
        f"{canned_responses} canned responses added, "
        f"{made} conversations ({len(breached)} breached just now)"
    )


def _agents() -> dict[str, User]:
    out = {}
    for email, languages in AGENTS:
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        services.agent_profile_update(user=user, languages=languages, max_open=25)
        for lang in languages[:1]:
            out[lang] = user
        out.setdefault("any", user)
    return out


def _candidates(rng: random.Random) -> list:
    brand_ids = set(ListeningQuery.objects.filter(kind="brand").values_list("id", flat=True))
    since = timezone.now() - timedelta(days=LOOKBACK_DAYS)
    rows = []
    for m in Mention.objects.filter(created_at__gte=since, parent_external_id="").order_by(
        "created_at", "pk"
    ):
        if not brand_ids.intersection(m.query_ids or []):
            continue
        if m.intent == "support" or rules.is_question(m.text):
            rows.append(m)
    if len(rows) <= CONVERSATIONS:
        return rows
    # The newest dozen (their countdowns run now) and a spread over the days before.
    recent, older = rows[-12:], rows[:-12]
    return sorted(rng.sample(older, CONVERSATIONS - 12), key=lambda m: m.pk) + recent


def _conversations(rng: random.Random, agents: dict[str, User]) -> int:
    mentions = _candidates(rng)
    if not mentions:
        return 0
    result = intake.conversations_ingest([intake.incoming_from_mention(m) for m in mentions])
    by_mention = {m.pk: m for m in mentions}
    now = timezone.now()
    policies = sla.policies_active()
    convs = sorted(
        Conversation.objects.filter(pk__in=result.created), key=lambda c: c.last_message_at
    )
    live_from = len(convs) - 8  # the newest ones stay open with a running clock
    for i, c in enumerate(convs):
        first_mid = min(
            (mid for mid, cid in result.by_mention.items() if cid == c.pk),
            key=lambda mid: by_mention[mid].created_at,
        )
        written = by_mention[first_mid].created_at
        agent = agents.get(c.language) or agents.get("any")
        if i >= live_from:
            # Arrived minutes ago: unanswered, the countdown is live in the inbox.
            opened = now - timedelta(minutes=rng.randint(2, 26))
            written = min(written, opened)
        else:
            opened = written + timedelta(seconds=rng.randint(20, 180))
        c.created_at = c.updated_at = opened
        c.last_message_at = c.last_inbound_at = written if written <= opened else opened
        sla.sla_start(c, policies)
        ConversationLog.objects.filter(conversation=c).update(at=opened)
        Message.objects.filter(conversation=c, direction=Direction.INBOUND).update(
            created_at=written
        )
        if i >= live_from or agent is None:
            c.save()
            continue
        c.assignee, c.assigned_at = agent, opened + timedelta(seconds=30)
        roll = rng.random()
        window = (c.sla_due_at - opened).total_seconds()
        if roll < 0.25:  # answered late
            answered = c.sla_due_at + timedelta(minutes=rng.randint(5, 90))
            c.sla_breached_at = c.sla_due_at
        else:  # answered within the SLA
            answered = opened + timedelta(seconds=rng.randint(120, max(180, int(window) - 60)))
        if answered >= now:
            answered = now - timedelta(minutes=1)
        _reply(c, agent, answered, rng)
        c.first_response_at = answered
        c.last_message_at = max(c.last_message_at, answered)
        if roll < 0.15 or roll > 0.45:
            c.status = Status.RESOLVED
            c.resolved_at = min(now, answered + timedelta(minutes=rng.randint(10, 600)))
        elif roll < 0.35:
            c.status = Status.PENDING  # waiting on the customer after the answer
        c.version = 3
        c.save()
    return len(convs)


def _reply(c: Conversation, agent: User, at, rng: random.Random) -> None:
    texts = REPLIES.get(c.language) or REPLIES["en"]
    Message.objects.create(
        conversation=c,
        direction=Direction.OUTBOUND,
        author_user=agent,
        text=texts[rng.randrange(len(texts))],
        created_at=at - timedelta(seconds=5),
        delivery=Delivery.SENT,
        delivery_attempts=1,
        sent_at=at,
        external_id=f"demo-reply-{c.pk}",
        client_token=f"demo-{c.pk}",
    )
    ConversationLog.objects.bulk_create(
        [
            ConversationLog(
                conversation=c,
                action="assigned",
                actor=agent,
                data={"assignee_id": agent.pk, "assignee_name": agent.name, "version": 2},
                at=c.assigned_at,
            ),
            ConversationLog(
                conversation=c,
                action="replied",
                actor=agent,
                data={"version": 3},
                at=at,
            ),
            ConversationLog(
                conversation=c, action="first_response", data={"at": at.isoformat()}, at=at
            ),
        ]
    )
