"""Stored mentions → conversations, in bulk (the ingest hook and "Open conversation" share it).

For one batch of new mentions ``conversations_ingest``:

1. drops mentions that already have a message (the hook may run twice on a batch; the unique
   constraint on ``Message.mention`` is the safety net under this check);
2. walks each reply's thread upwards through the stored mentions, one query per level for the
   whole batch (``MAX_THREAD_DEPTH``): the top of the chain is the thread's key;
3. finds the conversation a reply belongs to — by the thread key, by a stored mention of the
   chain that is already a message, or by one of our own sent replies (``external_id``);
4. evaluates the inbox rules in memory (``rules.rule_book``) for the mentions that joined
   nothing; the ones a rule holds for open a conversation (or all of them when forced, for the
   manual "Open conversation");
5. writes conversations (``ON CONFLICT DO NOTHING`` on ``(platform, thread_key)``, then read
   back, so two workers opening the same thread end with one), messages, the joined
   conversations' updates (reopen a resolved one, resume a paused SLA), logs and live events;
   new conversations get a priority, an SLA deadline and, if an agent is online, an assignee.

A few queries per batch, none per mention; everything runs in the caller's transaction.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from . import events, priority, rules, sla
from .models import Conversation, ConversationLog, Direction, Message, Status

MAX_THREAD_DEPTH = 8
CHUNK = 500
SUBJECT_CHARS = 200


@dataclass
class Incoming:
    mention_id: int
    platform: str
    external_id: str
    parent_external_id: str
    text: str
    created_at: datetime
    author_handle: str
    author_name: str
    author_url: str
    author_followers: int | None
    language: str
    sentiment: str
    intent: str
    country: str
    source_id: int | None
    customer_id: int | None
    query_ids: list[int]

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.external_id)


def incoming_from_enriched(e, mention_id: int) -> Incoming:
    r = e.raw
    return Incoming(
        mention_id=mention_id,
        platform=r.platform,
        external_id=r.external_id,
        parent_external_id=r.parent_external_id or "",
        text=r.text,
        created_at=r.created_at,
        author_handle=r.author_handle,
        author_name=r.author_name,
        author_url=r.author_url,
        author_followers=r.author_followers,
        language=e.language,
        sentiment=e.sentiment,
        intent=e.intent,
        country=e.place.country if e.place else "",
        source_id=r.source_id,
        customer_id=e.customer_id,
        query_ids=list(e.query_ids),
    )


def incoming_from_mention(m) -> Incoming:
    return Incoming(
        mention_id=m.pk,
        platform=m.platform,
        external_id=m.external_id,
        parent_external_id=m.parent_external_id or "",
        text=m.text,
        created_at=m.created_at,
        author_handle=m.author_handle,
        author_name=m.author_name,
        author_url=m.author_url,
        author_followers=m.author_followers,
        language=m.language,
        sentiment=m.sentiment,
        intent=m.intent,
        country=m.country,
        source_id=m.source_id,
        customer_id=m.customer_id,
        query_ids=list(m.query_ids or []),
    )


# --- Cached lookups (query kinds, brand handles) ----------------------------------------------


class _Lookups:
    """Query id → kind and the brand's own handles, reloaded every few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = 0.0
        self._kinds: dict[int, str] = {}
        self._handles: dict[int | None, frozenset[str]] = {}

    def get(self) -> tuple[dict[int, str], dict[int | None, frozenset[str]]]:
        now = time.monotonic()
        with self._lock:
            if now - self._at > rules.CHECK_SECONDS * 2:
                from apiary.listening.models import ListeningQuery, Source

                self._kinds = dict(ListeningQuery.objects.values_list("id", "kind"))
                handles: dict[int | None, frozenset[str]] = {None: _configured_handles()}
                for pk, config in Source.objects.filter(deleted_at__isnull=True).values_list(
                    "id", "config"
                ):
                    own = _handles_in_config(config or {})
                    if own:
                        handles[pk] = own
                self._handles = handles
                self._at = now
            return self._kinds, self._handles

    def invalidate(self) -> None:
        with self._lock:
            self._at = 0.0


_lookups = _Lookups()


def lookups_invalidate() -> None:
    _lookups.invalidate()


def _norm_handle(h: str) -> str:
    return (h or "").strip().lstrip("@").casefold()


def _configured_handles() -> frozenset[str]:
    # APIARY_CARE_BRAND_HANDLES: the brand's own accounts ("northwindcoffee.bsky.social", …).
    raw = getattr(settings, "APIARY_CARE_BRAND_HANDLES", ()) or ()
    if isinstance(raw, str):
        raw = re.split(r"[\s,]+", raw)
    return frozenset(_norm_handle(h.split(":", 1)[-1]) for h in raw if h and h.strip())


def _handles_in_config(config: dict) -> frozenset[str]:
    # A source that can reply knows its own account; any of these keys names it.
    out = set()
    for key in ("brand_handles", "account_handle", "handle", "reply_identifier"):
        value = config.get(key)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            out.update(_norm_handle(v) for v in value if isinstance(v, str) and v.strip())
    return frozenset(out)


# --- The thread walk --------------------------------------------------------------------------


def _fetch_mentions(keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(platform, external_id) → (parent_external_id, author_handle) of stored mentions."""
    from apiary.listening.models import Mention

    out: dict[tuple[str, str], tuple[str, str]] = {}
    by_platform: dict[str, list[str]] = defaultdict(list)
    for p, e in keys:
        by_platform[p].append(e)
    for p, ids in by_platform.items():
        for i in range(0, len(ids), CHUNK):
            for ext, parent, author in Mention.objects.filter(
                platform=p, external_id__in=ids[i : i + CHUNK]
            ).values_list("external_id", "parent_external_id", "author_handle"):
                out[(p, ext)] = (parent or "", author or "")
    return out


def _chains(items: list[Incoming]) -> tuple[dict[int, list[str]], dict]:
    """mention id → [parent, grandparent, …] (nearest first), and the stored mentions seen
    ((platform, external id) → (parent, author)). One query per level for the whole batch;
    mentions of this batch are known without a query (a reply may arrive with its parent)."""
    known = {i.key: (i.parent_external_id, i.author_handle) for i in items}
    frontier = {(i.platform, i.parent_external_id) for i in items if i.parent_external_id}
    visited = set(frontier)
    for _level in range(MAX_THREAD_DEPTH):
        need = {k for k in frontier if k not in known}
        if need:
            known.update(_fetch_mentions(need))
        frontier = {(k[0], known[k][0]) for k in frontier if k in known and known[k][0]}
        frontier -= visited
        visited |= frontier
        if not frontier:
            break
    chains: dict[int, list[str]] = {}
    for item in items:
        chain, cur, seen = [], item.parent_external_id, {item.external_id}
        while cur and cur not in seen and len(chain) < MAX_THREAD_DEPTH:
            chain.append(cur)
            seen.add(cur)
            cur = known.get((item.platform, cur), ("", ""))[0]
        chains[item.mention_id] = chain
    return chains, known


def _conversations_for_keys(
    keys_by_platform: dict[str, set[str]],
) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
    """(platform, external id) → conversation id, for thread keys, joined mentions and our own
    sent replies; also the subset of keys that are our own replies (for "reply to brand")."""
    out: dict[tuple[str, str], int] = {}
    ours: set[tuple[str, str]] = set()
    for p, keys in keys_by_platform.items():
        ids = sorted(keys)
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            for key, cid in Conversation.objects.filter(
                platform=p, thread_key__in=part
            ).values_list("thread_key", "pk"):
                out[(p, key)] = cid
            for ext, cid in Message.objects.filter(
                mention__platform=p, mention__external_id__in=part
            ).values_list("mention__external_id", "conversation_id"):
                out.setdefault((p, ext), cid)
            for ext, cid in Message.objects.filter(
                direction=Direction.OUTBOUND, conversation__platform=p, external_id__in=part
            ).values_list("external_id", "conversation_id"):
                out.setdefault((p, ext), cid)
                ours.add((p, ext))
    return out, ours


# --- The intake -------------------------------------------------------------------------------


@dataclass
class IngestResult:
    created: list[int]
    joined: list[int]  # conversation ids that received a message
    messages: int
    by_mention: dict[int, int]  # mention id → conversation id


def conversations_ingest(
    items: list[Incoming],
    *,
    force: bool = False,
    reason: str = "",
    user=None,
    now: datetime | None = None,
) -> IngestResult:
    """Open or join conversations for stored mentions (see the module docstring). With
    ``force`` every mention gets a conversation (the manual open), whatever the rules say."""
    now = now or timezone.now()
    result = IngestResult(created=[], joined=[], messages=0, by_mention={})
    if not items:
        return result
    book = rules.rule_book()
    if not force and not book.rules and not any(i.parent_external_id for i in items):
        return result  # nothing can open or join: the common case costs no query at all

    items = sorted(items, key=lambda i: (i.created_at, i.mention_id))
    threaded = [i for i in items if i.parent_external_id]
    chains, known = _chains(threaded) if threaded else ({}, {})

    keys_by_platform: dict[str, set[str]] = defaultdict(set)
    for i in threaded:
        keys_by_platform[i.platform].update(chains[i.mention_id])
    conv_by_key, our_replies = (
        _conversations_for_keys(keys_by_platform) if keys_by_platform else ({}, set())
    )

    kinds, handles = _lookups.get()
    customer_ids = {i.customer_id for i in items if i.customer_id}
    values = priority.customer_values(customer_ids) if customer_ids else {}
    segments = _segment_members(book.needs_segments, customer_ids) if customer_ids else {}

    def roots(item: Incoming) -> str:
        chain = chains.get(item.mention_id) or []
        return chain[-1] if chain else item.external_id

    def facts_for(item: Incoming) -> rules.Facts:
        parent = item.parent_external_id
        brand = handles.get(None, frozenset()) | handles.get(item.source_id, frozenset())
        reply_to_brand = False
        if parent:
            pkey = (item.platform, parent)
            parent_author = _norm_handle(known.get(pkey, ("", ""))[1])
            reply_to_brand = pkey in our_replies or (bool(parent_author) and parent_author in brand)
        if not reply_to_brand and brand:
            lead = re.match(r"\s*@([^\s,:;]+)", item.text or "")
            reply_to_brand = bool(lead) and _norm_handle(lead.group(1)) in brand
        value = values.get(item.customer_id) if item.customer_id else None
        return rules.Facts(
            platform=item.platform,
            language=item.language,
            country=item.country,
            sentiment=item.sentiment,
            intent=item.intent,
            query_kinds=frozenset(kinds[q] for q in item.query_ids if q in kinds),
            is_question=rules.is_question(item.text),
            reply_to_brand=reply_to_brand,
            followers=item.author_followers,
            customer_id=item.customer_id,
            customer_value=value.total if value else None,
            segment_ids=frozenset(
                s for s, members in segments.items() if item.customer_id in members
            ),
        )

    # Which conversation (existing, or new in this batch) each mention goes to.
    target: dict[int, int | tuple[str, str]] = {}
    new_specs: dict[tuple[str, str], dict] = {}
    item_facts: dict[int, rules.Facts] = {}
    for item in items:
        conv_id = None
        for key in chains.get(item.mention_id, []):
            conv_id = conv_by_key.get((item.platform, key))
            if conv_id:
                break
        if conv_id:
            target[item.mention_id] = conv_id
            item_facts[item.mention_id] = facts_for(item)
            continue
        root_key = (item.platform, roots(item))
        if root_key in new_specs:
            target[item.mention_id] = root_key
            item_facts[item.mention_id] = facts_for(item)
            continue
        facts = facts_for(item)
        rule, boost = (None, 0) if force else book.match(facts)
        if rule is None and not force:
            continue
        item_facts[item.mention_id] = facts
        new_specs[root_key] = {"item": item, "rule": rule, "boost": boost, "facts": facts}
        target[item.mention_id] = root_key

    if not target:
        return result
    # Already a message (a hook run twice, or opened by hand meanwhile): nothing to do again.
    done = set(
        Message.objects.filter(mention_id__in=list(target)).values_list("mention_id", flat=True)
    )
    for mid in done:
        target.pop(mid, None)
    if not target:
        return result
    live_roots = {t for t in target.values() if isinstance(t, tuple)}
    new_specs = {k: v for k, v in new_specs.items() if k in live_roots}

    created_ids = _create_conversations(new_specs, values=values, now=now, reason=reason, user=user)
    by_root: dict[tuple[str, str], int] = {k: cid for k, (cid, _new) in created_ids.items()}
    fresh = [cid for cid, is_new in created_ids.values() if is_new]

    by_item = {i.mention_id: i for i in items}
    messages = []
    per_conv: dict[int, list[Incoming]] = defaultdict(list)
    for mid, t in target.items():
        cid = by_root.get(t) if isinstance(t, tuple) else t
        if cid is None:
            continue
        item = by_item[mid]
        per_conv[cid].append(item)
        result.by_mention[mid] = cid
        messages.append(
            Message(
                conversation_id=cid,
                direction=Direction.INBOUND,
                mention_id=mid,
                text=item.text,
                created_at=min(item.created_at, now),
            )
        )
    Message.objects.bulk_create(messages, ignore_conflicts=True)
    result.messages = len(messages)

    # Conversations that already existed (or a racing worker created) take the new messages.
    fresh_set = set(fresh)
    joined = [cid for cid in per_conv if cid not in fresh_set]
    updated_events = _join_updates(joined, per_conv, item_facts, values, now=now)
    # A new conversation that received more than its opening mention in this batch.
    for cid in fresh:
        if len(per_conv.get(cid, [])) > 1:
            _bump_last(cid, per_conv[cid], now)

    if fresh:
        from .services import assign_new_conversations

        assign_new_conversations(conversation_ids=fresh, now=now)

    events.emit_many(
        [("conversation.created", cid, {"reason": reason or "rule"}) for cid in fresh]
        + [
            (
                "message.created",
                cid,
                {"direction": "inbound", "count": len(per_conv[cid])},
            )
            for cid in per_conv
        ]
        + updated_events
    )
    result.created = fresh
    result.joined = joined
    return result


def _segment_members(segment_ids, customer_ids) -> dict[int, set[int]]:
    if not segment_ids:
        return {}
    from apiary.customers.models import Customer, Segment
    from apiary.customers.segments import segment_apply

    out: dict[int, set[int]] = {}
    for seg in Segment.objects.filter(pk__in=segment_ids):
        try:
            qs = segment_apply(Customer.objects.filter(pk__in=customer_ids), seg.filters)
            out[seg.pk] = set(qs.values_list("pk", flat=True))
        except Exception:  # a segment whose saved filters no longer validate matches no one
            out[seg.pk] = set()
    return out


def _subject(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:SUBJECT_CHARS]


def _create_conversations(
    specs: dict, *, values, now, reason, user
) -> dict[tuple[str, str], tuple[int, bool]]:
    """Insert the new conversations; returns root key → (id, created by us)."""
    if not specs:
        return {}
    policies = sla.policies_active()
    rows = []
    for (platform, root), spec in specs.items():
        item: Incoming = spec["item"]
        facts: rules.Facts = spec["facts"]
        rule = spec["rule"]
        score, level, factors = priority.priority_score(
            followers=item.author_followers,
            customer_linked=item.customer_id is not None,
            value=values.get(item.customer_id) if item.customer_id else None,
            sentiment=item.sentiment,
            intent=item.intent,
            is_question=facts.is_question,
            boost=spec["boost"],
            boost_rule=rule.name if rule else "",
        )
        at = min(item.created_at, now)
        c = Conversation(
            platform=platform,
            thread_key=root,
            source_id=item.source_id,
            subject=_subject(item.text),
            status=Status.OPEN,
            priority=level,
            priority_score=score,
            priority_factors=factors,
            opened_reason=(rule.name if rule else (reason or "manual"))[:120],
            opened_by=user if user is not None and getattr(user, "pk", None) else None,
            customer_id=item.customer_id,
            author_handle=item.author_handle,
            author_name=item.author_name,
            author_url=item.author_url,
            author_followers=item.author_followers,
            language=item.language,
            sentiment=item.sentiment,
            intent=item.intent,
            country=item.country,
            created_at=now,
            updated_at=now,
            last_message_at=at,
            last_inbound_at=at,
        )
        sla.sla_start(c, policies)
        rows.append(c)
    Conversation.objects.bulk_create(rows, ignore_conflicts=True)
    out: dict[tuple[str, str], tuple[int, bool]] = {}
    by_platform: dict[str, list[str]] = defaultdict(list)
    for platform, root in specs:
        by_platform[platform].append(root)
    for platform, roots in by_platform.items():
        for pk, key, created_at in Conversation.objects.filter(
            platform=platform, thread_key__in=roots
        ).values_list("pk", "thread_key", "created_at"):
            # Ours when it carries this batch's timestamp; otherwise another worker (or an
            # earlier open) made it and we only add our messages to it.
            out[(platform, key)] = (pk, created_at == now)
    logs = []
    for key, (pk, is_new) in out.items():
        if is_new:
            spec = specs[key]
            logs.append(
                ConversationLog(
                    conversation_id=pk,
                    action="opened",
                    actor=user if user is not None and getattr(user, "pk", None) else None,
                    data={
                        "reason": spec["rule"].name if spec["rule"] else (reason or "manual"),
                        "rule_id": spec["rule"].id if spec["rule"] else None,
                        "mention_id": spec["item"].mention_id,
                        "version": 1,
                    },
                    at=now,
                )
            )
    ConversationLog.objects.bulk_create(logs)
    return out


def _bump_last(cid: int, items: list[Incoming], now) -> None:
    last = max(min(i.created_at, now) for i in items)
    latest = max(items, key=lambda i: i.created_at)
    Conversation.objects.filter(pk=cid, last_message_at__lt=last).update(
        last_message_at=last,
        last_inbound_at=last,
        sentiment=latest.sentiment,
        intent=latest.intent,
    )


def _join_updates(conv_ids, per_conv, item_facts, values, *, now) -> list[tuple[str, int, dict]]:
    """New inbound messages on existing conversations: activity times, the latest sentiment and
    intent, a priority that never drops, a resolved conversation reopened, a paused SLA resumed."""
    if not conv_ids:
        return []
    out_events = []
    logs = []
    convs = list(Conversation.objects.select_related("sla_policy").filter(pk__in=conv_ids))
    fields = {
        "last_message_at",
        "last_inbound_at",
        "sentiment",
        "intent",
        "updated_at",
        "priority",
        "priority_score",
        "priority_factors",
    }
    for c in convs:
        items = per_conv[c.pk]
        latest = max(items, key=lambda i: (i.created_at, i.mention_id))
        last = min(latest.created_at, now)
        if c.last_message_at is None or last > c.last_message_at:
            c.last_message_at = last
        c.last_inbound_at = max(c.last_inbound_at or last, last)
        c.sentiment, c.intent = latest.sentiment, latest.intent
        c.updated_at = now
        if c.customer_id is None and latest.customer_id:
            c.customer_id = latest.customer_id
            fields.add("customer_id")
        facts = item_facts.get(latest.mention_id)
        score, level, factors = priority.priority_score(
            followers=latest.author_followers or c.author_followers,
            customer_linked=c.customer_id is not None,
            value=values.get(c.customer_id) if c.customer_id else None,
            sentiment=latest.sentiment,
            intent=latest.intent,
            is_question=facts.is_question if facts else False,
        )
        if score > c.priority_score:
            c.priority_score, c.priority, c.priority_factors = score, level, factors
        change = None
        if c.status == Status.RESOLVED:
            c.status, c.resolved_at = Status.OPEN, None
            c.version += 1
            fields.update({"status", "resolved_at", "version"})
            change = "reopened"
        elif c.status == Status.PENDING:
            c.status = Status.OPEN
            c.version += 1
            fields.update({"status", "version"})
            fields.update(sla.sla_resume(c, now))
            change = "customer_replied"
        if change:
            logs.append(
                ConversationLog(
                    conversation_id=c.pk,
                    action="reopened" if change == "reopened" else "status",
                    data={"status": "open", "by": "customer", "version": c.version},
                    at=now,
                )
            )
            out_events.append(("conversation.updated", c.pk, {"change": change, "status": "open"}))
    Conversation.objects.bulk_update(convs, sorted(fields))
    ConversationLog.objects.bulk_create(logs)
    return out_events
